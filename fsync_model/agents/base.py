"""What the reference phone and server share: a UA core, the model's trackers, events.

An agent is a sans-IO endpoint (docs/architecture.md): the adapter calls
``receive_datagram`` / ``handle_timer`` and sends ``datagrams_to_send``. Inside, the SIP
work is done by a :class:`~fsync_model.sip.useragent.UserAgent` and its extensions; the agent
reads the UA's events and, for every message it sends or receives that belongs to a feature
flow, steps a :class:`~fsync_model.model.FlowTracker` on the table of that flow. Whatever the
table does not allow is reported as a :class:`~fsync_model.agents.events.Problem` (the peer
did something the model forbids), never raised: a reference agent keeps serving.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fsync_model.agents.events import (
    AgentEvent,
    FlowStepped,
    Info,
    MessageLogged,
    Observer,
    Problem,
    StateChanged,
)
from fsync_model.agents.state import FeatureState
from fsync_model.model import (
    FlowTracker,
    IllegalTransition,
    Input,
    MachineKey,
    Party,
    Step,
    TransitionTable,
    machines_for,
)
from fsync_model.profile import Direction, Feature, Profile
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import parse_message
from fsync_model.sip.timers import Deadlines, TimerConfig
from fsync_model.sip.useragent import MessageRecord, RequestReceived, UaEvent, UserAgent
from fsync_model.transport.address import Address


class EarlyHook:
    """A UA extension that lets an agent see every UA event before the UA's other
    extensions (the RFC 6665 notifier and subscriber); ``see`` returns True to consume it."""

    def __init__(self, see: Callable[[UaEvent, float], bool]) -> None:
        self.see = see

    def handle_event(self, event: UaEvent, now: float) -> bool:
        return self.see(event, now)

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None


def _ignore(event: AgentEvent) -> None:
    return None


def summarize(data: bytes) -> tuple[str, str | None, tuple[str, ...]]:
    """First line, Call-ID and key headers of a message, for logs (never raises)."""
    try:
        msg = parse_message(data)
    except SipParseError as error:
        first = data.split(b"\r\n", 1)[0][:120].decode("utf-8", "replace")
        return f"{first} (unparsable: {error.reason})", None, ()
    details = []
    for name in ("CSeq", "Event", "Subscription-State", "Expires", "Content-Type"):
        value = msg.headers.get(name)
        if value is not None:
            details.append(f"{name}: {value}")
    call_id = msg.headers.get("call-id")
    return msg.start_line, call_id, tuple(details)


class AgentCore:
    """The UA, the tables, the trackers, the timers and the event stream of one agent."""

    party: Party

    def __init__(
        self,
        profile: Profile,
        *,
        local: Address,
        rng: random.Random,
        observer: Observer | None,
        user: str,
        timers: TimerConfig | None = None,
        log_messages: bool = True,
        keep_messages: bool = True,
        keep_steps: bool = True,
        log_steps: bool = True,
        ua_options: dict[str, Any] | None = None,
    ) -> None:
        self.profile = profile
        self.rng = rng
        self.observer: Observer = observer or _ignore
        self.tables: dict[MachineKey, TransitionTable] = machines_for(profile)
        self.ua = UserAgent(local, rng, timers=timers, user=user,
                            user_agent=f"fsync-{self.party.value}/{profile.id}",
                            **(ua_options or {}))
        self.deadlines = Deadlines()
        self._log_messages = log_messages
        self._keep_messages = keep_messages
        self._recording = False
        self._update_recorder()
        #: keep every Step and Problem (tests, coverage, reports); a long-running server
        #: turns this off and relies on the observer
        self.keep_steps = keep_steps
        #: report every step to the observer (a FlowStepped event); with this and
        #: ``keep_steps`` off the trackers make no Step at all (``fsync serve --quiet``)
        self.log_steps = log_steps
        self.record_steps = keep_steps or log_steps
        #: every message in and out (for pcaps and ladders), when ``keep_messages``
        self.messages: list[MessageRecord] = []
        #: every step of every tracker, in order (for coverage and ladders' state notes)
        self.steps: list[Step] = []
        #: problems seen (also sent to the observer)
        self.problems: list[Problem] = []
        self.now = 0.0
        self._timer_handlers: dict[str, Callable[[str, float], None]] = {}

    @property
    def log_messages(self) -> bool:
        """Report every message in and out to the observer (a MessageLogged event)."""
        return self._log_messages

    @log_messages.setter
    def log_messages(self, value: bool) -> None:
        self._log_messages = value
        self._update_recorder()

    @property
    def keep_messages(self) -> bool:
        """Keep every message in and out in :attr:`messages`."""
        return self._keep_messages

    @keep_messages.setter
    def keep_messages(self, value: bool) -> None:
        self._keep_messages = value
        self._update_recorder()

    def _update_recorder(self) -> None:
        """The UA records messages for us only when something reads them: a record is
        made per message, and a quiet server needs none."""
        wanted = (self._keep_messages or self._log_messages
                  or type(self).on_record is not AgentCore.on_record)
        if wanted and not self._recording:
            self.ua.add_recorder(self._record)
        elif not wanted and self._recording:
            self.ua.recorders.remove(self._record)
        self._recording = wanted

    # ------------------------------------------------------------------ Endpoint contract

    def bind(self, local: list[Address]) -> None:
        self.ua.bind(local)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        self.now = now
        self.ua.receive_datagram(data, src, now)
        self._pump(now)

    def note_receive_delay(self, delay: float) -> None:
        """Driver hook: how long the next message waited in the socket buffer (the UA's
        overload control reads it)."""
        self.ua.note_receive_delay(delay)

    def receive_malformed(self, data: bytes, error: SipParseError, src: Address,
                          now: float) -> None:
        """Driver hook: bytes a stream transport could not frame (``error``): the UA
        answers them if it can, as it answers a datagram that does not parse."""
        self.now = now
        self.ua.receive_malformed(data, error, src, now)
        self._pump(now)

    def transport_error(self, dst: Address, reason: str, now: float) -> None:
        """The adapter could not send to ``dst``: the UA fails its transactions there."""
        self.now = now
        self.ua.transport_error(dst, reason, now)
        self._pump(now)

    def handle_timer(self, now: float) -> None:
        self.now = now
        ua_deadline = self.ua.get_timer()
        if ua_deadline is not None and ua_deadline <= now:
            self.ua.handle_timer(now)
        for name in list(self.deadlines.due(now)):
            handler = self._timer_handlers.get(name.split(":", 1)[0])
            if handler is not None:
                handler(name, now)
        self._pump(now)

    def get_timer(self) -> float | None:
        deadline = self.ua.get_timer()
        own = self.deadlines.earliest()
        return own if own is not None and (deadline is None or own < deadline) else deadline

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self.ua.datagrams_to_send(now)

    # ------------------------------------------------------------------ plumbing

    def on_timer(self, prefix: str, handler: Callable[[str, float], None]) -> None:
        """Deadlines named ``prefix`` or ``prefix:detail`` call ``handler(name, now)``."""
        self._timer_handlers[prefix] = handler

    def _pump(self, now: float) -> None:
        while True:
            event = self.ua.next_event()
            if event is None:
                return
            try:
                self.handle_ua_event(event, now)
            except SipParseError as error:
                self._unreadable(event, error, now)

    def _unreadable(self, event: UaEvent, error: SipParseError, now: float) -> None:
        """The agent read a header of ``event`` that does not parse (a Contact when making
        a dialog, ...): answer a request with the error's status unless it was answered,
        report it, and carry on (a reference agent keeps serving)."""
        if isinstance(event, RequestReceived):
            txn = self.ua.server_transaction(event.transaction)
            last = txn.last_response if txn is not None else None
            if txn is not None and (last is None or last.status < 200):
                self.ua.reply(event.transaction, error.status, now, error.reason)
        self.problem("SIP-UNREADABLE", f"{type(event).__name__}: {error.reason}", now,
                     severity="warning", evidence=error.line)

    def handle_ua_event(self, event: UaEvent, now: float) -> None:
        """Overridden by the phone and the server."""

    def emit(self, event: AgentEvent) -> None:
        if isinstance(event, Problem) and self.keep_steps:
            self.problems.append(event)
        self.observer(event)

    def info(self, what: str, now: float, **data: Any) -> None:
        self.emit(Info(now, what, data))

    def problem(self, rule: str, message: str, now: float, *, severity: str = "error",
                evidence: str | None = None) -> None:
        self.emit(Problem(now, rule, message, severity, evidence))  # type: ignore[arg-type]

    def state_changed(self, user: str, state: FeatureState, cause: str, now: float,
                      *, confirmed: bool = True) -> None:
        self.emit(StateChanged(now, user, state, cause, confirmed))

    def _record(self, record: MessageRecord) -> None:
        if self.keep_messages:
            self.messages.append(record)
        if self.log_messages:
            summary, call_id, details = summarize(record.data)
            self.emit(MessageLogged(record.time, record.direction, str(record.src),
                                    str(record.dst), summary, call_id, details))
        self.on_record(record)

    def on_record(self, record: MessageRecord) -> None:
        """Overridden to watch messages the UA extensions send on their own (refreshes)."""

    # ------------------------------------------------------------------ the model

    def table(self, key: MachineKey) -> TransitionTable:
        return self.tables[key]

    def flow_key(self, feature: str, direction: Direction) -> MachineKey | None:
        key = MachineKey.flow(self.profile.id, Feature(feature), direction)
        return key if key in self.tables else None

    def tracker(self, key: MachineKey) -> FlowTracker:
        return FlowTracker(self.tables[key], role=self.party, record=self.record_steps)

    def step(self, tracker: FlowTracker, input: Input, now: float) -> bool:
        """Step ``tracker``; on a transition the table forbids, report it and return False
        (the tracker stays where it was)."""
        before = len(tracker.steps)
        try:
            tracker.step(input, now)
        except IllegalTransition as exc:
            allowed = ", ".join(i.value for i in exc.allowed) or "nothing"
            self.problem("MODEL-ILLEGAL-TRANSITION",
                         f"{tracker.key}: {input.value} in state {tracker.state} (allowed: "
                         f"{allowed})", now)
            return False
        if not tracker.steps:
            return True
        for step in tracker.steps[before:]:
            if self.keep_steps:
                self.steps.append(step)
            if self.log_steps:
                self.emit(FlowStepped(now, str(step.machine), step.source, step.input.value,
                                      step.dest))
        if not self.keep_steps:
            tracker.steps.clear()  # a long-lived tracker (a subscription) grew without bound
        return True
