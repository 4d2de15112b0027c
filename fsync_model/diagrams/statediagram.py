"""State diagrams drawn from the transition tables, through the `transitions` GraphMachine.

:func:`state_dot` asks :func:`fsync_model.model.graph_machine` (graph engine ``graphviz``,
named there) for the machine of a table, reads the states, finals and transitions back from
the machine's markup, checks them against the table row by row, and writes them as DOT with
the ``graphviz`` package: nodes in table order, edges sorted (source, destination, label) so
the output is stable, one edge per table row. Edge labels are the role's view of each input
(``send SUBSCRIBE (set)``, ``recv 200``, ``user change``); the flow as the guide draws it
(:func:`~fsync_model.model.happy_path`) is bold, edges into ``Failed`` are red, events that no
message carries (keypad, portal, timers) are dashed, final states are double circles.

:func:`dot_to_svg` runs ``dot -Tsvg``; without ``dot`` on PATH it returns ``None`` and the
caller writes the DOT alone (:data:`DOT_MISSING` says what to install).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Final

import graphviz

from fsync_model.model import (
    FAILED,
    Input,
    Party,
    State,
    Transition,
    TransitionTable,
    View,
    graph_machine,
    happy_path,
    input_for,
    view_kind,
)

__all__ = [
    "DOT_MISSING",
    "DotError",
    "Edge",
    "dot_to_svg",
    "edge_label",
    "state_dot",
    "state_edges",
]

DOT_MISSING: Final = "dot (graphviz) is not on PATH: wrote DOT only; apt-get install graphviz"
FONT: Final = "DejaVu Sans"
INK: Final = "#1f2d3d"
MUTED: Final = "#5b6b7f"
ERROR_INK: Final = "#c0392b"
NODE_FILL: Final = "#eef2f7"
GOAL_FILL: Final = "#dff0d8"
FAILED_FILL: Final = "#fdecea"

#: The message part of an input, as a reader says it (``Input.message`` -> words).
_MESSAGE_WORDS: Final = {
    "SUBSCRIBE_SET": "SUBSCRIBE (set)",
    "UNSUBSCRIBE": "SUBSCRIBE (Expires 0)",
    "UNREGISTER": "REGISTER (Expires 0)",
    "NOTIFY_OLD_STATE": "NOTIFY (old state)",
    "NOTIFY_TERMINATED": "NOTIFY (terminated)",
    "1XX": "1xx",
    "FINAL_EXECUTED": "final (executed)",
    "USER_CHANGE": "user change",
    "ADMIN_CHANGE": "admin change",
    "ENABLE_SYNC": "sync enabled",
    "DISABLE_SYNC": "sync disabled",
    "TIMEOUT": "timeout",
}
#: Wire messages whose words are the status the profile sets on the row, when it sets one.
_STATUS_WORDS: Final = {"2XX": "2xx", "ERROR": "4xx-6xx", "CHALLENGE": "401/407"}


class DotError(RuntimeError):
    """``dot`` ran and failed (a bug in the DOT we wrote, or a broken graphviz install)."""


def _message_words(row: Transition) -> str:
    message = row.input.message
    if message in _STATUS_WORDS:
        return str(row.status) if row.status is not None else _STATUS_WORDS[message]
    return _MESSAGE_WORDS.get(message, message)


def edge_label(row: Transition, role: Party | None) -> str:
    """What ``role`` sees happen on this row: ``send SUBSCRIBE (set)``, ``recv 200``,
    ``user change``, ``admin change at server`` (the peer's local event, unseen). With no
    role, who acts: ``phone sends SUBSCRIBE (set)``, ``user change at phone``."""
    words = _message_words(row)
    actor = row.input.actor.value
    if role is None:
        return f"{actor} sends {words}" if row.input.on_wire else f"{words} at {actor}"
    kind = view_kind(row.input, role)
    if kind is View.SEND:
        return f"send {words}"
    if kind is View.RECV:
        return f"recv {words}"
    if kind is View.PEER:
        return f"{words} at {actor}"
    return words


@dataclass(frozen=True)
class Edge:
    """One drawn edge: a table row and how it looks."""

    source: State
    dest: State
    label: str
    row: Transition
    on_path: bool

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.source, self.dest, self.label)


def _machine_rows(table: TransitionTable, role: Party) -> tuple[list[str], list[Transition]]:
    """States and rows as the GraphMachine has them, each row found again in the table."""
    markup: Mapping[str, Any] = graph_machine(table, role).get_markup_config()
    states = [str(state["name"]) for state in markup["states"]]
    finals = {str(state["name"]) for state in markup["states"] if state.get("final")}
    if set(states) != set(table.states) or finals != set(table.finals):
        raise ValueError(f"{table.key}: the GraphMachine's states differ from the table's")
    rows: list[Transition] = []
    for item in markup["transitions"]:
        source, dest = str(item["source"]), str(item["dest"])
        row = table.transition(source, input_for(role, str(item["trigger"])))
        if row.dest != dest:
            raise ValueError(f"{table.key}: the GraphMachine has {source} -> {dest}, the table not")
        rows.append(row)
    if sorted(map(id, rows)) != sorted(map(id, table.transitions)):
        raise ValueError(f"{table.key}: the GraphMachine's transitions differ from the table's")
    return states, rows


def state_edges(table: TransitionTable, role: Party = Party.PHONE) -> list[Edge]:
    """Every row of ``table`` as an edge, sorted by (source, destination, label)."""
    _, rows = _machine_rows(table, role)
    path = set(map(id, happy_path(table)))
    edges = [Edge(r.source, r.dest, edge_label(r, role), r, id(r) in path) for r in rows]
    return sorted(edges, key=lambda edge: edge.sort_key)


def _tooltip(row: Transition) -> str:
    parts = [row.label]
    if row.note:
        parts.append(row.note)
    parts.append(row.guide_ref)
    return " \u2014 ".join(parts)


def _node_attrs(table: TransitionTable, state: State) -> dict[str, str]:
    if state not in table.finals:
        return {}
    fill = GOAL_FILL if state == table.goal else FAILED_FILL if state == FAILED else NODE_FILL
    return {"shape": "doublecircle", "fillcolor": fill, "style": "filled", "margin": "0.02"}


def _edge_attrs(table: TransitionTable, group: Sequence[Edge], role: Party) -> dict[str, str]:
    """One drawn edge for the rows that share a source and a destination: their labels one
    per line (graphviz would stack parallel edges and self-loops on top of each other)."""
    attrs = {
        "label": "\\n".join(edge.label for edge in group),
        "tooltip": "\\n".join(_tooltip(edge.row) for edge in group),
    }
    if any(edge.on_path for edge in group):
        attrs.update(penwidth="2.2", color=INK, fontcolor=INK)
    if group[0].dest == FAILED and group[0].dest != table.goal:
        attrs.update(color=ERROR_INK, fontcolor=ERROR_INK)
    if all(view_kind(edge.row.input, role) in (View.LOCAL, View.PEER) for edge in group):
        attrs["style"] = "dashed"
    return attrs


def _title(text: str, subtitle: str) -> str:
    """An HTML-like DOT label: the title in bold, a smaller line under it."""
    return (
        f'<<font point-size="15"><b>{escape(text)}</b></font><br/>'
        f'<font point-size="10" color="{MUTED}">{escape(subtitle)}</font>>'
    )


def state_dot(
    table: TransitionTable,
    role: Party = Party.PHONE,
    *,
    title: str | None = None,
    rankdir: str | None = None,
) -> str:
    """The state diagram of ``table`` as DOT text, edges labelled as ``role`` sees them."""
    states, _ = _machine_rows(table, role)
    edges = state_edges(table, role)
    order = {state: index for index, state in enumerate(table.states)}
    states.sort(key=order.__getitem__)
    graph = graphviz.Digraph(
        name=str(table.key),
        graph_attr={
            "rankdir": rankdir or ("TB" if len(states) > 12 else "LR"),
            "label": _title(
                title or str(table.key),
                f"edges as the {role.value} sees them; bold: the flow as the guide draws it; "
                "dashed: no message (keypad, portal, timer); double circle: final state",
            ),
            "labelloc": "t",
            "fontname": FONT,
            "nodesep": "0.35",
            "ranksep": "0.45",
            "bgcolor": "white",
            "pad": "0.2",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": NODE_FILL,
            "color": MUTED,
            "fontname": FONT,
            "fontsize": "11",
            "fontcolor": INK,
        },
        edge_attr={"fontname": FONT, "fontsize": "9", "color": MUTED, "fontcolor": MUTED},
    )
    graph.node("_initial", label="", shape="point", width="0.12", color=INK, fillcolor=INK)
    for state in states:
        graph.node(state, **_node_attrs(table, state))
    graph.edge("_initial", table.initial, color=INK, penwidth="1.4", tooltip="initial state")
    for (source, dest), group in itertools.groupby(edges, key=lambda e: (e.source, e.dest)):
        graph.edge(source, dest, **_edge_attrs(table, list(group), role))
    return str(graph.source)


def dot_to_svg(dot: str, *, program: str = "dot", timeout: float = 60.0) -> str | None:
    """``dot -Tsvg`` of ``dot``; ``None`` when ``program`` is not on PATH."""
    executable = shutil.which(program)
    if executable is None:
        return None
    result = subprocess.run(
        [executable, "-Tsvg"],
        input=dot.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise DotError(f"{program} -Tsvg failed ({result.returncode}): {message}")
    return result.stdout.decode("utf-8")


def inputs_on_edges(edges: list[Edge]) -> set[Input]:
    """The inputs the edges carry (for coverage-style checks in tests)."""
    return {edge.row.input for edge in edges}
