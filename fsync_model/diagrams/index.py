"""The guide's figures, redrawn: one figure per flow of every system, and the index page.

The vendor guide showed a capture or a screenshot for most flows, and lost them all; only the
captions survived (``feature-sync-guide.en.md``). :func:`figures` lists, for every profile in
``spec/``, one :class:`Figure` per machine of :func:`~fsync_model.model.machines_for`
(registration, the line setting, the subscription, the uaCSTA session, and each feature in
each direction), with the guide's caption where the guide had a figure and the unconfirmed
profile settings the flow depends on. :func:`readme` lays them out like the guide: one section
per system, in the guide's order, one figure per flow.

Ladders come from :func:`flow_recording`, the one place that decides where a flow's messages
come from. Until the reference agents' in-memory run helper lands it returns
:func:`expected_flow`, the flow the transition table expects (its happy path); then it becomes
``recorded_flow(figure, <the run's messages>)``, one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from fsync_model.diagrams.ladder import Arrow, Item, Ladder, Lifeline, Note
from fsync_model.diagrams.messages import MessageLike, ladder_from_messages, message_log
from fsync_model.model import (
    FlowKind,
    MachineKey,
    TransitionTable,
    happy_path,
    machines_for,
)
from fsync_model.profile import Action, Direction, Feature, Mechanism, Profile, Setting

__all__ = [
    "SECTION_ORDER",
    "Figure",
    "FlowRecording",
    "GuideFigure",
    "expected_flow",
    "figures",
    "flow_recording",
    "readme",
    "recorded_flow",
]

GUIDE: Final = "shared/seed/feature-sync-guide.en.md"
#: The guide's system sections, in its order; profiles name theirs in ``guide_section``.
SECTION_ORDER: Final = (
    "BroadSoft",
    "Metaswitch",
    "Fortinet",
    "3CX and Yeastar",
    "Which server uses which mechanism",
)
#: File kinds of one figure: suffix -> what the index calls it.
STATE_FILES: Final = (("state.svg", "SVG"), ("state.dot", "DOT"))
LADDER_FILES: Final = (
    ("ladder.svg", "SVG"),
    ("ladder.mmd", "Mermaid"),
    ("ladder.puml", "PlantUML"),
    ("messages.txt", "messages"),
)

_FEATURE_NAMES: Final = {
    Feature.DND: "DND",
    Feature.CFA: "Unconditional forward",
    Feature.CFB: "Busy forward",
    Feature.CFNA: "No-answer forward",
}
_DIRECTION_WORDS: Final = {
    Direction.SERVER: "changed on the server",
    Direction.PHONE: "changed at the phone",
}
_MECHANISM_WORDS: Final = {
    Mechanism.AS_FEATURE_EVENT: "SUBSCRIBE/NOTIFY, as-feature-event",
    Mechanism.FEATURE_CODE: "feature-code INVITE",
    Mechanism.UACSTA: "uaCSTA INFO, informational only",
}
_LIFECYCLE_TITLES: Final = {
    FlowKind.REGISTRATION: "Registration",
    FlowKind.LINE: "The per-line feature-sync setting",
    FlowKind.SUBSCRIPTION: "The as-feature-event subscription and its full-state NOTIFY",
    FlowKind.UACSTA_SESSION: "The uaCSTA session (INVITE, then MonitorStart)",
}


@dataclass(frozen=True)
class GuideFigure:
    """A figure the guide had: where it stood and its caption (English rendering)."""

    place: str
    caption: str


_CONFIGURATION: Final = GuideFigure("Configuration", "Web settings item")
_NOTIFY_UPDATES: Final = GuideFigure("Which server uses which mechanism", "NOTIFY updates")
_METASWITCH: Final = GuideFigure("Metaswitch", "one per feature and direction")
_BROADSOFT_DND: Final = "BroadSoft \u203a Do Not Disturb (DND)"
_BROADSOFT_CFA: Final = "BroadSoft \u203a 1. Call forward unconditional (always)"
_BROADSOFT_CFB: Final = "BroadSoft \u203a 2. Call forward on busy"
_BROADSOFT_CFNA: Final = "BroadSoft \u203a 3. Call forward on no answer"

#: (guide section, flow) -> the guide's figure. A flow is the machine key without the system
#: (``dnd/phone-initiated``, ``subscription``); ``*`` stands for every feature flow.
_GUIDE_FIGURES: Final[Mapping[tuple[str, str], GuideFigure]] = {
    ("BroadSoft", "subscription"): _NOTIFY_UPDATES,
    ("BroadSoft", "dnd/server-initiated"): GuideFigure(
        f"{_BROADSOFT_DND} \u203a 1. Server-initiated", "packet capture"
    ),
    ("BroadSoft", "dnd/phone-initiated"): GuideFigure(
        f"{_BROADSOFT_DND} \u203a 2. Phone-initiated", "DND switched on/off at the phone"
    ),
    ("BroadSoft", "cfa/phone-initiated"): GuideFigure(
        f"{_BROADSOFT_CFA} \u203a 2. Phone-initiated", "unconditional forward"
    ),
    ("BroadSoft", "cfb/server-initiated"): GuideFigure(_BROADSOFT_CFB, "busy forward"),
    ("BroadSoft", "cfb/phone-initiated"): GuideFigure(_BROADSOFT_CFB, "busy forward"),
    ("BroadSoft", "cfna/server-initiated"): GuideFigure(_BROADSOFT_CFNA, "no-answer forward"),
    ("BroadSoft", "cfna/phone-initiated"): GuideFigure(
        _BROADSOFT_CFNA, "no-answer forward set at the phone"
    ),
    ("Metaswitch", "subscription"): _NOTIFY_UPDATES,
    ("Metaswitch", "*"): _METASWITCH,
    ("Fortinet", "subscription"): GuideFigure("Fortinet", "feature codes / phone state sync"),
    ("Fortinet", "dnd/server-initiated"): GuideFigure("Fortinet", "DND state notification"),
    ("Fortinet", "dnd/phone-initiated"): GuideFigure(
        "Fortinet", "DND state sent by phone operation"
    ),
    ("3CX and Yeastar", "dnd/phone-initiated"): GuideFigure(
        "3CX and Yeastar", "phone DND operation sends INVITE"
    ),
    ("3CX and Yeastar", "dnd/server-initiated"): GuideFigure(
        "3CX and Yeastar \u203a Note", "uaCSTA notification when DND is enabled on the server"
    ),
}
#: The guide's screenshot of the code settings, redrawn as a table for feature-code systems.
FEATURE_CODE_SETTINGS: Final = GuideFigure("3CX and Yeastar", "feature code settings")


@dataclass(frozen=True)
class Figure:
    """One flow of one system: what is drawn, where its files go, what it rests on."""

    profile: Profile
    table: TransitionTable
    number: int
    title: str
    guide: GuideFigure | None
    #: unconfirmed profile settings the flow depends on, by dotted YAML path
    unconfirmed: tuple[tuple[str, Setting[Any]], ...]

    @property
    def key(self) -> MachineKey:
        return self.table.key

    @property
    def system(self) -> str:
        return self.profile.id

    @property
    def stem(self) -> str:
        """``dnd-phone-initiated``, ``subscription``: the file names' common part."""
        return str(self.key).split("/", 1)[1].replace("/", "-")

    @property
    def source(self) -> str:
        """The spec file the figure is generated from, as the stamp names it."""
        return f"spec/{self.profile.path.name}"

    def path(self, suffix: str) -> str:
        """Where a file of this figure goes under the output folder: ``broadsoft/x.state.svg``."""
        return f"{self.system}/{self.stem}.{suffix}"

    @property
    def full_title(self) -> str:
        return f"{self.profile.name}: {self.title}"

    @property
    def caption(self) -> str:
        if self.guide is None:
            return "No figure in the guide for this flow."
        return f"Guide figure \u201c{self.guide.caption}\u201d ({self.guide.place})."


