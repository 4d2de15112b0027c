"""State diagrams: the DOT drawn through the GraphMachine has exactly the table's states and
transitions, labelled from the role's view, finals double-circled, output stable."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest

from fsync_model.diagrams import statediagram
from fsync_model.diagrams.statediagram import (
    DotError,
    dot_to_svg,
    edge_label,
    state_dot,
    state_edges,
)
from fsync_model.model import (
    Input,
    MachineKey,
    Party,
    Transition,
    TransitionTable,
    graph_machine,
    happy_path,
    machines_for,
)
from fsync_model.profile import load_all

TABLES = [table for profile in load_all().values() for table in machines_for(profile).values()]
IDS = [str(table.key) for table in TABLES]

_NAME = r'(?:"(?:[^"\\]|\\.)*"|[^\s\[\]"]+)'
_EDGE_RE = re.compile(rf"^\t({_NAME}) -> ({_NAME})(?: \[(.*)\])?$")
_NODE_RE = re.compile(rf"^\t({_NAME})(?: \[(.*)\])?$")
_ATTR_RE = re.compile(rf"(\w+)=({_NAME}|<.*>)")


def _unquote(text: str) -> str:
    if text.startswith('"') and text.endswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _attrs(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {match.group(1): match.group(2) for match in _ATTR_RE.finditer(text)}


def parse_dot(
    dot: str,
) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, str, dict[str, str]]]]:
    """Nodes (name -> attributes) and edges (source, dest, one label line, attributes) of
    DOT text as ``state_dot`` writes it: one statement per line. A multi-line label (rows
    sharing source and destination) gives one edge per line."""
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, str, dict[str, str]]] = []
    for line in dot.splitlines():
        if line.startswith(("\tgraph ", "\tnode ", "\tedge ")):
            continue
        edge = _EDGE_RE.match(line)
        if edge:
            source, dest = _unquote(edge.group(1)), _unquote(edge.group(2))
            attrs = _attrs(edge.group(3))
            raw = attrs.get("label")
            # a label's line break is the two characters backslash-n inside the quotes
            labels = raw[1:-1].split("\\n") if raw and raw.startswith('"') else [raw or ""]
            edges += [(source, dest, _unquote(f'"{label}"'), attrs) for label in labels]
            continue
        node = _NODE_RE.match(line)
        if node:
            nodes[_unquote(node.group(1))] = _attrs(node.group(2))
    return nodes, edges


@pytest.mark.parametrize("table", TABLES, ids=IDS)
def test_dot_nodes_and_edges_are_the_table(table: TransitionTable) -> None:
    nodes, edges = parse_dot(state_dot(table, Party.PHONE))
    assert set(nodes) - {"_initial"} == set(table.states)
    drawn = Counter((s, d, label) for s, d, label, _ in edges if s != "_initial")
    expected = Counter((r.source, r.dest, edge_label(r, Party.PHONE)) for r in table.transitions)
    assert drawn == expected
    assert [(s, d) for s, d, _, _ in edges if s == "_initial"] == [("_initial", table.initial)]
    for state, attrs in nodes.items():
        if state == "_initial":
            assert attrs["shape"] == "point"
        elif state in table.finals:
            assert attrs.get("shape") == "doublecircle", state
        else:
            assert "shape" not in attrs, state  # the default: a rounded box


@pytest.mark.parametrize("table", TABLES[:12], ids=IDS[:12])
def test_dot_is_stable_and_edges_sorted(table: TransitionTable) -> None:
    dot = state_dot(table, Party.PHONE)
    assert dot == state_dot(table, Party.PHONE)
    _, edges = parse_dot(dot)
    pairs = [(s, d) for s, d, _, _ in edges if s != "_initial"]
    assert pairs == sorted(pairs)


def test_happy_path_edges_are_bold_and_failures_red() -> None:
    table = machines_for(load_all()["broadsoft"])[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    _, edges = parse_dot(state_dot(table))
    bold = {(s, d) for s, d, _, attrs in edges if attrs.get("penwidth") == "2.2"}
    assert bold == {(row.source, row.dest) for row in happy_path(table)}
    red = {(s, d) for s, d, _, attrs in edges if attrs.get("color") == '"#c0392b"'}
    assert red and all(d == "Failed" for _, d in red)
    dashed = {label for _, _, label, attrs in edges if attrs.get("style") == "dashed"}
    assert "user change" in dashed


def test_edge_labels_from_the_role_view() -> None:
    row = Transition("A", Input.PHONE_SENDS_SUBSCRIBE_SET, "B", "SUBSCRIBE (SetDoNotDisturb)", "")
    assert edge_label(row, Party.PHONE) == "send SUBSCRIBE (set)"
    assert edge_label(row, Party.SERVER) == "recv SUBSCRIBE (set)"
    assert edge_label(row, None) == "phone sends SUBSCRIBE (set)"
    ok = Transition("B", Input.SERVER_SENDS_2XX, "C", "202 Accepted", "", status=202)
    assert edge_label(ok, Party.PHONE) == "recv 202"
    assert (
        edge_label(Transition("B", Input.SERVER_SENDS_2XX, "C", "", ""), Party.PHONE) == "recv 2xx"
    )
    error = Transition("B", Input.SERVER_SENDS_ERROR, "C", "4xx-6xx", "")
    assert edge_label(error, Party.PHONE) == "recv 4xx-6xx"
    admin = Transition("A", Input.SERVER_ADMIN_CHANGE, "B", "", "")
    assert edge_label(admin, Party.PHONE) == "admin change at server"
    assert edge_label(admin, Party.SERVER) == "admin change"
    gone = Transition("A", Input.PHONE_SENDS_UNSUBSCRIBE, "B", "", "")
    assert edge_label(gone, Party.PHONE) == "send SUBSCRIBE (Expires 0)"


def test_server_view_labels() -> None:
    table = machines_for(load_all()["broadsoft"])[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    labels = {edge.label for edge in state_edges(table, Party.SERVER)}
    assert {"recv SUBSCRIBE (set)", "send 200", "send NOTIFY", "user change at phone"} <= labels


def test_a_machine_that_disagrees_with_the_table_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tables = machines_for(load_all()["broadsoft"])
    dnd = tables[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    cfa = tables[MachineKey.parse("broadsoft/cfa/server-initiated")]
    monkeypatch.setattr(statediagram, "graph_machine", lambda table, role: graph_machine(cfa, role))
    with pytest.raises(ValueError, match="GraphMachine"):
        state_dot(dnd)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")
def test_dot_to_svg_draws_every_state() -> None:
    table = machines_for(load_all()["yeastar"])[MachineKey.parse("yeastar/dnd/phone-initiated")]
    svg = dot_to_svg(state_dot(table))
    assert svg is not None and "<svg" in svg
    titles = set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]+)</title>', svg))
    assert titles - {"_initial"} == set(table.states)
    with pytest.raises(DotError):
        dot_to_svg("digraph { this is not dot")


def test_without_dot_svg_is_none() -> None:
    assert dot_to_svg("digraph {}", program="fsync-no-such-dot") is None
