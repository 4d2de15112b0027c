"""The ``fsync test`` run: connect, run every case, confirm failures, shrink them.

A case that fails is run again from the default state before anything is reported: a
failure that repeats (same rule) is *failed*; one that does not is *flaky* (reported, not a
failure: a device's timing is not deterministic); a run that could not drive or read the
device is *inconclusive*. A confirmed failure is shrunk, within a time budget: steps after
the failing one are cut (a run stops at its first failing step), then each step is dropped
and each packet fault removed while the same rule still fails. The minimal run's messages
are the evidence.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from fsync_model.dut.hooks import Device, HookError
from fsync_model.dut.session import (
    PhoneDutSession,
    ServerDutSession,
    Session,
    SetupError,
    Timing,
)
from fsync_model.dut.steps import Case, Role, Step, example_cases, regression_cases
from fsync_model.dut.verdicts import CaseResult, CaseRun, Finding, SessionResult, Violation
from fsync_model.profile import Profile
from fsync_model.transport.address import Address

#: inconclusive cases in a row after which the rest is skipped (the device is not usable)
INCONCLUSIVE_IN_A_ROW = 3


class ListenError(Exception):
    """fsync could not bind its address (a set-up error of the command line: exit 2)."""


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def status(self, text: str) -> None: ...

    def case_done(self, result: CaseResult) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        return None

    def status(self, text: str) -> None:
        return None

    def case_done(self, result: CaseResult) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class RunConfig:
    profile: Profile
    role: Role
    user: str
    device: Device
    #: fsync's address: where its server listens (--dut phone) or its phone binds
    listen: Address | None
    #: the server under test (--dut server)
    target: Address | None = None
    password: str = "fsync"
    examples: int = 10
    seed: int = 0
    timing: Timing = field(default_factory=Timing)
    #: seconds spent shrinking one failure
    shrink_budget: float = 60.0
    #: stop after this many cases failed (confirmed); later cases are skipped
    max_failures: int = 3
    #: run only these cases (a replay file) instead of the flows and examples
    cases: list[Case] | None = None
    vendor: str = ""
    command: list[str] = field(default_factory=list)
    #: called once fsync's agent is bound, with its addresses (before waiting for the device)
    on_ready: Callable[[list[Address]], Awaitable[None]] | None = None


def make_session(config: RunConfig) -> Session:
    if config.role == "phone":
        assert config.listen is not None
        return PhoneDutSession(config.profile, listen=config.listen, user=config.user,
                               device=config.device, timing=config.timing, seed=config.seed,
                               password=config.password)
    assert config.target is not None
    return ServerDutSession(config.profile, target=config.target, listen=config.listen,
                            user=config.user, device=config.device, timing=config.timing,
                            seed=config.seed, password=config.password)


def planned_cases(config: RunConfig) -> list[Case]:
    if config.cases is not None:
        return list(config.cases)
    transport = (config.listen or config.target or Address("udp", "127.0.0.1", 0)).transport
    return (regression_cases(config.profile, config.role)
            + example_cases(config.profile, config.role, config.examples, config.seed,
                            transport=transport))


class Runner:
    """Runs a session's cases and turns runs into verdicts and findings."""

    def __init__(self, config: RunConfig, session: Session, result: SessionResult,
                 progress: Progress) -> None:
        self.config = config
        self.session = session
        self.result = result
        self.progress = progress
        #: why the remaining cases are not run (the device stays broken)
        self.stuck: str | None = None

    def _finding(self, case: Case, minimal: Case, run: CaseRun, rule: str, runs: int,
                 note: str) -> Finding:
        violation = next(v for v in run.violations if v.rule == rule)
        finding = Finding(len(self.result.findings) + 1, violation, case, minimal, runs,
                          minimal_run=run, shrink_note=note)
        self.result.findings.append(finding)
        return finding

    async def judge(self, case: Case) -> CaseResult:
        started = time.monotonic()
        role = self.config.role
        self.progress.status(f"{case.name}: {'; '.join(s.describe(role) for s in case.steps)}")
        first = await self.session.run_case(case)
        result = self._verdict(case, first)
        if first.failed:
            rule = first.violations[0].rule
            self.progress.status(f"{case.name}: {rule}; replaying to confirm")
            second = await self.session.run_case(case)
            result.runs = 2
            if second.fails_like(rule):
                result.verdict = "failed"
                result.violations = second.violations
                known = {f.rule for f in self.result.findings}
                if rule in known:
                    result.reason = f"{rule} again (shrunk in an earlier finding)"
                    result.finding = next(f for f in self.result.findings if f.rule == rule)
                else:
                    stuck = await self.probe(case.steps[second.steps_run - 1]
                                             if second.steps_run else None)
                    result.runs += 1 if stuck is not None else 0
                    if stuck is not None:
                        steps = case.steps[:second.steps_run]
                        minimal = Case(f"{case.name} (minimal)", case.kind, steps, case.note)
                        note = (f"not shrunk: afterwards the device also failed "
                                f"'{stuck}', which had passed, so it does not recover "
                                "between cases and shorter sequences prove nothing")
                        result.finding = self._finding(case, minimal, second, rule,
                                                       result.runs, note)
                        self.stuck = (f"the device did not recover after finding "
                                      f"#{result.finding.id} ('{stuck}' passed before it, "
                                      "fails after it)")
                    else:
                        minimal, run, attempts, note = await self.shrink(case, rule, second)
                        result.runs += attempts
                        result.finding = self._finding(case, minimal, run, rule, result.runs,
                                                       note)
            elif second.inconclusive is not None:
                result.verdict = "inconclusive"
                result.reason = (f"failed once ({_one_line(first.violations[0])}), then the "
                                 f"replay could not run: {second.inconclusive}")
            else:
                result.verdict = "flaky"
                result.reason = (f"failed once ({_one_line(first.violations[0])}) but passed "
                                 f"when replayed: not reported as a failure")
        result.duration = time.monotonic() - started
        return result

    async def probe(self, failing: Step | None = None) -> str | None:
        """Run again the shortest case that passed in this session (one doing what the
        failing step did, if there is one): its name when it fails now (the device carries
        the failure over into later cases), else None."""
        passed = [c.case for c in self.result.cases if c.verdict == "passed" and c.case.steps]
        alike = [c for c in passed if failing is not None
                 and any(s.kind == failing.kind for s in c.steps)]
        if not passed:
            return None
        probe = min(alike or passed, key=lambda c: len(c.steps))
        self.progress.status(f"checking the device recovers: {probe.name}")
        run = await self.session.run_case(probe)
        return probe.name if run.failed else None

    def _verdict(self, case: Case, run: CaseRun) -> CaseResult:
        if run.failed:
            return CaseResult(case, "failed", list(run.violations), list(run.warnings), runs=1)
        if run.inconclusive is not None:
            return CaseResult(case, "inconclusive", [], list(run.warnings),
                              reason=run.inconclusive, runs=1)
        return CaseResult(case, "passed", [], list(run.warnings), runs=1)

    async def shrink(self, case: Case, rule: str,
                     failing: CaseRun) -> tuple[Case, CaseRun, int, str]:
        """The shortest sequence found that still fails with ``rule`` (budgeted)."""
        deadline = time.monotonic() + self.config.shrink_budget
        steps = list(case.steps[:failing.steps_run])
        best = failing
        attempts = 0
        original = len(case.steps)

        async def attempt(candidate: list[Step]) -> CaseRun | None:
            nonlocal attempts
            attempts += 1
            self.progress.status(f"{case.name}: shrinking {rule} ({len(candidate)} step(s), "
                                 f"attempt {attempts})")
            run = await self.session.run_case(case.with_steps(tuple(candidate)))
            return run if run.fails_like(rule) else None

        index = 0
        while len(steps) > 1 and index < len(steps) and time.monotonic() < deadline:
            candidate = steps[:index] + steps[index + 1:]
            run = await attempt(candidate)
            if run is not None:
                steps = candidate[:run.steps_run]
                best = run
            else:
                index += 1
        for index, step in enumerate(list(steps)):
            if not step.faulty or time.monotonic() >= deadline:
                continue
            candidate = [*steps[:index], step.without_faults(), *steps[index + 1:]]
            run = await attempt(candidate)
            if run is not None:
                steps = candidate[:run.steps_run]
                best = run
        out_of_time = time.monotonic() >= deadline
        if original == 1 and attempts == 0:
            note = "one step: nothing to shrink"
        else:
            note = (f"{original} step(s) -> {len(steps)} in {attempts} re-run(s)"
                    + (" (shrink budget used up)" if out_of_time else ""))
        minimal = Case(f"{case.name} (minimal)", case.kind, tuple(steps), case.note)
        return minimal, best, attempts, note

    async def setup_case(self) -> None:
        """Violations seen while the device registered and subscribed: confirmed by a new
        subscription where the profile has one, flaky otherwise."""
        session = self.session
        if not session.setup_violations:
            if session.setup_warnings:
                self.result.cases.append(CaseResult(
                    Case("setup: register and subscribe", "setup", ()), "passed",
                    warnings=list(session.setup_warnings), runs=1))
            return
        first = session.setup_violations[0]
        setup = Case("setup: register and subscribe", "setup", ())
        if not session.caps.can_resubscribe:
            self.result.cases.append(CaseResult(
                setup, "flaky", list(session.setup_violations), list(session.setup_warnings),
                reason=f"seen while the device registered ({_one_line(first)}); fsync cannot "
                       "make it register again to confirm", runs=1))
            return
        replay = Case("setup: subscribe again", "setup", (Step("resubscribe"),))
        run = await session.run_case(replay)
        if run.fails_like(first.rule):
            result = CaseResult(setup, "failed", list(run.violations), list(run.warnings),
                                runs=2)
            result.finding = self._finding(replay, replay, run, first.rule, 2,
                                           "seen at registration, again on a new subscription")
        elif run.inconclusive is not None:
            result = CaseResult(setup, "inconclusive", list(session.setup_violations),
                                reason=f"seen at registration ({_one_line(first)}); the "
                                       f"replay could not run: {run.inconclusive}", runs=2)
        else:
            result = CaseResult(setup, "flaky", list(session.setup_violations),
                                reason=f"seen at registration ({_one_line(first)}), not "
                                       "when the device subscribed again", runs=2)
        self.result.cases.append(result)
        self.progress.case_done(result)

    async def run(self) -> None:
        cases = planned_cases(self.config)
        self.progress.start(len(cases))
        await self.setup_case()
        stuck = 0
        for case in cases:
            failures = sum(1 for c in self.result.cases if c.verdict == "failed")
            if failures >= self.config.max_failures:
                result = CaseResult(case, "skipped", reason=f"stopped after {failures} "
                                    "confirmed failure(s) (--max-failures)")
            elif self.stuck is not None:
                result = CaseResult(case, "skipped", reason=f"stopped: {self.stuck}")
            elif stuck >= INCONCLUSIVE_IN_A_ROW:
                result = CaseResult(case, "skipped", reason=f"stopped after {stuck} "
                                    "inconclusive cases in a row")
            else:
                try:
                    result = await self.judge(case)
                except HookError as error:  # pragma: no cover - run_case catches these
                    result = CaseResult(case, "inconclusive", reason=error.describe())
            stuck = stuck + 1 if result.verdict == "inconclusive" else 0
            self.result.cases.append(result)
            self.progress.case_done(result)


