"""Each documented defect of the reference agents (oracles.REFERENCE_AGENT_ISSUES,
oracles.KNOWN_STATE_ISSUES, machine.AVOIDED), reproduced on a bench that does not excuse it.

Strict xfail: while the defect is there the oracles fail and the test is an expected
failure; once it is fixed the test passes, strict turns that into a failure, and its entry
(and this xfail) must be removed so the property runs check it again."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Bench, Match, Swallow
from fsync_model.testing.machine import AVOIDED
from fsync_model.testing.oracles import (
    KNOWN_STATE_ISSUES,
    REFERENCE_AGENT_ISSUES,
    OracleFailure,
)
from fsync_model.testing.stimuli import DropNext


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def full_state_outstanding() -> None:
    bench = strict(Bench("broadsoft"))
    bench.arm("phone", Answer(Match("NOTIFY"), 481))
    bench.start()
    bench.check()


def confirm_unanswered() -> None:
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.arm("phone", Swallow(Match("NOTIFY")))
    bench.user_change(Change("dnd", True))
    bench.advance(40.0)
    bench.check()


def registrar_out_of_step() -> None:
    bench = strict(Bench("yeastar"))
    bench.arm("server", Answer(Match("REGISTER"), 503, skip=1))
    bench.start()
    bench.advance(40.0)
    bench.check()


def line_same_value() -> None:
    bench = Bench("broadsoft")
    bench.start()
    bench.set_sync(True)
    bench.check()


def registrar_new_nonce() -> None:
    bench = Bench("broadsoft")
    bench.start()
    bench.arm("server", Answer(Match("REGISTER"), 401))
    bench.advance(3240.0)  # the refresh: challenged by the tamper, then by the registrar
    bench.advance(3240.0)  # the next refresh: an ordinary challenge
    bench.check()


def portal_ring_range() -> None:
    bench = Bench("broadsoft")
    bench.start()
    bench.admin_change(Change("cfna", True, "3000", 11))
    bench.check()


def full_state_crosses_set_request() -> None:
    bench = strict(Bench("fortinet"))
    bench.start()
    bench.network(DropNext(1, "server"))  # the refresh's first copy: it is answered late
    bench.advance(3239.81)
    bench.set_sync(False)  # ignored on Fortinet (not gated); keeps the timing of the find
    bench.admin_change(Change("dnd", False))
    bench.user_change(Change("cfa", True, "100"))
    bench.check()


def full_state_taken_as_confirmation() -> None:
    bench = strict(Bench("fortinet"))
    bench.start()
    bench.set_policy("error")
    bench.network(DropNext(1, "server"))
    bench.advance(3239.81)
    bench.set_sync(False)  # ignored on Fortinet; keeps the timing of the find
    bench.user_change(Change("cfa", False))
    bench.admin_change(Change("dnd", False))
    bench.check()


def phone_reverts_on_default_rings() -> None:
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.user_change(Change("cfna", True, "100"))
    bench.check()


SCENARIOS: dict[str, Callable[[], None]] = {
    "full-state-outstanding": full_state_outstanding,
    "confirm-unanswered": confirm_unanswered,
    "registrar-out-of-step": registrar_out_of_step,
    "line-same-value": line_same_value,
    "registrar-new-nonce": registrar_new_nonce,
    "portal-ring-range": portal_ring_range,
    "phone-reverts-on-default-rings": phone_reverts_on_default_rings,
    "full-state-crosses-set-request": full_state_crosses_set_request,
    "full-state-taken-as-confirmation": full_state_taken_as_confirmation,
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
