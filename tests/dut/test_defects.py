"""``fsync test --dut phone`` against reference phones, correct and with injected defects,
run in process (the same runner, sockets and oracles as the command; no subprocess).

The sessions mostly wait for quiet, so they all run at once in one event loop (a
module-scoped fixture, each on its own ports) and each test reads its own result.
"""
from __future__ import annotations

import dataclasses

import pytest

from fsync_model.agents.phone import ReferencePhone, _Flow
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change
from fsync_model.dut.steps import Case, Step
from fsync_model.dut.verdicts import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, SessionResult
from fsync_model.model import REVERTED
from fsync_model.transport.address import Address
from tests.dut.defective_phones import DEFECTS, NeverReverts, ServerDropsNamespace
from tests.dut.support import FAST, Scenario, run_many


class RevertsLate(ReferencePhone):
    """Gets the first policy rejection wrong, every later one right: a timing-like fault."""

    missed = False

    def _finish(self, flow: _Flow, now: float) -> None:
        if flow.tracker.state == REVERTED and not RevertsLate.missed:
            RevertsLate.missed = True
            flow.reported = flow.change
        super()._finish(flow, now)


#: defect -> (the rule it must be caught by, the case where it shows first)
EXPECTED = {
    "ignores-forward-number": ("SYNC-DEVICE-STATE", "broadsoft/cfa/server-initiated"),
    "swaps-busy-no-answer": ("SYNC-DEVICE-STATE", "broadsoft/cfb/server-initiated"),
    "notify-500": ("PHONE-REFUSED", "setup: subscribe again"),
    "no-namespace": ("AFE-NS-MISSING", "broadsoft/dnd/phone-initiated"),
    "never-reverts": ("SYNC-DEVICE-STATE",
                      "broadsoft/dnd/phone-initiated (rejected by policy)"),
}

LONG = (Step("server-change", Change("dnd", True)),
        Step("phone-change", Change("cfa", True, "2000"), duplicate=0.5),
        Step("resubscribe", None, (Change("cfb", True, "3000"),), "per-feature"),
        Step("reject", Change("cfna", True, "3001", 3), drop=0.5),
        Step("server-change", Change("dnd", False)))

ENCODING = (Step("resubscribe", None, (), "multipart"),
            Step("phone-change", Change("cfb", True, "4711")))

SCENARIOS: dict[str, Scenario] = {
    "server-broadsoft": (ReferenceServer, "broadsoft", {"examples": 3, "seed": 6}),
    "server-3cx": (ReferenceServer, "3cx", {"examples": 2, "seed": 6}),
    "server-no-namespace": (ServerDropsNamespace, "broadsoft",
                            {"max_failures": 1, "shrink_budget": 5}),
    "broadsoft": (ReferencePhone, "broadsoft", {"examples": 4, "seed": 11}),
    "yeastar": (ReferencePhone, "yeastar", {"examples": 3, "seed": 5}),
    "3cx": (ReferencePhone, "3cx", {"examples": 1, "seed": 2}),
    "slow": (ReferencePhone, "broadsoft", {"examples": 2, "seed": 3, "lag": 0.4,
                                           "timing": dataclasses.replace(FAST,
                                                                         step_timeout=4.0)}),
    "metaswitch-tcp": (ReferencePhone, "metaswitch",
                       {"listen": Address("tcp", "127.0.0.1", 0)}),
    "encoding": (ReferencePhone, "metaswitch", {"cases": [Case("x", "example", ENCODING)],
                                                "max_failures": 1, "shrink_budget": 1}),
    "long": (NeverReverts, "broadsoft", {"cases": [Case("long", "example", LONG)],
                                         "shrink_budget": 30}),
    "late": (RevertsLate, "broadsoft",
             {"cases": [Case("once", "example", (Step("reject", Change("dnd", True)),))]}),
    **{defect: (DEFECTS[defect], "broadsoft", {"max_failures": 1, "shrink_budget": 5})
       for defect in EXPECTED},
}


@pytest.fixture(scope="module")
def results() -> dict[str, SessionResult]:
    return run_many(SCENARIOS)


def _clean(result: SessionResult) -> None:
    assert result.setup_error is None
    bad = [(c.case.name, c.verdict, c.reason, [v.message for v in c.violations])
           for c in result.cases if c.verdict != "passed"]
    assert bad == []
    assert result.findings == []
    assert result.warnings == []
    assert result.exit_code == EXIT_OK


@pytest.mark.parametrize("name", ["broadsoft", "yeastar", "3cx", "metaswitch-tcp", "slow",
                                  "server-broadsoft", "server-3cx"])
def test_the_reference_phone_conforms(results: dict[str, SessionResult], name: str) -> None:
    """Also when its key presses act, and its display follows, 0.4 s late ("slow", within
    its --step-timeout): fsync waits for a slow device and never fails it for being slow."""
    result = results[name]
    _clean(result)
    assert {c.case.kind for c in result.cases} == (
        {"flow", "example"} if SCENARIOS[name][2].get("examples") else {"flow"})


def test_the_reference_phone_takes_either_full_state_encoding(
        results: dict[str, SessionResult]) -> None:
    _clean(results["encoding"])


@pytest.mark.parametrize("defect", list(EXPECTED))
def test_each_injected_defect_is_caught(results: dict[str, SessionResult], defect: str) -> None:
    result = results[defect]
    rule, case = EXPECTED[defect]
    assert result.exit_code == EXIT_FAIL
    finding = result.findings[0]
    assert finding.minimal_run is not None
    assert rule in [v.rule for v in finding.minimal_run.violations]
    assert finding.case.name == case
    assert len(finding.minimal.steps) == 1
    assert finding.runs >= 2  # seen, then seen again on replay
    assert any(c.verdict == "skipped" for c in result.cases)  # --max-failures 1


def test_a_server_under_test_is_judged_by_fsync_s_strict_phone(
        results: dict[str, SessionResult]) -> None:
    result = results["server-no-namespace"]
    assert result.exit_code == EXIT_FAIL
    finding = result.findings[0]
    assert finding.rule == "AFE-NS-MISSING"
    assert finding.case.name == "broadsoft/dnd/server-initiated"
    assert finding.minimal.steps == (Step("server-change", Change("dnd", True)),)
    assert finding.violation.message_text is not None
    assert finding.violation.message_text.startswith("NOTIFY ")


def test_a_long_sequence_is_shrunk_to_the_step_that_fails(
        results: dict[str, SessionResult]) -> None:
    result = results["long"]
    assert result.exit_code == EXIT_FAIL
    finding = result.findings[0]
    assert finding.minimal.steps == (Step("reject", Change("cfna", True, "3001", 3)),)
    assert finding.rule == "SYNC-DEVICE-STATE"
    assert "5 step(s) -> 1" in finding.shrink_note


def test_a_failure_that_does_not_repeat_is_flaky_not_failed(
        results: dict[str, SessionResult]) -> None:
    result = results["late"]
    assert [c.verdict for c in result.cases] == ["flaky"]
    assert "passed when replayed" in result.cases[0].reason
    assert result.findings == []
    assert result.exit_code == EXIT_INCONCLUSIVE