# ----------------------------------------------------------------------------------------------
# The catalogue


def _flow_name(key: MachineKey) -> str:
    return str(key).split("/", 1)[1]


def _title(table: TransitionTable) -> str:
    key = table.key
    if key.feature is None or key.direction is None:
        return _LIFECYCLE_TITLES[key.kind]
    words = f"{_FEATURE_NAMES[key.feature]} {_DIRECTION_WORDS[key.direction]}"
    if table.mechanism is not None:
        words += f" ({_MECHANISM_WORDS[table.mechanism]})"
    return words


def _guide_figure(profile: Profile, table: TransitionTable) -> GuideFigure | None:
    if table.key.kind is FlowKind.LINE:
        return _CONFIGURATION
    section = profile.guide_section
    flow = _flow_name(table.key)
    found = _GUIDE_FIGURES.get((section, flow))
    if found is None and table.key.kind is FlowKind.FEATURE:
        found = _GUIDE_FIGURES.get((section, "*"))
    return found


def _relevant(path: str, table: TransitionTable) -> bool:
    """Whether the unconfirmed setting at ``path`` shapes the flow of ``table``."""
    key = table.key
    head = path.split(".", 1)[0]
    if key.kind is FlowKind.REGISTRATION:
        return head == "registration"
    if key.kind is FlowKind.LINE:
        return head == "line"
    if key.kind is FlowKind.UACSTA_SESSION:
        return head == "uacsta"
    if key.kind is FlowKind.SUBSCRIPTION:
        return head == "as_feature_event" and not path.startswith(
            ("as_feature_event.set_request", "as_feature_event.ring_count")
        )
    if head == "mechanisms":
        return True
    feature, direction = key.feature, key.direction
    if table.mechanism is Mechanism.AS_FEATURE_EVENT:
        if head != "as_feature_event" or path.startswith(
            ("as_feature_event.subscribe", "as_feature_event.notify.full_state")
        ):
            return False
        if path.startswith("as_feature_event.set_request"):
            return direction is Direction.PHONE
        if path.startswith("as_feature_event.ring_count"):
            return feature is Feature.CFNA
        return True
    if table.mechanism is Mechanism.FEATURE_CODE:
        if head != "feature_codes":
            return False
        if path.startswith("feature_codes.codes."):
            return feature is not None and path.split(".")[2] == feature.value
        if path.startswith("feature_codes.seconds_per_ring"):
            return feature is Feature.CFNA
        return True
    return head == "uacsta"


