"""The verdict of ``fsync check`` on one capture: deviations, counts, text and JSON.

The JSON form is a contract with CI pipelines (fields may be added, none renamed)::

    {"capture": "lab.pcapng", "vendor": "broadsoft", "policy": "accept", "user": null,
     "summary": {"format": "pcapng", "packets": 48, "sip_messages": 40, ...,
                 "errors": 1, "warnings": 0, "infos": 0, "conformant": false, "exit": 1},
     "deviations": [{"rule": "MODEL-ILLEGAL-TRANSITION", "packet": 31, "time": 1700000000.5,
                     "message": "NOTIFY sip:1001@10.0.0.5:5060 SIP/2.0",
                     "expected": "NOTIFY carrying the OLD state after ...",
                     "severity": "error", "user": "1001", "evidence": "..."}]}

Exit codes: 0 conformant (no error; with ``strict`` no warning either), 1 deviations,
3 inconclusive (no SIP message, or none of ``--user``). Info-level findings (accepted
variants) are counted, and listed only when asked for.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fsync_model.profile import Profile
from fsync_model.trace import rules as R
from fsync_model.trace.records import CapturedMessage, CaptureSummary
from fsync_model.trace.replay import ReplayResult, replay

EXIT_CONFORMANT = 0
EXIT_DEVIATIONS = 1
EXIT_INCONCLUSIVE = 3

_PACKET = re.compile(r"^packet (\d+):")


def capture_deviations(summary: CaptureSummary,
                       messages: Sequence[CapturedMessage]) -> list[R.Deviation]:
    """The damage the reader skipped over, as CAPTURE-PROBLEM warnings."""
    times = {m.number: m.time for m in messages}
    out = []
    for problem in summary.problems:
        match = _PACKET.match(problem)
        packet = int(match.group(1)) if match else None
        out.append(R.Deviation(R.CAPTURE_PROBLEM, "warning", packet,
                               times.get(packet) if packet is not None else None, "",
                               f"{problem} (the replay may miss messages here)"))
    return out


@dataclass
class CheckReport:
    """One capture checked against one profile."""

    capture: str
    profile: Profile
    summary: CaptureSummary
    result: ReplayResult
    user: str | None = None
    strict: bool = False
    verbose: bool = False
    start_time: float | None = None

    @property
    def deviations(self) -> list[R.Deviation]:
        """Errors and warnings (and info findings when ``verbose``), in packet order."""
        return [d for d in self.result.deviations if self.verbose or d.severity != "info"]

    def count(self, severity: str) -> int:
        return sum(1 for d in self.result.deviations if d.severity == severity)

    @property
    def inconclusive(self) -> bool:
        return self.result.messages == 0

    @property
    def conformant(self) -> bool:
        if self.inconclusive:
            return False
        bad = ("error", "warning") if self.strict else ("error",)
        return not any(d.severity in bad for d in self.result.deviations)

    @property
    def exit_code(self) -> int:
        if self.inconclusive:
            return EXIT_INCONCLUSIVE
        return EXIT_CONFORMANT if self.conformant else EXIT_DEVIATIONS

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        s, r = self.summary, self.result
        return {
            "capture": self.capture,
            "vendor": self.profile.id,
            "policy": self.profile.policy.mode.value.value,
            "user": self.user,
            "summary": {
                "format": s.format,
                "packets": s.packets,
                "sip_messages": s.messages,
                "non_sip": s.non_sip,
                "other": s.other,
                "fragments": s.fragments,
                "tcp_retransmissions": s.retransmissions,
                "sip_retransmissions": r.retransmissions,
                "checked": r.messages,
                "unrelated": r.unrelated,
                "filtered": r.filtered,
                "users": r.users,
                "flows": [{"machine": f.machine, "user": f.user, "state": f.state,
                           "goal": f.goal, "done": f.done,
                           "packets": [f.first_packet, f.last_packet]} for f in r.flows],
                "problems": list(s.problems),
                "errors": self.count("error"),
                "warnings": self.count("warning"),
                "infos": self.count("info"),
                "strict": self.strict,
                "conformant": self.conformant,
                "exit": self.exit_code,
            },
            "deviations": [d.to_json() for d in self.deviations],
        }

    # ------------------------------------------------------------------ text

    def _offset(self, time: float | None) -> str:
        if time is None or self.start_time is None:
            return ""
        return f"+{time - self.start_time:.3f}s"

    def text(self) -> str:
        s, r = self.summary, self.result
        policy = self.profile.policy.mode.value.value
        who = f", user {self.user}" if self.user else ""
        lines = [
            f"fsync check {self.capture}: {s.format}, {s.packets} packets, {s.messages} SIP "
            f"messages ({r.retransmissions} retransmissions, {s.non_sip} non-SIP, "
            f"{s.other} other packets skipped)",
            f"profile {self.profile.id} (policy {policy}){who}; users: "
            f"{', '.join(r.users) or 'none'}",
        ]
        if r.flows:
            lines.append("flows:")
            for flow in r.flows:
                mark = "ok " if flow.reached_goal else "!! "
                lines.append(f"  {mark}{flow.machine} [{flow.user}] -> {flow.state} "
                             f"(packets {flow.first_packet}-{flow.last_packet})")
        shown = self.deviations
        if shown:
            lines.append("deviations:")
        for d in shown:
            where = f"packet {d.packet}" if d.packet is not None else "capture"
            user = f" [{d.user}]" if d.user else ""
            lines.append(f"  {where} {self._offset(d.time)}  {d.severity.upper()} "
                         f"{d.rule}{user}".rstrip())
            if d.message:
                lines.append(f"      {d.message}")
            lines.append(f"      expected: {d.expected}")
            if d.evidence:
                lines.append(f"      evidence: {d.evidence}")
        errors, warnings, infos = self.count("error"), self.count("warning"), self.count("info")
        if self.inconclusive:
            why = f" of user {self.user}" if self.user else ""
            verdict = f"INCONCLUSIVE: no SIP message{why} to check"
        elif self.conformant:
            verdict = "conformant"
        else:
            verdict = "NOT conformant" + (" (--strict: warnings count)" if self.strict
                                          and not errors else "")
        lines.append(f"{errors} error(s), {warnings} warning(s), {infos} info: {verdict} "
                     f"(exit {self.exit_code})")
        return "\n".join(lines) + "\n"


def check_messages(capture: str, messages: Sequence[CapturedMessage], summary: CaptureSummary,
                   profile: Profile, *, user: str | None = None, strict: bool = False,
                   verbose: bool = False) -> CheckReport:
    """Replay ``messages`` through ``profile`` and add the capture's own damage."""
    result = replay(messages, profile, user=user)
    damage = capture_deviations(summary, messages)
    if damage:
        merged = [*result.deviations, *damage]
        result.deviations = sorted(merged, key=lambda d: (
            d.packet if d.packet is not None else 1 << 62))
    start = min((m.time for m in messages), default=None)
    return CheckReport(capture, profile, summary, result, user, strict, verbose, start)
