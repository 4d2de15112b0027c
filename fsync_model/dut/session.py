"""One connection to a device: fsync's reference agent over real sockets, the device's
control and query hooks, and the oracles, run one step at a time.

:class:`PhoneDutSession` plays the profile's server (``--dut phone``): a
:class:`~fsync_model.agents.server.ReferenceServer` (subclassed here as :class:`DutServer`
for what a tester needs and a server never does: change a state without notifying, end a
subscription, switch the full-state encoding) listens where the phone registers.
:class:`ServerDutSession` plays the phone (``--dut server``): a
:class:`~fsync_model.agents.phone.ReferencePhone` registers at the server under test.

A case runs from the default state (every feature off): :meth:`Session.reset` brings both
sides there through the ordinary mechanisms, then each step is a stimulus, a wait for quiet
(no message for ``settle`` seconds, fsync's agent waits for nothing, the flows the step
starts have ended on fsync's side, the device's ``--query`` shows what the model expects; at
most ``step_timeout`` seconds: a slow device is waited for, never failed for being slow), and
the oracles:

* the strict checker and the one-final-answer rule on every message from the device
  (:mod:`fsync_model.dut.wire`);
* the model and the profile's body rules: fsync's agent steps the tables on every message and
  parses every body strictly; what it reports as an error is a violation;
* the flows: a phone-initiated change must reach fsync's side (``SYNC-NOTHING-SENT``) and end
  in a final state of its table (``SYNC-FLOW-INCOMPLETE``); a terminated subscription must be
  renewed (``SYNC-NO-RESUBSCRIBE``);
* convergence: the device's state (``SYNC-DEVICE-STATE``) and fsync's agent's state
  (``SYNC-PEER-STATE``) after quiet must be what the model says.

Packet faults wrap the send of fsync's transports (UDP only): a message is dropped at most
once (its retransmission gets through) or sent twice.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from fsync_model.agents.events import AgentEvent, FlowStepped, Info, Problem
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer, _Outgoing
from fsync_model.agents.state import FEATURES, Change, FeatureName, FeatureState
from fsync_model.dut.hooks import Device, HookError, last_control
from fsync_model.dut.steps import Capabilities, Case, Role, Step, refusal_policy
from fsync_model.dut.verdicts import CaseRun, Violation
from fsync_model.dut.wire import DeviceWire, text_of
from fsync_model.model import Input, MachineKey, machines_for
from fsync_model.profile import (
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
    Setting,
)
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, parse_message
from fsync_model.testing import oracles
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver
from fsync_model.transport.tap import ListTap, TapRecord

SYNC_DEVICE_STATE: Final = "SYNC-DEVICE-STATE"
SYNC_PEER_STATE: Final = "SYNC-PEER-STATE"
SYNC_NOTHING_SENT: Final = "SYNC-NOTHING-SENT"
SYNC_FLOW_INCOMPLETE: Final = "SYNC-FLOW-INCOMPLETE"
SYNC_NO_RESUBSCRIBE: Final = "SYNC-NO-RESUBSCRIBE"

#: what fsync's agents report that says nothing against the device (our own bookkeeping)
_NOT_ABOUT_THE_DEVICE: Final = frozenset({"CHANGE-ABANDONED", "CODE-NO-RING-COUNT"})

_EXPECTED_BY_RULE: Final = {
    "PHONE-REFUSED": "a 2xx answer to every NOTIFY and INFO fsync's server sends (protocol "
                     "1.2, 4)",
    "PHONE-TIMEOUT": "a final answer to every request fsync sends (RFC 3261 17.1.2)",
    "MODEL-ILLEGAL-TRANSITION": "only the transitions the profile's table allows",
    "CONFIRM-TIMEOUT": "a confirming NOTIFY after a set request (protocol 1.2)",
}


class SetupError(Exception):
    """The session could not start testing (no device within --wait...): inconclusive."""


@dataclass(frozen=True)
class Timing:
    """How long fsync waits, in seconds."""

    #: for the device to register (and subscribe)
    wait: float = 30.0
    #: quiet (no message) that ends a step
    settle: float = 0.5
    #: longest wait for a step's outcome; a device slower than this fails the step
    step_timeout: float = 10.0
    #: longest run of one --control / --query command
    hook_timeout: float = 10.0
    #: quiet needed after fsync dropped a packet: the peer's retransmission (T1) must fit
    settle_after_drop: float = 1.2
    #: more time a step gets per packet fsync dropped in it (the retransmission's delay)
    per_drop: float = 1.5
    poll: float = 0.02


# ------------------------------------------------------------------------------ faults


class FaultInjector:
    """Drops or duplicates what fsync sends, per step, seeded. Wraps ``Transport.send`` of
    the driver's UDP transports (a stream transport neither loses nor repeats messages)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.drop = 0.0
        self.duplicate = 0.0
        self._dropped: set[bytes] = set()
        #: what was done, as text, since the last :meth:`take_notes`
        self.notes: list[str] = []
        #: wall-clock time of the last drop (the quiet after it must be longer)
        self.last_drop = 0.0
        #: messages dropped so far (each one delays the exchange by a retransmission)
        self.drops = 0

    def install(self, driver: EndpointDriver) -> None:
        for transport in driver.transports:
            if transport.kind != "udp":
                continue
            original = transport.send

            def send(data: bytes, dst: Address,
                     original: Callable[[bytes, Address], None] = original) -> None:
                self._send(original, data, dst)

            setattr(transport, "send", send)  # noqa: B010 - wrap the bound method per instance

    def configure(self, drop: float, duplicate: float) -> None:
        self.drop, self.duplicate = drop, duplicate

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    def _send(self, original: Callable[[bytes, Address], None], data: bytes,
              dst: Address) -> None:
        first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        if self.drop and data not in self._dropped and self.rng.random() < self.drop:
            self._dropped.add(data)
            self.drops += 1
            self.last_drop = time.time()
            self.notes.append(f"dropped {first!r} to {dst}")
            return
        original(data, dst)
        if self.duplicate and self.rng.random() < self.duplicate:
            self.notes.append(f"duplicated {first!r} to {dst}")
            original(data, dst)


