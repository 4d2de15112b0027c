"""Diagrams as files: ladder formats, the do-not-edit stamp, and the ``diagrams/`` folder.

:func:`render_ladder` picks the renderer for a format (SVG, Mermaid, PlantUML, or the ASCII
ladder of :func:`render_text`, which reads like ``tshark -z flow,any,standard`` with our
details under each arrow). :func:`stamp` puts "generated from ... by fsync diagrams — do not
edit" at the top of a generated file, as a comment in that file's own syntax, so a hand edit
is never mistaken for the source of truth.

:func:`diagram_files` renders every figure of :mod:`fsync_model.diagrams.index` (state
diagram as DOT and SVG, ladder as SVG, Mermaid and PlantUML, the flow's message text) and the
index page, in memory and deterministically; :func:`write_tree` puts them in a folder and
:func:`compare_trees` says which files of a folder are stale, missing or extra.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

from fsync_model.diagrams import index as figure_index
from fsync_model.diagrams import statediagram
from fsync_model.diagrams.ladder import Arrow, Ladder, Note, packet_time_text
from fsync_model.diagrams.mermaid import render_mermaid
from fsync_model.diagrams.plantuml import render_plantuml
from fsync_model.diagrams.shorten import (
    printable_lines,
    shorten_detail,
    shorten_header,
    shorten_label,
)
from fsync_model.diagrams.svg import render_svg
from fsync_model.profile import Profile

__all__ = [
    "GENERATOR_MARK",
    "LADDER_FORMATS",
    "LADDER_SUFFIXES",
    "DiagramSet",
    "LadderFormat",
    "TreeDiff",
    "compare_trees",
    "diagram_files",
    "render_ladder",
    "render_text",
    "stamp",
    "stamp_line",
    "write_tree",
]

LadderFormat = Literal["svg", "mermaid", "plantuml", "txt"]
LADDER_FORMATS: Final[tuple[str, ...]] = get_args(LadderFormat)
LADDER_SUFFIXES: Final[dict[str, str]] = {
    "svg": ".svg",
    "mermaid": ".mmd",
    "plantuml": ".puml",
    "txt": ".txt",
}


def render_ladder(ladder: Ladder, fmt: LadderFormat) -> str:
    """The ladder as text in ``fmt`` (ends with a newline)."""
    if fmt == "svg":
        return render_svg(ladder)
    if fmt == "mermaid":
        return render_mermaid(ladder)
    if fmt == "plantuml":
        return render_plantuml(ladder)
    return render_text(ladder)


# ----------------------------------------------------------------------------------------------
# The stamp


#: What every stamp contains; :func:`write_tree` only ever deletes files that carry it.
GENERATOR_MARK: Final = "by fsync diagrams \u2014 do not edit"


def stamp_line(source: str) -> str:
    """``generated from spec/broadsoft.yaml by fsync diagrams \u2014 do not edit`` (an em
    dash: ``--`` may not appear inside an XML comment)."""
    return f"generated from {source} {GENERATOR_MARK}"


def stamp(text: str, suffix: str, source: str) -> str:
    """``text`` with the stamp as a comment in the syntax of a ``suffix`` file.

    SVG: an XML comment after the XML declaration; DOT: ``//``; Mermaid: a ``%%`` line after
    ``sequenceDiagram``; PlantUML: a ``'`` line after ``@startuml``; Markdown: an HTML comment;
    anything else: a ``#`` line.
    """
    line = stamp_line(source)
    if suffix == ".svg":
        comment = f"<!-- {line} -->"
        head, newline, rest = text.partition("\n")
        if head.startswith("<?xml"):
            return f"{head}{newline}{comment}\n{rest}"
        return f"{comment}\n{text}"
    if suffix in (".puml", ".mmd"):  # after the line that says what kind of diagram it is
        mark = "'" if suffix == ".puml" else "%%"
        head, newline, rest = text.partition("\n")
        return f"{head}{newline or chr(10)}{mark} {line}\n{rest}"
    prefix = {".dot": "// ", ".gv": "// ", ".md": "<!-- "}.get(suffix, "# ")
    end = " -->" if suffix == ".md" else ""
    return f"{prefix}{line}{end}\n{text}"


# ----------------------------------------------------------------------------------------------
# The ASCII ladder

_PAD: Final = 2  # spaces between a lifeline and the text next to it
_MIN_GAP: Final = 16
_FILL: Final = {"normal": "-", "error": "~", "retransmission": ".", "lost": "-"}
_LEGEND: Final = {
    "retransmission": "....> retransmission",
    "lost": "---X lost (never arrived)",
    "error": "~~~~> unparsable or unreadable",
}
_NOTE_BRACKETS: Final = {"state": ("( ", " )"), "info": ("[ ", " ]"), "finding": ("[! ", " !]")}


@dataclass(frozen=True)
class _TextArrow:
    arrow: Arrow
    label: str
    details: tuple[str, ...]
    gutter: str


def _text_arrow(arrow: Arrow, origin: float | None, packet_w: int) -> _TextArrow:
    shown = (shorten_detail(line) for line in arrow.details)
    gutter = packet_time_text(arrow, origin)
    if arrow.packet is not None and arrow.time is not None and origin is not None:
        # "#9   +0.010 s" above "#10  +0.011 s": the times line up
        packet, _, offset = gutter.partition("  ")
        gutter = f"{packet.ljust(packet_w)}  {offset}"
    return _TextArrow(
        arrow, shorten_label(arrow.label), tuple(line for line in shown if line), gutter
    )


def _note_text(note: Note) -> list[str]:
    left, right = _NOTE_BRACKETS[note.kind]
    return [f"{left}{line}{right}" for line in printable_lines(note.text) if line.strip()] or [
        f"{left}{right}"
    ]


def _gaps(ladder: Ladder, header_w: Sequence[int], arrows: dict[int, _TextArrow]) -> list[int]:
    count = len(ladder.lifelines)
    gaps = [
        max(_MIN_GAP, (header_w[i] + 1) // 2 + (header_w[i + 1] + 1) // 2 + 2)
        for i in range(count - 1)
    ]
    needs: list[tuple[int, int, int]] = []
    for text in arrows.values():
        a, b = ladder.position(text.arrow.src), ladder.position(text.arrow.dst)
        width = max([len(text.label) + 6, *(len(d) + 2 * _PAD + 1 for d in text.details)])
        if a == b:
            if a < count - 1:
                needs.append((a, a + 1, width + 4))
        else:
            needs.append((min(a, b), max(a, b), width))
    for left, right, need in sorted(needs, key=lambda n: (n[1] - n[0], n)):
        have = sum(gaps[left:right])
        if have < need:
            extra = need - have
            share, rest = divmod(extra, right - left)
            for i in range(left, right):
                gaps[i] += share + (1 if i - left < rest else 0)
    return gaps


class _Canvas:
    def __init__(self, xs: Sequence[int]) -> None:
        self.xs = list(xs)
        self.rows: list[list[str]] = []

    def row(self, bars: bool = True) -> list[str]:
        width = self.xs[-1] + 1
        line = [" "] * width
        if bars:
            for x in self.xs:
                line[x] = "|"
        self.rows.append(line)
        return line

    @staticmethod
    def put(line: list[str], x: int, text: str) -> None:
        if x + len(text) > len(line):
            line.extend(" " * (x + len(text) - len(line)))
        for offset, ch in enumerate(text):
            line[x + offset] = ch

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.rows]


def _draw_arrow(canvas: _Canvas, text: _TextArrow, a: int, b: int, gutter_w: int) -> None:
    xs = canvas.xs
    style = text.arrow.style
    fill = _FILL[style]
    line = canvas.row()
    canvas.put(line, 0, text.gutter.ljust(gutter_w))
    if a == b:
        x = xs[a]
        canvas.put(line, x + 1, f"{fill * 2}+  {text.label}")
        for detail in text.details:
            canvas.put(canvas.row(), x + 6, detail)
        end = canvas.row()
        canvas.put(end, x + 1, "  X" if style == "lost" else f"<{fill}+")
        return
    x1, x2 = xs[a], xs[b]
    left, right = min(x1, x2), max(x1, x2)
    label = f" {text.label} "
    start = max(left + 1 + (right - left - 1 - len(label)) // 2, left + 2)
    if style == "lost":  # the shaft stops a little past the label, at an X
        if x2 > x1:
            cross = min(start + len(label) + 2, right - 2)
            canvas.put(line, left + 1, fill * (cross - left - 1) + "X")
        else:
            cross = max(start - 3, left + 2)
            canvas.put(line, cross, "X" + fill * (right - cross - 1))
    else:
        shaft = fill * (right - left - 2)
        canvas.put(line, left + 1, f"{shaft}>" if x2 > x1 else f"<{shaft}")
    canvas.put(line, start, label)
    for detail in text.details:
        canvas.put(canvas.row(), left + 1 + _PAD, detail)


def _draw_note(canvas: _Canvas, ladder: Ladder, note: Note) -> None:
    first, last = ladder.note_span(note)
    centre = (canvas.xs[first] + canvas.xs[last]) // 2
    for text in _note_text(note):
        canvas.put(canvas.row(), max(centre - len(text) // 2, 0), text)


def render_text(ladder: Ladder) -> str:
    """The ladder as monospaced text: a header per lifeline, one arrow line per message with
    the packet number and time offset in the left margin, the details under it, notes in
    brackets. ``---->`` a message, ``....>`` a retransmission, ``---X`` a lost one, ``~~~~>``
    one that does not parse; a legend follows when any of those appear."""
    origin = ladder.time_origin()
    packet_w = max((len(f"#{a.packet}") for a in ladder.arrows if a.packet is not None), default=0)
    arrows = {
        index: _text_arrow(item, origin, packet_w)
        for index, item in enumerate(ladder.items)
        if isinstance(item, Arrow)
    }
    headers = [
        (shorten_header(line.label) or shorten_header(line.id), shorten_header(line.sublabel))
        for line in ladder.lifelines
    ]
    header_w = [max(len(label), len(sub)) for label, sub in headers]
    gutter_w = max((len(text.gutter) for text in arrows.values()), default=0)
    gutter_w = gutter_w + 2 if gutter_w else 0
    gaps = _gaps(ladder, header_w, arrows)
    xs = [gutter_w + (header_w[0] + 1) // 2 + 1]
    for gap in gaps:
        xs.append(xs[-1] + gap)

    canvas = _Canvas(xs)
    for part in (0, 1):
        line = canvas.row(bars=False)
        for x, header in zip(xs, headers, strict=True):
            text = header[part]
            canvas.put(line, max(x - len(text) // 2, 0), text)
    canvas.row()
    for index, item in enumerate(ladder.items):
        if isinstance(item, Arrow):
            a, b = ladder.position(item.src), ladder.position(item.dst)
            _draw_arrow(canvas, arrows[index], a, b, gutter_w)
        else:
            _draw_note(canvas, ladder, item)
        canvas.row()

    out: list[str] = []
    if ladder.title.strip():
        out += [*printable_lines(ladder.title.strip()), ""]
    out += canvas.text()
    styles = sorted({item.style for item in ladder.arrows} - {"normal"})
    if styles:
        out += ["", "legend: ---->  message   " + "   ".join(_LEGEND[s] for s in styles)]
    if ladder.caption and ladder.caption.strip():
        width = max(72, max(len(line) for line in out))
        out.append("")
        for paragraph in printable_lines(ladder.caption.strip()):
            out += textwrap.wrap(paragraph, width) or [""]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# The diagrams/ folder

README: Final = "README.md"
_FIGURE_LADDERS: Final[tuple[LadderFormat, ...]] = ("svg", "mermaid", "plantuml")
STATE_SVG_SUFFIX: Final = ".state.svg"


@dataclass
class DiagramSet:
    """Every generated file by its path under the output folder (``/`` separated), stamped.
    ``svg_skipped`` is True when ``dot`` was not on PATH, so state SVGs were not drawn."""

    files: dict[str, str] = field(default_factory=dict)
    figures: int = 0
    systems: int = 0
    svg_skipped: bool = False


def _figure_files(figure: figure_index.Figure, draw: bool) -> dict[str, str]:
    source = figure.source
    dot = stamp(statediagram.state_dot(figure.table, title=figure.full_title), ".dot", source)
    files = {figure.path("state.dot"): dot}
    if draw:
        svg = statediagram.dot_to_svg(dot)
        if svg is not None:
            files[figure.path("state.svg")] = stamp(svg, ".svg", source)
    recording = figure_index.flow_recording(figure)
    for suffix, fmt in (
        ("ladder.svg", "svg"),
        ("ladder.mmd", "mermaid"),
        ("ladder.puml", "plantuml"),
    ):
        text = render_ladder(recording.ladder, fmt)  # type: ignore[arg-type]
        files[figure.path(suffix)] = stamp(text, "." + suffix.rsplit(".", 1)[1], source)
    files[figure.path("messages.txt")] = stamp(recording.text, ".txt", source)
    return files


def diagram_files(profiles: Iterable[Profile], *, draw_svg: bool = True) -> DiagramSet:
    """Every figure's files and the index page. State SVGs need ``dot`` (run in parallel);
    without it, or with ``draw_svg=False``, only the DOT is written."""
    all_figures = figure_index.figures(profiles)
    draw = draw_svg and shutil.which("dot") is not None
    result = DiagramSet(
        figures=len(all_figures),
        systems=len({figure.system for figure in all_figures}),
        svg_skipped=not draw,
    )
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rendered = list(pool.map(lambda figure: _figure_files(figure, draw), all_figures))
    for files in rendered:
        result.files.update(files)
    result.files[README] = stamp(
        figure_index.readme(all_figures, has_svg=draw), ".md", "spec/*.yaml"
    )
    return result


def _generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return GENERATOR_MARK.encode("utf-8") in head


def write_tree(files: Mapping[str, str], out: Path) -> list[Path]:
    """Write ``files`` under ``out`` (UTF-8, LF) and delete the files under ``out`` that an
    earlier run generated and this one did not (a profile or a flow that went away); files
    without the stamp are never touched. Returns the deleted paths."""
    out.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
    removed = []
    wanted = {out / relative for relative in files}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path not in wanted and _generated(path):
            path.unlink()
            removed.append(path)
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


@dataclass(frozen=True)
class TreeDiff:
    """How a folder differs from a fresh generation (paths relative, ``/`` separated)."""

    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)

    def lines(self) -> list[str]:
        return [
            *(f"stale:   {path}" for path in self.stale),
            *(f"missing: {path}" for path in self.missing),
            *(f"extra:   {path}" for path in self.extra),
        ]


def _files_under(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path for path in folder.rglob("*") if path.is_file()
    }


def compare_trees(fresh: Path, existing: Path, *, ignore_state_svg: bool = False) -> TreeDiff:
    """Compare a freshly generated folder with an existing one, byte for byte.
    ``ignore_state_svg`` leaves state SVGs out (when ``dot`` could not draw the fresh ones)."""
    new, old = _files_under(fresh), _files_under(existing)
    if ignore_state_svg:
        new = {k: v for k, v in new.items() if not k.endswith(STATE_SVG_SUFFIX)}
        old = {k: v for k, v in old.items() if not k.endswith(STATE_SVG_SUFFIX)}
    stale = [p for p in sorted(new) if p in old and new[p].read_bytes() != old[p].read_bytes()]
    return TreeDiff(
        stale=tuple(stale),
        missing=tuple(sorted(set(new) - set(old))),
        extra=tuple(sorted(set(old) - set(new))),
    )
