"""The reference server: registrar, as-feature-event notifier, feature-code PBX, uaCSTA sender.

One sans-IO endpoint plays whichever server a profile describes:

* a registrar (digest challenge when the profile says so);
* for ``as-feature-event`` systems, an RFC 6665 notifier that answers a body-less SUBSCRIBE
  with the full state (one multipart NOTIFY or one per feature), takes set requests (a
  SUBSCRIBE with a body) under the profile's policy, and fans every change out to **every**
  subscription of the user with a NOTIFY carrying only the affected feature (protocol 1.2);
* for ``feature-code`` systems, a PBX that answers an INVITE to a code with 200 and an SDP
  answer, takes ACK and BYE, and applies the code;
* for 3CX, a uaCSTA session (INVITE, MonitorStart) and an INFO per DND change, which the
  phone answers without changing its state.

Each exchange steps a tracker on the model's table of its flow; the tables decide what may
follow what, this module only knows how to build and read the messages. NOTIFYs go out one
at a time per subscription, so a slow phone never sees them reordered.
"""
from __future__ import annotations

import functools
import random
from collections import deque
from dataclasses import dataclass

from fsync_model.agents import afe as afe_bodies
from fsync_model.agents.base import AgentCore, EarlyHook
from fsync_model.agents.control import RefusedCommand
from fsync_model.agents.events import Observer
from fsync_model.agents.state import Change, FeatureName, FeatureState
from fsync_model.bodies import csta
from fsync_model.bodies.feature_event import BODY_CONTENT_TYPE, BodyError
from fsync_model.model import FlowKind, FlowTracker, Input, MachineKey, Party, machines_for
from fsync_model.profile import Action, Direction, Feature, Mechanism, PolicyMode, Profile
from fsync_model.sip.auth import Challenge, Verification, verify
from fsync_model.sip.dialog import Dialog
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_uri
from fsync_model.sip.message import Request
from fsync_model.sip.sdp import make_answer, make_offer
from fsync_model.sip.subscription import (
    Notifier,
    SubscribeReceived,
    SubscriptionEnded,
    SubscriptionId,
)
from fsync_model.sip.timers import TimerConfig
from fsync_model.sip.transaction import TransactionKey
from fsync_model.sip.useragent import (
    AckReceived,
    AckTimeout,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportFailure,
    UaEvent,
)
from fsync_model.transport.address import Address

DEFAULT_PASSWORD = "fsync"
#: how many challenge nonces the registrar remembers (the oldest are forgotten: bounded
#: memory however many phones register; a phone whose nonce was forgotten is challenged
#: again with stale=true, RFC 7616 3.3)
MAX_NONCES = 10_000
#: a code call not answered 2xx (challenged, and the phone never sent the authenticated
#: INVITE) is forgotten after this long without a request: 64*T1 twice over
ABANDONED_UNANSWERED = 64.0
#: an answered code call whose BYE never came (the phone crashed) is forgotten after this
ABANDONED_ANSWERED = 3600.0
_ALLOW = "REGISTER, SUBSCRIBE, NOTIFY, INVITE, ACK, BYE, CANCEL, INFO, OPTIONS"


@dataclass(eq=False)
class _Outgoing:
    """A NOTIFY or INFO waiting for its answer: the tracker it advances."""

    tracker: FlowTracker | None
    sent: Input


@dataclass(eq=False, slots=True)
class _Subscription:
    """One as-feature-event subscription as the server keeps it. ``queue`` holds the
    NOTIFYs waiting for the one in flight: made when one has to wait (an empty deque is
    600 bytes, and most subscriptions never have a NOTIFY waiting)."""

    id: SubscriptionId
    user: str
    tracker: FlowTracker
    queue: deque[tuple[bytes, str, FlowTracker | None, Input]] | None = None
    in_flight: TransactionKey | None = None


@dataclass(eq=False)
class _CodeCall:
    """A feature-code INVITE dialog."""

    user: str
    tracker: FlowTracker
    change: Change | None
    #: the profile (policy) in force when the call started: the call is answered under it,
    #: as its tracker follows its table, whatever the policy becomes meanwhile
    profile: Profile
    #: the CSeq of the INVITE answered 2xx: the first ACK with it steps the tracker
    answered: int | None = None
    acked: bool = False
    #: the 2xx was resent for 64*T1 without an ACK (the UA stopped resending it)
    unacked: bool = False
    #: when the last request of the call arrived (abandoned calls are forgotten)
    touched: float = 0.0


def _set_key(request: Request) -> tuple[str, int, str | None]:
    return request.call_id, request.cseq.seq, request.top_via.branch