def _section_rank(profile: Profile) -> tuple[int, str]:
    section = profile.guide_section
    rank = SECTION_ORDER.index(section) if section in SECTION_ORDER else len(SECTION_ORDER)
    return (rank, profile.id)


def ordered_profiles(profiles: Iterable[Profile]) -> list[Profile]:
    """Profiles in the guide's order of sections, then by id."""
    return sorted(profiles, key=_section_rank)


def figures(profiles: Iterable[Profile]) -> list[Figure]:
    """Every figure of every profile, numbered in the order the index shows them."""
    out: list[Figure] = []
    for profile in ordered_profiles(profiles):
        unconfirmed = profile.unconfirmed()
        for table in machines_for(profile).values():
            relevant = tuple((p, s) for p, s in unconfirmed if _relevant(p, table))
            out.append(
                Figure(
                    profile=profile,
                    table=table,
                    number=len(out) + 1,
                    title=_title(table),
                    guide=_guide_figure(profile, table),
                    unconfirmed=relevant,
                )
            )
    return out


# ----------------------------------------------------------------------------------------------
# Ladders: the swap point between expected flows and recorded runs


@dataclass(frozen=True)
class FlowRecording:
    """A flow as a ladder and as text. ``origin`` says what it shows: the messages of a run
    between the reference agents, or the steps the transition table expects."""

    ladder: Ladder
    text: str
    origin: Literal["reference agents", "transition table"]


_PHONE: Final = "phone"
_SERVER: Final = "server"


def _split_label(label: str) -> tuple[str, list[str]]:
    """``NOTIFY (DoNotDisturbEvent, new state)`` -> ``NOTIFY`` and its details, one per line,
    as a captured message's arrow shows them."""
    head, sep, inner = label.partition(" (")
    if not sep or not inner.endswith(")"):
        return label, []
    return head, [part.strip() for part in inner[:-1].split(", ") if part.strip()]


def expected_flow(figure: Figure) -> FlowRecording:
    """The flow as the table expects it (its happy path): one arrow per message, the local
    events (keypad, portal, setting) as notes at the party where they happen, and the state
    the exchange is in after each step."""
    lifelines = (
        Lifeline(_PHONE, "phone", "reference phone"),
        Lifeline(_SERVER, figure.profile.name, "reference server"),
    )
    items: list[Item] = [Note((_PHONE, _SERVER), figure.table.initial, "state")]
    lines = [
        f"{figure.key}: the flow as the transition table expects it (its happy path).",
        "The message text of a run between the reference agents replaces this list once",
        "they can run flows in memory.",
        "",
        f"state: {figure.table.initial}",
    ]
    for step, row in enumerate(happy_path(figure.table), start=1):
        actor = row.input.actor.value
        peer = row.input.actor.peer.value
        if row.input.on_wire:
            label, details = _split_label(row.label)
            items.append(Arrow(actor, peer, label, (*details, *([row.note] if row.note else []))))
            lines.append(f"{step:2}. {actor} -> {peer}: {row.label}")
        else:
            items.append(Note((actor,), row.label, "info"))
            lines.append(f"{step:2}. at the {actor}: {row.label}")
        if row.note:
            lines.append(f"      ({row.note})")
        lines.append(f"      [{row.guide_ref}]")
        items.append(Note((_PHONE, _SERVER), row.dest, "state"))
        lines.append(f"state: {row.dest}")
    caption = f"{figure.caption} Expected flow: the happy path of {figure.key}."
    ladder = Ladder(figure.full_title, lifelines, tuple(items), caption)
    return FlowRecording(ladder, "\n".join(lines) + "\n", "transition table")