# ------------------------------------------------------------------------------ server


class DutServer(ReferenceServer):
    """The reference server plus what a tester needs: silent state changes, ending a
    subscription on purpose, a profile variant (full-state encoding, policy)."""

    def busy(self) -> bool:
        """Whether fsync still waits for an answer to a request it sent (or has one queued)."""
        if self._outgoing or self._session_invites:
            return True
        return any(sub.queue or sub.in_flight is not None for sub in self._subs.values())

    def set_state_silently(self, user: str, state: FeatureState) -> None:
        """The server's state of ``user`` becomes ``state``; nobody is told."""
        self._states[user] = state

    def use_profile(self, profile: Profile) -> None:
        """Serve ``profile`` from now on (a variant: policy, full-state encoding)."""
        self.profile = profile
        self.tables = machines_for(profile)
        self._policies.clear()

    def subscriptions_of(self, user: str) -> list[str]:
        """The states of ``user``'s subscriptions on the model's table (``Active``...)."""
        return [sub.tracker.state for sub in self._subs.values() if sub.user == user]

    def terminate_subscriptions(self, user: str, reason: str, now: float) -> int:
        """End every subscription of ``user`` with a ``terminated`` NOTIFY; how many."""
        self.now = now
        count = 0
        if self.notifier is None:
            return 0
        for sub in list(self._subs.values()):
            if sub.user != user or self.notifier.get(sub.id) is None:
                continue
            sub.queue = None  # the NOTIFYs waiting are dropped
            tracker = sub.tracker
            sent = Input.SERVER_SENDS_NOTIFY_TERMINATED
            if not (tracker.allows(sent) and self.step(tracker, sent, now)):
                tracker = None  # type: ignore[assignment]
            key = self.notifier.terminate(sub.id, now, reason)
            self._outgoing[key] = (None, _Outgoing(tracker, sent))
            count += 1
        self._pump(now)
        return count


def with_encoding(profile: Profile, encoding: str) -> Profile:
    """``profile`` whose server sends the full state ``encoding`` (multipart, per-feature)."""
    afe = profile.afe
    if afe is None:
        return profile
    notify = dataclasses.replace(afe.notify, full_state=Setting(
        FullStateEncoding(encoding), note="fsync test variant"))
    return dataclasses.replace(profile, afe=dataclasses.replace(afe, notify=notify))


# ------------------------------------------------------------------------------ sessions


@dataclass
class Expectation:
    """What must be true once a step has settled."""

    what: str
    device: FeatureState
    peer: FeatureState
    #: flows that must reach a final state on fsync's side
    flows: list[MachineKey] = field(default_factory=list)
    #: flows the device must start (a phone-initiated change): nothing on the wire is
    #: SYNC-NOTHING-SENT
    device_starts: bool = False
    #: a new subscription must be set up (after fsync ended the old one)
    new_subscription: bool = False
    #: events index when the stimulus began
    mark: int = 0
    #: called once the step has settled (restores a policy)
    after: Callable[[], None] | None = None


@dataclass
class _Observation:
    device: FeatureState | None
    flows_done: bool
    subscribed: bool
    matched: bool


def _feature_json(state: FeatureState, feature: FeatureName) -> str:
    return json.dumps(state.to_json()[feature])


