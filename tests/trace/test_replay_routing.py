"""The capture checker routes a NOTIFY as the model's routing rule says (model/tables.py):
by what it is, not only by which machine would take it. Captures are the arrivals of
in-memory runs of the reference agents that cross a set request with a subscription refresh:
conformant exchanges, so the checker must raise no error on them."""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Bench
from fsync_model.testing.stimuli import LinkFaults
from fsync_model.trace.records import CapturedMessage
from fsync_model.trace.replay import replay
from fsync_model.transport.memory import ARRIVED


def arrivals(bench: Bench) -> list[CapturedMessage]:
    """Every datagram that reached the phone or the server, in the order it arrived (what
    taps at both hosts, merged, would show)."""
    return [CapturedMessage(number, 1_800_000_000.0 + e.time, e.src, e.dst, e.data)
            for number, e in enumerate((e for e in bench.net.log if e.fate in ARRIVED), 1)]


@pytest.mark.parametrize("profile", ["broadsoft", "metaswitch"])
def test_a_set_request_crossing_a_refresh_is_no_false_alarm(profile: str) -> None:
    # the set request of cfa and the refresh (at 9 s) cross: the confirmation comes while
    # the subscription waits for the refresh's full state (metaswitch: its first part is
    # cfa too); it confirms the set request, and the full state follows
    bench = Bench(profile, subscribe_expires=10)
    bench.known, bench.known_states = (), ()
    bench.start()
    bench.advance(8.5)
    bench.network(LinkFaults(delay=(0.4, 0.4)))
    bench.user_change(Change("cfa", True, "2001"))
    bench.advance(6.0)
    bench.settle()
    bench.check(final=True)
    result = replay(arrivals(bench), bench.profile)
    errors = [d for d in result.deviations if d.severity == "error"]
    assert not errors, [f"{d.rule} at {d.packet}: {d.message}" for d in errors]
    [flow] = [f for f in result.flows if f.machine.endswith("cfa/phone-initiated")]
    assert flow.reached_goal, flow
    assert all(f.reached_goal for f in result.flows if f.machine.endswith("/subscription"))
