"""The reference phone: one SIP line with its feature-sync setting, state and indicator.

What it does follows the profile and the line's setting (off by default, guide
"Configuration"): with sync off every change stays local; with sync on it registers,
subscribes to ``as-feature-event`` (BroadSoft, Metaswitch; Fortinet whatever the setting) and
sends set requests inside the subscription dialog, or calls a feature code (3CX, Yeastar,
IMS, most PBXs) and hangs up. The indicator shows a change at once and stays *pending* until
the server confirms; when the confirming NOTIFY says otherwise (a policy rejection) or the
request fails, it reverts. It accepts every variant the profile allows: a multipart or
per-feature full state, both namespace spellings, 200 or 202. A uaCSTA INFO is answered and
changes nothing (guide note on 3CX).

Registration answers any sequence of digest challenges (a new nonce at once; refused
credentials end the attempt, retried later). The line can go offline (:meth:`unregister`:
unsubscribe, then a de-REGISTER, challenged like any REGISTER) and come back
(:meth:`register`).

One change is in flight at a time (protocol 3: parallel code calls loop); later ones wait,
and are dropped (not sent, not applied) when the line's sync is switched off or the line
goes offline meanwhile. Offline (after :meth:`unregister`) a change at the keypad is the
phone's alone, as with sync off: nothing is sent. A
change the profile has no feature code for is refused at once; a code call that rings and
is never answered is cancelled after 64*T1.

Every message of a flow steps the flow's tracker on the model's table.
"""
from __future__ import annotations

import contextlib
import random
from collections import deque
from dataclasses import dataclass, field, replace
from itertools import count

from fsync_model.agents import afe as afe_bodies
from fsync_model.agents.base import AgentCore
from fsync_model.agents.events import Observer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.bodies import csta
from fsync_model.bodies.feature_event import BodyError
from fsync_model.model import (
    FAILED,
    FlowKind,
    FlowTracker,
    Input,
    MachineKey,
    Party,
    TransitionTable,
    machines_for,
    subscribe_answered_first,
)
from fsync_model.profile import (
    Action,
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
    uri_user,
)
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, parse_message
from fsync_model.sip.sdp import make_offer
from fsync_model.sip.subscription import (
    NotifyReceived,
    RefreshFailed,
    RetryPolicy,
    Subscriber,
    SubscriptionAccepted,
    SubscriptionId,
    SubscriptionTerminated,
)
from fsync_model.sip.timers import TimerConfig
from fsync_model.sip.transaction import TransactionError, TransactionKey
from fsync_model.sip.useragent import (
    AckReceived,
    AuthenticationRetry,
    DigestCredentials,
    MessageRecord,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportFailure,
    UaEvent,
)
from fsync_model.transport.address import Address

DEFAULT_PASSWORD = "fsync"
_ALLOW = "INVITE, ACK, BYE, CANCEL, NOTIFY, INFO, OPTIONS"


def hostport(address: Address) -> str:
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}" if address.port else host


def _expires_zero(request: Request) -> bool:
    """Whether ``request`` (a REGISTER this phone built) removes the binding."""
    try:
        return request.expires == 0
    except SipParseError:
        return False


def confirms(requested: Change, reported: Change) -> bool:
    """Whether the state a confirming NOTIFY reports is the one the set request asked for.
    A no-answer forward set without a ring count leaves the count to the server: whatever
    count the confirmation fills in (its default, the one it kept) is an agreement."""
    if requested.feature == "cfna" and requested.on and requested.rings is None:
        reported = replace(reported, rings=None)
    return (FeatureState().applied(requested)
            .agrees(FeatureState().applied(reported), requested.feature))


@dataclass(eq=False)
class _Flow:
    """One phone-initiated change in flight."""

    change: Change
    tracker: FlowTracker
    mechanism: Mechanism
    #: numbered per phone (not per process): runs stay byte-identical for a seed
    id: int
    #: the state the confirming NOTIFY reported (as-feature-event)
    reported: Change | None = None
    #: the state before the first local change of the feature made while this flow was
    #: in flight (the line's sync switched off), and those changes: they come after it
    before_local: FeatureState | None = None
    local: list[Change] = field(default_factory=list)
    #: the code INVITE's client transaction while it waits for its final answer
    invite: TransactionKey | None = None


