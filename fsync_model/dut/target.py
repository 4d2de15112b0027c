"""The generated suites against a device: ``pytest --fsync-dut phone|server``.

A generated test speaks to ``fsync_target`` (``testing.fixtures.Target``): stimuli, then
``settle``, then expectations. Against a device, :class:`DeviceTarget` records the stimuli
as the steps of a ``fsync test`` case (:mod:`fsync_model.dut.steps`): a change at the phone
(``phone-change``), a change on the server (``server-change``), a change the server refuses
by policy (``reject``). ``settle`` runs the case through the runner of ``fsync test`` on one
connection kept open for the whole pytest session (:class:`DeviceConnection`): the device is
brought back to the default state, each step waits for quiet and runs the oracles of
``fsync test``, and a failure is replayed before it counts (failed if it repeats, flaky if
not) and shrunk. The expectations then read what can be read: the device through
``--query``, fsync's own agent and the model steps it took.

What only the in-memory bench can do (tamper rules, network faults, virtual time, the line
setting, a bench built another way) skips the test with the reason: a real device has no
virtual clock and fsync does not sit between its messages.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, NoReturn, TypeVar

from fsync_model.agents.events import FlowStepped, Problem
from fsync_model.agents.state import Change, FeatureState
from fsync_model.dut.report import failure_text
from fsync_model.dut.runner import Connection, ListenError, RunConfig, connected
from fsync_model.dut.steps import Case, Step, StepKind, refusal_policy
from fsync_model.dut.verdicts import CaseResult
from fsync_model.profile import Direction, Mechanism
from fsync_model.testing import oracles

T = TypeVar("T")

#: longest a pytest test waits for one call into the device connection (a case with its
#: replay and shrinking included)
CALL_LIMIT: Final = 900.0

#: the keys of ``@pytest.mark.fsync_setup`` that mean nothing for a device
IGNORED_SETUP: Final = frozenset({"seed"})


class DeviceSetupError(Exception):
    """The device did not come (or failed while registering and subscribing)."""


class DeviceUnavailable(Exception):
    """A test does something only the in-memory bench can do; the message says what."""


class DeviceCaseFailed(AssertionError):
    """The device violated a rule, confirmed on replay (the message is the evidence)."""


class FlakyDevice(UserWarning):
    """A case failed once and passed when replayed: reported, not a failure."""


class DeviceConnection:
    """One ``fsync test`` connection to the device, kept open across tests: an event loop in
    its own thread runs fsync's agent (so it answers the device between tests too) and every
    call is run on it."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fsync-dut",
                                       daemon=True)
        self._context: contextlib.AbstractAsyncContextManager[Connection] | None = None
        self.connection: Connection | None = None

    def call(self, make: Callable[[], Awaitable[T]], limit: float = CALL_LIMIT) -> T:
        async def run() -> T:
            return await make()

        coroutine: Coroutine[Any, Any, T] = run()
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(limit)

    def open(self) -> Connection:
        """Bind fsync's agent and wait for the device (``--wait``); DeviceSetupError when it
        did not come or failed while registering and subscribing (confirmed)."""
        self.thread.start()
        context = connected(self.config)
        self._context = context
        try:
            connection = self.call(context.__aenter__, self.config.timing.wait + 120.0)
        except ListenError as error:
            self._context = None
            raise DeviceSetupError(f"{error}: give --fsync-target a free port") from None
        self.connection = connection
        result = connection.result
        if result.setup_error is not None:
            raise DeviceSetupError(f"fsync could not start testing the device: "
                                   f"{result.setup_error}")
        self.call(connection.runner.setup_case)
        failed = [c for c in result.cases if c.verdict == "failed"]
        if failed:
            raise DeviceSetupError("the device failed while registering and subscribing:\n"
                                   + failure_text(failed[0], result))
        return connection

    def judge(self, case: Case) -> CaseResult:
        """Run ``case`` as ``fsync test`` runs each of its cases (replayed when it fails,
        shrunk when the failure repeats)."""
        connection = self._connection()
        outcome = self.call(lambda: connection.runner.judge(case))
        connection.result.cases.append(outcome)
        return outcome

    def query(self) -> FeatureState:
        """The device's state, through ``--query``."""
        connection = self._connection()
        return self.call(lambda: connection.session.device.query(connection.session.user))

    def _connection(self) -> Connection:
        assert self.connection is not None, "open() first"
        return self.connection

    def close(self) -> None:
        context = self._context
        if context is not None:
            self._context = None
            with contextlib.suppress(Exception):
                self.call(lambda: context.__aexit__(None, None, None), 30.0)
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10.0)
        if not self.thread.is_alive():
            self.loop.close()