@functools.lru_cache(maxsize=1024)
def _user_of(uri_text: str) -> str:
    """The user part of a URI ("" when it does not parse); a flow names its user's URI in
    every request, so the answer is remembered."""
    try:
        return parse_uri(uri_text, "URI").unescaped_user or ""
    except SipParseError:
        return ""


class ReferenceServer(AgentCore):
    """The reference server of one profile (see the module docstring)."""

    party = Party.SERVER

    def __init__(
        self,
        profile: Profile,
        *,
        rng: random.Random,
        observer: Observer | None = None,
        policy: str | None = None,
        policy_status: int | None = None,
        local: Address | None = None,
        password: str = DEFAULT_PASSWORD,
        timers: TimerConfig | None = None,
        log_messages: bool = True,
        keep_messages: bool = True,
        keep_steps: bool = True,
        log_steps: bool = True,
        overload_delay: float | None = None,
        max_transactions: int | None = None,
    ) -> None:
        if policy is not None:
            profile = profile.with_policy(PolicyMode(policy), policy_status)
        super().__init__(profile, local=local or Address("udp", "127.0.0.1", 5060), rng=rng,
                         observer=observer, user="server", timers=timers,
                         log_messages=log_messages, keep_messages=keep_messages,
                         keep_steps=keep_steps, log_steps=log_steps,
                         ua_options={"respond_to_source": True,
                                     "overload_delay": overload_delay,
                                     "max_transactions": max_transactions})
        self.password = password
        self._states: dict[str, FeatureState] = {}
        self._policies: dict[str, Profile] = {}
        #: user -> where the phone registered from
        self.registrations: dict[str, Address] = {}
        self._registration_trackers: dict[str, FlowTracker] = {}
        #: the nonces of our challenges, oldest first, at most MAX_NONCES (a dict as an
        #: ordered set): credentials with a forgotten nonce get a new one, stale=true
        self._nonces: dict[str, None] = {}
        self._subs: dict[SubscriptionId, _Subscription] = {}
        #: user -> that user's subscriptions (a change fans out to them without a scan;
        #: a list: a user has one or two, and a dict each is 230 bytes)
        self._user_subs: dict[str, list[_Subscription]] = {}
        self._outgoing: dict[TransactionKey, tuple[_Subscription | None, _Outgoing]] = {}
        #: the set request screened and handed to the notifier (at most one: the notifier
        #: accepts or refuses it in the same cycle), keyed by Call-ID, CSeq and branch
        self._pending_sets: dict[tuple[str, int, str | None], Change] = {}
        self._calls: dict[str, _CodeCall] = {}
        #: sweep abandoned calls when this many are kept (amortised O(1) a call)
        self._sweep_calls_at = 64
        self._uacsta_sessions: dict[str, tuple[FlowTracker, Dialog | None]] = {}
        #: DND changes held while the user's session INVITE is unanswered (an INFO belongs
        #: in the session's dialog, RFC 6086 2; sent once it is set up or has failed)
        self._uacsta_held: dict[str, list[Change]] = {}
        #: session INVITE in flight -> its user and its session's tracker (a session the
        #: user's next registration superseded keeps its own, and its answer is ended apart)
        self._session_invites: dict[TransactionKey, tuple[str, FlowTracker]] = {}
        self.ua.add_extension(EarlyHook(self.early_event))  # before the notifier
        self.notifier: Notifier | None = None
        self._bodies: afe_bodies.NotifyBodies | None = None
        if profile.afe is not None:
            afe = profile.afe
            self.notifier = Notifier(self.ua, [afe.event.value],
                                     accept_status=afe.subscribe.answer.value,
                                     default_expires=afe.subscribe.expires.value,
                                     min_expires=None, keep_requests=False)

    # ------------------------------------------------------------------ API

    def state(self, user: str) -> FeatureState:
        return self._states.get(user, FeatureState())

    def users(self) -> list[str]:
        known = set(self._states) | set(self.registrations) | {s.user for s in
                                                               self._subs.values()}
        return sorted(known)

    def set_policy(self, user: str | None, policy: str, status: int | None = None) -> None:
        mode = PolicyMode(policy)
        if user is None:
            self.profile = self.profile.with_policy(mode, status)
            self.tables = machines_for(self.profile)
            self._policies.clear()
        else:
            self._policies[user] = self.profile.with_policy(mode, status)

    def admin_change(self, user: str, change: Change, now: float) -> None:
        """A change on the server (portal, API): apply, then notify per the profile.

        Raises `RefusedCommand` (nothing changed, nothing sent) for a no-answer ring count
        outside the profile's range: its NOTIFY would carry a body the phone must refuse."""
        afe = self.profile.afe
        if afe is not None and change.rings is not None and change.rings not in afe.ring_count:
            raise RefusedCommand(
                f"{change.describe()}: ring count {change.rings} is outside "
                f"{afe.ring_count.min.value}-{afe.ring_count.max.value}, the range "
                f"{self.profile.id} takes; nothing was changed")
        self.now = now
        self._apply(user, change, "admin", now)
        feature = change.feature
        spec = self.profile.feature(Feature(feature))
        mechanism = spec.mechanism(Direction.SERVER) if spec else None
        if mechanism is Mechanism.AS_FEATURE_EVENT:
            self._fan_out(user, feature, now, exclude=None)
        elif mechanism is Mechanism.UACSTA:
            self._send_uacsta_info(user, change, now)
        self._pump(now)

    # ------------------------------------------------------------------ helpers

    def _profile_for(self, user: str) -> Profile:
        return self._policies.get(user, self.profile)

    def _flow_tracker(self, user: str, feature: str, direction: Direction) -> FlowTracker | None:
        key = self.flow_key(feature, direction)
        if key is None:
            return None
        own = self._policies.get(user)
        tables = self.tables if own is None else machines_for(own)
        return FlowTracker(tables[key], role=Party.SERVER, record=self.record_steps)

    def _notify_bodies(self) -> afe_bodies.NotifyBodies:
        """The NOTIFY bodies of the profile's as-feature-event settings (built once)."""
        afe = self.profile.afe
        assert afe is not None
        if self._bodies is None or self._bodies.afe is not afe:
            self._bodies = afe_bodies.NotifyBodies(afe)
        return self._bodies

    def _lifecycle(self, kind: FlowKind) -> FlowTracker:
        return self.tracker(MachineKey(self.profile.id, kind))

    def _apply(self, user: str, change: Change, cause: str, now: float) -> None:
        self._states[user] = self.state(user).applied(change)
        self.state_changed(user, self._states[user], cause, now)

    # ------------------------------------------------------------------ UA extension hook

    def early_event(self, event: UaEvent, now: float) -> bool:
        """Seen before the notifier: screens set requests, watches NOTIFY/INFO answers."""
        if isinstance(event, RequestReceived) and event.request.method == "SUBSCRIBE":
            if event.request.body:
                return self._screen_set_request(event, now)
            return False
        if isinstance(event, ResponseReceived) and not event.response.is_provisional:
            entry = self._outgoing.pop(event.transaction, None)
            if entry is not None:
                sub, outgoing = entry
                ok = event.response.is_success
                if outgoing.tracker is not None:
                    self.step(outgoing.tracker, Input.PHONE_SENDS_200 if ok
                              else Input.PHONE_SENDS_ERROR, now)
                if not ok:
                    self.problem("PHONE-REFUSED", f"the phone answered {event.response.status} "
                                 f"{event.response.reason} to {event.request.method}", now,
                                 evidence=event.response.start_line)
                if sub is not None:
                    sub.in_flight = None
                    if event.response.status == 481:
                        # RFC 6665 4.2.2: the notifier (next to see this) removes the
                        # subscription; nothing more goes out on it
                        sub.queue = None
                    self._send_next(sub, now)
            return False
        if isinstance(event, TransactionTimeout | TransportFailure) and event.transaction:
            entry = self._outgoing.pop(event.transaction, None)
            if entry is not None:
                sub, outgoing = entry
                if outgoing.tracker is not None:
                    self.step(outgoing.tracker, Input.SERVER_TIMEOUT, now)
                self.problem("PHONE-TIMEOUT", "no answer to our request", now)
                if sub is not None:
                    # RFC 6665 4.2.2: an unanswered NOTIFY ends the subscription (the
                    # notifier, next to see this, removes it): nothing more goes out on it
                    sub.in_flight = None
                    sub.queue = None
        return False

    def _supersede(self, sub: _Subscription) -> None:
        """The full state ``sub`` has under way is over (a refresh starts it again, an
        unsubscribe or the notifier ended it): the parts not yet sent are dropped and the
        answer to the one outstanding no longer steps the subscription's machine."""
        if sub.queue:
            kept = deque(entry for entry in sub.queue if entry[2] is not sub.tracker)
            sub.queue = kept or None
        if sub.in_flight is not None:
            entry = self._outgoing.get(sub.in_flight)
            if entry is not None and entry[1].tracker is sub.tracker:
                entry[1].tracker = None

    def _screen_set_request(self, event: RequestReceived, now: float) -> bool:
        """A SUBSCRIBE with a body is a set request (protocol 1.1). Answer errors here;
        let the notifier accept the good ones (it answers 2xx, then we confirm)."""
        request = event.request
        afe = self.profile.afe
        if afe is None:
            return False
        event_header = request.event
        if event_header is None or event_header.value.lower() != afe.event.value.lower():
            return False  # not our package: the notifier answers 489
        user = _user_of(request.from_addr.uri)
        profile = self._profile_for(user)
        accept = [("Accept", afe.accept.value)]
        ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip()
        if ctype.lower() != afe.content_type.value.lower():
            message = (f"a set request is {afe.content_type.value}, not "
                       f"{ctype or 'a body without Content-Type'}")
            self.problem(BODY_CONTENT_TYPE, message, now, evidence=ctype or None)
            self.ua.reply(event.transaction, 415, now, f"Unsupported Media Type: {message}",
                          headers=accept)
            return True
        try:
            change, findings = afe_bodies.parse_set_request(afe, request.body)
        except BodyError as error:
            for finding in error.findings:
                self.problem(finding.rule, finding.message, now, severity=finding.severity,
                             evidence=finding.evidence)
            self.ua.reply(event.transaction, error.status, now, error.reason,
                          headers=accept if error.status == 415 else ())
            return True
        for finding in findings:
            self.problem(finding.rule, finding.message, now, severity=finding.severity,
                         evidence=finding.evidence)
        if profile.policy.mode.value is PolicyMode.ERROR:
            tracker = self._flow_tracker(user, change.feature, Direction.PHONE)
            if tracker is not None:
                self.step(tracker, Input.PHONE_SENDS_SUBSCRIBE_SET, now)
            status = profile.policy.error_status.value
            self.ua.reply(event.transaction, status, now, "Rejected by policy")
            if tracker is not None:
                self.step(tracker, Input.SERVER_SENDS_ERROR, now)
            return True
        # replaced, not added to: one the notifier refused (481, 423...) must neither pile
        # up nor be taken later for a body-less SUBSCRIBE with the same Call-ID and CSeq
        self._pending_sets = {_set_key(request): change}
        return False

    # ------------------------------------------------------------------ TU events

    def handle_ua_event(self, event: UaEvent, now: float) -> None:
        if isinstance(event, SubscribeReceived):
            self._on_subscribe(event, now)
        elif isinstance(event, SubscriptionEnded):
            sub = self._subs.pop(event.subscription, None)
            if sub is not None:
                self._supersede(sub)
                mine = self._user_subs.get(sub.user, [])
                if sub in mine:
                    mine.remove(sub)
                if not mine:
                    self._user_subs.pop(sub.user, None)
            if sub is not None and event.reason == "unsubscribed":
                for step in (Input.PHONE_SENDS_UNSUBSCRIBE, Input.SERVER_SENDS_2XX,
                             Input.SERVER_SENDS_NOTIFY_TERMINATED):
                    self.step(sub.tracker, step, now)
            if sub is not None:
                self.info("subscription-ended", now, user=sub.user, reason=event.reason)
        elif isinstance(event, RequestReceived):
            method = event.request.method
            if method == "REGISTER":
                self._on_register(event, now)
            elif method == "INVITE":
                self._on_invite(event, now)
            elif method == "BYE":
                self._on_bye(event, now)
            elif method == "OPTIONS":
                self.ua.reply(event.transaction, 200, now, headers=[("Allow", _ALLOW)])
            elif method == "SUBSCRIBE":
                # Allow lists SUBSCRIBE: this server has no event package (no notifier), so
                # the package is what is refused (RFC 6665 8.3.2), not the method
                self.ua.reply(event.transaction, 489, now)
            else:
                self.ua.reply(event.transaction, 405, now, headers=[("Allow", _ALLOW)])
        elif isinstance(event, AckReceived):
            self._on_ack(event, now)
        elif isinstance(event, AckTimeout):
            self._on_ack_timeout(event, now)
        elif isinstance(event, ResponseReceived):
            self._on_uacsta_response(event, now)
        elif isinstance(event, TransactionTimeout | TransportFailure) and event.transaction:
            self._on_uacsta_timeout(event.transaction, now)

    # ------------------------------------------------------------------ registrar

    def _challenge_ok(self, event: RequestReceived, status: int, now: float, *,
                      again: bool = False) -> bool:
        """Digest-check ``event``'s request; challenge it (and return False) when needed.

        Credentials refused (wrong password) are challenged with their own nonce again, so
        a UA stops there (RFC 3261 22.2); good credentials with a nonce we do not know (or
        ``again``: credentials that answer no challenge of ours) get a new nonce and
        ``stale=true`` (RFC 7616 3.3), which a UA answers at once."""
        header = "Authorization" if status == 401 else "Proxy-Authorization"
        value = event.request.headers.get(header)
        stale = False
        nonce: str | None = None
        if value is not None:
            try:
                result = verify(value, event.request.method, lambda user, realm: self.password,
                                header=header)
            except UnicodeError:  # credentials that are not UTF-8 cannot be hashed
                result = Verification(False, None, "credentials are not UTF-8")
            sent = result.credentials.nonce if result.credentials else None
            if result.ok and sent in self._nonces and not again:
                return True
            if not result.ok:
                self.problem("DIGEST-REFUSED", f"credentials refused: {result.reason}", now,
                             severity="warning")
                nonce = sent if sent in self._nonces else None
            else:
                stale = True
        realm = self.profile.registration.realm
        if nonce is None:
            nonce = f"{self.rng.getrandbits(64):016x}"
            self._nonces[nonce] = None
            if len(self._nonces) > MAX_NONCES:  # forget the oldest: its user is re-challenged
                del self._nonces[next(iter(self._nonces))]
        challenge = Challenge(realm.value if realm else "fsync", nonce, qop=("auth",),
                              stale=stale)
        name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        self.ua.reply(event.transaction, status, now, headers=[(name, challenge.to_header())])
        return False

    def _registration_tracker(self, user: str, input: Input, credentials: bool) -> FlowTracker:
        """The registration tracker of ``user`` ready to take ``input``, classified by what
        the REGISTER carries: without credentials it refreshes a registration or starts a
        new attempt (whatever became of the last one: abandoned, lost, refused on the way);
        with credentials it answers the last challenge, or refreshes a registration (sent
        without waiting for a challenge). A de-REGISTER that fits nowhere is about whatever
        binding there is: it starts from Registered."""
        tracker = self._registration_trackers.get(user)
        if tracker is not None and tracker.allows(input) and (
                tracker.state == "Registered"
                or credentials == tracker.state.endswith("Challenged")):
            return tracker
        table = self.tables[MachineKey(self.profile.id, FlowKind.REGISTRATION)]
        tracker = FlowTracker(table, role=Party.SERVER, record=self.record_steps, state=(
            "Registered" if input is Input.PHONE_SENDS_UNREGISTER else None))
        self._registration_trackers[user] = tracker
        return tracker

    def _on_register(self, event: RequestReceived, now: float) -> None:
        request = event.request
        user = _user_of(request.to_addr.uri)
        try:
            expires = request.expires
            if expires is None and request.contacts:
                expires = request.contacts[0].expires
        except SipParseError as error:
            self.ua.reply(event.transaction, error.status, now, error.reason)
            return
        if expires is None:
            expires = self.profile.registration.expires.value
        input = Input.PHONE_SENDS_UNREGISTER if expires == 0 else Input.PHONE_SENDS_REGISTER
        challenge = self.profile.registration.challenge.value
        credentials = challenge is not None and request.headers.get(
            "Authorization" if challenge == 401 else "Proxy-Authorization") is not None
        tracker = self._registration_tracker(user, input, credentials)
        self.step(tracker, input, now)
        # credentials that answer no challenge of ours, where the table wants one first
        again = credentials and not tracker.allows(Input.SERVER_SENDS_2XX)
        if challenge and not self._challenge_ok(event, challenge, now, again=again):
            self.step(tracker, Input.SERVER_SENDS_CHALLENGE, now)
            return
        contact = request.headers.get("contact")
        headers = [("Contact", f"{contact};expires={expires}")] if contact and expires else []
        self.ua.reply(event.transaction, 200, now, headers=[*headers, ("Expires", str(expires))])
        self.step(tracker, Input.SERVER_SENDS_2XX, now)
        if expires == 0:
            self.registrations.pop(user, None)
            self.info("unregistered", now, user=user)
            return
        first = user not in self.registrations
        self.registrations[user] = event.src
        self.info("registered", now, user=user, contact=str(event.src), expires=expires)
        if first and self.profile.uacsta is not None and self.profile.uacsta.session_setup.value:
            self._start_uacsta_session(user, now)

    # ------------------------------------------------------------------ as-feature-event

    def _on_subscribe(self, event: SubscribeReceived, now: float) -> None:
        request = event.request
        user = _user_of(request.from_addr.uri)
        sub = self._subs.get(event.subscription)
        if sub is None:
            sub = _Subscription(event.subscription, user,
                                self._lifecycle(FlowKind.SUBSCRIPTION))
            self._subs[event.subscription] = sub
            self._user_subs.setdefault(user, []).append(sub)
        change = self._pending_sets.pop(_set_key(request), None)
        if change is not None:
            self._on_set_request(sub, change, now)
            return
        self._supersede(sub)  # a refresh crossing the full state: it starts over
        self.step(sub.tracker, Input.PHONE_SENDS_SUBSCRIBE, now)
        self.step(sub.tracker, Input.SERVER_SENDS_2XX, now)
        for body, ctype in self._notify_bodies().full_state(self.state(user), user):
            self._queue(sub, body, ctype, sub.tracker, Input.SERVER_SENDS_NOTIFY, now)
        self.info("subscribed" if event.initial else "refreshed", now, user=user,
                  expires=event.expires)

    def _on_set_request(self, sub: _Subscription, change: Change, now: float) -> None:
        user = sub.user
        profile = self._profile_for(user)
        tracker = self._flow_tracker(user, change.feature, Direction.PHONE)
        if tracker is not None:
            self.step(tracker, Input.PHONE_SENDS_SUBSCRIBE_SET, now)
            self.step(tracker, Input.SERVER_SENDS_2XX, now)
        bodies = self._notify_bodies()
        if profile.policy.mode.value is PolicyMode.REJECT:
            # protocol 1.2: accepted, not applied; the confirming NOTIFY carries the old state
            body, ctype = bodies.change(self.state(user), change.feature, user)
            self._queue(sub, body, ctype, tracker, Input.SERVER_SENDS_NOTIFY_OLD_STATE, now)
            self.info("policy-rejected", now, user=user, change=change.describe())
            return
        self._apply(user, change, "set-request", now)
        body, ctype = bodies.change(self.state(user), change.feature, user)
        self._queue(sub, body, ctype, tracker, Input.SERVER_SENDS_NOTIFY, now)
        self._fan_out(user, change.feature, now, exclude=sub)

    def _fan_out(self, user: str, feature: FeatureName, now: float,
                 exclude: _Subscription | None) -> None:
        """A change NOTIFY with only ``feature`` to every other subscription of ``user``."""
        for sub in list(self._user_subs.get(user, ())):
            if sub is exclude:
                continue
            tracker = self._flow_tracker(user, feature, Direction.SERVER)
            if tracker is not None:
                self.step(tracker, Input.SERVER_ADMIN_CHANGE, now)
            body, ctype = self._notify_bodies().change(self.state(user), feature, user)
            self._queue(sub, body, ctype, tracker, Input.SERVER_SENDS_NOTIFY, now)

    def _queue(self, sub: _Subscription, body: bytes, ctype: str, tracker: FlowTracker | None,
               sent: Input, now: float) -> None:
        if sub.queue is None:
            sub.queue = deque()
        sub.queue.append((body, ctype, tracker, sent))
        self._send_next(sub, now)

    def _send_next(self, sub: _Subscription, now: float) -> None:
        if sub.in_flight is not None or not sub.queue or self.notifier is None:
            return
        if self.notifier.get(sub.id) is None:
            sub.queue = None
            return
        body, ctype, tracker, sent = sub.queue.popleft()
        if not sub.queue:
            sub.queue = None
        if tracker is not None and not self.step(tracker, sent, now):
            tracker = None
        key = self.notifier.notify(sub.id, now, body=body, content_type=ctype)
        sub.in_flight = key
        self._outgoing[key] = (sub, _Outgoing(tracker, sent))

    # ------------------------------------------------------------------ feature codes

    def _on_invite(self, event: RequestReceived, now: float) -> None:
        request = event.request
        if request.to_tag is not None:
            self.ua.reply(event.transaction, 200, now, contact=True)  # re-INVITE: keep the call
            return
        codes = self.profile.codes
        if codes is None:
            self.ua.reply(event.transaction, 404, now, "No feature codes on this server")
            return
        user = _user_of(request.from_addr.uri)
        try:
            dialed = parse_uri(request.uri).unescaped_user or ""
        except SipParseError as error:
            self.ua.reply(event.transaction, error.status, now, error.reason)
            return
        code = codes.parse_code(dialed)
        if code is None:
            self.problem("CODE-UNKNOWN", f"INVITE to {dialed!r}: not a feature code of "
                         f"{self.profile.id}", now, severity="warning", evidence=request.uri)
            self.ua.reply(event.transaction, 404, now, "Unknown Feature Code")
            return
        call = self._calls.get(request.call_id)
        if call is None:
            tracker = self._flow_tracker(user, code.feature.value, Direction.PHONE)
            if tracker is None:
                self.ua.reply(event.transaction, 404, now, "Feature Not Synced")
                return
            on = code.action is Action.ACTIVATE
            rings = code.rings if code.feature.value == "cfna" else None
            change = Change(code.feature.value, on, code.number if on else None,
                            rings if on else None)
            call = _CodeCall(user, tracker, change, self._profile_for(user))
            if len(self._calls) >= self._sweep_calls_at:
                self._forget_abandoned_calls(now)
            self._calls[request.call_id] = call
        call.touched = now
        self.step(call.tracker, Input.PHONE_SENDS_INVITE, now)
        challenge = codes.challenge.value
        if challenge and not self._challenge_ok(event, challenge, now):
            self.step(call.tracker, Input.SERVER_SENDS_CHALLENGE, now)
            return
        profile = call.profile
        mode = profile.policy.mode.value
        if mode is PolicyMode.ERROR:
            self.ua.reply(event.transaction, profile.policy.error_status.value, now,
                          "Rejected by policy")
            self.step(call.tracker, Input.SERVER_SENDS_ERROR, now)
            self._calls.pop(request.call_id, None)
            return
        host = self.ua.local.host
        try:
            answer = (make_answer(request.body, host, 4000, 1) if request.body
                      else make_offer(host, 4000, 1))
        except SipParseError:
            answer = make_offer(host, 4000, 1)
        self.ua.create_uas_dialog(event.transaction)
        self.ua.reply(event.transaction, 200, now, contact=True, body=answer,
                      content_type="application/sdp")
        self.step(call.tracker, Input.SERVER_SENDS_2XX, now)
        call.answered = request.cseq.seq
        if call.change is not None and mode is PolicyMode.ACCEPT:
            self._apply(user, call.change, f"feature-code {dialed}", now)
        elif call.change is not None:
            self.info("policy-rejected", now, user=user, change=call.change.describe())

    def _forget_abandoned_calls(self, now: float) -> None:
        """Drop the code calls no request came for in a long time: challenged and never
        sent again with credentials, or answered and never hung up. Nothing is sent: the
        phone gave them up (or is gone); their trackers stop where they were."""
        for call_id, call in list(self._calls.items()):
            idle = ABANDONED_ANSWERED if call.answered is not None else ABANDONED_UNANSWERED
            if now - call.touched > idle:
                del self._calls[call_id]
                self.info("code-call-abandoned", now, user=call.user, call_id=call_id,
                          state=call.tracker.state)
        self._sweep_calls_at = max(64, 2 * len(self._calls))

    def _on_ack(self, event: AckReceived, now: float) -> None:
        """Only the first ACK of the call's 2xx steps its tracker. The UA hands over every
        ACK no transaction absorbed: the phone re-ACKs each retransmission of the 2xx (RFC
        3261 13.2.2.4), the network duplicates an ACK, the ACK of a challenge arrives after
        its transaction ended (17.2.1, Timer I): those are absorbed here."""
        call = self._calls.get(event.request.call_id)
        if call is None or call.acked or call.answered != event.request.cseq.seq:
            return
        call.acked = True
        self.step(call.tracker, Input.PHONE_SENDS_ACK, now)
        if call.tracker.done:  # the ACK came after the BYE
            del self._calls[event.request.call_id]

    def _on_ack_timeout(self, event: AckTimeout, now: float) -> None:
        """The 2xx of a call hung up before its ACK was resent for 64*T1 with no ACK: the
        code was executed at the 2xx (RFC 3261 13.3.1.4)."""
        call = self._calls.get(event.response.call_id)
        if call is None:
            return
        call.unacked = True
        if call.tracker.allows(Input.SERVER_TIMEOUT):
            self.step(call.tracker, Input.SERVER_TIMEOUT, now)
            del self._calls[event.response.call_id]

    def _on_bye(self, event: RequestReceived, now: float) -> None:
        call = self._calls.pop(event.request.call_id, None)
        if call is not None:
            self.step(call.tracker, Input.PHONE_SENDS_BYE, now)
        self.ua.reply(event.transaction, 200, now)
        if call is not None:
            self.step(call.tracker, Input.SERVER_SENDS_2XX, now)
            if call.unacked and call.tracker.allows(Input.SERVER_TIMEOUT):
                # ACK and BYE both lost until the UA stopped resending the 2xx
                self.step(call.tracker, Input.SERVER_TIMEOUT, now)
            elif call.answered is not None and not call.acked:
                # the BYE overtook the ACK: the 2xx is resent until it arrives (or 64*T1)
                self._calls[event.request.call_id] = call
        if event.dialog is not None:
            self.ua.dialogs.remove(event.dialog)

    # ------------------------------------------------------------------ uaCSTA (3CX)

    def _uacsta_headers(self) -> list[tuple[str, str]]:
        assert self.profile.uacsta is not None
        return [("Content-Disposition", self.profile.uacsta.content_disposition.value)]

    def _start_uacsta_session(self, user: str, now: float) -> None:
        dst = self.registrations[user]
        tracker = self._lifecycle(FlowKind.UACSTA_SESSION)
        uri = f"sip:{user}@{dst.host}:{dst.port}"
        request = self.ua.build_request("INVITE", uri, from_uri=self.ua.aor("server"))
        self.step(tracker, Input.SERVER_SENDS_INVITE, now)
        key = self.ua.send_request(request, dst, now)
        self._uacsta_sessions[user] = (tracker, None)
        self._session_invites[key] = (user, tracker)

    def _superseded(self, user: str, tracker: FlowTracker) -> bool:
        """Whether ``tracker``'s session is no longer ``user``'s (a later registration
        started another while its INVITE was in flight)."""
        current = self._uacsta_sessions.get(user)
        return current is None or current[0] is not tracker

    def _session_pending(self, user: str) -> bool:
        """Whether ``user``'s current session INVITE awaits its answer."""
        current = self._uacsta_sessions.get(user)
        return current is not None and any(
            tracker is current[0] for _, tracker in self._session_invites.values())

    def _on_uacsta_response(self, event: ResponseReceived, now: float) -> None:
        found = self._session_invites.get(event.transaction)
        if found is None or event.response.is_provisional:
            return
        del self._session_invites[event.transaction]
        user, tracker = found
        if self._superseded(user, tracker):
            # the answer to a session INVITE a newer one replaced: a 2xx is ACKed and its
            # dialog ended at once (RFC 3261 13.2.2.4, 15); the current session goes on
            self.info("uacsta-session-superseded", now, user=user,
                      status=event.response.status)
            if event.response.is_success:
                stale = self.ua.create_uac_dialog(event.response)
                self.ua.ack(event.response, now, dialog=stale)
                self.ua.send_in_dialog(stale, "BYE", now)
            return
        if not event.response.is_success:
            self.step(tracker, Input.PHONE_SENDS_ERROR, now)
            self._release_uacsta_infos(user, now)
            return
        self.step(tracker, Input.PHONE_SENDS_200, now)
        dialog = self.ua.create_uac_dialog(event.response)
        self.ua.ack(event.response, now, dialog=dialog)
        self.step(tracker, Input.SERVER_SENDS_ACK, now)
        self._uacsta_sessions[user] = (tracker, dialog)
        assert self.profile.uacsta is not None
        body = csta.build_monitor_start(user)
        self.step(tracker, Input.SERVER_SENDS_INFO, now)
        key = self.ua.send_in_dialog(dialog, "INFO", now, headers=self._uacsta_headers(),
                                     body=body,
                                     content_type=self.profile.uacsta.content_type.value)
        self._outgoing[key] = (None, _Outgoing(tracker, Input.SERVER_SENDS_INFO))
        self._release_uacsta_infos(user, now)

    def _release_uacsta_infos(self, user: str, now: float) -> None:
        for change in self._uacsta_held.pop(user, []):
            self._send_uacsta_info(user, change, now)

    def _on_uacsta_timeout(self, key: TransactionKey, now: float) -> None:
        """The session INVITE got no answer (Timer B) or could not be sent: uaCSTA failed
        for that user (the DND INFOs go outside a dialog)."""
        found = self._session_invites.pop(key, None)
        if found is None:
            return
        user, tracker = found
        if self._superseded(user, tracker):
            return  # a newer session replaced it: nothing waits for this one
        self.step(tracker, Input.SERVER_TIMEOUT, now)
        self.problem("PHONE-TIMEOUT", "no answer to the uaCSTA session INVITE", now)
        self._release_uacsta_infos(user, now)

    def _send_uacsta_info(self, user: str, change: Change, now: float) -> None:
        uacsta = self.profile.uacsta
        dst = self.registrations.get(user)
        if uacsta is None or dst is None or change.feature != "dnd":
            return
        if self._session_pending(user):
            self._uacsta_held.setdefault(user, []).append(change)
            return
        tracker = self._flow_tracker(user, "dnd", Direction.SERVER)
        if tracker is not None:
            self.step(tracker, Input.SERVER_ADMIN_CHANGE, now)
            self.step(tracker, Input.SERVER_SENDS_INFO, now)
        root = uacsta.dnd_document.value if uacsta.dnd_document else csta.DO_NOT_DISTURB_EVENT
        body = csta.build_do_not_disturb_event(user, change.on, root=root)
        _, dialog = self._uacsta_sessions.get(user, (None, None))
        if dialog is not None:
            key = self.ua.send_in_dialog(dialog, "INFO", now, headers=self._uacsta_headers(),
                                         body=body, content_type=uacsta.content_type.value)
        else:
            uri = f"sip:{user}@{dst.host}:{dst.port}"
            request = self.ua.build_request("INFO", uri, from_uri=self.ua.aor("server"),
                                            headers=self._uacsta_headers(), body=body,
                                            content_type=uacsta.content_type.value)
            key = self.ua.send_request(request, dst, now)
        self._outgoing[key] = (None, _Outgoing(tracker, Input.SERVER_SENDS_INFO))