class Session(ABC):
    """What both roles share: the driver, the tap, faults, the settle loop, the oracles."""

    role: ClassVar[Role]

    def __init__(self, profile: Profile, *, user: str, device: Device, timing: Timing,
                 seed: int, transport: str) -> None:
        self.profile = profile
        self.caps = Capabilities.of(profile, self.role)
        self.user = user
        self.device = device
        self.timing = timing
        self.seed = seed
        self.transport = transport
        self.events: list[AgentEvent] = []
        #: where the steps of the last case run begin in ``events`` (after its reset)
        self.case_mark = 0
        self.tap = ListTap()
        self.faults = FaultInjector(random.Random(seed * 7919 + 17))
        self.driver: EndpointDriver | None = None
        self.device_address: Address | None = None
        self.device_agent: str | None = None
        self.setup_violations: list[Violation] = []
        self.setup_warnings: list[Violation] = []
        self.expected_device = FeatureState()
        self.expected_peer = FeatureState()
        self.wire = DeviceWire(profile, self.role, transport=transport)
        self._t0 = 0.0
        self._wall_offset = 0.0
        self._finals_of = self._final_states(profile)
        self.rings_matter = oracles.carries_rings(profile, "cfna")

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _final_states(profile: Profile) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        variants = [profile.with_policy(mode) for mode in PolicyMode]
        if profile.afe is not None:
            variants += [with_encoding(profile, e.value) for e in
                         (FullStateEncoding.MULTIPART, FullStateEncoding.PER_FEATURE)]
        for variant in variants:
            for key, table in machines_for(variant).items():
                out.setdefault(str(key), set()).update(table.finals)
        return {key: frozenset(states) for key, states in out.items()}

    def clock(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    def observe(self, event: AgentEvent) -> None:
        self.events.append(event)

    @property
    def ours(self) -> list[Address]:
        return self.driver.local_addresses if self.driver is not None else []

    def in_cycle(self, fn: Callable[[], Any]) -> Any:
        assert self.driver is not None
        return self.driver.run_in_cycle(fn)

    async def _open_driver(self, agent: Any, listen: Address) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self._wall_offset = time.time() - self.clock()
        self.driver = await EndpointDriver.open(agent, [listen], taps=[self.tap],
                                                clock=self.clock)
        self.faults.install(self.driver)

    async def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self.driver.wait_closed(), 1.0)

    def agent_errors(self) -> list[BaseException]:
        return list(self.driver.errors) if self.driver is not None else []

    # -- role specifics -------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Bind fsync's agent."""

    @abstractmethod
    async def connect(self) -> None:
        """Wait (``timing.wait``) until the device and fsync's agent are registered (and
        subscribed); SetupError otherwise."""

    @abstractmethod
    def peer_state(self) -> FeatureState:
        """The state fsync's agent holds for the line."""

    @abstractmethod
    def busy(self) -> bool:
        """Whether fsync's agent waits for an answer or has something queued."""

    @abstractmethod
    async def stimulate(self, step: Step, mark: int) -> Expectation:
        """Do ``step``; what must hold once it settled."""

    @abstractmethod
    async def reset_feature(self, feature: FeatureName, attempt: int) -> None:
        """Switch ``feature`` off on both sides through the ordinary mechanisms (attempt 1:
        the other way than attempt 0, when there is one)."""

    @abstractmethod
    def restore_defaults(self) -> None:
        """fsync's agent back to the profile as written (policy, encoding)."""

    def after_reset(self) -> None:  # noqa: B027 - optional hook
        """Called once both sides show the default state."""

    def subscribed_since(self, mark: int) -> bool:
        return True

    # -- the state oracle -----------------------------------------------------------------

    def agrees(self, a: FeatureState, b: FeatureState, feature: FeatureName) -> bool:
        """Same value of ``feature`` (the ring count only where the profile carries it)."""
        return oracles.agree(a, b, feature, self.rings_matter)

    def differences(self, actual: FeatureState, expected: FeatureState) -> list[FeatureName]:
        return [f for f in FEATURES if not self.agrees(actual, expected, f)]

    # -- running --------------------------------------------------------------------------

    def _last_activity(self) -> float:
        """Wall-clock time of the last message on fsync's side."""
        records = self.tap.records
        return records[-1].time if records else 0.0

    def _quiet(self, since: float) -> bool:
        last = max(self._last_activity(), since)
        need = self.timing.settle
        if self.faults.last_drop >= since:
            need = max(need, self.timing.settle_after_drop)
        return time.time() - last >= need and not self.busy()

    def _flows_done(self, expect: Expectation) -> bool:
        return all(self._flow_end(key, expect.mark)[1] for key in expect.flows)

    def _flow_end(self, key: MachineKey, mark: int) -> tuple[bool, bool, str | None]:
        """(started, ended, last state) of flow ``key`` on fsync's side since ``mark``."""
        name = str(key)
        finals = self._finals_of.get(name, frozenset())
        started = False
        last: str | None = None
        for event in self.events[mark:]:
            if isinstance(event, FlowStepped) and event.machine == name:
                started = True
                last = event.dest
                if event.dest in finals:
                    return True, True, last
        return started, False, last

    def _matches(self, expect: Expectation, device: FeatureState) -> bool:
        return not self.differences(device, expect.device) and not self.differences(
            self.peer_state(), expect.peer)

    async def settle(self, expect: Expectation, since: float,
                     drops: int | None = None) -> _Observation:
        """Wait for quiet and the expected outcome, at most ``step_timeout`` (plus
        ``per_drop`` for each packet dropped since ``drops`` was counted)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        drops = self.faults.drops if drops is None else drops
        next_query = 0.0
        last: FeatureState | None = None
        while True:
            # a dropped packet costs the exchange a retransmission: not the device's fault
            deadline = start + self.timing.step_timeout + self.timing.per_drop * (
                self.faults.drops - drops)
            flows = self._flows_done(expect)
            subscribed = not expect.new_subscription or self.subscribed_since(expect.mark)
            if self._quiet(since) and flows and subscribed and loop.time() >= next_query:
                last = await self.device.query(self.user)
                if self._matches(expect, last):
                    return _Observation(last, True, True, True)
                next_query = loop.time() + self.timing.settle
            if loop.time() >= deadline:
                if last is None or loop.time() >= next_query:
                    last = await self.device.query(self.user)
                matched = self._matches(expect, last) and flows and subscribed
                return _Observation(last, flows, subscribed, matched)
            await asyncio.sleep(self.timing.poll)

    async def wait_quiet(self, limit: float) -> bool:
        """Wait until nothing moves on fsync's side (at most ``limit`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        since = time.time()
        while loop.time() < deadline:
            if self._quiet(since - self.timing.settle):
                return True
            await asyncio.sleep(self.timing.poll)
        return False

    async def reset(self) -> str | None:
        """Both sides to the default state; None, or why it could not be done. Each feature
        that is not off is switched off the usual way (a server change where the server
        notifies, else a key press); what is still on after that gets the other way."""
        self.faults.configure(0.0, 0.0)
        self.restore_defaults()
        await self.wait_quiet(self.timing.step_timeout)
        default = FeatureState()
        seen: _Observation | None = None
        for attempt in (0, 1):
            device = await self.device.query(self.user) if seen is None or (
                seen.device is None) else seen.device
            peer = self.peer_state()
            pending = [f for f in FEATURES if not self.agrees(device, default, f)
                       or not self.agrees(peer, default, f)]
            if not pending:
                break
            mark = len(self.events)
            since = time.time()
            for feature in pending:
                await self.reset_feature(feature, attempt)
            seen = await self.settle(Expectation("reset", default, default, mark=mark), since)
            if seen.matched:
                break
        else:
            shown = seen.device.to_json() if seen is not None and seen.device else "?"
            return (f"could not bring the line back to the default state before the case "
                    f"(every feature off): the device shows {shown}, fsync's "
                    f"{'server' if self.role == 'phone' else 'phone'} "
                    f"{self.peer_state().to_json()}")
        self.after_reset()
        self.expected_device = FeatureState()
        self.expected_peer = FeatureState()
        return None

    async def run_case(self, case: Case) -> CaseRun:
        """Reset, then every step with its checks; stops after the first failing step."""
        run = CaseRun(case)
        started = time.monotonic()
        try:
            reason = await self.reset()
        except HookError as error:
            reason = error.describe()
        if reason is not None:
            run.inconclusive = reason
            run.duration = time.monotonic() - started
            return run
        first = len(self.tap.records)
        self.case_mark = len(self.events)
        for index, step in enumerate(case.steps):
            try:
                await self.run_step(index, step, run, first)
            except HookError as error:
                run.inconclusive = error.describe()
                break
            finally:
                self.faults.configure(0.0, 0.0)
            run.steps_run = index + 1
            if run.violations:
                break
        run.records = list(self.tap.records[first:])
        run.duration = time.monotonic() - started
        return run

    async def run_step(self, index: int, step: Step, run: CaseRun, first: int = 0) -> None:
        record_mark = len(self.tap.records)
        run.step_marks.append(record_mark - first)
        mark = len(self.events)
        since = time.time()
        drops = self.faults.drops
        if self.transport == "udp":
            self.faults.configure(step.drop, step.duplicate)
        try:
            expect = await self.stimulate(step, mark)
            seen = await self.settle(expect, since, drops)
        finally:
            self.faults.configure(0.0, 0.0)
        if expect.after is not None:
            expect.after()
            await self.wait_quiet(self.timing.step_timeout)
        run.faults.extend(f"step {index + 1}: {note}" for note in self.faults.take_notes())
        records = self.tap.records[record_mark:]
        errors, warnings = self.judge(index, step, expect, seen, records, mark)
        run.violations.extend(errors)
        run.warnings.extend(warnings)
        self.expected_device = expect.device
        self.expected_peer = expect.peer

    # -- the oracles ----------------------------------------------------------------------

    def wire_checks(self, records: list[TapRecord], step: int | None) -> list[Violation]:
        return self.wire.check(records, self.ours, step=step)

    def _device_message_near(self, records: list[TapRecord], evidence: str | None,
                             t: float) -> str | None:
        """The device's message an agent problem is about: the one whose first line is the
        evidence, else the last one before the problem."""
        mine = set(self.ours)
        wall = t + self._wall_offset
        candidate: TapRecord | None = None
        for record in records:
            if record.src in mine:
                continue
            data = bytes(record.data)
            if evidence and data.split(b"\r\n", 1)[0].decode("utf-8", "replace") == evidence:
                return text_of(data)
            if record.time <= wall + 0.05:
                candidate = record
        return text_of(bytes(candidate.data)) if candidate is not None else None

    def agent_findings(self, events: list[AgentEvent], records: list[TapRecord],
                       step: int | None) -> tuple[list[Violation], list[Violation]]:
        errors: list[Violation] = []
        warnings: list[Violation] = []
        for event in events:
            if not isinstance(event, Problem) or event.rule in _NOT_ABOUT_THE_DEVICE:
                continue
            if event.rule == "MODEL-ILLEGAL-TRANSITION":
                source = "model"
            elif event.rule.startswith(("AFE-", "CSTA-", "BODY-")):
                source = "body"
            else:
                source = "agent"
            expected = _EXPECTED_BY_RULE.get(event.rule)
            if source == "body":
                expected = f"a body that follows the {self.profile.id} profile's rules"
            violation = Violation(event.rule, event.message, source,  # type: ignore[arg-type]
                                  event.severity, step, event.evidence, expected,
                                  self._device_message_near(records, event.evidence, event.t))
            (errors if event.severity == "error" else warnings).append(violation)
        return errors, warnings

    def findings(self, records: list[TapRecord], events: list[AgentEvent],
                 step: int | None) -> tuple[list[Violation], list[Violation]]:
        """The wire oracles and what fsync's agent reported, errors and remarks apart. The
        shared oracle's ORACLE-PROFILE-BODY is dropped where the agent named the body rule
        broken (AFE-NS-MISSING...): one finding per defect."""
        wire = self.wire_checks(records, step)
        agent_errors, agent_warnings = self.agent_findings(events, records, step)
        named = any(v.source == "body" for v in agent_errors)
        errors = [v for v in wire if v.severity == "error"
                  and not (named and v.rule == "ORACLE-PROFILE-BODY")]
        warnings = [v for v in wire if v.severity != "error"]
        return errors + agent_errors, warnings + agent_warnings

    def _last_request(self, records: list[TapRecord], *, ours: bool) -> str | None:
        mine = set(self.ours)
        for record in reversed(records):
            if (record.src in mine) != ours:
                continue
            data = bytes(record.data)
            try:
                message = parse_message(data)
            except SipParseError:
                continue
            if isinstance(message, Request) and message.body:
                return text_of(data)
        return None

    def judge(self, index: int | None, step: Step | None, expect: Expectation,
              seen: _Observation, records: list[TapRecord],
              mark: int) -> tuple[list[Violation], list[Violation]]:
        errors, warnings = self.findings(records, self.events[mark:], index)
        peer_name = "fsync's server" if self.role == "phone" else "fsync's phone"
        sent = self._device_requests(records)
        for key in expect.flows:
            started, ended, last = self._flow_end(key, mark)
            if ended:
                continue
            if not started and expect.device_starts and not sent:
                control = last_control(self.device) if self.role == "phone" else None
                errors.append(Violation(
                    SYNC_NOTHING_SENT,
                    f"{expect.what}: the device sent nothing for {key} within "
                    f"{self.timing.step_timeout:g} s (is feature sync on for the line?"
                    + (f" {control}" if control else "") + ")",
                    "model", "error", index, None,
                    f"the {key} flow: {self._happy(key)}"))
            elif not started:
                errors.append(Violation(
                    SYNC_FLOW_INCOMPLETE,
                    f"{expect.what}: {peer_name} could not take what the device sent "
                    f"({', '.join(sent) or 'nothing'}) as the {key} flow",
                    "model", "error", index, None, f"the {key} flow: {self._happy(key)}"))
            else:
                table = machines_for(self.profile).get(key)
                allowed = ", ".join(i.value for i in table.allowed(last)) if (
                    table is not None and last is not None and last in table.states) else "?"
                errors.append(Violation(
                    SYNC_FLOW_INCOMPLETE,
                    f"{expect.what}: the {key} flow stopped in state {last} on {peer_name}'s "
                    f"side and did not end within {self.timing.step_timeout:g} s",
                    "model", "error", index, f"state {last}",
                    f"a final state ({', '.join(sorted(self._finals_of.get(str(key), ())))}); "
                    f"next allowed: {allowed}"))
        if expect.new_subscription and not seen.subscribed:
            errors.append(Violation(
                SYNC_NO_RESUBSCRIBE,
                f"{expect.what}: no new subscription within {self.timing.step_timeout:g} s",
                "model", "error", index, None,
                "a new SUBSCRIBE at once after 'terminated;reason=deactivated' (RFC 6665 "
                "4.1.3), answered by the full state"))
        if seen.device is not None:
            diff = self.differences(seen.device, expect.device)
            if diff:
                errors.append(Violation(
                    SYNC_DEVICE_STATE,
                    f"{expect.what}: the device shows {_features(seen.device, diff)}, "
                    f"expected {_features(expect.device, diff)}",
                    "state", "error", index, _features(seen.device, diff),
                    _features(expect.device, diff), self._last_request(records, ours=True)))
        peer = self.peer_state()
        diff = self.differences(peer, expect.peer)
        if diff:
            errors.append(Violation(
                SYNC_PEER_STATE,
                f"{expect.what}: {peer_name} ended with {_features(peer, diff)}, expected "
                f"{_features(expect.peer, diff)} (what the device sent did not carry the "
                "change)", "state", "error", index, _features(peer, diff),
                _features(expect.peer, diff), self._last_request(records, ours=False)))
        return _unique(errors), _unique(warnings)

    def _device_requests(self, records: list[TapRecord]) -> list[str]:
        """The methods of the requests the device sent among ``records`` (not REGISTER)."""
        mine = set(self.ours)
        out: list[str] = []
        for record in records:
            if record.src in mine:
                continue
            first = bytes(record.data).split(b" ", 1)[0].decode("ascii", "replace")
            if first and not first.startswith("SIP/") and first != "REGISTER" and (
                    first not in out):
                out.append(first)
        return out

    def _happy(self, key: MachineKey) -> str:
        from fsync_model.model import happy_path

        table = machines_for(self.profile).get(key)
        if table is None:
            return "?"
        return ", ".join(row.label for row in happy_path(table))

    # -- shared step pieces ---------------------------------------------------------------

    def flow_key(self, feature: FeatureName, direction: Direction) -> MachineKey | None:
        key = MachineKey.flow(self.profile.id, Feature(feature), direction)
        return key if key in machines_for(self.profile) else None

    def device_view(self, base: FeatureState, peer: FeatureState,
                    features: tuple[FeatureName, ...]) -> FeatureState:
        """``base`` with ``features`` taken from ``peer``."""
        out = base
        for feature in features:
            out = out.applied(peer.as_change(feature))
        return out