def recorded_flow(
    figure: Figure,
    messages: Sequence[MessageLike],
    *,
    lifeline_names: Mapping[str, str] | None = None,
) -> FlowRecording:
    """The flow as the reference agents ran it: the ladder of its messages and their full
    text (seeded agents, so the same run gives the same bytes)."""
    caption = f"{figure.caption} Run between the reference agents ({figure.key})."
    ladder = ladder_from_messages(
        messages, title=figure.full_title, caption=caption, lifeline_names=lifeline_names
    )
    return FlowRecording(ladder, message_log(messages), "reference agents")


def _agent_messages(figure: Figure) -> tuple[list[MessageLike], dict[str, str]]:
    """The messages of ``figure``'s flow as the seeded reference agents ran it in memory:
    a feature flow's own exchange; for the registration, subscription and uaCSTA-session
    lifecycles, the matching part of a flow's set-up. Empty when nothing is sent (the line
    setting)."""
    from fsync_model.testing.flows import flows_of, run_flow

    specs = flows_of(figure.profile)
    if not specs:
        return [], {}
    from fsync_model.transport.memory import MemoryNetwork

    spec = next((s for s in specs if s.key == figure.key), None)
    # a fixed link delay: the ladder's time column reads like a capture, and stays stable
    network = MemoryNetwork(seed=1, delay=(0.002, 0.002))
    run = run_flow(spec if spec is not None else specs[0], network=network)
    names = {}
    if run.phone_address is not None:
        names[str(run.phone_address)] = "phone 1001"
    if run.server_address is not None:
        names[str(run.server_address)] = f"server ({figure.profile.name})"
    if spec is not None:
        return [*run.messages], names
    kind = figure.key.kind.value
    wanted = {"registration": (b"REGISTER",), "subscription": (b"SUBSCRIBE", b"NOTIFY"),
              "uacsta-session": (b"INVITE", b"ACK", b"INFO")}.get(kind)
    if wanted is None:
        return [], names
    picked: list[MessageLike] = [m for m in run.setup_messages if _method_of(m.data) in wanted]
    return picked, names


def _method_of(data: bytes) -> bytes:
    """The request method, or for a response the CSeq method."""
    first = data.split(b" ", 1)[0]
    if first != b"SIP/2.0":
        return first
    for line in data.split(b"\r\n"):
        if line[:5].lower() == b"cseq:":
            return line.split()[-1]
    return b""


def flow_recording(figure: Figure) -> FlowRecording:
    """Where every ladder comes from: a run between the reference agents when the flow sends
    anything, else (the line setting) the table's expected path."""
    messages, names = _agent_messages(figure)
    if messages:
        return recorded_flow(figure, messages, lifeline_names=names)
    return expected_flow(figure)


# ----------------------------------------------------------------------------------------------
# The index page


def _md(text: str) -> str:
    """Text made safe for Markdown prose (no accidental emphasis, links or HTML)."""
    out = text
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def _setting_line(path: str, setting: Setting[Any], source: str) -> str:
    value = "`" + _value_text(setting.value).replace("`", "'") + "`"
    where = f"{source}:{setting.line}" if setting.line is not None else source
    link = f"../{source}" + (f"#L{setting.line}" if setting.line is not None else "")
    note = f" \u2014 {_md(setting.note)}" if setting.note else ""
    return f"`{path}` = {value} ([{where}]({link})){note}"


def _value_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    return str(value)


