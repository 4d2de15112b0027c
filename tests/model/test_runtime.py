"""FlowTracker steps runs and records them; Coverage folds runs onto the tables."""
from __future__ import annotations

import pytest

from fsync_model.model import (
    SYNCED,
    Coverage,
    FlowTracker,
    IllegalTransition,
    Input,
    MachineKey,
    Party,
    TransitionTable,
    happy_path,
    machines_for,
    transition_pairs,
)

from .conftest import PROFILES

I = Input  # noqa: E741


def table(text: str) -> TransitionTable:
    system = text.split("/")[0]
    return machines_for(PROFILES[system])[MachineKey.parse(text)]


def test_tracker_records_typed_steps() -> None:
    flow = table("broadsoft/dnd/phone-initiated")
    tracker = FlowTracker(flow, role=Party.PHONE)
    for now, row in enumerate(happy_path(flow)):
        assert tracker.step(row.input, now=float(now)) == row
    assert tracker.state == SYNCED and tracker.done and tracker.reached_goal
    assert [(s.source, s.input, s.dest, s.time) for s in tracker.steps][:2] == [
        ("Idle", I.PHONE_USER_CHANGE, "ChangedLocally", 0.0),
        ("ChangedLocally", I.PHONE_SENDS_SUBSCRIBE_SET, "SetRequestSent", 1.0),
    ]
    assert all(s.machine == flow.key and s.observed for s in tracker.steps)


def test_illegal_step_leaves_the_state() -> None:
    tracker = FlowTracker(table("broadsoft/dnd/phone-initiated"))
    tracker.step(I.PHONE_USER_CHANGE)
    with pytest.raises(IllegalTransition) as caught:
        tracker.step(I.SERVER_SENDS_NOTIFY)
    assert caught.value.allowed == (I.PHONE_SENDS_SUBSCRIBE_SET,)
    assert tracker.state == "ChangedLocally" and len(tracker.steps) == 1
    assert not tracker.allows(I.SERVER_SENDS_NOTIFY)


def test_role_steps_over_what_it_cannot_see() -> None:
    # the server never sees the keypad press; the phone never sees the portal change
    server = FlowTracker(table("broadsoft/dnd/phone-initiated"), role=Party.SERVER)
    assert server.allows(I.PHONE_SENDS_SUBSCRIBE_SET)
    server.step(I.PHONE_SENDS_SUBSCRIBE_SET, now=5.0)
    assert [(s.input, s.observed) for s in server.steps] == [
        (I.PHONE_USER_CHANGE, False), (I.PHONE_SENDS_SUBSCRIBE_SET, True),
    ]
    phone = FlowTracker(table("3cx/dnd/server-initiated"), role=Party.PHONE)
    phone.step(I.SERVER_SENDS_INFO)
    assert phone.state == "InfoSent" and phone.steps[0].input is I.SERVER_ADMIN_CHANGE
    neutral = FlowTracker(table("3cx/dnd/server-initiated"))
    with pytest.raises(IllegalTransition):
        neutral.step(I.SERVER_SENDS_INFO)  # no role: nothing is unseen
    own = FlowTracker(table("3cx/dnd/server-initiated"), role=Party.SERVER)
    with pytest.raises(IllegalTransition):
        own.step(I.SERVER_SENDS_INFO)  # the server sees its own admin change: must step it


def test_coverage_counts_states_transitions_pairs() -> None:
    tables = machines_for(PROFILES["yeastar"])
    flow = tables[MachineKey.parse("yeastar/dnd/phone-initiated")]
    coverage = Coverage(tables.values())
    tracker = FlowTracker(flow)
    for row in happy_path(flow):
        tracker.step(row.input)
    coverage.add_tracker(tracker)
    report = coverage.machine(flow.key)
    assert report.states == {r.source for r in happy_path(flow)} | {SYNCED}
    assert report.transitions == set(happy_path(flow))
    assert len(report.pairs) == len(happy_path(flow)) - 1
    assert report.transitions_missed == set(flow.transitions) - set(happy_path(flow))
    assert report.pairs_missed == transition_pairs(flow) - report.pairs
    assert 0 < report.transition_ratio < 1 and 0 < report.state_ratio < 1
    unreached = coverage.unreached()
    assert flow.key in unreached and unreached[flow.key][0] not in happy_path(flow)
    line = tables[MachineKey.parse("yeastar/line")]
    assert coverage.machine(line.key).transition_ratio == 0.0
    assert [m.key for m in coverage.report()] == list(tables)


def test_full_coverage_of_a_small_table() -> None:
    flow = table("broadsoft/dnd/server-initiated")
    coverage = Coverage([flow])
    for row in flow.transitions:  # one run per row: the happy path up to it, then the row
        tracker = FlowTracker(flow)
        for earlier in happy_path(flow):
            if earlier.source == row.source:
                break
            tracker.step(earlier.input)
        tracker.step(row.input)
        coverage.add_run(tracker.steps)
    report = coverage.machine(flow.key)
    assert report.transitions_missed == frozenset() and report.states_missed == frozenset()
    assert coverage.unreached() == {}


def test_steps_of_other_machines_are_ignored() -> None:
    other = FlowTracker(table("yeastar/dnd/phone-initiated"))
    other.step(I.PHONE_USER_CHANGE)
    coverage = Coverage([table("broadsoft/dnd/server-initiated")])
    coverage.add_run(other.steps)
    assert coverage.report()[0].transitions == frozenset()
