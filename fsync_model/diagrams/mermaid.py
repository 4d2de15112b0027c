"""Ladder diagrams as Mermaid ``sequenceDiagram`` text (for Markdown pages that render Mermaid).

Same content as the SVG: participants with their addresses, one message per arrow with its details
as extra label lines (``<br/>``), notes. Mermaid cannot colour single arrows, so an error message
and a finding note are wrapped in a tinted ``rect`` block.

Escaping, from Mermaid's sequence grammar (``sequenceDiagram.jison``) and its pre-parse pass
(``encodeEntities``): in message, note, title and alias text ``#`` starts a comment and ``;`` ends
the statement, so both are written as Mermaid entity codes (``#35;``, ``#59;``), which are decoded
after parsing. ``%`` (``%%`` comments, ``%%{init}%%`` directives), ``<`` ``>`` ``&`` ``"`` (HTML
in labels) get the same treatment, as does the ``s`` of a literal ``style``/``classDef`` word,
which the pre-parse pass would otherwise treat as a style statement and strip a ``;`` from.
"""

from __future__ import annotations

import re
from typing import Final

from fsync_model.diagrams.ladder import Arrow, Ladder, Note, diagram_ids, packet_time_text
from fsync_model.diagrams.shorten import (
    printable,
    printable_lines,
    shorten_detail,
    shorten_header,
    shorten_label,
)

_ENCODED: Final = {ch: f"#{ord(ch)};" for ch in '#;%<>&"'}
_ARROWS: Final = {
    "normal": "->>",
    "error": "->>",
    "retransmission": "-->>",
    "lost": "-x",
}
_ERROR_TINT: Final = "rgb(253, 236, 234)"
_FINDING_TINT: Final = "rgb(253, 236, 234)"
_STYLE_WORD_RE: Final = re.compile(r"style|classDef")
_WRAP_PREFIX_RE: Final = re.compile(r"^(no)?wrap:", re.IGNORECASE)


def mermaid_text(text: str) -> str:
    """One line of text made safe for a Mermaid message, note, alias or title."""
    out = "".join(_ENCODED.get(ch, ch) for ch in printable(text))
    out = _STYLE_WORD_RE.sub(lambda m: f"#{ord(m.group(0)[0])};{m.group(0)[1:]}", out)
    if _WRAP_PREFIX_RE.match(out.lstrip()):  # "wrap:" at the start is a Mermaid option
        stripped = out.lstrip()
        out = f"#{ord(stripped[0])};{stripped[1:]}"
    return out


def _lines(lines: list[str]) -> str:
    text = "<br/>".join(mermaid_text(line) for line in lines)
    return text if text.strip() else "#160;"  # Mermaid wants some text after the colon


def _arrow_lines(arrow: Arrow, origin: float | None) -> list[str]:
    first = shorten_label(arrow.label)
    margin = packet_time_text(arrow, origin)
    if margin:
        first = f"{first} ({margin.replace('  ', ', ')})"
    details = (shorten_detail(detail) for detail in arrow.details)
    return [first, *(detail for detail in details if detail)]


def _note_lines(note: Note) -> list[str]:
    return printable_lines(note.text)


def render_mermaid(ladder: Ladder) -> str:
    """The ladder as a Mermaid ``sequenceDiagram`` (ends with a newline)."""
    ids = diagram_ids(ladder)
    origin = ladder.time_origin()
    out = ["sequenceDiagram"]
    if ladder.title.strip():
        out.append(f"    title {mermaid_text(ladder.title.strip())}")
    if ladder.caption and ladder.caption.strip():
        out.append(f"    accDescr: {mermaid_text(ladder.caption.strip())}")
    for lifeline in ladder.lifelines:
        label = shorten_header(lifeline.label) or shorten_header(lifeline.id)
        lines = [label, shorten_header(lifeline.sublabel)] if lifeline.sublabel else [label]
        out.append(f"    participant {ids[lifeline.id]} as {_lines(lines)}")
    for item in ladder.items:
        if isinstance(item, Arrow):
            statement = (
                f"{ids[item.src]}{_ARROWS[item.style]}{ids[item.dst]}: "
                f"{_lines(_arrow_lines(item, origin))}"
            )
            tint = _ERROR_TINT if item.style == "error" else None
        else:
            left, right = ladder.note_span(item)
            over = ids[ladder.lifelines[left].id]
            if right != left:
                over += f",{ids[ladder.lifelines[right].id]}"
            statement = f"Note over {over}: {_lines(_note_lines(item))}"
            tint = _FINDING_TINT if item.kind == "finding" else None
        if tint:
            out += [f"    rect {tint}", f"        {statement}", "    end"]
        else:
            out.append(f"    {statement}")
    return "\n".join(out) + "\n"
