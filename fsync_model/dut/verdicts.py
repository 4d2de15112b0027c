"""What a run of ``fsync test`` found: violations, per-case verdicts, the session's outcome.

Plain data, written by the runner and read by the report writers. The exit code is a
contract (``fsync_model/cli/main.py``): 0 the device conforms, 1 it violated a rule (a
failure seen, then seen again on replay), 3 inconclusive (fsync could not drive or read the
device, the device never registered, or a failure did not repeat), 2 is for usage errors and
never comes from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from fsync_model.dut.steps import Case, Role
from fsync_model.findings import Severity
from fsync_model.transport.tap import TapRecord

EXIT_OK: Final = 0
EXIT_FAIL: Final = 1
EXIT_INCONCLUSIVE: Final = 3

Verdict = Literal["passed", "failed", "flaky", "inconclusive", "skipped"]
VERDICTS: Final[tuple[Verdict, ...]] = ("passed", "failed", "flaky", "inconclusive", "skipped")

#: where a violation comes from: the strict RFC checker, the body rules of the profile, the
#: model's tables (fsync's agent stepping its trackers), the transaction rule, the state
#: (convergence), or something else fsync's agent reported
Source = Literal["checker", "body", "model", "transaction", "state", "agent"]


@dataclass(frozen=True)
class Violation:
    """One rule the device broke (``severity`` error) or a remark about it (warning)."""

    rule: str
    message: str
    source: Source
    severity: Severity = "error"
    #: index of the step during which it was seen (None: while setting up)
    step: int | None = None
    #: the offending piece: a header line, a body value, the state the device showed
    evidence: str | None = None
    #: what the rule wanted instead
    expected: str | None = None
    #: the whole SIP message it is about, as text
    message_text: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.message

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "severity": self.severity,
                               "source": self.source, "message": self.message}
        for name in ("step", "evidence", "expected", "message_text"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class CaseRun:
    """One run of a case against the device (the first, a replay, or a shrink attempt)."""

    case: Case
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    #: why the run could not say anything (a hook failed, the device could not be reset)
    inconclusive: str | None = None
    #: every message on fsync's side of the wire during the case (after the reset)
    records: list[TapRecord] = field(default_factory=list)
    #: packets fsync dropped or duplicated on purpose, as text
    faults: list[str] = field(default_factory=list)
    #: steps actually run
    steps_run: int = 0
    #: where each step's messages start in ``records``
    step_marks: list[int] = field(default_factory=list)
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.violations)

    @property
    def first_rule(self) -> str | None:
        return self.violations[0].rule if self.violations else None

    def fails_like(self, rule: str) -> bool:
        return any(v.rule == rule for v in self.violations)


@dataclass
class Finding:
    """A confirmed failure, with the minimal sequence that shows it and its evidence files."""

    id: int
    violation: Violation
    case: Case
    minimal: Case
    runs: int
    #: files written for it, relative to the report folder (pcap, ladder, replay, messages)
    files: dict[str, str] = field(default_factory=dict)
    #: the run of the minimal sequence (its messages are the evidence)
    minimal_run: CaseRun | None = None
    #: the ladder of the minimal run as SVG text (inline in the HTML report)
    ladder_svg: str | None = None
    shrink_note: str = ""

    @property
    def rule(self) -> str:
        return self.violation.rule

    def to_json(self, role: Role) -> dict[str, Any]:
        return {
            "id": self.id, "rule": self.rule, "case": self.case.name,
            **{k: v for k, v in self.violation.to_json().items() if k != "rule"},
            "confirmed": True, "runs": self.runs,
            "original_length": len(self.case.steps), "shrunk_length": len(self.minimal.steps),
            "minimal_sequence": [s.describe(role) for s in self.minimal.steps],
            "minimal_steps": [s.to_json() for s in self.minimal.steps],
            "shrink": self.shrink_note,
            "files": dict(self.files),
        }


@dataclass
class CaseResult:
    case: Case
    verdict: Verdict
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    #: why inconclusive, flaky or skipped
    reason: str = ""
    runs: int = 0
    duration: float = 0.0
    finding: Finding | None = None

    def to_json(self, role: Role) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.case.name, "kind": self.case.kind, "verdict": self.verdict,
            "runs": self.runs, "duration": round(self.duration, 3),
            "steps": [s.describe(role) for s in self.case.steps],
        }
        if self.case.note:
            out["note"] = self.case.note
        if self.reason:
            out["reason"] = self.reason
        if self.violations:
            out["violations"] = [v.to_json() for v in self.violations]
        if self.warnings:
            out["warnings"] = [v.to_json() for v in self.warnings]
        if self.finding is not None:
            out["finding"] = self.finding.id
        return out


@dataclass
class SessionResult:
    """Everything ``fsync test`` learnt in one session."""

    vendor: str
    role: Role
    user: str
    #: fsync's address (--listen) and the device's (where it registered from / --target)
    local: str
    device_address: str | None
    seed: int
    started: float
    duration: float = 0.0
    device_agent: str | None = None
    cases: list[CaseResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: the session could not start testing (no device within --wait...)
    setup_error: str | None = None
    notes: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    device: str = ""
    #: every message on fsync's side of the wire, the whole session (for session.pcap)
    records: list[TapRecord] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.cases if c.verdict == verdict)

    @property
    def outcome(self) -> Literal["pass", "fail", "inconclusive"]:
        if self.findings or self.count("failed"):
            return "fail"
        if self.setup_error or self.count("inconclusive") or self.count("flaky"):
            return "inconclusive"
        if not self.cases:
            return "inconclusive"
        return "pass"

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_OK, "fail": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}[
            self.outcome]

    @property
    def warnings(self) -> list[Violation]:
        seen: set[tuple[str, str]] = set()
        out = []
        for case in self.cases:
            for warning in case.warnings:
                if warning.key not in seen:
                    seen.add(warning.key)
                    out.append(warning)
        return out