def _features(state: FeatureState, features: list[FeatureName]) -> str:
    """``cfb {"on": false, "target": null}; cfna {...}``: the named features of ``state``."""
    return "; ".join(f"{f} {_feature_json(state, f)}" for f in features)


def _unique(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    out = []
    for violation in violations:
        if violation.key not in seen:
            seen.add(violation.key)
            out.append(violation)
    return out


class PhoneDutSession(Session):
    """``--dut phone``: fsync is the profile's server at ``listen``."""

    role = "phone"

    def __init__(self, profile: Profile, *, listen: Address, user: str, device: Device,
                 timing: Timing, seed: int, password: str) -> None:
        super().__init__(profile, user=user, device=device, timing=timing, seed=seed,
                         transport=listen.transport)
        self.listen = listen
        self.base_profile = profile
        self.server = DutServer(profile, rng=random.Random(seed), observer=self.observe,
                                local=listen, password=password, log_messages=False,
                                keep_messages=False, keep_steps=False)
        self.other_users: set[str] = set()

    async def open(self) -> None:
        await self._open_driver(self.server, self.listen)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.wait
        while self.user not in self.server.registrations:
            if loop.time() >= deadline:
                raise SetupError(self._no_register())
            await asyncio.sleep(0.05)
        self.device_address = self.server.registrations[self.user]
        self.device_agent = self._user_agent()
        if self.caps.subscribes:
            # subscribed, whatever became of it (a broken subscription is a finding, not a
            # reason to stop)
            while not (self.server.subscriptions_of(self.user) and not self.server.busy()):
                if loop.time() >= deadline:
                    raise SetupError(
                        f"the phone registered as {self.user} from {self.device_address} but "
                        f"did not subscribe to {self._event()} within {self.timing.wait:g} s: "
                        "switch feature sync on for the line (or raise --wait)")
                await asyncio.sleep(0.05)
        await self.wait_quiet(self.timing.step_timeout)
        await self.device.query(self.user)  # fails early (inconclusive) on a broken --query
        errors, warnings = self.findings(list(self.tap.records), list(self.events), None)
        self.setup_violations = _unique(errors)
        self.setup_warnings = _unique(warnings)

    def _event(self) -> str:
        return self.profile.afe.event.value if self.profile.afe is not None else "?"

    def _user_agent(self) -> str | None:
        for record in self.tap.records:
            if record.src in self.ours:
                continue
            try:
                message = parse_message(bytes(record.data))
            except SipParseError:
                continue
            if isinstance(message, Request) and message.method == "REGISTER":
                return message.headers.get("user-agent")
        return None

    def _no_register(self) -> str:
        received = [r for r in self.tap.records if r.src not in self.ours]
        where = ", ".join(str(a) for a in self.ours)
        if not received:
            return (f"no device registered within {self.timing.wait:g} s: nothing reached "
                    f"fsync at {where}; point the phone's SIP server (registrar) at {where} "
                    f"with user {self.user}")
        users = sorted(set(self.server.registrations) - {self.user})
        refused = [e for e in self.events if isinstance(e, Problem)
                   and e.rule == "DIGEST-REFUSED"]
        if users:
            return (f"a phone registered as {', '.join(users)}, not as --user {self.user}, "
                    f"within {self.timing.wait:g} s")
        if refused:
            return (f"the phone's credentials were refused ({refused[-1].message}); give the "
                    f"line the password fsync expects (--password, default 'fsync')")
        first = bytes(received[0].data).split(b"\r\n", 1)[0].decode("utf-8", "replace")
        return (f"no successful REGISTER from user {self.user} within {self.timing.wait:g} s "
                f"({len(received)} message(s) received, the first: {first!r})")

    def peer_state(self) -> FeatureState:
        return self.server.state(self.user)

    def busy(self) -> bool:
        return self.server.busy()

    def restore_defaults(self) -> None:
        if self.server.profile != self.base_profile:
            self.server.use_profile(self.base_profile)

    def after_reset(self) -> None:
        self.server.set_state_silently(self.user, FeatureState())

    def subscribed_since(self, mark: int) -> bool:
        renewed = any(isinstance(e, Info) and e.what == "subscribed"
                      and e.data.get("user") == self.user for e in self.events[mark:])
        return renewed and "Active" in self.server.subscriptions_of(self.user)

    async def reset_feature(self, feature: FeatureName, attempt: int) -> None:
        off = Change(feature, False)
        notifies = self.caps.mechanism(feature, Direction.SERVER) is Mechanism.AS_FEATURE_EVENT
        if notifies and (attempt == 0 or self.caps.mechanism(feature, Direction.PHONE) is None):
            self.in_cycle(lambda: self.server.admin_change(self.user, off, self.clock()))
        else:
            await self.device.control(off, self.user)

    def _full_state_features(self) -> tuple[FeatureName, ...]:
        afe = self.server.profile.afe
        if afe is None:
            return ()
        return tuple(f.value for f in afe.notify.full_state_order.value)

    async def stimulate(self, step: Step, mark: int) -> Expectation:
        server = self.server
        user = self.user
        before_device, before_peer = self.expected_device, self.expected_peer
        if step.kind == "server-change":
            change = step.change
            assert change is not None
            made = change
            self.in_cycle(lambda: server.admin_change(user, made, self.clock()))
            peer = server.state(user)
            mechanism = self.caps.mechanism(change.feature, Direction.SERVER)
            key = self.flow_key(change.feature, Direction.SERVER)
            device = before_device
            if mechanism is Mechanism.AS_FEATURE_EVENT:
                device = self.device_view(before_device, peer, (change.feature,))
            return Expectation(f"after the server's change '{change.describe()}'", device,
                               peer, [key] if key is not None and mechanism else [], mark=mark)
        if step.kind in ("phone-change", "reject"):
            change = step.change
            assert change is not None
            mechanism = self.caps.mechanism(change.feature, Direction.PHONE)
            after: Callable[[], None] | None = None
            rejected = step.kind == "reject" and mechanism is not None
            if rejected:
                server.use_profile(self.base_profile.with_policy(refusal_policy(mechanism)))

                def after() -> None:
                    server.use_profile(self.base_profile)

            await self.device.control(change, user)
            key = self.flow_key(change.feature, Direction.PHONE)
            what = f"after the phone's change '{change.describe()}'" + (
                " (rejected by the server's policy)" if rejected else "")
            if mechanism is None:
                return Expectation(what, before_device.applied(change), before_peer, mark=mark,
                                   after=after)
            peer = before_peer if rejected else before_peer.applied(change)
            if mechanism is Mechanism.AS_FEATURE_EVENT:
                device = self.device_view(before_device, peer, (change.feature,))
            else:
                device = before_device if rejected else before_device.applied(change)
            return Expectation(what, device, peer, [key] if key is not None else [],
                               device_starts=True, mark=mark, after=after)
        # resubscribe
        state = server.state(user)
        for change in step.silent:
            state = state.applied(change)
        server.set_state_silently(user, state)
        if step.encoding is not None:
            server.use_profile(with_encoding(self.base_profile, step.encoding))
        count = self.in_cycle(lambda: server.terminate_subscriptions(user, "deactivated",
                                                                     self.clock()))
        device = self.device_view(before_device, state, self._full_state_features())
        silent = "; ".join(c.describe() for c in step.silent)
        what = ("after the server ended the subscription (reason=deactivated)"
                + (f" having changed {silent} without a NOTIFY" if silent else ""))
        return Expectation(what, device, state, mark=mark, new_subscription=count > 0)


class ServerDutSession(Session):
    """``--dut server``: fsync is the profile's phone, registering at ``target``."""

    role = "server"

    def __init__(self, profile: Profile, *, target: Address, listen: Address | None,
                 user: str, device: Device, timing: Timing, seed: int, password: str) -> None:
        super().__init__(profile, user=user, device=device, timing=timing, seed=seed,
                         transport=target.transport)
        self.target = target
        self.listen = listen or Address(target.transport,
                                        "::1" if target.is_ipv6 else "127.0.0.1", 0)
        self.phone = ReferencePhone(profile, user=user, server=target,
                                    rng=random.Random(seed), observer=self.observe, sync=True,
                                    password=password, local=self.listen, log_messages=False,
                                    keep_messages=False)

    async def open(self) -> None:
        await self._open_driver(self.phone, self.listen)

    def _subscribed(self) -> bool:
        sub = self.phone.subscription
        return sub is not None and sub.state == "Active" and self.phone.sub_id is not None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.wait
        self.device_address = self.target
        self.in_cycle(lambda: self.phone.start(self.clock()))
        while not self.phone.registered:
            if loop.time() >= deadline:
                raise SetupError(self._no_register())
            await asyncio.sleep(0.05)
        self.device_agent = self._server_agent()
        if self.caps.subscribes and self.phone.sync_active:
            while not (self._subscribed() and not self.busy()):
                if loop.time() >= deadline:
                    tracker = self.phone.subscription
                    raise SetupError(
                        f"the server at {self.target} accepted REGISTER but fsync's "
                        f"subscription is not active after {self.timing.wait:g} s (state "
                        f"{tracker.state if tracker is not None else 'none'})")
                await asyncio.sleep(0.05)
        await self.wait_quiet(self.timing.step_timeout)
        await self.device.query(self.user)  # fails early (inconclusive) on a broken --query
        errors, warnings = self.findings(list(self.tap.records), list(self.events), None)
        self.setup_violations = _unique(errors)
        self.setup_warnings = _unique(warnings)

    def _no_register(self) -> str:
        received = [r for r in self.tap.records if r.src not in self.ours]
        problems = [e for e in self.events if isinstance(e, Problem)
                    and e.rule == "REGISTER-FAILED"]
        if not received:
            return (f"the server at {self.target} did not answer fsync's REGISTER as user "
                    f"{self.user} within {self.timing.wait:g} s (is it listening there?)")
        why = f" ({problems[-1].message})" if problems else ""
        return (f"the server at {self.target} did not accept fsync's REGISTER as user "
                f"{self.user} within {self.timing.wait:g} s{why}; check --user and --password")

    def _server_agent(self) -> str | None:
        for record in self.tap.records:
            if record.src in self.ours:
                continue
            try:
                message = parse_message(bytes(record.data))
            except SipParseError:
                continue
            agent = message.headers.get("server") or message.headers.get("user-agent")
            if agent:
                return agent
        return None

    def peer_state(self) -> FeatureState:
        return self.phone.state

    def busy(self) -> bool:
        phone = self.phone
        return phone._in_flight is not None or bool(phone._queue) or bool(phone._txn_flows)

    def restore_defaults(self) -> None:
        return None

    def subscribed_since(self, mark: int) -> bool:
        return self._subscribed() and any(
            isinstance(e, FlowStepped) and e.machine.endswith("/subscription")
            and e.dest == "Active" for e in self.events[mark:])

    async def reset_feature(self, feature: FeatureName, attempt: int) -> None:
        off = Change(feature, False)
        syncs = self.caps.mechanism(feature, Direction.PHONE) is not None
        if syncs and (attempt == 0 or self.caps.mechanism(feature, Direction.SERVER) is None):
            self.in_cycle(lambda: self.phone.user_change(off, self.clock()))
        else:
            await self.device.control(off, self.user)

    async def stimulate(self, step: Step, mark: int) -> Expectation:
        phone = self.phone
        before_device, before_peer = self.expected_device, self.expected_peer
        if step.kind == "server-change":
            change = step.change
            assert change is not None
            await self.device.control(change, self.user)
            device = before_device.applied(change)
            mechanism = self.caps.mechanism(change.feature, Direction.SERVER)
            key = self.flow_key(change.feature, Direction.SERVER)
            peer = before_peer
            if mechanism is Mechanism.AS_FEATURE_EVENT:
                peer = self.device_view(before_peer, device, (change.feature,))
            return Expectation(f"after the server's change '{change.describe()}'", device,
                               peer, [key] if key is not None and mechanism else [],
                               device_starts=mechanism is not None, mark=mark)
        if step.kind in ("phone-change", "reject"):
            change = step.change
            assert change is not None
            self.in_cycle(lambda: phone.user_change(change, self.clock()))
            mechanism = self.caps.mechanism(change.feature, Direction.PHONE)
            key = self.flow_key(change.feature, Direction.PHONE)
            what = f"after the phone's change '{change.describe()}'"
            if mechanism is None:
                return Expectation(what, before_device, before_peer.applied(change), mark=mark)
            accept = self.profile.policy.mode.value is PolicyMode.ACCEPT
            device = before_device.applied(change) if accept else before_device
            if mechanism is Mechanism.AS_FEATURE_EVENT or not accept:
                peer = self.device_view(before_peer, device, (change.feature,))
            else:
                peer = before_peer.applied(change)
            return Expectation(what, device, peer, [key] if key is not None else [], mark=mark)
        # resubscribe: fsync's phone ends its subscription and starts a new one
        self.in_cycle(lambda: phone.set_sync(False, self.clock()))
        await self.wait_quiet(self.timing.step_timeout)
        mark = len(self.events)
        self.in_cycle(lambda: phone.set_sync(True, self.clock()))
        afe = self.profile.afe
        features: tuple[FeatureName, ...] = tuple(
            f.value for f in afe.notify.full_state_order.value) if afe else ()
        peer = self.device_view(before_peer, before_device, features)
        return Expectation("after fsync's phone subscribed again", before_device, peer,
                           mark=mark, new_subscription=True)