def _one_line(violation: Violation) -> str:
    return f"{violation.rule}: {violation.message}"


@dataclass
class Connection:
    """fsync's agent bound and the device connected (``result.setup_error`` is None) or
    not; ``runner`` judges cases on ``session``."""

    session: Session
    result: SessionResult
    runner: Runner


@contextlib.asynccontextmanager
async def connected(config: RunConfig,
                    progress: Progress | None = None) -> AsyncIterator[Connection]:
    """Bind fsync's agent, wait for the device; the connection, closed on exit. A device
    that did not come (or a --query that fails at once) is ``result.setup_error``, not an
    exception; ListenError when fsync cannot bind its address. ``fsync test`` runs every
    planned case on it (:func:`run_session`), the pytest plugin one case per test."""
    progress = progress or NoProgress()
    session = make_session(config)
    local = config.listen or Address("udp", "127.0.0.1", 0)
    result = SessionResult(config.vendor or config.profile.id, config.role, config.user,
                           str(local), None, config.seed, time.time(),
                           command=list(config.command), device=config.device.describe())
    connection = Connection(session, result, Runner(config, session, result, progress))
    started = time.monotonic()
    try:
        try:
            await session.open()
        except OSError as error:
            raise ListenError(f"cannot listen on {local}: {error.strerror or error}") from None
        result.local = ", ".join(str(a) for a in session.ours)
        if config.on_ready is not None:
            await config.on_ready(list(session.ours))
        progress.status(f"waiting up to {config.timing.wait:g} s for the device")
        try:
            await session.connect()
        except SetupError as error:
            result.setup_error = str(error)
        except HookError as error:
            result.setup_error = error.describe()
        else:
            result.device_address = (str(session.device_address) if session.device_address
                                     else None)
            result.device_agent = session.device_agent
        yield connection
        errors = session.agent_errors()
        if errors and result.setup_error is None:
            result.notes.append(f"fsync's agent raised {len(errors)} time(s) (a bug in fsync, "
                                f"not the device): {errors[0]!r}")
    finally:
        progress.close()
        result.records = list(session.tap.records)
        await session.close()
        result.duration = time.monotonic() - started


async def run_session(config: RunConfig, progress: Progress | None = None) -> SessionResult:
    """Connect to the device, run the cases; the outcome (never raises for the device's
    sake; ListenError when fsync cannot bind its address)."""
    async with connected(config, progress) as connection:
        if connection.result.setup_error is None:
            await connection.runner.run()
    return connection.result
