"""Each documented defect of the reference agents (oracles.REFERENCE_AGENT_ISSUES,
oracles.KNOWN_STATE_ISSUES, machine.AVOIDED), reproduced on a bench that does not excuse it.

Strict xfail: while the defect is there the oracles fail and the test is an expected
failure; once it is fixed the test passes, strict turns that into a failure, and its entry
(and this xfail) must be removed so the property runs check it again."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fsync_model.testing.fixtures import Bench
from fsync_model.testing.machine import AVOIDED
from fsync_model.testing.oracles import (
    KNOWN_STATE_ISSUES,
    REFERENCE_AGENT_ISSUES,
    OracleFailure,
)


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


#: issue id -> a scenario that shows it on a `strict` bench. The fifteen the property runs
#: found earlier are fixed, each with a regression test
#: (tests/testing/test_fixed_issues.py, tests/agents/test_feature_codes.py,
#: tests/agents/test_registration.py, tests/agents/test_admin.py).
SCENARIOS: dict[str, Callable[[], None]] = {}


def _uacsta_session_superseded() -> None:
    # shrunk from a 3cx 500x50 property run (seed 26): unregister/register cycles under
    # loss and reordering leave an old session INVITE unanswered when a new one is sent
    bench = strict(Bench("3cx", seed=116))
    phone, net = bench.phone, bench.net
    bench.start()
    links = [(0.0, 0.3, (0.01, 0.3)), (0.0, 0.0, (0.0, 0.0)), (0.1, 0.3, (0.01, 0.3)),
             (0.1, 0.0, (0.0, 0.0))]
    for n, (loss, reorder, delay) in enumerate(links):
        bench.network_fault()
        net.set_link(bench.phone_at, bench.server_at, loss=loss, duplicate=0.0,
                     reorder=reorder, delay=delay, both_ways=True)
        bench.act(phone, phone.unregister if n % 2 == 0 else phone.register)
        bench.check()
    bench.act(phone, phone.unregister)
    bench.check()
    bench.act(phone, phone.register)
    bench.check()
    bench.settle()
    bench.check(final=True)


SCENARIOS["uacsta-session-superseded"] = _uacsta_session_superseded


def test_every_documented_defect_has_a_scenario() -> None:
    documented = ({i.id for i in REFERENCE_AGENT_ISSUES} | set(AVOIDED)
                  | set(KNOWN_STATE_ISSUES))
    assert documented == set(SCENARIOS)


@pytest.mark.xfail(raises=OracleFailure, strict=True,
                   reason="a documented defect of the reference agents (see the docstring)")
@pytest.mark.parametrize("issue", sorted(SCENARIOS))
def test_documented_defect_is_still_there(issue: str) -> None:
    SCENARIOS[issue]()
