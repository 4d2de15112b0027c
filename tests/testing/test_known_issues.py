"""Each documented defect of the reference agents (oracles.REFERENCE_AGENT_ISSUES,
oracles.KNOWN_STATE_ISSUES, machine.AVOIDED), reproduced on a bench that does not excuse it.

Strict xfail: while the defect is there the oracles fail and the test is an expected
failure; once it is fixed the test passes, strict turns that into a failure, and its entry
(and this xfail) must be removed so the property runs check it again."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Bench, Match, Provisional, Swallow
from fsync_model.testing.machine import AVOIDED
from fsync_model.testing.oracles import (
    KNOWN_STATE_ISSUES,
    REFERENCE_AGENT_ISSUES,
    OracleFailure,
)
from fsync_model.testing.stimuli import DuplicateNext, LinkFaults


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def code_ack_repeated() -> None:
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.network(DuplicateNext(6, "server"))
    bench.user_change(Change("dnd", True))
    bench.check()


def code_bye_before_ack() -> None:
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("ACK")))
    bench.user_change(Change("dnd", True))
    bench.check()


def code_ringing_forever() -> None:
    bench = strict(Bench("zte-ims"))
    bench.start()
    bench.arm("server", Provisional(Match("INVITE")))  # a proxy rings ...
    bench.arm("server", Swallow(Match("INVITE"), 40.0))  # ... and loses the INVITE
    bench.user_change(Change("dnd", True))
    bench.settle()
    bench.check(final=True)


def code_queued_after_sync_off() -> None:
    bench = Bench("yeastar")
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=5.0))
    bench.user_change(Change("dnd", True))
    bench.user_change(Change("cfa", True, "2000"))
    bench.set_sync(False)
    bench.advance(40.0)
    bench.check()


def code_no_code_applied() -> None:
    bench = Bench("huawei-ims")
    bench.start()
    bench.user_change(Change("cfna", True, "3000", 0))
    bench.settle()
    bench.check(final=True)


def policy_mid_call() -> None:
    bench = Bench("yeastar")
    bench.start()
    bench.set_policy("error")
    bench.network(LinkFaults(delay=(0.3, 0.3)))
    bench.user_change(Change("dnd", True))
    bench.advance(0.2)
    bench.set_policy("accept")
    bench.advance(40.0)
    bench.check()


def indicator_keeps_reverted_rings() -> None:
    bench = strict(Bench("3cx"))
    bench.start()
    bench.set_policy("error")
    bench.user_change(Change("cfna", True, "100", 1))
    bench.set_sync(False)
    bench.user_change(Change("cfna", True, "100"))
    bench.settle()
    bench.check(final=True)


SCENARIOS: dict[str, Callable[[], None]] = {
    "code-ack-repeated": code_ack_repeated,
    "code-bye-before-ack": code_bye_before_ack,
    "code-queued-after-sync-off": code_queued_after_sync_off,
    "code-ringing-forever": code_ringing_forever,
    "code-no-code-applied": code_no_code_applied,
    "policy-mid-call": policy_mid_call,
    "indicator-keeps-reverted-rings": indicator_keeps_reverted_rings,
}


def test_every_documented_defect_has_a_scenario() -> None:
    documented = ({i.id for i in REFERENCE_AGENT_ISSUES} | set(AVOIDED)
                  | set(KNOWN_STATE_ISSUES))
    assert documented == set(SCENARIOS)


@pytest.mark.xfail(raises=OracleFailure, strict=True,
                   reason="a documented defect of the reference agents (see the docstring)")
@pytest.mark.parametrize("issue", sorted(SCENARIOS))
def test_documented_defect_is_still_there(issue: str) -> None:
    SCENARIOS[issue]()
