"""The tie-break of the NOTIFY routing rule, shared by the reference phone and the checker."""
from __future__ import annotations

from fsync_model.model import FlowTracker, Input, MachineKey, Party, machines_for
from fsync_model.model import subscribe_answered_first as answered_first
from fsync_model.profile import load_all


def _trackers() -> tuple[FlowTracker, FlowTracker]:
    tables = machines_for(load_all()["broadsoft"])
    sub = FlowTracker(tables[MachineKey.parse("broadsoft/subscription")], role=Party.PHONE)
    sub.step(Input.PHONE_SENDS_SUBSCRIBE, 0.0)  # a refresh, say: its 2xx not yet in
    flow = FlowTracker(tables[MachineKey.parse("broadsoft/dnd/phone-initiated")],
                       role=Party.PHONE)
    flow.step(Input.PHONE_USER_CHANGE, 0.0)
    flow.step(Input.PHONE_SENDS_SUBSCRIBE_SET, 0.0)  # the set request in flight
    return sub, flow


def test_a_document_is_the_full_state_once_only_the_subscribe_is_answered() -> None:
    sub, flow = _trackers()
    assert not answered_first(sub, flow)  # neither answered: a confirmation
    sub.step(Input.SERVER_SENDS_2XX, 0.1)
    assert sub.state == "AwaitingFullState"
    assert answered_first(sub, flow)  # the SUBSCRIBE answered first: the full state
    flow.step(Input.SERVER_SENDS_2XX, 0.2)
    assert not answered_first(sub, flow)  # both answered: the set request's confirmation