class ReferencePhone(AgentCore):
    """The reference phone of one profile, one line (see the module docstring)."""

    party = Party.PHONE

    def __init__(
        self,
        profile: Profile,
        *,
        user: str,
        server: Address,
        rng: random.Random,
        observer: Observer | None = None,
        sync: bool | None = None,
        password: str | None = None,
        local: Address | None = None,
        timers: TimerConfig | None = None,
        log_messages: bool = True,
        keep_messages: bool = True,
        keep_steps: bool = True,
    ) -> None:
        credentials = [DigestCredentials(user, password or DEFAULT_PASSWORD)]
        super().__init__(profile, local=local or Address(server.transport, "127.0.0.1", 0),
                         rng=rng, observer=observer, user=user, timers=timers,
                         log_messages=log_messages, keep_messages=keep_messages,
                         keep_steps=keep_steps,
                         ua_options={"credentials": credentials})
        self.user = user
        self.server = server
        self._state = FeatureState()
        self._indicator = FeatureState()
        self.line = self.tracker(MachineKey(profile.id, FlowKind.LINE))
        self._wanted_sync = profile.line.default_sync.value if sync is None else sync
        self.registration = self.tracker(MachineKey(profile.id, FlowKind.REGISTRATION))
        self.registered = False
        #: the line is meant to be registered (False after unregister())
        self._online = True
        self._reg_txn: TransactionKey | None = None
        self._reg_call_id: str | None = None
        self._reg_cseq = 0
        self.subscriber: Subscriber | None = None
        self.sub_id: SubscriptionId | None = None
        self.subscription: FlowTracker | None = None
        if profile.afe is not None:
            afe = profile.afe
            self.subscriber = Subscriber(self.ua, afe.event.value, accept=[afe.accept.value],
                                         expires=afe.subscribe.expires.value, auto_answer=False)
        self._queue: deque[Change] = deque()
        #: changes made with the line synced that the phone gave up before sending them
        #: (no feature code for them; the line's sync switched off while they waited):
        #: they changed nothing, here or on the server
        self.dropped: list[Change] = []
        self._in_flight: _Flow | None = None
        self._txn_flows: dict[TransactionKey, _Flow] = {}
        self._uacsta: FlowTracker | None = None
        self._flow_ids = count(1)
        self.on_timer("register", self._on_register_timer)
        self.on_timer("subscribe", self._on_subscribe_timer)
        self.on_timer("confirm", self._on_confirm_timer)
        self.on_timer("ringing", self._on_ringing_timer)

    # ------------------------------------------------------------------ API

    @property
    def state(self) -> FeatureState:
        return self._state

    @property
    def indicator(self) -> FeatureState:
        return self._indicator

    @property
    def sync_active(self) -> bool:
        return self.line.state in ("SyncEnabled", "SyncAlwaysOn")

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{hostport(self.server).rsplit(':', 1)[0]}"

    def start(self, now: float) -> None:
        """Apply the line setting, then register (and subscribe once registered)."""
        self.now = now
        if self._wanted_sync and self.line.allows(Input.PHONE_ENABLES_SYNC) and (
                self.line.state == "Local"):
            self.step(self.line, Input.PHONE_ENABLES_SYNC, now)
        self._register(now)
        self._pump(now)

    @property
    def sync_setting(self) -> bool:
        """The line's feature-sync setting as last set (applied to the line at `start`;
        on a line the setting does not gate, e.g. Fortinet, sync is active whatever it
        says)."""
        return self._wanted_sync

    def set_sync(self, on: bool, now: float) -> None:
        """Set the line's feature-sync setting; setting the value it already has changes
        nothing (reported as an ``unchanged`` sync event, not as an error)."""
        self.now = now
        if on == self._wanted_sync:
            self.info("sync", now, on=on, active=self.sync_active, unchanged=True)
            return
        self._wanted_sync = on
        setting = Input.PHONE_ENABLES_SYNC if on else Input.PHONE_DISABLES_SYNC
        if self.line.allows(setting):  # before `start` the line waits for it
            self.step(self.line, setting, now)
        self.info("sync", now, on=on, active=self.sync_active)
        if not self.sync_active:
            # the change in flight finishes; those waiting behind it are not sent
            while self._queue:
                self._drop(self._queue.popleft(), "the line's feature sync was switched off "
                           "while it waited", now)
        if self.sync_active:
            self._maybe_subscribe(now)
        elif self.subscriber is not None and self.sub_id is not None:
            self.subscriber.unsubscribe(self.sub_id, now)
            self.sub_id = None
            self.subscription = None
        self._pump(now)

    def user_change(self, change: Change, now: float) -> None:
        self.now = now
        spec = self.profile.feature(Feature(change.feature))
        mechanism = spec.mechanism(Direction.PHONE) if spec else None
        if not self.sync_active or not self._online or mechanism is None:
            # sync off, or the line offline (unregistered): the change is the phone's alone
            if self.line.allows(Input.PHONE_USER_CHANGE):
                self.step(self.line, Input.PHONE_USER_CHANGE, now)
            flow = self._in_flight
            if flow is not None and flow.change.feature == change.feature:
                if flow.before_local is None:
                    flow.before_local = self._state
                flow.local.append(change)
            self._state = self._state.applied(change)
            self._indicator = self._indicator.applied(change)
            self.state_changed(self.user, self._state, "local", now)
        elif mechanism is Mechanism.FEATURE_CODE and (missing := self._no_code(change)):
            self.problem("CODE-MISSING", f"{change.describe()}: {missing}", now)
            self._drop(change, f"no feature code for it ({missing})", now)
        else:
            self._queue.append(change)
            self._start_next(now)
        self._pump(now)

    def _drop(self, change: Change, why: str, now: float) -> None:
        """Give ``change`` up before sending it: state and indicator keep their value."""
        self.dropped.append(change)
        self.problem("CHANGE-DROPPED", f"{change.describe()}: not sent, {why}; the phone keeps "
                     "its state", now, severity="warning")

    # ------------------------------------------------------------------ registration

    def unregister(self, now: float) -> None:
        """The line goes offline: end the subscription and remove the binding (REGISTER
        with ``Expires: 0``, challenged like any REGISTER). A registration in progress is
        finished first and then removed; no refresh or retry follows."""
        self.now = now
        self._online = False
        self.deadlines.cancel("register")
        # the change in flight finishes; those waiting behind it are not sent
        while self._queue:
            self._drop(self._queue.popleft(), "the line went offline while it waited", now)
        if self.subscriber is not None and self.sub_id is not None:
            self.subscriber.unsubscribe(self.sub_id, now)
            self.sub_id = None
            self.subscription = None
        self.info("unregistering", now, registered=self.registered)
        if self._reg_txn is None and self.registration.state == "Registered":
            self._register(now, unregister=True)
        self.registered = False
        self._pump(now)

    def register(self, now: float) -> None:
        """The line comes back online after :meth:`unregister`: register (and subscribe)
        again, once a de-REGISTER still in progress has ended."""
        self.now = now
        if self._online:
            return
        self._online = True
        if self._reg_txn is None:
            self._register(now)
        self._pump(now)

    @property
    def registration_pending(self) -> bool:
        """Whether a REGISTER (or de-REGISTER) awaits its answer."""
        return self._reg_txn is not None

    @property
    def online(self) -> bool:
        """Whether the line is meant to be registered (False after :meth:`unregister`)."""
        return self._online

    def _register(self, now: float, *, unregister: bool = False) -> None:
        expires = 0 if unregister else self.profile.registration.expires.value
        self._reg_cseq += 1
        request = self.ua.build_request(
            "REGISTER", f"sip:{hostport(self.server)}", from_uri=self.aor, to_uri=self.aor,
            call_id=self._reg_call_id, cseq=self._reg_cseq, headers=[("Expires", str(expires))])
        self._reg_call_id = request.call_id
        if unregister:
            self._registration_step(Input.PHONE_SENDS_UNREGISTER, now)
        else:
            if not self.registration.done:
                # the last attempt was given up (credentials refused): a new one starts
                self.registration = self.tracker(self.registration.key)
            self._registration_step(Input.PHONE_SENDS_REGISTER, now)
        self._reg_txn = self.ua.send_request(request, self.server, now)

    def _on_register_timer(self, name: str, now: float) -> None:
        if self._online and self._reg_txn is None:
            self._register(now)

    def _registration_step(self, input: Input, now: float) -> bool:
        """Step the registration tracker. A registrar that challenges where the profile
        says it does not, or accepts where the profile expects a challenge (a trusted
        address), is followed on the table of the other variant for as long as the
        profile's table has no such state, then the profile's table is taken up again."""
        tracker = self.registration
        own = self.tables[tracker.key]
        if not tracker.allows(input):
            reg = self.profile.registration
            other = None if reg.challenge.value is not None else 401
            variant = replace(self.profile, registration=replace(
                reg, challenge=replace(reg.challenge, value=other)))
            rebased = self._rebase(tracker, machines_for(variant)[tracker.key])
            if rebased is not None and rebased.allows(input):
                self.registration = tracker = rebased
                if input is Input.SERVER_SENDS_2XX and other is None:
                    self.problem("REGISTER-NOT-CHALLENGED", "the registrar accepted REGISTER "
                                 f"without the {reg.challenge.value} challenge the profile "
                                 "expects", now, severity="info")
                elif input is Input.SERVER_SENDS_CHALLENGE and other is not None:
                    self.problem("REGISTER-CHALLENGED", "the registrar challenged REGISTER, "
                                 "which the profile says it does not", now, severity="info")
        stepped = self.step(tracker, input, now)
        if tracker.table is not own:
            back = self._rebase(tracker, own)
            if back is not None:
                self.registration = back
        return stepped

    def _on_register_response(self, event: ResponseReceived, now: float) -> None:
        response = event.response
        self._reg_cseq = max(self._reg_cseq, response.cseq.seq)
        if response.is_provisional:
            return
        self._reg_txn = None
        removal = _expires_zero(event.request)
        if response.is_success:
            self._registration_step(Input.SERVER_SENDS_2XX, now)
        else:
            self._registration_step(Input.SERVER_SENDS_CHALLENGE if response.status in (401, 407)
                                    else Input.SERVER_SENDS_ERROR, now)
        if removal:
            self.info("unregistered", now, status=response.status)
            self._registration_ended(now)
            return
        if not response.is_success:
            if self._online:
                self._retry_register(now, f"REGISTER answered {response.status} "
                                          f"{response.reason}")
            return
        try:
            granted = response.expires
        except SipParseError:
            granted = None
        granted = granted or self.profile.registration.expires.value
        if not self._online:  # unregistered while this REGISTER was on its way
            self._register(now, unregister=True)
            return
        self.deadlines.set("register", now + max(granted * 0.9, 1.0))
        first = not self.registered
        self.registered = True
        self.info("registered", now, expires=granted, server=str(self.server))
        if first:
            self._maybe_subscribe(now)

    def _registration_ended(self, now: float) -> None:
        """A de-REGISTER ended (whatever its answer: the binding expires anyway); register
        again if the line came back online meanwhile."""
        if self._online:
            self._register(now)

    def _retry_register(self, now: float, why: str) -> None:
        retry = self.profile.registration.retry_after
        delay = float(retry.value) if retry else 30.0
        self.problem("REGISTER-FAILED", f"{why}; retrying in {delay:g} s", now,
                     severity="warning")
        self.deadlines.set("register", now + delay)

    # ------------------------------------------------------------------ subscription

    def _maybe_subscribe(self, now: float) -> None:
        if (self.subscriber is None or not self.registered or not self.sync_active
                or self.sub_id is not None):
            return
        if self.subscription is None or self.subscription.state not in (
                "Unsubscribed", "RetryWait", "Terminated"):
            self.subscription = self.tracker(MachineKey(self.profile.id, FlowKind.SUBSCRIPTION))
        target = f"sip:{self.user}@{hostport(self.server)}"
        self.step(self.subscription, Input.PHONE_SENDS_SUBSCRIBE, now)
        self.sub_id = self.subscriber.subscribe(target, self.server, now, from_uri=self.aor,
                                                to_uri=self.aor)

    def _on_subscribe_timer(self, name: str, now: float) -> None:
        self._maybe_subscribe(now)

    def on_record(self, record: MessageRecord) -> None:
        """Refreshes and unsubscribes are sent by the subscriber on its own: step the
        subscription machine when they leave (retransmissions are not steps)."""
        if (record.direction != "out" or not record.data.startswith(b"SUBSCRIBE ")
                or self.subscription is None or self.sub_id is None):
            return
        try:
            request = parse_message(record.data)
            if request.body or request.call_id != self.sub_id.call_id:
                return
            expires = request.expires
        except SipParseError:
            return
        sent = Input.PHONE_SENDS_UNSUBSCRIBE if expires == 0 else Input.PHONE_SENDS_SUBSCRIBE
        if self.subscription.allows(sent):
            self.step(self.subscription, sent, record.time)

    def _subscription_step(self, input: Input, now: float) -> None:
        if self.subscription is not None and self.subscription.allows(input):
            self.step(self.subscription, input, now)

    def _on_subscription_event(self, event: UaEvent, now: float) -> None:
        if isinstance(event, SubscriptionAccepted):
            if event.subscription == self.sub_id:
                self._subscription_step(Input.SERVER_SENDS_2XX, now)
                self._start_next(now)
        elif isinstance(event, NotifyReceived):
            self._on_notify(event, now)
        elif isinstance(event, RefreshFailed):
            self._subscription_step(Input.PHONE_TIMEOUT if event.response is None
                                    else Input.SERVER_SENDS_ERROR, now)
        elif isinstance(event, SubscriptionTerminated):
            self._on_subscription_ended(event, now)

    def _on_subscription_ended(self, event: SubscriptionTerminated, now: float) -> None:
        if event.subscription != self.sub_id:
            return
        self.sub_id = None
        reason = event.reason or ""
        # no-notify: RFC 6665 Timer N (64*T1 from the SUBSCRIBE without a NOTIFY); for an
        # unanswered first SUBSCRIBE it fires with Timer F, and it is that timeout
        mapping = {"489": Input.SERVER_SENDS_489, "481": Input.SERVER_SENDS_481,
                   "no-response": Input.PHONE_TIMEOUT, "no-notify": Input.PHONE_TIMEOUT}
        input = mapping.get(reason)
        if input is None and reason.isdigit():
            input = Input.SERVER_SENDS_ERROR
        if input is not None:
            self._subscription_step(input, now)
        self._fail_in_flight(now, f"subscription ended ({reason})")
        if not self.sync_active:
            return
        afe = self.profile.afe
        assert afe is not None
        if event.retry is RetryPolicy.IMMEDIATELY and reason != "489":
            delay = 0.0
        elif event.retry_after is not None:
            delay = event.retry_after
        else:
            delay = float(afe.subscribe.retry_after_489.value)
        self.info("subscription-ended", now, reason=reason, retry_in=delay)
        if self.subscription is not None and self.subscription.state not in (
                "Unsubscribed", "RetryWait", "Terminated"):
            self.subscription = None
        self.deadlines.set("subscribe", now + delay)

    def _on_notify(self, event: NotifyReceived, now: float) -> None:
        request = event.request
        afe = self.profile.afe
        assert afe is not None
        if event.state.state == "terminated":
            self._subscription_step(Input.SERVER_SENDS_NOTIFY_TERMINATED, now)
            self.ua.reply(event.transaction, 200, now)
            self._subscription_step(Input.PHONE_SENDS_200, now)
            return
        if not request.body:
            self.ua.reply(event.transaction, 200, now)
            return
        try:
            parsed = afe_bodies.parse_notify(afe, request.headers.get("content-type") or "",
                                             request.body)
        except BodyError as error:
            for finding in error.findings:
                self.problem(finding.rule, finding.message, now, severity=finding.severity,
                             evidence=finding.evidence)
            # RFC 3261 21.4.13: a 415 lists what is acceptable
            accept = [("Accept", afe.accept.value)] if error.status == 415 else []
            self.ua.reply(event.transaction, error.status, now, error.reason, headers=accept)
            return
        for finding in parsed.findings:
            self.problem(finding.rule, finding.message, now, severity=finding.severity,
                         evidence=finding.evidence)
        ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        whole = ctype.startswith("multipart/") or len(parsed.changes) > 1
        if self._is_full_state(parsed.changes, whole, now):
            # the full state answering our SUBSCRIBE (protocol 1.2), in either encoding
            assert self.subscription is not None
            self.step(self.subscription, Input.SERVER_SENDS_NOTIFY, now)
            self.ua.reply(event.transaction, 200, now)
            self.step(self.subscription, Input.PHONE_SENDS_200, now)
            for change in parsed.changes:
                self._adopt(change, "full-state", now)
            self._start_next(now)
            return
        if whole:
            # a full state nobody here waits for (a refresh that crossed the one under way
            # brings a second): the server's word on each feature, confirming nothing
            self.ua.reply(event.transaction, 200, now)
            for change in parsed.changes:
                self._adopt(change, "full-state", now)
            self.info("full-state-unexpected", now, parts=len(parsed.changes))
            return
        trackers: list[FlowTracker] = []
        for change in parsed.changes:
            flow = self._awaiting_confirmation(change.feature)
            if flow is not None:
                confirm = Input.SERVER_SENDS_NOTIFY if confirms(flow.change, change) else (
                    Input.SERVER_SENDS_NOTIFY_OLD_STATE)
                if not flow.tracker.allows(confirm):
                    self._follow_policy(flow, confirm, now)
                if self.step(flow.tracker, confirm, now):
                    flow.reported = change
                    trackers.append(flow.tracker)
                continue
            key = self.flow_key(change.feature, Direction.SERVER)
            if key is None:
                self.problem("NOTIFY-UNEXPECTED", f"change NOTIFY for {change.feature}, which "
                             f"{self.profile.id} does not sync from the server", now,
                             severity="warning")
                continue
            tracker = self.tracker(key)
            if self.step(tracker, Input.SERVER_SENDS_NOTIFY, now):
                trackers.append(tracker)
            self._adopt(change, "notify", now)
        self.ua.reply(event.transaction, 200, now)
        for tracker in trackers:
            self.step(tracker, Input.PHONE_SENDS_200, now)
        self._check_done(now)

    def _awaiting_confirmation(self, feature: str) -> _Flow | None:
        """The set request of ``feature`` in flight whose confirmation has not come yet."""
        flow = self._in_flight
        if (flow is not None and flow.mechanism is Mechanism.AS_FEATURE_EVENT
                and flow.change.feature == feature and not flow.tracker.done
                and flow.reported is None):
            return flow
        return None

    def _is_full_state(self, changes: tuple[Change, ...], whole: bool, now: float) -> bool:
        """Route a NOTIFY by what it is, not by which machine would take it (the routing
        rule of model/tables.py): the full state (or, per feature, its next part) only
        while the subscription waits for it, and only when the body is one: a multipart
        (or several documents) for the one-NOTIFY encoding, a single document of the
        feature the subscription's next row names for the per-feature one. A single
        document of a feature whose set request is in flight is that request's
        confirmation, unless the answers show the server took the SUBSCRIBE first."""
        if self.subscription is None or not changes:
            return False
        self._follow_encoding(whole, changes[0].feature, now)
        sub = self.subscription
        if not sub.table.allows(sub.state, Input.SERVER_SENDS_NOTIFY):
            return False
        expected = sub.table.transition(sub.state, Input.SERVER_SENDS_NOTIFY).feature
        if whole:
            return expected is None
        if expected is None or expected.value != changes[0].feature:
            return False
        flow = self._awaiting_confirmation(changes[0].feature)
        if flow is None:
            return True
        # the set request left with the subscription Active, so this exchange began after it
        return subscribe_answered_first(sub, flow.tracker)

    def _follow_policy(self, flow: _Flow, confirm: Input, now: float) -> None:
        """The phone cannot know the server's policy: the confirming NOTIFY tells it. Move
        the flow onto the table of the policy that NOTIFY reveals (same steps so far)."""
        mode = PolicyMode.REJECT if confirm is Input.SERVER_SENDS_NOTIFY_OLD_STATE else (
            PolicyMode.ACCEPT)
        rebased = self._rebase(flow.tracker,
                               machines_for(self.profile.with_policy(mode))[flow.tracker.key])
        if rebased is not None and rebased.allows(confirm):
            flow.tracker = rebased
            self.info("policy-observed", now, policy=mode.value, change=flow.change.describe())

    def _rebase(self, tracker: FlowTracker, table: TransitionTable,
                rename: dict[str, str] | None = None) -> FlowTracker | None:
        """``tracker`` moved onto ``table``, another variant of the same machine (the policy,
        challenge or full-state encoding the peer turned out to use): at the same state (or
        its ``rename``), history kept. None when ``table`` has no such state."""
        state = (rename or {}).get(tracker.state, tracker.state)
        if state not in table.states:
            return None
        rebased = FlowTracker(table, role=Party.PHONE, state=state, record=tracker.record)
        rebased.steps = tracker.steps
        return rebased

    def _follow_encoding(self, whole: bool, feature: str, now: float) -> None:
        """A phone accepts either full-state encoding (protocol 1.2): follow the
        subscription table of the encoding the server turns out to use. A multipart (or
        several documents) while the table waits for one NOTIFY per feature is the
        one-NOTIFY encoding; a single document of the first feature of
        ``full_state_order`` while the table waits for one NOTIFY (and no set request of
        that feature awaits its confirmation) is the first of one NOTIFY per feature."""
        afe = self.profile.afe
        sub = self.subscription
        notify = Input.SERVER_SENDS_NOTIFY
        if afe is None or sub is None or not sub.table.allows(sub.state, notify):
            return
        expected = sub.table.transition(sub.state, notify).feature
        order = afe.notify.full_state_order.value
        if whole and expected is not None:
            encoding = FullStateEncoding.MULTIPART
            rename = {state: "AwaitingFullState" for state in sub.table.states
                      if state.startswith("Awaiting") and state.endswith("State")}
        elif (not whole and expected is None and order and order[0].value == feature
              and self._awaiting_confirmation(feature) is None):
            encoding = FullStateEncoding.PER_FEATURE
            rename = {"AwaitingFullState": f"Awaiting{order[0].camel}State"}
        else:
            return
        variant = replace(self.profile, afe=replace(afe, notify=replace(
            afe.notify, full_state=replace(afe.notify.full_state, value=encoding))))
        rebased = self._rebase(sub, machines_for(variant)[sub.key], rename)
        if rebased is not None and rebased.allows(notify):
            self.subscription = rebased
            self.info("full-state-encoding-observed", now, encoding=encoding.value)

    def _adopt(self, change: Change, cause: str, now: float) -> None:
        """The server's word on one feature: it becomes the confirmed state and the
        indicator (unless a change of that feature is still pending here)."""
        before = (self._state, self._indicator)
        self._state = self._state.applied(change)
        flow = self._in_flight
        if flow is None or flow.change.feature != change.feature:
            self._indicator = self._indicator.applied(change)
        if (self._state, self._indicator) != before:
            self.state_changed(self.user, self._state, cause, now)

    # ------------------------------------------------------------------ phone-initiated

    def _start_next(self, now: float) -> None:
        if self._in_flight is not None or not self._queue:
            return
        change = self._queue[0]
        spec = self.profile.feature(Feature(change.feature))
        mechanism = spec.mechanism(Direction.PHONE) if spec else None
        assert mechanism is not None
        if mechanism is Mechanism.AS_FEATURE_EVENT:
            sub = (self.subscriber.get(self.sub_id) if self.subscriber is not None
                   and self.sub_id is not None else None)
            if sub is None or sub.dialog is None or self.subscription is None or (
                    self.subscription.state != "Active"):
                return  # sent once the subscription is active
        self._queue.popleft()
        key = self.flow_key(change.feature, Direction.PHONE)
        assert key is not None
        flow = _Flow(change, self.tracker(key), mechanism, next(self._flow_ids))
        self._in_flight = flow
        self.step(flow.tracker, Input.PHONE_USER_CHANGE, now)
        self._indicator = self._indicator.applied(change)
        self.state_changed(self.user, self._indicator, f"pending {change.describe()}", now,
                           confirmed=False)
        if mechanism is Mechanism.AS_FEATURE_EVENT:
            self._send_set_request(flow, now)
        else:
            self._call_code(flow, now)

    def _send_set_request(self, flow: _Flow, now: float) -> None:
        afe = self.profile.afe
        assert afe is not None and self.subscriber is not None and self.sub_id is not None
        sub = self.subscriber.get(self.sub_id)
        assert sub is not None and sub.dialog is not None
        body, ctype = afe_bodies.build_set_request(afe, flow.change, self.user)
        headers = [("Event", afe.event.value), ("Expires", str(sub.requested_expires)),
                   ("Accept", afe.accept.value)]
        self.step(flow.tracker, Input.PHONE_SENDS_SUBSCRIBE_SET, now)
        key = self.ua.send_in_dialog(sub.dialog, "SUBSCRIBE", now, headers=headers, body=body,
                                     content_type=ctype)
        self._txn_flows[key] = flow

    def _code(self, change: Change) -> str:
        """The feature code that makes ``change``; ValueError when the profile has none."""
        codes = self.profile.codes
        assert codes is not None
        feature = Feature(change.feature)
        rings = change.rings if codes.has_timer(feature) else None
        action = Action.ACTIVATE if change.on else Action.DEACTIVATE
        return codes.code_for(feature, action, change.target, rings)

    def _no_code(self, change: Change) -> str | None:
        """Why the profile has no feature code for ``change`` (None: it has one)."""
        try:
            self._code(change)
        except ValueError as error:
            return str(error)
        return None

    def _call_code(self, flow: _Flow, now: float) -> None:
        codes = self.profile.codes
        assert codes is not None
        change = flow.change
        if change.rings is not None and not codes.has_timer(Feature(change.feature)):
            self.problem("CODE-NO-RING-COUNT", f"{self.profile.id} has no {change.feature} code "
                         "that carries a ring count: the server keeps its own", now,
                         severity="info")
        code = self._code(change)  # user_change dropped a change without one
        uri = f"sip:{uri_user(code)}@{hostport(self.server)}"
        offer = make_offer(self.ua.local.host, 4000 + 2 * (flow.id % 1000), flow.id)
        request = self.ua.build_request("INVITE", uri, from_uri=self.aor, body=offer,
                                        content_type="application/sdp")
        self.step(flow.tracker, Input.PHONE_SENDS_INVITE, now)
        flow.invite = self.ua.send_request(request, self.server, now)
        self._txn_flows[flow.invite] = flow

    def _on_flow_response(self, flow: _Flow, event: ResponseReceived, now: float) -> None:
        response = event.response
        method = event.request.method
        if method == "SUBSCRIBE":
            if response.is_provisional:
                return
            self._txn_flows.pop(event.transaction, None)
            if response.is_success:
                self.step(flow.tracker, Input.SERVER_SENDS_2XX, now)
                wait = self.profile.afe.set_request.confirm_timeout if self.profile.afe else None
                if wait is not None and not flow.tracker.done:
                    self.deadlines.set(f"confirm:{flow.id}", now + float(wait.value))
            else:
                self.step(flow.tracker, Input.SERVER_SENDS_ERROR, now)
                self.problem("SET-REQUEST-REFUSED", f"{flow.change.describe()}: server answered "
                             f"{response.status} {response.reason}", now, severity="warning")
        elif method == "INVITE":
            if event.retransmission:
                return
            if response.is_provisional:
                if flow.tracker.allows(Input.SERVER_SENDS_1XX):
                    self.step(flow.tracker, Input.SERVER_SENDS_1XX, now)
                if f"ringing:{flow.id}" not in self.deadlines:
                    # Timer B stops at the first provisional (RFC 3261 17.1.1.2): a
                    # background call rings 64*T1 at most, then the phone gives up
                    self.deadlines.set(f"ringing:{flow.id}", now + self.ua.timer_config.timeout)
                return
            self._txn_flows.pop(event.transaction, None)
            self.deadlines.cancel(f"ringing:{flow.id}")
            flow.invite = None
            if response.is_success:
                self.step(flow.tracker, Input.SERVER_SENDS_2XX, now)
                dialog = self.ua.create_uac_dialog(response)
                self.ua.ack(response, now, dialog=dialog)
                self.step(flow.tracker, Input.PHONE_SENDS_ACK, now)
                # a background call: hang up at once (protocol 3)
                self.step(flow.tracker, Input.PHONE_SENDS_BYE, now)
                self._txn_flows[self.ua.send_in_dialog(dialog, "BYE", now)] = flow
                return
            codes = self.profile.codes
            if response.status in (401, 407):
                input = Input.SERVER_SENDS_CHALLENGE
            elif codes is not None and codes.executes(response.status):
                input = Input.SERVER_SENDS_FINAL_EXECUTED
            else:
                input = Input.SERVER_SENDS_ERROR
                self.problem("CODE-REFUSED", f"{flow.change.describe()}: PBX answered "
                             f"{response.status} {response.reason}", now, severity="warning")
            self.step(flow.tracker, input, now)
        elif method == "BYE":
            if response.is_provisional:
                return
            self._txn_flows.pop(event.transaction, None)
            self.step(flow.tracker, Input.SERVER_SENDS_2XX if response.is_success
                      else Input.SERVER_SENDS_ERROR, now)
        self._check_done(now)

    def _on_ringing_timer(self, name: str, now: float) -> None:
        """The code INVITE got provisionals and no final answer for 64*T1: CANCEL it (RFC
        3261 9.1) and end the flow failed; a final answer that still comes is absorbed."""
        flow = self._in_flight
        if flow is None or name != f"ringing:{flow.id}" or flow.invite is None or (
                not flow.tracker.allows(Input.PHONE_TIMEOUT)):
            return
        with contextlib.suppress(TransactionError):  # the transaction ended meanwhile
            self.ua.cancel(flow.invite, now)
        self.problem("CODE-NO-ANSWER", f"{flow.change.describe()}: the PBX rang for "
                     f"{self.ua.timer_config.timeout:g} s without answering; cancelled", now,
                     severity="warning")
        self.step(flow.tracker, Input.PHONE_TIMEOUT, now)
        self._check_done(now)

    def _on_confirm_timer(self, name: str, now: float) -> None:
        flow = self._in_flight
        if flow is None or name != f"confirm:{flow.id}" or flow.tracker.done:
            return
        self.problem("CONFIRM-TIMEOUT", f"{flow.change.describe()}: no confirming NOTIFY",
                     now)
        if flow.tracker.allows(Input.PHONE_TIMEOUT):
            self.step(flow.tracker, Input.PHONE_TIMEOUT, now)
        self._check_done(now)

    def _fail_in_flight(self, now: float, why: str) -> None:
        flow = self._in_flight
        if flow is None or flow.tracker.done:
            return
        if flow.tracker.allows(Input.PHONE_TIMEOUT):
            self.step(flow.tracker, Input.PHONE_TIMEOUT, now)
            self.problem("CHANGE-ABANDONED", f"{flow.change.describe()}: {why}", now,
                         severity="warning")
        self._check_done(now)

    def _check_done(self, now: float) -> None:
        flow = self._in_flight
        if flow is not None and flow.tracker.done:
            self._finish(flow, now)

    def _finish(self, flow: _Flow, now: float) -> None:
        """A change ended: Synced keeps it, Reverted and Failed put the indicator back."""
        self._in_flight = None
        self.deadlines.cancel(f"confirm:{flow.id}")
        self.deadlines.cancel(f"ringing:{flow.id}")
        for key in [k for k, f in self._txn_flows.items() if f is flow]:
            del self._txn_flows[key]
        end = flow.tracker.state
        feature = flow.change.feature
        # the local changes made meanwhile came after this change: replay them on its outcome
        state = self._state if flow.before_local is None else flow.before_local
        if flow.reported is not None:
            state = state.applied(flow.reported)
        elif end != FAILED and flow.mechanism is Mechanism.FEATURE_CODE:
            state = state.applied(flow.change)
        for change in flow.local:
            state = state.applied(change)
        self._state = replace(self._state, **{feature: getattr(state, feature)})
        # the indicator shows the feature exactly as the state has it: applying the state
        # as a change would keep the number and ring count of a refused change
        self._indicator = replace(self._indicator, **{feature: getattr(self._state, feature)})
        self.state_changed(self.user, self._state, f"{end.lower()} {flow.change.describe()}",
                           now)
        self._start_next(now)

    # ------------------------------------------------------------------ UA events

    def handle_ua_event(self, event: UaEvent, now: float) -> None:
        if isinstance(event, SubscriptionAccepted | NotifyReceived | RefreshFailed
                      | SubscriptionTerminated):
            self._on_subscription_event(event, now)
        elif isinstance(event, ResponseReceived):
            if event.transaction == self._reg_txn:
                self._on_register_response(event, now)
                return
            flow = self._txn_flows.get(event.transaction)
            if flow is not None:
                self._on_flow_response(flow, event, now)
            elif (event.request.method == "INVITE" and event.response.is_success
                  and not event.retransmission):
                # a code call answered after the phone gave up on it (CANCEL crossed the
                # 2xx): ACK it, then hang up (RFC 3261 9.1, 15)
                dialog = self.ua.create_uac_dialog(event.response)
                self.ua.ack(event.response, now, dialog=dialog)
                self.ua.send_in_dialog(dialog, "BYE", now)
        elif isinstance(event, AuthenticationRetry):
            if event.old == self._reg_txn:
                # challenged (again, with a new nonce): the UA sent the credentials at once
                self._registration_step(Input.SERVER_SENDS_CHALLENGE, now)
                self._registration_step(Input.PHONE_SENDS_UNREGISTER
                                        if _expires_zero(event.request)
                                        else Input.PHONE_SENDS_REGISTER, now)
                self._reg_txn = event.new
                self._reg_cseq = max(self._reg_cseq, event.request.cseq.seq)
                return
            flow = self._txn_flows.pop(event.old, None)
            if flow is not None:
                self.step(flow.tracker, Input.SERVER_SENDS_CHALLENGE, now)
                self.step(flow.tracker, Input.PHONE_SENDS_INVITE, now)
                self.deadlines.cancel(f"ringing:{flow.id}")
                flow.invite = event.new
                self._txn_flows[event.new] = flow
        elif isinstance(event, TransactionTimeout | TransportFailure):
            key = event.transaction
            if key is not None and key == self._reg_txn:
                self._reg_txn = None
                self._registration_step(Input.PHONE_TIMEOUT, now)
                if self.registration.state == "Unregistered":  # a de-REGISTER
                    self._registration_ended(now)
                elif self._online:
                    self._retry_register(now, "REGISTER got no answer")
                return
            flow = self._txn_flows.pop(key, None) if key is not None else None
            if flow is not None:
                if flow.tracker.allows(Input.PHONE_TIMEOUT):
                    self.step(flow.tracker, Input.PHONE_TIMEOUT, now)
                self._check_done(now)
        elif isinstance(event, RequestReceived):
            self._on_request(event, now)
        elif (isinstance(event, AckReceived) and self._uacsta is not None
              and self._uacsta.allows(Input.SERVER_SENDS_ACK)):
            self.step(self._uacsta, Input.SERVER_SENDS_ACK, now)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        method = event.request.method
        uacsta = self.profile.uacsta
        if method == "INVITE" and uacsta is not None and event.request.to_tag is None:
            self._uacsta = self.tracker(MachineKey(self.profile.id, FlowKind.UACSTA_SESSION))
            self.step(self._uacsta, Input.SERVER_SENDS_INVITE, now)
            self.ua.create_uas_dialog(event.transaction)
            self.ua.reply(event.transaction, 200, now, contact=True)
            self.step(self._uacsta, Input.PHONE_SENDS_200, now)
        elif method == "INFO" and uacsta is not None:
            self._on_info(event, now)
        elif method in ("OPTIONS", "BYE"):
            self.ua.reply(event.transaction, 200, now, headers=[("Allow", _ALLOW)])
        elif method == "INVITE":
            self.ua.reply(event.transaction, 486, now)
        else:
            self.ua.reply(event.transaction, 405, now, headers=[("Allow", _ALLOW)])

    def _on_info(self, event: RequestReceived, now: float) -> None:
        """uaCSTA: MonitorStart opens monitoring; a DND event is answered and ignored."""
        uacsta = self.profile.uacsta
        assert uacsta is not None
        result = csta.parse(event.request.body) if event.request.body else None
        root = result.document.root if result is not None else ""
        session = self._uacsta
        if session is not None and session.allows(Input.SERVER_SENDS_INFO) and (
                root == csta.MONITOR_START):
            self.step(session, Input.SERVER_SENDS_INFO, now)
            self.ua.reply(event.transaction, 200, now,
                          body=csta.build_monitor_start_response(str(self.rng.randint(1, 999))),
                          content_type=uacsta.content_type.value)
            self.step(session, Input.PHONE_SENDS_200, now)
            return
        key = self.flow_key("dnd", Direction.SERVER)
        tracker = self.tracker(key) if key is not None else None
        if tracker is not None:
            self.step(tracker, Input.SERVER_SENDS_INFO, now)
        self.ua.reply(event.transaction, uacsta.info_answer.value, now)
        if tracker is not None:
            self.step(tracker, Input.PHONE_SENDS_200, now)
        dnd = result.document.do_not_disturb_on if result is not None else None
        self.info("uacsta-ignored", now, root=root, dnd=dnd,
                  note="informational: the phone keeps its state (guide note on 3CX)")