class DeviceTarget:
    """``fsync_target`` when the system under test is a device (see the module docstring).
    ``name`` names the case in findings (the test's id)."""

    def __init__(self, device: DeviceConnection, name: str) -> None:
        self.device = device
        self.name = name
        self.config = device.config
        self.role = self.config.role
        self.steps: list[Step] = []
        self.policy = "accept"
        self.outcome: CaseResult | None = None
        #: where the last case's steps began in the session's events
        self.mark = 0

    # -- what cannot be done to a device ----------------------------------------------

    def _cannot(self, what: str) -> NoReturn:
        raise DeviceUnavailable(
            f"{what}: only fsync's in-memory bench can do that (run without --fsync-dut); "
            "against a device the generated tests drive changes at either side and the "
            "server's policy (`fsync test` adds lost and duplicated packets)")

    def set_sync(self, on: bool) -> None:
        self._cannot("the phone's line setting (set_sync)")

    def unregister(self) -> None:
        self._cannot("the phone's line going offline (unregister)")

    def register(self) -> None:
        self._cannot("the phone's line coming back online (register)")

    def arm(self, side: str, rule: object) -> None:
        self._cannot(f"a tamper rule in front of the {side} ({type(rule).__name__})")

    def network(self, fault: object) -> None:
        self._cannot(f"a network fault ({type(fault).__name__})")

    def advance(self, seconds: float) -> None:
        self._cannot(f"{seconds:g} s of virtual time (advance)")

    def heal(self) -> None:
        self._cannot("healing the in-memory network")

    # -- stimuli ----------------------------------------------------------------------

    def start(self) -> None:
        """Nothing to do: the device registered (and subscribed) when the session began;
        each case starts from the default state."""

    def _in_range(self, change: Change) -> None:
        """A ring count outside the profile's range is a negative case of the bench (the
        other side must refuse it); fsync test's runner expects every change it drives to be
        taken, so it cannot judge one."""
        afe = self.config.profile.afe
        if change.rings is None or afe is None or change.rings in afe.ring_count:
            return
        low, high = afe.ring_count.min.value, afe.ring_count.max.value
        self._cannot(f"a ring count outside the profile's range {low}-{high} "
                     f"({change.describe()}), which the other side must refuse")

    def user_change(self, change: Change) -> None:
        self._in_range(change)
        kind: StepKind = "phone-change"
        if self.policy != "accept":
            if self.role != "phone":
                self._cannot("the policy of the server under test (set_policy); set it on "
                             "the device")
            mechanism = self._mechanism(change, Direction.PHONE)
            refuses = refusal_policy(mechanism).value
            if self.policy != refuses:
                self._cannot(f"policy {self.policy!r} for a {change.feature} change "
                             f"({mechanism.value if mechanism else 'not synced'}); "
                             f"fsync's server refuses it with {refuses!r}")
            kind = "reject"
        self.steps.append(Step(kind, change))

    def admin_change(self, change: Change) -> None:
        self._in_range(change)
        self.steps.append(Step("server-change", change))

    def set_policy(self, policy: str, status: int | None = None) -> None:
        if status is not None:
            self._cannot(f"policy {policy!r} with status {status}")
        self.policy = policy

    def _mechanism(self, change: Change, direction: Direction) -> Mechanism | None:
        connection = self.device._connection()
        return connection.session.caps.mechanism(change.feature, direction)

    def settle(self) -> None:
        """Run the steps so far as one case on the device (from the default state); raise
        DeviceCaseFailed when it fails, with the evidence."""
        __tracebackhide__ = True
        case = Case(self.name, "flow", tuple(self.steps),
                    note="generated test run by the fsync pytest plugin")
        outcome = self.device.judge(case)
        self.outcome = outcome
        connection = self.device._connection()
        self.mark = connection.session.case_mark
        if outcome.verdict == "failed":
            raise DeviceCaseFailed(
                f"{self.name}: the device violated "
                f"{', '.join(sorted({v.rule for v in outcome.violations}))} (confirmed on "
                f"replay)\n{failure_text(outcome, connection.result)}")
        if outcome.verdict == "inconclusive":
            raise DeviceCaseFailed(f"{self.name}: inconclusive, fsync could not drive or read "
                                   f"the device: {outcome.reason}")
        if outcome.verdict == "flaky":
            warnings.warn(FlakyDevice(f"{self.name}: {outcome.reason}"), stacklevel=2)

    # -- expectations -----------------------------------------------------------------

    def _ran(self) -> CaseResult:
        if self.outcome is None:
            raise AssertionError("settle() runs the case before anything is checked")
        return self.outcome

    def check(self, *, final: bool = False) -> None:
        """The case passed (a failure was raised by settle)."""
        outcome = self._ran()
        assert outcome.verdict in ("passed", "flaky"), outcome.verdict

    def _ours(self) -> str:
        return "server" if self.role == "phone" else "phone"

    def _flow_steps(self, key: str) -> list[FlowStepped]:
        session = self.device._connection().session
        events = self.device.call(lambda: _later(list(session.events[self.mark:])))
        return [e for e in events if isinstance(e, FlowStepped) and e.machine == key]

    def expect_flow(self, key: str, end: str, *, path: Sequence[str] | None = None,
                    sides: Sequence[str] = ("phone", "server")) -> None:
        """fsync's side of ``key`` ended in ``end`` (along ``path``), as in the bench; the
        device's own table is not visible: its state is checked instead (every step's
        SYNC-DEVICE-STATE oracle and ``expect_state``)."""
        self._ran()
        side = self._ours()
        if side not in sides:
            return
        steps = self._flow_steps(key)
        assert steps, f"{side} (fsync): {key} never moved"
        assert steps[-1].dest == end, (
            f"{side} (fsync): {key} ended in {steps[-1].dest}, expected {end}")
        if path is not None:
            start = max((i for i, s in enumerate(steps)
                         if s.source == steps[0].source and s.input == path[0]), default=0)
            taken = [s.input for s in steps[start:]]
            assert taken == list(path), f"{side} (fsync): {key} took {taken}, expected {path}"

    def expect_reached(self, key: str, source: str, input: str) -> None:
        """fsync's side took the row (``source``, ``input``) of ``key``."""
        self._ran()
        assert any(s.source == source and s.input == input for s in self._flow_steps(key)), (
            f"{key}: fsync's {self._ours()} never took the row {source} --{input}--> (the "
            "device's own steps are not visible)")

    def expect_state(self, side: str, expected: Change) -> None:
        """``side``'s value of the feature ``expected`` changes is what it sets: the device
        through ``--query``, fsync's agent directly (the rules of the bench's check)."""
        self._ran()
        feature = expected.feature
        connection = self.device._connection()
        if side == self.role:
            state = self.device.query()
        else:
            session = connection.session
            state = self.device.call(lambda: _later(session.peer_state()))
        profile = self.config.profile
        wanted = FeatureState().applied(expected)
        rings = side == "phone" or oracles.carries_rings(profile, feature)
        if side == "server":
            state = oracles.effective(profile, state)
        who = "the device" if side == self.role else "fsync"
        assert oracles.agree(state, wanted, feature, rings), (
            f"{side} ({who}): {feature} is {state.to_json()[feature]}, expected "
            f"{wanted.to_json()[feature]}")

    def expect_problem(self, rule: str) -> None:
        """fsync's agent reported ``rule`` during the case, or an oracle of ``fsync test``
        did."""
        outcome = self._ran()
        session = self.device._connection().session
        events = self.device.call(lambda: _later(list(session.events[self.mark:])))
        rules = {e.rule for e in events if isinstance(e, Problem)}
        rules |= {v.rule for v in outcome.violations + outcome.warnings}
        assert rule in rules, f"expected problem {rule}; reported: {sorted(rules) or 'none'}"


async def _later(value: T) -> T:
    """``value`` (read on the connection's loop, so it is not read mid-cycle)."""
    return value
