"""RFC 6665 subscriptions on top of the user agent: the subscriber and the notifier, generic.

Both are :class:`~fsync_model.sip.useragent.UaExtension` s: built on a
:class:`~fsync_model.sip.useragent.UserAgent`, they see its events first, take those that
belong to their subscriptions (responses to their SUBSCRIBE/NOTIFY, NOTIFY/SUBSCRIBE
requests for their package) and post their own typed events to the same queue, with their
timers (refresh, expiry, Timer N) driven by the UA's ``get_timer``/``handle_timer``.

The package name, the bodies and the answers are parameters: the feature-sync agents sit on
top (``as-feature-event`` with its XML), nothing here knows DND from forwarding.

Subscriber (RFC 6665 4.1): an initial SUBSCRIBE creates a *new dialog* whatever its CSeq; 200
or 202 accepted; a NOTIFY arriving before the 2xx creates the dialog (4.1.2.4); refreshed at
``refresh_fraction`` of the granted time; ``Subscription-State`` drives the state, and a
``terminated`` reason maps to a retry policy (4.1.3, :data:`RETRY_POLICY`); 481 to a refresh
ends the subscription (start a new one); 489 gives up and reports Retry-After; 423 is
retried with Min-Expires.

Notifier (RFC 6665 4.2): unknown package -> 489 with Allow-Events; too brief -> 423 with
Min-Expires; otherwise 200 (or 202) with Expires and a dialog; NOTIFY carries
``active;expires=N`` with N the time *remaining* at ``now``; unsubscribe (Expires: 0) and
expiry send ``terminated;reason=timeout``.
"""
from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from fsync_model.sip.dialog import Dialog
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import ValueWithParams, slot_setters
from fsync_model.sip.message import Request, Response
from fsync_model.sip.params import SHORT_HASH
from fsync_model.sip.timers import Deadlines
from fsync_model.sip.transaction import TransactionKey
from fsync_model.sip.useragent import (
    AuthenticationRetry,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportFailure,
    UaEvent,
    UserAgent,
    replace_top_via,
)

# Imported at run time, not under TYPE_CHECKING: mypyc (setup.py) evaluates the field types
# of dataclasses when the class is made. transport/address.py imports only the stdlib.
from fsync_model.transport.address import Address


class RetryPolicy(enum.Enum):
    """What a subscriber should do once a subscription ended (RFC 6665 section 4.1.3)."""

    #: start a new subscription now (deactivated, timeout, 481 to a refresh, expiry)
    IMMEDIATELY = "immediately"
    #: retry later, not before ``retry_after`` when given (probation, giveup, unknown reason)
    LATER = "later"
    #: do not retry (rejected, noresource, invariant, unsubscribed)
    NEVER = "never"


#: RFC 6665 section 4.1.3: the ``reason`` of ``Subscription-State: terminated``. A reason
#: missing or unknown: "MAY attempt to re-subscribe", here LATER.
RETRY_POLICY: dict[str, RetryPolicy] = {
    "deactivated": RetryPolicy.IMMEDIATELY,
    "probation": RetryPolicy.LATER,
    "rejected": RetryPolicy.NEVER,
    "timeout": RetryPolicy.IMMEDIATELY,
    "giveup": RetryPolicy.LATER,
    "noresource": RetryPolicy.NEVER,
    "invariant": RetryPolicy.NEVER,
}

SUBSCRIPTION_STATES = ("active", "pending", "terminated")


@dataclass(frozen=True, slots=True, init=False, eq=False)
class SubscriptionId:
    """Call-ID, our tag, the package and its ``id`` (RFC 6665 section 4.1.2: one dialog may
    hold several subscriptions told apart by Event and id).

    A dictionary key looked up several times per message: hashed once, with ``__init__``,
    ``__eq__`` and ``__hash__`` written out (see transaction.TransactionKey)."""

    call_id: str
    local_tag: str
    event: str
    event_id: str | None = None
    _hash: int = field(default=0, repr=False, compare=False)

    def __init__(self, call_id: str, local_tag: str, event: str,
                 event_id: str | None = None) -> None:
        _SUB_CALL_ID(self, call_id)
        _SUB_LOCAL_TAG(self, local_tag)
        _SUB_EVENT(self, event)
        _SUB_EVENT_ID(self, event_id)
        _SUB_HASH(self, hash((call_id, local_tag, event, event_id)) & SHORT_HASH)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubscriptionId):
            return NotImplemented
        return (self._hash == other._hash and self.call_id == other.call_id
                and self.local_tag == other.local_tag and self.event == other.event
                and self.event_id == other.event_id)

    def __str__(self) -> str:
        eid = f";id={self.event_id}" if self.event_id else ""
        return f"{self.event}{eid}@{self.call_id};{self.local_tag}"


