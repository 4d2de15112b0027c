"""The generic Finding record."""
from __future__ import annotations

import pytest

from fsync_model.findings import EVIDENCE_LIMIT, Finding, errors, rules, worst


def test_finding_is_frozen_and_printable() -> None:
    finding = Finding("X-RULE", "warning", "something odd", None, "<x/>")
    assert str(finding) == "WARNING X-RULE: something odd ['<x/>']"
    with pytest.raises(AttributeError):
        finding.rule = "Y"  # type: ignore[misc]


def test_bad_severity_and_empty_rule_are_refused() -> None:
    with pytest.raises(ValueError):
        Finding("X", "fatal", "no such level")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Finding("", "info", "no rule")


def test_long_evidence_is_cut() -> None:
    finding = Finding("X", "info", "m", None, "a" * 1000)
    assert finding.evidence is not None
    assert len(finding.evidence) == EVIDENCE_LIMIT
    assert finding.evidence.endswith("...")


def test_helpers() -> None:
    found = [
        Finding("A", "info", "a"),
        Finding("B", "error", "b", 400),
        Finding("C", "warning", "c"),
    ]
    assert rules(found) == ["A", "B", "C"]
    assert errors(found) == [found[1]]
    assert worst(found) == "error"
    assert worst(found[2:]) == "warning"
    assert worst([]) is None
