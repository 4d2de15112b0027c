"""Defects of the reference agents and tables that the property machines found and that are
fixed: each scenario that pinned one (formerly a strict xfail in test_known_issues.py) now
asserts the right behaviour, on a bench that excuses nothing."""
from __future__ import annotations

import pytest

from fsync_model.agents.events import AgentEvent, Info
from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Bench, Match, Swallow


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def test_unanswered_confirmation_fails_the_change_on_both_sides() -> None:
    # was "confirm-unanswered": no SERVER_TIMEOUT row after the server's confirming NOTIFY
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.arm("phone", Swallow(Match("NOTIFY")))
    bench.user_change(Change("dnd", True))
    bench.advance(40.0)
    bench.check()
    bench.expect_reached("broadsoft/dnd/phone-initiated", "ConfirmReceived", "SERVER_TIMEOUT")
    bench.expect_flow("broadsoft/dnd/phone-initiated", "Failed")
    assert not bench.phone.indicator.dnd, "unconfirmed: the indicator reverts"


def test_confirmation_filling_in_the_ring_count_is_an_agreement() -> None:
    # was "phone-reverts-on-default-rings": the phone compared ring counts and reverted
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.user_change(Change("cfna", True, "100"))
    bench.check()
    bench.expect_flow("broadsoft/cfna/phone-initiated", "Synced")
    default = bench.server.state("1001").cfna.rings or bench.profile.afe.ring_count.min.value
    assert bench.phone.state.cfna == bench.phone.indicator.cfna
    assert (bench.phone.state.cfna.on, bench.phone.state.cfna.target) == (True, "100")
    assert bench.phone.state.cfna.rings == default, "the server's ring count is adopted"


def test_confirmation_with_another_ring_count_is_still_a_rejection() -> None:
    bench = Bench("broadsoft", policy="reject")
    bench.start()
    bench.admin_change(Change("cfna", True, "100", 3))
    bench.user_change(Change("cfna", True, "100", 5))
    bench.check()
    bench.expect_flow("broadsoft/cfna/phone-initiated", "Reverted")
    assert bench.phone.state.cfna.rings == bench.phone.indicator.cfna.rings == 3


@pytest.mark.parametrize("profile", ["broadsoft", "fortinet", "yeastar"])
@pytest.mark.parametrize("on", [True, False])
def test_setting_the_line_to_its_own_value_is_a_no_op(profile: str, on: bool) -> None:
    # was "line-same-value": set_sync(on) on a line already so stepped the line table anyway
    bench = strict(Bench(profile, sync=on))
    bench.start()
    before = len(bench.machine_steps(f"{profile}/line", "phone"))
    events: list[AgentEvent] = []
    observer = bench.phone.observer

    def watch(event: AgentEvent) -> None:
        events.append(event)
        observer(event)

    bench.phone.observer = watch
    bench.set_sync(on)
    bench.settle()
    bench.check(final=True)
    assert len(bench.machine_steps(f"{profile}/line", "phone")) == before
    sync = [e for e in events if isinstance(e, Info) and e.what == "sync"]
    assert sync and sync[-1].data.get("unchanged") is True
    bench.set_sync(not on)
    bench.check()
    assert len(bench.machine_steps(f"{profile}/line", "phone")) == before + 1