_SUB_CALL_ID, _SUB_LOCAL_TAG, _SUB_EVENT, _SUB_EVENT_ID, _SUB_HASH = slot_setters(
    SubscriptionId, "call_id", "local_tag", "event", "event_id", "_hash")


@dataclass(frozen=True, slots=True, init=False)
class SubscriptionState:
    """A parsed ``Subscription-State`` value (RFC 6665 section 8.2.3)."""

    state: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    def __init__(self, state: str, expires: int | None = None, reason: str | None = None,
                 retry_after: int | None = None) -> None:
        _STATE_STATE(self, state)
        _STATE_EXPIRES(self, expires)
        _STATE_REASON(self, reason)
        _STATE_RETRY_AFTER(self, retry_after)

    @classmethod
    def parse(cls, value: ValueWithParams | None) -> SubscriptionState:
        """Raises SipParseError (400) when missing or not active/pending/terminated."""
        if value is None:
            raise SipParseError("Missing Header: Subscription-State")
        state = value.value.strip().lower()
        if state not in SUBSCRIPTION_STATES:
            raise SipParseError("Bad Header: Subscription-State")
        return cls(state, _int_param(value, "expires"), value.param("reason"),
                   _int_param(value, "retry-after"))

    def __str__(self) -> str:
        out = self.state
        if self.reason:
            out += f";reason={self.reason}"
        if self.expires is not None:
            out += f";expires={self.expires}"
        if self.retry_after is not None:
            out += f";retry-after={self.retry_after}"
        return out


# (see fields.slot_setters: one is made for every NOTIFY sent or received)
_STATE_STATE, _STATE_EXPIRES, _STATE_REASON, _STATE_RETRY_AFTER = slot_setters(
    SubscriptionState, "state", "expires", "reason", "retry_after")


