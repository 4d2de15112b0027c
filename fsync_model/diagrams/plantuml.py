"""Ladder diagrams as PlantUML text (``@startuml`` ... ``@enduml``), same content as the SVG.

Arrows: ``->`` normal, ``-->`` (dashed) retransmission, ``->x`` lost, ``-[#c0392b]>`` error.
Details are extra label lines (PlantUML's ``\\n``); notes are ``note over`` with a colour per kind.

Escaping: PlantUML reads ``\\`` sequences (``\\n``, ``\\t``), Creole markup (``**``, ``//``,
``""``, ``--``, ``__``, ``~~``, ``[[``, ``{{``, a ``*``, ``#``, ``=``, ``|``... at the start of a
line), HTML-like tags (``<b>``, ``<color>``, ``<U+...>``), ``&#...;`` entities, ``%`` preprocessor
functions and ``/'`` block comments. Each such character is written as ``<U+XXXX>``, which
PlantUML turns back into the character only when it draws the text, after all of the above.
"""

from __future__ import annotations

from typing import Final

from fsync_model.diagrams.ladder import Arrow, Ladder, Note, diagram_ids, packet_time_text
from fsync_model.diagrams.shorten import (
    printable,
    printable_lines,
    shorten_detail,
    shorten_header,
    shorten_label,
)

# PlantUML takes the curly quotes U+201C and U+201D for quotes too.
_ALWAYS: Final = frozenset('\\<>~%&"\u201c\u201d')
_DOUBLED: Final = frozenset("*/\"-_~=^,.[]{}|'`+")  # creole markers are pairs of these
_AT_LINE_START: Final = frozenset("*#=|-._!'")
_ARROWS: Final = {
    "normal": "->",
    "retransmission": "-->",
    "lost": "->x",
    "error": "-[#c0392b]>",
}
_NOTE_COLOURS: Final = {"state": "#E4F0FF", "info": "#FFF8DC", "finding": "#FDECEA"}


def _code(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def plantuml_text(text: str) -> str:
    """One line of text made safe for a PlantUML label, note, title or participant name."""
    clean = printable(text)
    out: list[str] = []
    previous = ""
    for position, ch in enumerate(clean):
        risky = (
            ch in _ALWAYS
            or (ch in _DOUBLED and ch == previous)
            or (position == 0 and ch in _AT_LINE_START)
            or clean.startswith("/'", position)  # block comments: /' ... '/
            or clean.startswith("'/", position)
        )
        out.append(_code(ch) if risky else ch)
        previous = ch
    return "".join(out)


def _lines(lines: list[str]) -> str:
    text = "\\n".join(plantuml_text(line) for line in lines)
    return text if text.strip() else "<U+00A0>"


def _arrow_lines(arrow: Arrow, origin: float | None) -> list[str]:
    first = shorten_label(arrow.label)
    margin = packet_time_text(arrow, origin)
    if margin:
        first = f"{first} ({margin.replace('  ', ', ')})"
    details = (shorten_detail(detail) for detail in arrow.details)
    return [first, *(detail for detail in details if detail)]


def _note(ladder: Ladder, note: Note, ids: dict[str, str]) -> str:
    left, right = ladder.note_span(note)
    over = ids[ladder.lifelines[left].id]
    if right != left:
        over += f", {ids[ladder.lifelines[right].id]}"
    return f"note over {over} {_NOTE_COLOURS[note.kind]} : {_lines(printable_lines(note.text))}"


def render_plantuml(ladder: Ladder) -> str:
    """The ladder as a PlantUML sequence diagram (ends with a newline)."""
    ids = diagram_ids(ladder)
    origin = ladder.time_origin()
    out = ["@startuml"]
    if ladder.title.strip():
        out.append(f"title {plantuml_text(ladder.title.strip())}")
    for lifeline in ladder.lifelines:
        label = shorten_header(lifeline.label) or shorten_header(lifeline.id)
        lines = [label, shorten_header(lifeline.sublabel)] if lifeline.sublabel else [label]
        out.append(f'participant "{_lines(lines)}" as {ids[lifeline.id]}')
    for item in ladder.items:
        if isinstance(item, Arrow):
            arrow = f"{ids[item.src]} {_ARROWS[item.style]} {ids[item.dst]}"
            out.append(f"{arrow} : {_lines(_arrow_lines(item, origin))}")
        else:
            out.append(_note(ladder, item, ids))
    if ladder.caption and ladder.caption.strip():
        out.append(f"caption {plantuml_text(ladder.caption.strip())}")
    out.append("@enduml")
    return "\n".join(out) + "\n"
