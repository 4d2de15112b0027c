"""Findings: what a checker noticed about a message or body, as plain data.

A :class:`Finding` names a rule (a stable id such as ``"AFE-NS-MISSING"``), how bad it is,
a sentence for humans, the response code a strict peer would answer with, and the piece of
input that triggered it. Checkers (the body parsers in :mod:`fsync_model.bodies`, the
message-level strict checker) return findings instead of printing or raising, so that
reports, tests and agents all read the same facts. This module knows no rule set and imports
nothing from fsync, so any layer may use it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

Severity = Literal["error", "warning", "info"]
"""``error``: a protocol defect (a test should fail on it); ``warning``: harmless in
practice but worth reporting; ``info``: a noteworthy variant that is accepted."""

SEVERITIES: tuple[Severity, ...] = get_args(Severity)

EVIDENCE_LIMIT = 200
"""Evidence longer than this is cut (with an ellipsis): a finding is not a hex dump."""


@dataclass(frozen=True)
class Finding:
    """One observation by a checker.

    ``rule`` is a stable identifier, upper case with dashes (``"AFE-BOOL-LITERAL"``): tests
    and reports match on it, never on ``message``. ``status`` is the response code a strict
    peer would answer with when this finding makes it reject the input, ``None`` when the
    finding never causes a rejection. ``evidence`` is the offending text, shortened.
    """

    rule: str
    severity: Severity
    message: str
    status: int | None = None
    evidence: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        if not self.rule:
            raise ValueError("a finding needs a rule id")
        if self.evidence is not None and len(self.evidence) > EVIDENCE_LIMIT:
            object.__setattr__(self, "evidence", self.evidence[: EVIDENCE_LIMIT - 3] + "...")

    def __str__(self) -> str:
        shown = f" [{self.evidence!r}]" if self.evidence is not None else ""
        return f"{self.severity.upper()} {self.rule}: {self.message}{shown}"


def rules(findings: Iterable[Finding]) -> list[str]:
    """The rule ids of ``findings`` in order (handy in test assertions)."""
    return [finding.rule for finding in findings]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """Only the findings of severity ``error``."""
    return [finding for finding in findings if finding.severity == "error"]


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe level among ``findings``, or ``None`` when there are none."""
    present = {finding.severity for finding in findings}
    return next((level for level in SEVERITIES if level in present), None)