def _int_param(value: ValueWithParams, name: str) -> int | None:
    raw = value.param(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        raise SipParseError("Bad Header: Subscription-State")
    return int(raw)


def _event_value(event: str, event_id: str | None) -> str:
    return f"{event};id={event_id}" if event_id else event


def _matches_event(request: Request, event: str, event_id: str | None) -> bool:
    value = request.event
    if value is None or value.value.lower() != event.lower():
        return False
    return value.param("id") == event_id


def _retry_after(response: Response) -> float | None:
    raw = response.header("Retry-After")
    if raw is None:
        return None
    number = raw.split(";", 1)[0].split("(", 1)[0].strip()
    return float(number) if number.isascii() and number.isdigit() and len(number) < 10 else None


# =========================================================================== events


@dataclass(frozen=True, slots=True)
class SubscriptionEvent(UaEvent):
    """Base of subscription events (posted to the UA's queue)."""

    subscription: SubscriptionId


@dataclass(frozen=True, slots=True, init=False)
class SubscriptionAccepted(SubscriptionEvent):
    """Subscriber: a 2xx (200 or 202) to our SUBSCRIBE, initial or refresh."""

    response: Response
    expires: int | None

    def __init__(self, subscription: SubscriptionId, response: Response,
                 expires: int | None) -> None:
        _SA_SUBSCRIPTION(self, subscription)
        _SA_RESPONSE(self, response)
        _SA_EXPIRES(self, expires)


@dataclass(frozen=True, slots=True, init=False)
class NotifyReceived(SubscriptionEvent):
    """Subscriber: a NOTIFY in one of our subscriptions. Answered 200 already unless the
    subscriber was built with ``auto_answer=False`` (then answer on ``transaction``)."""

    request: Request
    state: SubscriptionState
    transaction: TransactionKey

    def __init__(self, subscription: SubscriptionId, request: Request,
                 state: SubscriptionState, transaction: TransactionKey) -> None:
        _NR_SUBSCRIPTION(self, subscription)
        _NR_REQUEST(self, request)
        _NR_STATE(self, state)
        _NR_TRANSACTION(self, transaction)


@dataclass(frozen=True, slots=True)
class RefreshFailed(SubscriptionEvent):
    """Subscriber: a refresh failed with something other than 481; the subscription stays
    valid until it expires (RFC 6665 4.1.2.2). ``response`` is None on timeout."""

    response: Response | None


@dataclass(frozen=True, slots=True)
class SubscriptionTerminated(SubscriptionEvent):
    """Subscriber: the subscription is over. ``reason`` is the NOTIFY's reason, or what
    ended it here (``"481"``, ``"489"``, ``"expired"``, ``"no-notify"``, ``"unsubscribed"``,
    a failure status); ``retry``/``retry_after`` say when to start a new one."""

    reason: str | None
    retry: RetryPolicy
    retry_after: float | None = None
    response: Response | None = None


@dataclass(frozen=True, slots=True, init=False)
class SubscribeReceived(SubscriptionEvent):
    """Notifier: a SUBSCRIBE was accepted (initial or refresh). RFC 6665 4.2.1 wants a
    NOTIFY now: call :meth:`Notifier.notify` (unless the notifier has a ``state_body``,
    then it has sent one). ``request.body`` is whatever the subscriber put in it."""

    request: Request
    initial: bool
    expires: int

    def __init__(self, subscription: SubscriptionId, request: Request, initial: bool,
                 expires: int) -> None:
        _SR_SUBSCRIPTION(self, subscription)
        _SR_REQUEST(self, request)
        _SR_INITIAL(self, initial)
        _SR_EXPIRES(self, expires)


@dataclass(frozen=True, slots=True)
class NotifyRejected(SubscriptionEvent):
    """Notifier: the subscriber answered a NOTIFY with an error that did not end the
    subscription (e.g. 415 for a body it could not read)."""

    response: Response


@dataclass(frozen=True, slots=True, init=False)
class SubscriptionEnded(SubscriptionEvent):
    """Notifier: the subscription is gone (``unsubscribed``, ``expired``, ``terminated``,
    ``notify-481``, ``notify-timeout``, ``notify-transport``)."""

    reason: str

    def __init__(self, subscription: SubscriptionId, reason: str) -> None:
        _SE_SUBSCRIPTION(self, subscription)
        _SE_REASON(self, reason)


# The events made for every SUBSCRIBE or NOTIFY: __init__ written out (see
# fields.slot_setters; the inherited field first, as dataclasses orders them).
_SA_SUBSCRIPTION, _SA_RESPONSE, _SA_EXPIRES = slot_setters(
    SubscriptionAccepted, "subscription", "response", "expires")
_NR_SUBSCRIPTION, _NR_REQUEST, _NR_STATE, _NR_TRANSACTION = slot_setters(
    NotifyReceived, "subscription", "request", "state", "transaction")
_SR_SUBSCRIPTION, _SR_REQUEST, _SR_INITIAL, _SR_EXPIRES = slot_setters(
    SubscribeReceived, "subscription", "request", "initial", "expires")
_SE_SUBSCRIPTION, _SE_REASON = slot_setters(SubscriptionEnded, "subscription", "reason")


# =========================================================================== subscriber


class SubscriberState(enum.Enum):
    #: SUBSCRIBE sent, nothing back yet (RFC 6665 figure: init -> notify_wait)
    SENT = "sent"
    #: 2xx received, waiting for the first NOTIFY (Timer N)
    NOTIFY_WAIT = "notify_wait"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(eq=False)
class ClientSubscription:
    """One subscription as the subscriber sees it."""

    id: SubscriptionId
    request: Request
    dst: Address
    requested_expires: int
    state: SubscriberState = SubscriberState.SENT
    dialog: Dialog | None = None
    expires_at: float | None = None
    unsubscribing: bool = False
    timers: Deadlines = field(default_factory=Deadlines)
    #: what each of our transactions in this subscription is for
    transactions: dict[TransactionKey, str] = field(default_factory=dict)
    notifies: int = 0


class Subscriber:
    """The subscriber side of RFC 6665 for one event package, plugged into a UA."""

    def __init__(
        self,
        ua: UserAgent,
        event: str,
        *,
        accept: Sequence[str] = (),
        expires: int = 3600,
        refresh_fraction: float = 0.9,
        auto_answer: bool = True,
    ) -> None:
        if not 0 < refresh_fraction < 1:
            raise ValueError("refresh_fraction must be between 0 and 1")
        self.ua = ua
        self.event = event
        self.accept = list(accept)
        self.expires = expires
        self.refresh_fraction = refresh_fraction
        self.auto_answer = auto_answer
        self.subscriptions: dict[SubscriptionId, ClientSubscription] = {}
        self._by_txn: dict[TransactionKey, ClientSubscription] = {}
        ua.add_extension(self)

    # ------------------------------------------------------------------ API

    def subscribe(
        self,
        uri: str,
        dst: Address,
        now: float,
        *,
        from_uri: str | None = None,
        to_uri: str | None = None,
        expires: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        event_id: str | None = None,
        call_id: str | None = None,
        cseq: int = 1,
    ) -> SubscriptionId:
        """Send an initial SUBSCRIBE: a new dialog (new Call-ID and tag unless ``call_id``
        is given), whatever ``cseq`` is."""
        wanted = self.expires if expires is None else expires
        request = self.ua.build_request(
            "SUBSCRIBE", uri, from_uri=from_uri, to_uri=to_uri, call_id=call_id, cseq=cseq,
            headers=[*self._headers(wanted, event_id), *headers], body=body,
            content_type=content_type)
        local_tag = request.from_tag or ""
        sub_id = SubscriptionId(request.call_id, local_tag, self.event, event_id)
        sub = ClientSubscription(sub_id, request, dst, wanted)
        self.subscriptions[sub_id] = sub
        self.ua.dialogs.expect(request.call_id, local_tag)
        self._send(sub, request, "initial", now)
        # RFC 6665 4.1.2.4: Timer N runs from the SUBSCRIBE until the first NOTIFY
        sub.timers.set("N", now + self.ua.timer_config.timeout)
        return sub_id

    def refresh(
        self,
        sub_id: SubscriptionId,
        now: float,
        *,
        expires: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> TransactionKey:
        """Send a SUBSCRIBE in the subscription's dialog (a refresh; with a body, e.g. a
        feature-sync set request). Raises KeyError/ValueError without a dialog."""
        sub = self.subscriptions[sub_id]
        if sub.dialog is None:
            raise ValueError(f"subscription {sub_id} has no dialog yet")
        wanted = sub.requested_expires if expires is None else expires
        kind = "unsubscribe" if wanted == 0 else "refresh"
        if wanted:
            sub.requested_expires = wanted
        request = sub.dialog.build_request(
            "SUBSCRIBE", headers=[*self._headers(wanted, sub_id.event_id), *headers],
            body=body, content_type=content_type, contact=self.ua.contact(),
            via=self.ua.via())
        return self._send(sub, request, kind, now)

    def unsubscribe(self, sub_id: SubscriptionId, now: float) -> TransactionKey | None:
        """SUBSCRIBE with Expires: 0 (RFC 6665 4.1.2.3); the final NOTIFY ends it. Without a
        dialog yet, the subscription is just forgotten (returns None)."""
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return None
        if sub.dialog is None:
            self._terminate(sub, "unsubscribed", RetryPolicy.NEVER, post=False)
            return None
        sub.unsubscribing = True
        sub.timers.cancel("refresh")
        # give the final NOTIFY 64*T1 to arrive, then forget the subscription anyway
        sub.timers.set("expire", now + self.ua.timer_config.timeout)
        return self.refresh(sub_id, now, expires=0)

    def get(self, sub_id: SubscriptionId) -> ClientSubscription | None:
        return self.subscriptions.get(sub_id)

    # ------------------------------------------------------------------ UaExtension

    def get_timer(self) -> float | None:
        deadlines = [d for s in self.subscriptions.values()
                     if (d := s.timers.earliest()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for sub in list(self.subscriptions.values()):
            for name in sub.timers.due(now):
                if sub.state is SubscriberState.TERMINATED:
                    break
                if name == "refresh" and sub.dialog is not None:
                    self.refresh(sub.id, now)
                elif name == "expire":
                    if not sub.unsubscribing and "refresh" in sub.transactions.values():
                        # a refresh is in flight: its answer decides (at most 64*T1 away)
                        sub.timers.set("expire", now + self.ua.timer_config.timeout)
                        continue
                    reason = "unsubscribed" if sub.unsubscribing else "expired"
                    retry = RetryPolicy.NEVER if sub.unsubscribing else RetryPolicy.IMMEDIATELY
                    self._terminate(sub, reason, retry)
                elif name == "N" and sub.state in (SubscriberState.SENT,
                                                   SubscriberState.NOTIFY_WAIT):
                    self._terminate(sub, "no-notify", RetryPolicy.LATER)

    def handle_event(self, event: UaEvent, now: float) -> bool:
        if isinstance(event, ResponseReceived):
            sub = self._by_txn.get(event.transaction)
            if sub is None:
                return False
            self._on_response(sub, event, now)
            return True
        if isinstance(event, AuthenticationRetry):
            sub = self._by_txn.pop(event.old, None)
            if sub is None:
                return False
            kind = sub.transactions.pop(event.old, "refresh")
            sub.transactions[event.new] = kind
            self._by_txn[event.new] = sub
            if kind == "initial":
                sub.request = event.request
            return True
        if isinstance(event, TransactionTimeout | TransportFailure):
            key = event.transaction
            sub = self._by_txn.pop(key, None) if key is not None else None
            if sub is None or key is None:
                return False
            kind = sub.transactions.pop(key, "")
            if kind == "initial":
                self._terminate(sub, "no-response", RetryPolicy.LATER)
            elif kind == "unsubscribe":
                self._terminate(sub, "unsubscribed", RetryPolicy.NEVER)
            elif sub.state is not SubscriberState.TERMINATED:
                self._refresh_failed(sub, None, now)
            return True
        if isinstance(event, RequestReceived) and event.request.method == "NOTIFY":
            return self._on_notify(event, now)
        return False

    # ------------------------------------------------------------------ internals

    def _headers(self, expires: int, event_id: str | None) -> list[tuple[str, str]]:
        headers = [("Event", _event_value(self.event, event_id)), ("Expires", str(expires))]
        headers.extend(("Accept", a) for a in self.accept)
        return headers

    def _send(self, sub: ClientSubscription, request: Request, kind: str,
              now: float) -> TransactionKey:
        dst = sub.dst
        key = self.ua.send_request(request, dst, now)
        sub.transactions[key] = kind
        self._by_txn[key] = sub
        return key

    def _on_response(self, sub: ClientSubscription, event: ResponseReceived,
                     now: float) -> None:
        response = event.response
        if response.is_provisional:
            return
        kind = sub.transactions.pop(event.transaction, "")
        self._by_txn.pop(event.transaction, None)
        if sub.state is SubscriberState.TERMINATED:
            return
        status = response.status
        if response.is_success:
            if kind == "initial":
                self._dialog_from_response(sub, event.request, response)
                if sub.state is SubscriberState.SENT:
                    sub.state = SubscriberState.NOTIFY_WAIT
            expires = response.expires
            if expires is not None and kind != "unsubscribe":
                self._set_expiry(sub, expires, now, from_2xx=True)
            self.ua.post_event(SubscriptionAccepted(sub.id, response, expires))
            return
        if status == 423:
            minimum = response.int_header("min-expires")
            if minimum is not None and minimum > sub.requested_expires:
                self._retry_longer(sub, event.request, kind, minimum, now)
                return
        if kind == "initial":
            retry_after = _retry_after(response)
            retry = RetryPolicy.LATER if retry_after is not None else RetryPolicy.NEVER
            self._terminate(sub, str(status), retry, retry_after, response)
        elif status == 481:
            # RFC 6665 4.1.2.2: the subscription is gone; the caller starts a new one
            self._terminate(sub, "481", RetryPolicy.IMMEDIATELY, None, response)
        elif status == 489 or kind == "unsubscribe":
            retry_after = _retry_after(response)
            retry = RetryPolicy.NEVER if kind == "unsubscribe" else (
                RetryPolicy.LATER if retry_after is not None else RetryPolicy.NEVER)
            self._terminate(sub, str(status), retry, retry_after, response)
        else:
            self._refresh_failed(sub, response, now)

    def _refresh_failed(self, sub: ClientSubscription, response: Response | None,
                        now: float) -> None:
        """RFC 6665 4.1.2.2: still valid until the last known expiry; past it, over."""
        self.ua.post_event(RefreshFailed(sub.id, response))
        if sub.expires_at is not None and now >= sub.expires_at:
            self._terminate(sub, "expired", RetryPolicy.IMMEDIATELY)

    def _retry_longer(self, sub: ClientSubscription, request: Request, kind: str,
                      minimum: int, now: float) -> None:
        """423 Interval Too Brief: same request, Expires = Min-Expires, CSeq+1, new branch."""
        sub.requested_expires = minimum
        seq = request.cseq.seq + 1
        if sub.dialog is not None:
            sub.dialog.local_cseq = max(sub.dialog.local_cseq, seq)
        headers = request.headers.replaced("Expires", str(minimum)).replaced(
            "CSeq", f"{seq} SUBSCRIBE")
        retry = replace_top_via(request.replace(headers=headers),
                                str(request.top_via.with_param("branch", self.ua.ids.branch())))
        if kind == "initial":
            sub.request = retry
        self._send(sub, retry, kind, now)

    def _dialog_from_response(self, sub: ClientSubscription, request: Request,
                              response: Response) -> None:
        if sub.dialog is not None or not response.to_tag:
            return  # the NOTIFY made it already (4.1.2.4), or a broken 2xx without a tag
        dialog = Dialog.as_uac(request, response, sub.dst)
        self._adopt_dialog(sub, dialog)

    def _adopt_dialog(self, sub: ClientSubscription, dialog: Dialog) -> None:
        sub.dialog = dialog
        self.ua.dialogs.add(dialog)
        self.ua.dialogs.unexpect(sub.id.call_id, sub.id.local_tag)

    def _find_for_notify(self, request: Request) -> ClientSubscription | None:
        call_id, local_tag = request.call_id, request.to_tag or ""
        for sub in self.subscriptions.values():
            if (sub.id.call_id == call_id and sub.id.local_tag == local_tag
                    and (sub.dialog is None or sub.dialog.remote_tag == request.from_tag)
                    and _matches_event(request, sub.id.event, sub.id.event_id)):
                return sub
        return None

    def _owns_dialog(self, request: Request) -> bool:
        call_id, local_tag = request.call_id, request.to_tag or ""
        return any(s.id.call_id == call_id and s.id.local_tag == local_tag
                   for s in self.subscriptions.values())

    def _on_notify(self, event: RequestReceived, now: float) -> bool:
        request = event.request
        sub = self._find_for_notify(request)
        if sub is None:
            if self._owns_dialog(request):
                # our dialog, but no such subscription (other Event/id, or a forked NOTIFY):
                # RFC 6665 4.1.3 answers 481
                self.ua.reply(event.transaction, 481, now)
                return True
            return False
        try:
            state = SubscriptionState.parse(request.subscription_state)
        except SipParseError as error:
            self.ua.reply(event.transaction, error.status, now, error.reason)
            return True
        if sub.dialog is None:
            try:
                dialog = Dialog.from_notify(sub.request, request, sub.dst)
            except SipParseError as error:
                self.ua.reply(event.transaction, error.status, now, error.reason)
                return True
            self._adopt_dialog(sub, dialog)
        sub.notifies += 1
        sub.timers.cancel("N")
        if self.auto_answer:
            self.ua.reply(event.transaction, 200, now)
        self.ua.post_event(NotifyReceived(sub.id, request, state, event.transaction))
        if state.state == "terminated":
            if sub.unsubscribing:
                self._terminate(sub, state.reason or "unsubscribed", RetryPolicy.NEVER,
                                state.retry_after)
            else:
                retry = RETRY_POLICY.get(state.reason or "", RetryPolicy.LATER)
                self._terminate(sub, state.reason, retry, state.retry_after)
            return True
        if not sub.unsubscribing:
            sub.state = (SubscriberState.ACTIVE if state.state == "active"
                         else SubscriberState.PENDING)
            if state.expires is not None:
                self._set_expiry(sub, state.expires, now)
        return True

    def _set_expiry(self, sub: ClientSubscription, expires: int, now: float,
                    *, from_2xx: bool = False) -> None:
        """The granted duration (2xx Expires or NOTIFY expires=) is authoritative: expire
        then, refresh at ``refresh_fraction`` of it."""
        sub.expires_at = now + expires
        sub.timers.set("expire", sub.expires_at)
        if expires <= 0:
            sub.timers.cancel("refresh")
            return
        refresh_at = now + expires * self.refresh_fraction
        current = sub.timers.get("refresh")
        if not from_2xx and current is not None and current < refresh_at:
            return  # a NOTIFY's expires only ever brings the refresh forward
        sub.timers.set("refresh", refresh_at)

    def _terminate(self, sub: ClientSubscription, reason: str | None, retry: RetryPolicy,
                   retry_after: float | None = None, response: Response | None = None,
                   *, post: bool = True) -> None:
        if sub.state is SubscriberState.TERMINATED:
            return
        sub.state = SubscriberState.TERMINATED
        sub.timers.clear()
        self.subscriptions.pop(sub.id, None)
        # transactions still in flight stay mapped: their late answers are swallowed here
        # rather than surfacing as strays to the TU
        self.ua.dialogs.unexpect(sub.id.call_id, sub.id.local_tag)
        if sub.dialog is not None and not any(
                s.dialog is sub.dialog for s in self.subscriptions.values()):
            self.ua.dialogs.remove(sub.dialog.id)
        if post:
            self.ua.post_event(SubscriptionTerminated(sub.id, reason, retry, retry_after,
                                                      response))


# =========================================================================== notifier


@dataclass(eq=False, slots=True, init=False)
class ServerSubscription:
    """One subscription as the notifier sees it.

    ``__init__`` is written out: the one dataclasses generates stays interpreted where this
    module is compiled, and one of these is made for every SUBSCRIBE that starts one."""

    id: SubscriptionId
    dialog: Dialog
    expires_at: float
    state: str = "active"
    notifies_sent: int = 0
    #: the last SUBSCRIBE received in it (None when the notifier keeps no requests)
    request: Request | None = None

    def __init__(self, id: SubscriptionId, dialog: Dialog, expires_at: float,
                 state: str = "active", notifies_sent: int = 0,
                 request: Request | None = None) -> None:
        self.id = id
        self.dialog = dialog
        self.expires_at = expires_at
        self.state = state
        self.notifies_sent = notifies_sent
        self.request = request


#: A body for NOTIFYs the notifier sends by itself: ``(body, content_type)``.
StateBody = Callable[[ServerSubscription], tuple[bytes, str | None]]


class Notifier:
    """The notifier side of RFC 6665 for a set of packages, plugged into a UA."""

    def __init__(
        self,
        ua: UserAgent,
        packages: Sequence[str],
        *,
        accept_status: int = 200,
        default_expires: int = 3600,
        min_expires: int | None = 60,
        max_expires: int | None = None,
        state_body: StateBody | None = None,
        keep_requests: bool = True,
    ) -> None:
        if accept_status not in (200, 202):
            raise ValueError("accept_status must be 200 or 202")
        self.ua = ua
        self.packages = list(packages)
        self.accept_status = accept_status
        self.default_expires = default_expires
        self.min_expires = min_expires
        self.max_expires = max_expires
        #: when set, NOTIFYs are sent automatically after accepting, refreshing, ending
        self.state_body = state_body
        #: keep each subscription's last SUBSCRIBE (``ServerSubscription.request``); a server
        #: holding thousands of subscriptions that never reads it turns this off (~4 KiB each)
        self.keep_requests = keep_requests
        self.subscriptions: dict[SubscriptionId, ServerSubscription] = {}
        self._by_txn: dict[TransactionKey, ServerSubscription] = {}
        #: (expires_at, n, id) of every subscription, stale entries dropped when seen: the UA
        #: asks for the next deadline on every message, so this must not scan them all
        self._expiries: list[tuple[float, int, SubscriptionId]] = []
        self._pushed = itertools.count()
        #: a copy of ``packages`` and the packages by lower-case name, made from it
        self._known: tuple[list[str], dict[str, str]] | None = None
        ua.add_extension(self)

    # ------------------------------------------------------------------ API

    def notify(
        self,
        sub_id: SubscriptionId,
        now: float,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        state: str | None = None,
    ) -> TransactionKey:
        """Send a NOTIFY with ``Subscription-State: <state>;expires=<remaining at now>``.

        A subscription whose time is up gets ``terminated;reason=timeout`` and ends.
        """
        sub = self.subscriptions[sub_id]
        if sub.expires_at - now <= 0:
            return self.terminate(sub_id, now, "timeout", body=body, content_type=content_type,
                                  headers=headers, ended="expired")
        if state is not None:
            sub.state = state
        # rounded, not truncated: a NOTIFY right after a 3600 s grant says 3600, not 3599
        remaining = max(round(sub.expires_at - now), 1)
        value = SubscriptionState(sub.state, remaining)
        return self._send_notify(sub, value, now, body, content_type, headers)

    def terminate(
        self,
        sub_id: SubscriptionId,
        now: float,
        reason: str | None = "noresource",
        *,
        retry_after: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        ended: str = "terminated",
    ) -> TransactionKey:
        """End a subscription with a ``terminated`` NOTIFY (RFC 6665 4.2.2)."""
        sub = self.subscriptions.pop(sub_id)
        key = self._send_notify(sub, SubscriptionState("terminated", None, reason, retry_after),
                                now, body, content_type, headers)
        self._end(sub, ended)
        return key

    def get(self, sub_id: SubscriptionId) -> ServerSubscription | None:
        return self.subscriptions.get(sub_id)

    # ------------------------------------------------------------------ UaExtension

    def get_timer(self) -> float | None:
        heap = self._expiries
        while heap:
            when, _, sub_id = heap[0]
            sub = self.subscriptions.get(sub_id)
            if sub is not None and sub.expires_at == when:
                return when
            heapq.heappop(heap)
            if sub is not None:  # expires_at changed without _expire_at: track the new one
                self._expire_at(sub, sub.expires_at)
        return None

    def handle_timer(self, now: float) -> None:
        while self.get_timer() is not None and self._expiries[0][0] <= now:
            _, _, sub_id = heapq.heappop(self._expiries)
            sub = self.subscriptions[sub_id]
            body, ctype = self.state_body(sub) if self.state_body else (b"", None)
            self.terminate(sub.id, now, "timeout", body=body, content_type=ctype,
                           ended="expired")

    def handle_event(self, event: UaEvent, now: float) -> bool:
        if isinstance(event, RequestReceived) and event.request.method == "SUBSCRIBE":
            self._on_subscribe(event, now)
            return True
        if isinstance(event, ResponseReceived):
            sub = self._by_txn.get(event.transaction)
            if sub is None:
                return False
            if event.response.is_provisional:
                return True
            self._by_txn.pop(event.transaction, None)
            status = event.response.status
            if status == 481 and sub.id in self.subscriptions:
                self.subscriptions.pop(sub.id)
                self._end(sub, "notify-481")
            elif status >= 300 and sub.id in self.subscriptions:
                self.ua.post_event(NotifyRejected(sub.id, event.response))
            return True
        if isinstance(event, AuthenticationRetry):
            sub = self._by_txn.pop(event.old, None)
            if sub is None:
                return False
            self._by_txn[event.new] = sub
            return True
        if isinstance(event, TransactionTimeout | TransportFailure):
            key = event.transaction
            sub = self._by_txn.pop(key, None) if key is not None else None
            if sub is None:
                return False
            if sub.id in self.subscriptions:
                # RFC 6665 4.2.2: a NOTIFY that times out removes the subscription
                self.subscriptions.pop(sub.id)
                kind = "notify-timeout" if isinstance(event, TransactionTimeout) else (
                    "notify-transport")
                self._end(sub, kind)
            return True
        return False

    # ------------------------------------------------------------------ internals

    def _on_subscribe(self, event: RequestReceived, now: float) -> None:
        request = event.request
        txn = event.transaction
        package = request.event
        known = self._known
        if known is None or known[0] != self.packages:
            known = self._known = (list(self.packages), {p.lower(): p for p in self.packages})
        if package is None or package.value.lower() not in known[1]:
            self.ua.reply(txn, 489, now, headers=[("Allow-Events", ", ".join(self.packages))])
            return
        event_name = known[1][package.value.lower()]
        event_id = package.param("id")
        try:
            requested = request.expires
        except SipParseError as error:
            self.ua.reply(txn, error.status, now, error.reason)
            return
        granted = self.default_expires if requested is None else requested
        if self.max_expires is not None:
            granted = min(granted, self.max_expires)
        if granted and self.min_expires is not None and granted < self.min_expires:
            self.ua.reply(txn, 423, now, headers=[("Min-Expires", str(self.min_expires))])
            return
        if request.to_tag is None:
            self._initial(event, event_name, event_id, granted, now)
        else:
            self._in_dialog(event, event_name, event_id, granted, now)

    def _initial(self, event: RequestReceived, package: str, event_id: str | None,
                 granted: int, now: float) -> None:
        request, txn = event.request, event.transaction
        if not request.contacts:
            self.ua.reply(txn, 400, now, "Missing Header: Contact")
            return
        dialog = self.ua.create_uas_dialog(txn)
        sub_id = SubscriptionId(request.call_id, dialog.local_tag, package, event_id)
        sub = ServerSubscription(sub_id, dialog, now + granted,
                                 request=request if self.keep_requests else None)
        self.subscriptions[sub_id] = sub
        self._expire_at(sub, now + granted)
        self.ua.reply(txn, self.accept_status, now, contact=True,
                      headers=[("Expires", str(granted))])
        self.ua.post_event(SubscribeReceived(sub_id, request, True, granted))
        self._auto_notify(sub, now)

    def _in_dialog(self, event: RequestReceived, package: str, event_id: str | None,
                   granted: int, now: float) -> None:
        request, txn = event.request, event.transaction
        sub_id = SubscriptionId(request.call_id, request.to_tag or "", package, event_id)
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            self.ua.reply(txn, 481, now)
            return
        if self.keep_requests:
            sub.request = request
        self._expire_at(sub, now + granted)
        self.ua.reply(txn, self.accept_status, now, contact=True,
                      headers=[("Expires", str(granted))])
        if granted == 0:
            # RFC 6665 4.2.1.4: unsubscribing triggers a final NOTIFY
            body, ctype = self.state_body(sub) if self.state_body else (b"", None)
            self.terminate(sub_id, now, "timeout", body=body, content_type=ctype,
                           ended="unsubscribed")
            return
        self.ua.post_event(SubscribeReceived(sub_id, request, False, granted))
        self._auto_notify(sub, now)

    def _expire_at(self, sub: ServerSubscription, when: float) -> None:
        sub.expires_at = when
        heap = self._expiries
        heapq.heappush(heap, (when, next(self._pushed), sub.id))
        live = self.subscriptions
        if len(heap) > 2 * len(live) + 64:
            # stale entries (refreshed or ended subscriptions) wait for their old deadline,
            # an hour later: past twice the live ones, the heap is made anew from them
            self._expiries = [(s.expires_at, next(self._pushed), s.id) for s in live.values()]
            heapq.heapify(self._expiries)

    def _auto_notify(self, sub: ServerSubscription, now: float) -> None:
        if self.state_body is not None and sub.id in self.subscriptions:
            body, ctype = self.state_body(sub)
            self.notify(sub.id, now, body=body, content_type=ctype)

    def _send_notify(self, sub: ServerSubscription, state: SubscriptionState, now: float,
                     body: bytes, content_type: str | None,
                     headers: Iterable[tuple[str, str]]) -> TransactionKey:
        items = [("Event", _event_value(sub.id.event, sub.id.event_id)),
                 ("Subscription-State", str(state)), *headers]
        key = self.ua.send_in_dialog(sub.dialog, "NOTIFY", now, headers=items, body=body,
                                     content_type=content_type)
        sub.notifies_sent += 1
        self._by_txn[key] = sub
        return key

    def _end(self, sub: ServerSubscription, reason: str) -> None:
        # Each subscription has a dialog of its own (_initial makes it; a SUBSCRIBE in a
        # dialog for another subscription is answered 481), so its dialog ends with it:
        # no scan of every subscription for another one in the same dialog.
        self.ua.dialogs.remove(sub.dialog.id)
        self.ua.post_event(SubscriptionEnded(sub.id, reason))


__all__ = [
    "RETRY_POLICY",
    "ClientSubscription",
    "Notifier",
    "NotifyReceived",
    "NotifyRejected",
    "RefreshFailed",
    "RetryPolicy",
    "ServerSubscription",
    "StateBody",
    "SubscribeReceived",
    "Subscriber",
    "SubscriberState",
    "SubscriptionAccepted",
    "SubscriptionEnded",
    "SubscriptionEvent",
    "SubscriptionId",
    "SubscriptionState",
    "SubscriptionTerminated",
]
