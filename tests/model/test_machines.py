"""The `transitions` machine built from a table is the table: same states, same rows."""
from __future__ import annotations

import pytest

from fsync_model.model import (
    IllegalTransition,
    Input,
    Party,
    TransitionTable,
    build_machine,
    graph_machine,
    trigger_name,
)

from .conftest import ALL_TABLES

ROLES = [Party.PHONE, Party.SERVER, None]


@pytest.mark.parametrize(("name", "table"), ALL_TABLES, ids=[n for n, _ in ALL_TABLES])
def test_machine_has_exactly_the_tables_rows(name: str, table: TransitionTable) -> None:
    for role in ROLES:
        machine = build_machine(table, role)
        assert machine.states == table.states
        assert machine.state == table.initial
        assert machine.triggers == {trigger_name(i, role) for i in table.inputs}
        for row in table.transitions:  # every row, through both implementations
            machine.set_state(row.source)
            assert machine.fire(row.input) == row.dest == table.dest(row.source, row.input)
        for state in table.states:  # and nothing else
            for candidate in table.inputs - set(table.allowed(state)):
                machine.set_state(state)
                with pytest.raises(IllegalTransition):
                    machine.fire(candidate)
                assert machine.state == state
        count = sum(
            len(transitions)
            for event in machine.machine.events.values()
            for transitions in event.transitions.values()
        )
        assert count == len(table.transitions)


def test_trigger_names_follow_the_role() -> None:
    table = dict(ALL_TABLES)["broadsoft:broadsoft/dnd/phone-initiated"]
    phone = build_machine(table, Party.PHONE)
    assert {"user_change", "send_subscribe_set", "recv_2xx", "recv_notify", "send_200"} <= (
        phone.triggers
    )
    server = build_machine(table, Party.SERVER)
    assert {"peer_user_change", "recv_subscribe_set", "send_2xx", "send_notify"} <= (
        server.triggers
    )
    assert phone.fire_trigger("user_change") == "ChangedLocally"
    assert phone.fire_trigger("send_subscribe_set") == "SetRequestSent"
    with pytest.raises(IllegalTransition):
        phone.fire_trigger("send_200")
    with pytest.raises(ValueError):
        phone.fire_trigger("no_such_trigger")


def test_machine_is_kept_at_the_edge() -> None:
    table = dict(ALL_TABLES)["yeastar:yeastar/dnd/phone-initiated"]
    machine = build_machine(table, Party.PHONE)
    assert not hasattr(machine, "send_invite")  # triggers live on a private model only
    assert machine.machine.auto_transitions is False


def test_graph_machine_uses_graphviz() -> None:
    table = dict(ALL_TABLES)["3cx:3cx/dnd/server-initiated"]
    graph = graph_machine(table, Party.SERVER)
    source = graph.get_graph().source
    assert source.startswith('digraph "3cx/dnd/server-initiated"')
    assert "send_info" in source and "Informed" in source
    assert graph_machine(table, Party.SERVER).get_graph().source == source  # stable
    assert Input.SERVER_SENDS_INFO in table.inputs
