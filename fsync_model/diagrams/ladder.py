"""The ladder (sequence) diagram model: lifelines, arrows for SIP messages, notes for state changes.

A ``Ladder`` is plain frozen data, checked when built; the renderers (``svg``, ``mermaid``,
``plantuml``) only read it. Mapping captured or simulated SIP messages onto ``Arrow`` values is
the job of whoever owns those messages, not of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

ArrowStyle = Literal["normal", "lost", "retransmission", "error"]
NoteKind = Literal["state", "info", "finding"]

ARROW_STYLES: Final[tuple[str, ...]] = get_args(ArrowStyle)
NOTE_KINDS: Final[tuple[str, ...]] = get_args(NoteKind)


class LadderError(ValueError):
    """A ladder that cannot be drawn: unknown lifeline, duplicate id, unknown style..."""


@dataclass(frozen=True)
class Lifeline:
    """One party: ``id`` is what arrows refer to, ``label`` and ``sublabel`` are what is shown.

    ``sublabel`` is typically the address, in the text form ``udp:127.0.0.1:5070``.
    """

    id: str
    label: str
    sublabel: str = ""


@dataclass(frozen=True)
class Arrow:
    """One SIP message from ``src`` to ``dst`` (the same id for a message to itself).

    ``label`` is the method or status (``SUBSCRIBE``, ``200 OK``); ``details`` are the lines worth
    reading (``Event: as-feature-event``, ``doNotDisturbOn=true``). ``time`` is in seconds from any
    origin; diagrams show it as an offset from the first timed arrow. ``packet`` is the frame number
    in a capture. ``style``: ``lost`` (sent, never arrived), ``retransmission`` or ``error``.
    """

    src: str
    dst: str
    label: str
    details: tuple[str, ...] = ()
    time: float | None = None
    packet: int | None = None
    style: ArrowStyle = "normal"

    @property
    def is_self(self) -> bool:
        return self.src == self.dst


@dataclass(frozen=True)
class Note:
    """A remark across one or more lifelines: a ``state`` change, an ``info`` or a ``finding``."""

    over: tuple[str, ...]
    text: str
    kind: NoteKind = "state"


Item = Arrow | Note


@dataclass(frozen=True)
class Ladder:
    """A whole diagram. Items are drawn top to bottom in order."""

    title: str
    lifelines: tuple[Lifeline, ...]
    items: tuple[Item, ...] = ()
    caption: str | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for position, lifeline in enumerate(self.lifelines):
            if not lifeline.id:
                raise LadderError(f"lifeline {position} has an empty id")
            if lifeline.id in index:
                raise LadderError(f"two lifelines have the id {lifeline.id!r}")
            index[lifeline.id] = position
        if not index:
            raise LadderError("a ladder needs at least one lifeline")
        for number, item in enumerate(self.items):
            _check_item(number, item, index)
        object.__setattr__(self, "_index", index)

    def position(self, lifeline_id: str) -> int:
        """Column of a lifeline, counted from 0 at the left."""
        return self._index[lifeline_id]

    @property
    def arrows(self) -> tuple[Arrow, ...]:
        return tuple(item for item in self.items if isinstance(item, Arrow))

    def note_span(self, note: Note) -> tuple[int, int]:
        """Leftmost and rightmost column a note covers."""
        columns = [self.position(lifeline_id) for lifeline_id in note.over]
        return min(columns), max(columns)

    def time_origin(self) -> float | None:
        """Time of the first timed arrow: offsets shown in the diagram count from here."""
        for arrow in self.arrows:
            if arrow.time is not None:
                return arrow.time
        return None


def _check_item(number: int, item: object, index: dict[str, int]) -> None:
    if isinstance(item, Arrow):
        for end in (item.src, item.dst):
            if end not in index:
                raise LadderError(f"item {number}: arrow refers to unknown lifeline {end!r}")
        if item.style not in ARROW_STYLES:
            raise LadderError(f"item {number}: arrow style {item.style!r} not in {ARROW_STYLES}")
    elif isinstance(item, Note):
        if not item.over:
            raise LadderError(f"item {number}: note is over no lifeline")
        for lifeline_id in item.over:
            if lifeline_id not in index:
                raise LadderError(f"item {number}: note over unknown lifeline {lifeline_id!r}")
        if item.kind not in NOTE_KINDS:
            raise LadderError(f"item {number}: note kind {item.kind!r} not in {NOTE_KINDS}")
    else:
        raise LadderError(f"item {number}: {type(item).__name__} is neither an Arrow nor a Note")


def packet_time_text(arrow: Arrow, origin: float | None) -> str:
    """The margin text of an arrow: ``#12  +0.034 s``, or the part of it that is known."""
    parts = []
    if arrow.packet is not None:
        parts.append(f"#{arrow.packet}")
    if arrow.time is not None and origin is not None:
        offset = arrow.time - origin
        if abs(offset) < 0.0005:
            offset = 0.0  # never print "-0.000 s"
        parts.append(f"{offset:+.3f} s")
    return "  ".join(parts)


# Words that start a statement in Mermaid's or PlantUML's sequence grammar. Mermaid's lexer
# matches keywords as prefixes ("office" lexes as "off" + "ice"), so an id must not even start
# with one of them.
_RESERVED_PREFIXES: Final = (
    "accdescr",
    "acctitle",
    "activate",
    "actor",
    "alt",
    "and",
    "as",
    "autonumber",
    "box",
    "boundary",
    "break",
    "caption",
    "collections",
    "control",
    "create",
    "critical",
    "database",
    "deactivate",
    "destroy",
    "details",
    "else",
    "end",
    "entity",
    "footer",
    "group",
    "header",
    "hide",
    "left",
    "legend",
    "link",
    "loop",
    "newpage",
    "note",
    "off",
    "opt",
    "over",
    "par",
    "participant",
    "properties",
    "queue",
    "rect",
    "ref",
    "return",
    "right",
    "sequencediagram",
    "show",
    "skinparam",
    "title",
)


def diagram_ids(ladder: Ladder) -> dict[str, str]:
    """Lifeline id -> an identifier both Mermaid and PlantUML accept as a participant name.

    An id made of ASCII letters, digits and ``_``, starting with a letter and not with a keyword,
    is kept (so the text stays readable); any other becomes ``P1``, ``P2``... by column.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for lifeline in ladder.lifelines:
        if _safe_id(lifeline.id) and lifeline.id.lower() not in taken:
            out[lifeline.id] = lifeline.id
            taken.add(lifeline.id.lower())
    for position, lifeline in enumerate(ladder.lifelines, start=1):
        if lifeline.id in out:
            continue
        candidate = f"P{position}"
        while candidate.lower() in taken:
            candidate += "_"
        out[lifeline.id] = candidate
        taken.add(candidate.lower())
    return out


def _safe_id(text: str) -> bool:
    if not text.isascii() or not text[:1].isalpha():
        return False
    if not all(ch.isalnum() or ch == "_" for ch in text):
        return False
    lowered = text.lower()
    if "style" in lowered or "classdef" in lowered:  # Mermaid's pre-parse pass rewrites these
        return False
    return not any(lowered.startswith(word) for word in _RESERVED_PREFIXES)