def _codes_table(profile: Profile) -> list[str]:
    codes = profile.codes
    if codes is None:
        return []
    lines = [
        f"**Feature code settings** (guide figure \u201c{FEATURE_CODE_SETTINGS.caption}\u201d, "
        "redrawn from the profile; \u26a0 marks an unconfirmed code):",
        "",
        "| feature | activate | deactivate |",
        "|---|---|---|",
    ]
    for feature in Feature:
        cells = []
        for action in (Action.ACTIVATE, Action.DEACTIVATE):
            entry = codes.entry(feature, action)
            if entry is None:
                cells.append("\u2014")
                continue
            shown = " or ".join(
                f"`{t.value}`" + (" \u26a0" if t.unconfirmed else "") for t in entry.templates()
            )
            cells.append(shown)
        if any(cell != "\u2014" for cell in cells):
            lines.append(f"| {_FEATURE_NAMES[feature]} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def _figure_block(figure: Figure, has_svg: bool) -> list[str]:
    if figure.guide is not None:
        caption = figure.guide.caption[:1].upper() + figure.guide.caption[1:]
        heading = f"{caption} \u2014 {figure.title}"
        where = (
            f"*Guide figure \u201c{_md(figure.guide.caption)}\u201d, {_md(figure.guide.place)}.*"
        )
    else:
        heading, where = figure.title, "*No figure in the guide for this flow.*"
    lines = [f"### Figure {figure.number}. {_md(heading)}", "", where]
    lines.append("")
    if figure.unconfirmed:
        lines.append(
            "> \u26a0 **Unconfirmed profile settings** shape this flow "
            "(no capture has confirmed them):"
        )
        for path, setting in figure.unconfirmed:
            lines.append(f"> - {_setting_line(path, setting, figure.source)}")
        lines.append("")
    ladder = figure.path("ladder.svg")
    lines.append(f"![Ladder: {_md(figure.full_title)}]({ladder})")
    lines.append("")
    links = " \u00b7 ".join(f"[{name}]({figure.path(suffix)})" for suffix, name in LADDER_FILES)
    lines.append(f"Ladder: {links}  ")
    states = [(s, n) for s, n in STATE_FILES if has_svg or s != "state.svg"]
    state_links = " \u00b7 ".join(f"[{name}]({figure.path(suffix)})" for suffix, name in states)
    lines.append(f"State diagram (`{figure.key}`): {state_links}")
    lines.append("")
    if has_svg:
        lines.append(f"![State diagram: {figure.key}]({figure.path('state.svg')})")
        lines.append("")
    return lines


def readme(all_figures: Sequence[Figure], *, has_svg: bool = True) -> str:
    """The index page: the guide's layout, every figure linked, unconfirmed settings marked.
    ``has_svg`` is False when the state SVGs could not be drawn (no ``dot``)."""
    lines = [
        "# Feature sync figures",
        "",
        f"The figures the vendor guide ({GUIDE}) lost, redrawn from the formal model: for every "
        "system in `spec/`, one figure per flow, in the guide's order and with the guide's own "
        "captions (English rendering). Each figure has a **ladder** (SVG, Mermaid, PlantUML, "
        "and the text of its messages) and the **state diagram** of its transition table (SVG "
        "and DOT), drawn from the same table the reference agents and the tests run.",
        "",
        "Ladders are real runs: the seeded reference phone and server exchange the flow on "
        "an in-memory network with a fixed 2 ms link delay, every step checked against the "
        "table (the line setting, which sends nothing, shows the table's expected path). "
        "State diagrams label edges as the phone sees them (`send`, `recv`), draw the "
        "guide's flow in bold and final states as double circles.",
        "",
        "\u26a0 marks a value in a profile that no capture has confirmed yet: correct it in "
        "`spec/` and run `fsync diagrams` again. `fsync diagrams --check` fails when these "
        "files are stale.",
        "",
    ]
    by_profile: dict[str, list[Figure]] = {}
    for figure in all_figures:
        by_profile.setdefault(figure.system, []).append(figure)
    lines += ["## Contents", ""]
    for group in by_profile.values():
        profile = group[0].profile
        anchor = _anchor(profile)
        lines.append(
            f"- [{_md(profile.name)}](#{anchor}) \u2014 guide section "
            f"\u201c{_md(profile.guide_section)}\u201d, {len(group)} figures"
        )
    lines.append("")
    for group in by_profile.values():
        lines += _section(group, has_svg)
    return "\n".join(lines).rstrip("\n") + "\n"


def _anchor(profile: Profile) -> str:
    text = profile.name.lower()
    kept = "".join(ch for ch in text if ch.isalnum() or ch in " -")
    return kept.replace(" ", "-")


def _section(group: Sequence[Figure], has_svg: bool) -> list[str]:
    profile = group[0].profile
    mechanisms = ", ".join(m.value for m in profile.mechanisms)
    lines = [
        f"## {_md(profile.name)}",
        "",
        f"Guide section \u201c{_md(profile.guide_section)}\u201d; mechanisms: {mechanisms}; "
        f"profile [{group[0].source}](../{group[0].source}).",
        "",
    ]
    unconfirmed = profile.unconfirmed()
    if unconfirmed:
        lines.append(
            f"> \u26a0 **{len(unconfirmed)} unconfirmed profile settings** in this system:"
        )
        for path, setting in unconfirmed:
            lines.append(f"> - {_setting_line(path, setting, group[0].source)}")
        lines.append("")
    lines += _codes_table(profile)
    for figure in group:
        lines += _figure_block(figure, has_svg)
    return lines
