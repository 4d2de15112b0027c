"""Bounded path enumeration: what generated tests and ladders derive from the tables."""
from __future__ import annotations

import itertools

from fsync_model.model import (
    FAILED,
    SYNCED,
    Input,
    MachineKey,
    TransitionTable,
    happy_path,
    inputs_of,
    machines_for,
    paths,
)

from .conftest import PROFILES

I = Input  # noqa: E741


def table(text: str) -> TransitionTable:
    return machines_for(PROFILES[text.split("/")[0]])[MachineKey.parse(text)]


def test_paths_end_in_finals_and_start_with_the_happy_path() -> None:
    flow = table("broadsoft/dnd/phone-initiated")
    found = paths(flow, 6)
    assert found[0] == happy_path(flow) or len(found[0]) < len(happy_path(flow))
    assert happy_path(flow) in found
    for path in found:
        assert len(path) <= 6 and path[0].source == flow.initial
        assert path[-1].dest in flow.finals
        for first, second in itertools.pairwise(path):
            assert first.dest == second.source
    assert [len(p) for p in found] == sorted(len(p) for p in found)
    ends = {p[-1].dest for p in found}
    assert ends == {SYNCED, FAILED}
    race = (I.PHONE_USER_CHANGE, I.PHONE_SENDS_SUBSCRIBE_SET, I.SERVER_SENDS_NOTIFY,
            I.PHONE_SENDS_200, I.SERVER_SENDS_2XX)
    assert race in {inputs_of(p) for p in found}


def test_paths_are_bounded_with_loops() -> None:
    flow = table("yeastar/dnd/phone-initiated")  # Proceeding loops on 1xx
    short = paths(flow, 4)
    longer = paths(flow, 8)
    assert set(short) < set(longer)
    assert any(inputs_of(p).count(I.SERVER_SENDS_1XX) >= 2 for p in longer)
    assert paths(flow, 0) == ()


def test_lifecycle_paths_may_pass_through_finals() -> None:
    reg = table("broadsoft/registration")
    found = paths(reg, 6)
    assert found[0] == ()  # Unregistered is a final state: a run may end where it began
    refreshes = [p for p in found if inputs_of(p).count(I.PHONE_SENDS_REGISTER) >= 3]
    assert refreshes and all(p[-1].dest in reg.finals for p in refreshes)
    assert paths(reg, 6) == found  # deterministic
