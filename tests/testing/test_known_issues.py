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




def test_every_documented_defect_has_a_scenario() -> None:
    documented = ({i.id for i in REFERENCE_AGENT_ISSUES} | set(AVOIDED)
                  | set(KNOWN_STATE_ISSUES))
    assert documented == set(SCENARIOS)


@pytest.mark.xfail(raises=OracleFailure, strict=True,
                   reason="a documented defect of the reference agents (see the docstring)")
@pytest.mark.parametrize("issue", sorted(SCENARIOS))
def test_documented_defect_is_still_there(issue: str) -> None:
    SCENARIOS[issue]()
