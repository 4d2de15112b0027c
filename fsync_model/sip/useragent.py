"""The SIP user-agent core, sans-IO: bytes and ``now`` in, bytes and typed events out.

:class:`UserAgent` implements the Endpoint contract of docs/architecture.md
(``receive_datagram``, ``handle_timer``, ``get_timer``, ``datagrams_to_send``). It parses what
arrives, answers what cannot be parsed (RFC 3261 section 21.4 status from the
:class:`~fsync_model.sip.errors.SipParseError`), runs the transactions of
:mod:`fsync_model.sip.transaction`, answers 481 to in-dialog requests matching no dialog and
500 to ones with an old CSeq, answers CANCEL (200 + 487), retransmits 2xx to INVITE until
the ACK arrives (13.3.1.4), re-ACKs retransmitted 2xx (13.2.2.4), retries once with digest
credentials after 401/407, and hands the transaction user (TU: the agents) typed events from
:meth:`UserAgent.next_event`.

Extensions (:class:`UaExtension`, e.g. the RFC 6665 subscriber and notifier) plug into the
core: they see every event first, may consume it, post their own, and have their timers
driven by the same ``get_timer``/``handle_timer``, so a driver runs one endpoint.

Every message in or out is offered to the recorders (:class:`MessageRecord`) for ladders and
pcaps. Time, randomness and addresses are arguments: nothing here reads a clock or a socket.
"""
from __future__ import annotations

import dataclasses
import hashlib
import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from fsync_model.sip.auth import Challenge, Credentials, make_authorization
from fsync_model.sip.dialog import Dialog, DialogId, DialogTable
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_uri, slot_setters, split_outside_quotes
from fsync_model.sip.ids import IdGenerator
from fsync_model.sip.message import (
    DEFAULT_MAX_SIZE,
    Headers,
    Message,
    Request,
    Response,
    build_request,
    build_response,
    canonical_name,
    parse_message,
    pretty_name,
)
from fsync_model.sip.timers import Deadlines, TimerConfig, is_reliable
from fsync_model.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Transaction,
    TransactionError,
    TransactionKey,
    TxnState,
    client_key,
    client_key_for_response,
    new_client_transaction,
    new_server_transaction,
    server_key,
)

# Imported at run time, not under TYPE_CHECKING: mypyc (setup.py) evaluates the field types
# of dataclasses when the class is made. transport/address.py imports only the stdlib.
from fsync_model.transport.address import Address

# =========================================================================== events


@dataclass(frozen=True, slots=True)
class UaEvent:
    """Base of everything :meth:`UserAgent.next_event` returns."""


@dataclass(frozen=True, slots=True, init=False)
class RequestReceived(UaEvent):
    """A new request (not a retransmission) for the TU to answer with
    :meth:`UserAgent.respond` / :meth:`UserAgent.reply` on ``transaction``.

    ``dialog`` is set when the request matched a dialog in :attr:`UserAgent.dialogs`.
    """

    request: Request
    transaction: TransactionKey
    src: Address
    dialog: DialogId | None = None

    def __init__(self, request: Request, transaction: TransactionKey, src: Address,
                 dialog: DialogId | None = None) -> None:
        _RR_REQUEST(self, request)
        _RR_TRANSACTION(self, transaction)
        _RR_SRC(self, src)
        _RR_DIALOG(self, dialog)


@dataclass(frozen=True, slots=True)
class AckReceived(UaEvent):
    """An ACK for a 2xx (its own transaction-less request, RFC 3261 13.3.1.4)."""

    request: Request
    src: Address
    dialog: DialogId | None = None


@dataclass(frozen=True, slots=True)
class CancelReceived(UaEvent):
    """A CANCEL matched a pending INVITE: the UA answered it 200 and the INVITE 487."""

    request: Request
    invite_transaction: TransactionKey
    src: Address


@dataclass(frozen=True, slots=True, init=False)
class ResponseReceived(UaEvent):
    """A response to a request sent with :meth:`UserAgent.send_request`.

    ``retransmission`` marks a repeated 2xx to INVITE that the TU has not ACKed yet.
    """

    response: Response
    transaction: TransactionKey
    request: Request
    retransmission: bool = False

    def __init__(self, response: Response, transaction: TransactionKey, request: Request,
                 retransmission: bool = False) -> None:
        _RS_RESPONSE(self, response)
        _RS_TRANSACTION(self, transaction)
        _RS_REQUEST(self, request)
        _RS_RETRANSMISSION(self, retransmission)


# The events made for every request and response: their __init__ written out (see
# fields.slot_setters; the generated one stays interpreted where this module is compiled).
_RR_REQUEST, _RR_TRANSACTION, _RR_SRC, _RR_DIALOG = slot_setters(
    RequestReceived, "request", "transaction", "src", "dialog")
_RS_RESPONSE, _RS_TRANSACTION, _RS_REQUEST, _RS_RETRANSMISSION = slot_setters(
    ResponseReceived, "response", "transaction", "request", "retransmission")


@dataclass(frozen=True, slots=True)
class TransactionTimeout(UaEvent):
    """Timer B or F (no final response) or H (no ACK) fired (RFC 3261 17.1.1.2, 17.2.1)."""

    transaction: TransactionKey
    request: Request
    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailure(UaEvent):
    """The driver reported that sending to ``dst`` failed (17.1.4)."""

    transaction: TransactionKey | None
    request: Request | None
    dst: Address
    reason: str


@dataclass(frozen=True, slots=True)
class AckTimeout(UaEvent):
    """A 2xx to INVITE was never ACKed within 64*T1 (13.3.1.4): the TU should hang up."""

    response: Response
    dst: Address


@dataclass(frozen=True, slots=True)
class AuthenticationRetry(UaEvent):
    """A 401/407 was answered by resending ``request`` with credentials (new branch, CSeq+1)
    in transaction ``new``; ``old`` will see no more responses."""

    old: TransactionKey
    new: TransactionKey
    request: Request
    challenge: Response


@dataclass(frozen=True, slots=True)
class RequestRejected(UaEvent):
    """The UA answered a request itself: 481 (no such dialog), 500 (CSeq out of order), 503
    (overloaded: see :class:`UserAgent`)."""

    request: Request
    status: int
    src: Address


@dataclass(frozen=True, slots=True)
class MalformedMessage(UaEvent):
    """Bytes that failed to parse. ``answered`` is the status sent back (a request whose
    Via, From, To, Call-ID and CSeq were readable), None when dropped."""

    data: bytes
    src: Address
    error: SipParseError
    answered: int | None


@dataclass(frozen=True, slots=True)
class StrayResponse(UaEvent):
    """A response matching no client transaction (RFC 3261 18.1.2: discarded)."""

    response: Response
    src: Address


# =========================================================================== hooks


@dataclass(frozen=True, slots=True, init=False)
class MessageRecord:
    """One message on the wire as the UA saw it: for ladders, pcaps and logs."""

    time: float
    direction: Literal["in", "out"]
    src: Address
    dst: Address
    data: bytes

    def __init__(self, time: float, direction: Literal["in", "out"], src: Address,
                 dst: Address, data: bytes) -> None:
        _MR_TIME(self, time)
        _MR_DIRECTION(self, direction)
        _MR_SRC(self, src)
        _MR_DST(self, dst)
        _MR_DATA(self, data)


# One for every message in or out while a recorder listens (see fields.slot_setters).
_MR_TIME, _MR_DIRECTION, _MR_SRC, _MR_DST, _MR_DATA = slot_setters(
    MessageRecord, "time", "direction", "src", "dst", "data")


Recorder = Callable[[MessageRecord], None]


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """A username and password for digest challenges of ``realm`` (None: any realm)."""

    username: str
    password: str
    realm: str | None = None


class UaExtension(Protocol):
    """A TU module run inside the UA (the RFC 6665 subscriber and notifier).

    ``handle_event`` sees every event before the TU; returning True consumes it.
    """

    def handle_event(self, event: UaEvent, now: float) -> bool: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


@dataclass(slots=True)
class UaStats:
    """Counters for what never became an event the TU has to look at."""

    received: int = 0
    sent: int = 0
    malformed: int = 0
    malformed_answered: int = 0
    stray_responses: int = 0
    rejected: int = 0
    #: new out-of-dialog requests answered 503 while overloaded
    shed: int = 0


class _TimerOwner(Protocol):
    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


# =========================================================================== helpers


def replace_top_via(request: Request, via: str) -> Request:
    """A copy of ``request`` whose first Via value is ``via`` (other values kept)."""
    items = list(request.headers.items)
    for i, (name, value) in enumerate(items):
        if canonical_name(name) == "via":
            parts = split_outside_quotes(value, ",")
            parts[0] = via
            items[i] = (name, ", ".join(p.strip() for p in parts))
            return request.replace(headers=Headers(tuple(items)))
    return request.replace(headers=request.headers.added("Via", via, first=True))


def build_cancel(invite: Request) -> Request:
    """The CANCEL for ``invite`` (RFC 3261 9.1): same Request-URI, top Via (branch), Call-ID,
    From, To, CSeq number and Route."""
    headers: list[tuple[str, str]] = [("Via", str(invite.top_via))]
    headers.extend(("Route", r) for r in invite.headers.get_all("route"))
    headers.append(("Max-Forwards", "70"))
    for name in ("From", "To", "Call-ID"):
        headers.append((name, invite.headers.get(name) or ""))
    headers.append(("CSeq", f"{invite.cseq.seq} CANCEL"))
    return build_request("CANCEL", invite.uri, headers)


#: Late messages in a row that make a backlog (one scheduler hiccup delays a few messages;
#: a server behind its load has a queue of them).
LATE_IN_A_ROW = 8

_REQUIRED_FOR_ANSWER = ("via", "from", "to", "call-id", "cseq")
#: The largest answer to unparsable bytes that is sent: the largest UDP payload over IPv4.
MAX_ANSWER_SIZE = 65_507


def salvage_error_response(data: bytes, error: SipParseError, tag: str) -> Response | None:
    """The response to bytes that failed to parse, or None when no answer is possible.

    Possible only for a request (never ACK) whose Via, From, To, Call-ID and CSeq lines are
    present: they are copied as written (RFC 3261 8.2.6.2), a To tag is added, and the status
    and reason phrase come from ``error``; and only when that answer is at most
    :data:`MAX_ANSWER_SIZE` bytes (a 513 copying a 70 kB Via could not be sent) and parses
    itself (the copied lines may hold a bare CR or a NUL: never send garbage back).
    """
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    text = head.decode("utf-8", "replace").lstrip("\r\n")
    lines = text.replace("\r\n", "\n").split("\n")
    first = lines[0].strip()
    if not first or first.upper().startswith("SIP/"):
        return None
    method = first.split(" ", 1)[0]
    items: list[tuple[str, str]] = []
    for raw in lines[1:]:
        if raw[:1] in (" ", "\t") and items:
            items[-1] = (items[-1][0], f"{items[-1][1]} {raw.strip()}")
            continue
        name, colon, value = raw.partition(":")
        if colon and name.strip():
            items.append((canonical_name(name.strip()), value.strip()))
    found: dict[str, list[str]] = {}
    for name, value in items:
        if name in _REQUIRED_FOR_ANSWER and value:
            found.setdefault(name, []).append(value)
    if any(name not in found for name in _REQUIRED_FOR_ANSWER):
        return None
    cseq_method = found["cseq"][0].split()[-1] if found["cseq"][0].split() else ""
    if method.upper() == "ACK" or cseq_method.upper() == "ACK":
        return None
    to = found["to"][0]
    if ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={tag}"
    headers = [("Via", v) for v in found["via"]]
    headers += [("From", found["from"][0]), ("To", to), ("Call-ID", found["call-id"][0]),
                ("CSeq", found["cseq"][0])]
    response = build_response(error.status, error.reason, headers)
    encoded = response.serialize()
    if len(encoded) > MAX_ANSWER_SIZE:
        return None  # the copied headers were the oversize part: the answer cannot leave
    try:
        parse_message(encoded)
    except SipParseError:
        return None  # a bare CR or NUL copied from the request: the answer would be as broken
    return response


#: Headers whose grammar allows one value: a request repeating one is ambiguous, and RFC 4475
#: 3.1.2.18 answers it 400 (the parser keeps the first, which would hide the defect).
_SINGLE_VALUED = ("call-id", "cseq", "from", "to", "max-forwards", "content-length",
                  "content-type", "expires", "event", "subscription-state")


def _check_single_valued(message: Message) -> None:
    headers = message.headers
    index = headers._index if headers._index is not None else headers._lookup()
    if len(index) == len(headers.items):
        return  # no header name appears twice
    for name in _SINGLE_VALUED:
        positions = index.get(name)
        if positions is not None and len(positions) > 1:
            raise SipParseError(f"Bad Header: {pretty_name(name)} appears {len(positions)} "
                                "times")


def _via_transport(transport: str) -> str:
    return {"tcp": "TCP", "tls": "TLS"}.get(transport.lower(), "UDP")


def _hostport(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


class _Uas2xxRetransmitter:
    """RFC 3261 13.3.1.4: the UAS core resends a 2xx to INVITE (T1 doubling to T2) until
    the ACK arrives, and gives up after 64*T1."""

    def __init__(self, ua: UserAgent, response: Response, dst: Address, now: float) -> None:
        self.ua = ua
        self.response = response
        self.data = response.serialize()
        self.dst = dst
        self.interval = ua.timer_config.t1
        self.timers = Deadlines()
        if not is_reliable(dst.transport):
            self.timers.set("retransmit", now + self.interval)
        self.timers.set("give-up", now + ua.timer_config.timeout)

    def get_timer(self) -> float | None:
        return self.timers.earliest()

    def handle_timer(self, now: float) -> None:
        for name in self.timers.due(now):
            if name == "retransmit":
                self.ua._queue(self.data, self.dst, now)
                self.interval = min(2 * self.interval, self.ua.timer_config.t2)
                self.timers.set("retransmit", now + self.interval)
            else:
                self.timers.clear()
                self.ua._forget_2xx(self)
                self.ua._emit(AckTimeout(self.response, self.dst))

    def stop(self) -> None:
        self.timers.clear()


class _Completed:
    """A non-INVITE transaction past its final response (Completed, RFC 3261 17.2.2 and
    17.1.2.2), reduced to what absorbing retransmissions needs: the key, the peer, and
    Timer J (server) or K (client); a server transaction also keeps the answer's bytes, to
    send again when the request is retransmitted, and its To tag. The parsed request and
    responses are let go: a server answering hundreds of requests a second holds thousands
    of these, for 64*T1 (J) or T4 (K)."""

    __slots__ = ("data", "deadline", "key", "local_tag", "peer", "table")

    def __init__(self, key: TransactionKey, peer: Address, data: bytes,
                 local_tag: str | None, deadline: float,
                 table: dict[TransactionKey, _Completed]) -> None:
        self.key = key
        self.peer = peer
        self.data = data
        self.local_tag = local_tag
        self.deadline: float | None = deadline
        self.table = table

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        if self.deadline is not None and self.deadline <= now:  # Timer J or K: Terminated
            self.forget()

    def forget(self) -> None:
        self.deadline = None
        if self.table.get(self.key) is self:
            del self.table[self.key]


class _InOrder:
    """The :class:`_Completed` of one timer (J or K), whose deadlines come in the order they
    are set (now + one fixed delay): a FIFO instead of the heap, O(1) each way. One set
    earlier than the last one (the clock went back, the delay changed) is refused: the
    caller arms it on the heap. Forgotten ones (deadline None) are skipped."""

    __slots__ = ("last", "queue")

    def __init__(self) -> None:
        self.queue: deque[_Completed] = deque()
        self.last = float("-inf")

    def add(self, done: _Completed) -> bool:
        deadline = done.deadline
        if deadline is None or deadline < self.last:
            return False
        self.last = deadline
        self.queue.append(done)
        return True

    def earliest(self) -> float | None:
        queue = self.queue
        while queue:
            deadline = queue[0].deadline
            if deadline is not None:
                return deadline
            queue.popleft()
        return None

    def fire(self, now: float) -> None:
        queue = self.queue
        while queue:
            done = queue[0]
            if done.deadline is not None and done.deadline > now:
                return
            queue.popleft()
            done.handle_timer(now)


# =========================================================================== the core


class UserAgent:
    """A sans-IO SIP user agent core (RFC 3261 sections 8, 12-13, 17, 18; RFC 3581; RFC 6026).

    Construct with the local address (the driver's ``bind`` may correct the port later) and
    a seeded :class:`random.Random`. The TU sends with :meth:`send_request` (or the dialog
    helpers), answers with :meth:`respond` / :meth:`reply`, and reads :meth:`next_event`.

    Overload control (RFC 3261 21.5.4), off unless asked for: once :data:`LATE_IN_A_ROW`
    received messages in a row have waited more than ``overload_delay`` seconds in the
    socket buffer (the driver reports it through :meth:`note_receive_delay`; shedding stops
    once one waited less than half of it), or while ``max_transactions`` transactions await
    an answer, a new out-of-dialog
    request (no To tag; not ACK or CANCEL) is answered 503 with ``Retry-After:
    retry_after`` instead of being handed to the TU. Requests in dialogs and responses are
    still served: they finish work already accepted, so a server past its capacity keeps
    completing what it took on instead of falling behind on everything.
    """

    def __init__(
        self,
        local: Address,
        rng: random.Random,
        *,
        timers: TimerConfig | None = None,
        user: str = "fsync",
        user_agent: str | None = None,
        credentials: Sequence[DigestCredentials] = (),
        respond_to_source: bool = False,
        reject_unknown_dialogs: bool = True,
        max_size: int = DEFAULT_MAX_SIZE,
        recorders: Iterable[Recorder] = (),
        overload_delay: float | None = None,
        max_transactions: int | None = None,
        retry_after: int = 5,
    ) -> None:
        self.local = local
        self.rng = rng
        self.ids = IdGenerator(rng)
        self.timer_config = timers if timers is not None else TimerConfig()
        #: the user part of our Contact and default From
        self.user = user
        #: the User-Agent header value put in requests built here (None: no header)
        self.user_agent = user_agent
        self.credentials = list(credentials)
        #: answer every request to its source address instead of the Via (RFC 3581) route
        self.respond_to_source = respond_to_source
        #: answer 481 to in-dialog requests that match no dialog in :attr:`dialogs`
        self.reject_unknown_dialogs = reject_unknown_dialogs
        self.max_size = max_size
        self.overload_delay = overload_delay
        self.max_transactions = max_transactions
        self.retry_after = retry_after
        #: received messages waited longer than ``overload_delay`` (until one waits less
        #: than half of it)
        self.backlogged = False
        self._late = 0  # messages in a row that waited longer than overload_delay
        #: keys the To tags of stateless answers (drawn when first needed)
        self._tag_secret: bytes | None = None
        self.recorders: list[Recorder] = list(recorders)
        self.dialogs = DialogTable()
        self.stats = UaStats()
        self.extensions: list[UaExtension] = []
        self._client: dict[TransactionKey, ClientTransaction] = {}
        self._server: dict[TransactionKey, ServerTransaction] = {}
        #: non-INVITE server transactions that sent their final response, until Timer J
        self._answered: dict[TransactionKey, _Completed] = {}
        #: non-INVITE client transactions that got their final response, until Timer K
        self._absorbing: dict[TransactionKey, _Completed] = {}
        #: the bytes a transaction last had sent (kept by a transaction that completes)
        self._last_sent = b""
        self._outbox: list[tuple[bytes, Address]] = []
        self._events: deque[UaEvent] = deque()
        self._incoming: deque[UaEvent] = deque()
        self._heap: list[tuple[float, int, _TimerOwner]] = []
        #: Timer J of _answered and Timer K of _absorbing, in deadline order
        self._timer_j = _InOrder()
        self._timer_k = _InOrder()
        self._seq = itertools.count()
        self._uas_2xx: dict[tuple[str, int, str], _Uas2xxRetransmitter] = {}
        self._uac_acks: dict[tuple[str, int, str], tuple[bytes, Address]] = {}
        self._pending_cancels: dict[TransactionKey, Request] = {}
        self._nonce_counts: dict[tuple[str, str], int] = {}
        self._dispatching = False
        # our Via up to the branch and our Contact, for the ``local`` they were made for
        self._via_for: Address | None = None
        self._via_prefix = ""
        self._contact_for: Address | None = None
        self._contact_user = user
        self._contact = ""

    # ------------------------------------------------------------------ Endpoint contract

    def bind(self, local: list[Address]) -> None:
        """Told by the driver which addresses were really bound (port 0 resolved)."""
        same = [a for a in local if a.transport == self.local.transport]
        if same:
            self.local = same[0]
        elif local:
            self.local = local[0]

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        """Feed exactly one SIP message received from ``src``."""
        self.stats.received += 1
        if self.recorders:
            self._record(MessageRecord(now, "in", src, self.local, data))
        try:
            message = parse_message(data, max_size=self.max_size,
                                    stream=src.transport in ("tcp", "tls"))
        except SipParseError as error:
            self._malformed(data, src, error, now)
        else:
            if isinstance(message, Request):
                self._on_request(message, data, src, now)
            else:
                self._on_response(message, data, src, now)
        self._dispatch(now)

    def receive_malformed(self, data: bytes, error: SipParseError, src: Address,
                          now: float) -> None:
        """Take bytes the transport already found malformed (a stream that lost its
        framing: no Content-Length, an oversize header block or body): counted, recorded
        and answered like a datagram that does not parse."""
        self.stats.received += 1
        self._record(MessageRecord(now, "in", src, self.local, data))
        self._malformed(data, src, error, now)
        self._dispatch(now)

    def handle_timer(self, now: float) -> None:
        """Fire every deadline due at ``now``."""
        while self._heap and self._heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(self._heap)
            if owner.get_timer() != deadline:
                continue  # stale entry: the owner was re-armed or finished
            owner.handle_timer(now)
            self._arm(owner)
        self._timer_j.fire(now)
        self._timer_k.fire(now)
        for extension in list(self.extensions):
            deadline_ext = extension.get_timer()
            if deadline_ext is not None and deadline_ext <= now:
                extension.handle_timer(now)
        self._dispatch(now)

    def get_timer(self) -> float | None:
        """The earliest deadline of every transaction, 2xx retransmission and extension."""
        heap = self._heap
        while heap and heap[0][2].get_timer() != heap[0][0]:
            heapq.heappop(heap)
        best = heap[0][0] if heap else None
        deadline = self._timer_j.earliest()
        if deadline is not None and (best is None or deadline < best):
            best = deadline
        deadline = self._timer_k.earliest()
        if deadline is not None and (best is None or deadline < best):
            best = deadline
        for extension in self.extensions:
            deadline = extension.get_timer()
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Everything queued since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    def note_receive_delay(self, delay: float) -> None:
        """Driver hook: the message about to be fed waited ``delay`` seconds in the socket
        buffer (see the overload control in the class docstring)."""
        limit = self.overload_delay
        if limit is None:
            return
        if delay > limit:
            self._late += 1
            if self._late >= LATE_IN_A_ROW:
                self.backlogged = True
            return
        self._late = 0
        if delay < limit / 2:
            self.backlogged = False

    @property
    def overloaded(self) -> bool:
        """Whether a new out-of-dialog request would be answered 503 now."""
        if self.backlogged:
            return True
        limit = self.max_transactions
        return limit is not None and len(self._server) + len(self._client) >= limit

    def transport_error(self, dst: Address, reason: str, now: float) -> None:
        """Driver hook: sending to ``dst`` failed (connection refused, ICMP unreachable).

        Every transaction towards ``dst`` fails (17.1.4 / 17.2.4) with a
        :class:`TransportFailure` event; with none, one event without a transaction.
        """
        hit = False
        for txn in [*self._client.values(), *self._server.values()]:
            if txn.peer == dst and not txn.terminated:
                hit = True
                txn.transport_error(reason, now)
        for done in [*self._absorbing.values(), *self._answered.values()]:
            if done.peer == dst:
                hit = True
                self._emit(TransportFailure(done.key, None, dst, reason))
                done.forget()
        if not hit:
            self._emit(TransportFailure(None, None, dst, reason))
        self._dispatch(now)

    # ------------------------------------------------------------------ events

    def next_event(self) -> UaEvent | None:
        """The oldest event not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[UaEvent]:
        """Every pending event, oldest first (drains the queue)."""
        out = list(self._events)
        self._events.clear()
        return out

    def post_event(self, event: UaEvent) -> None:
        """Queue an event for the TU directly (extensions report their own events here)."""
        self._events.append(event)

    def add_extension(self, extension: UaExtension) -> None:
        self.extensions.append(extension)

    def add_recorder(self, recorder: Recorder) -> None:
        self.recorders.append(recorder)

    # ------------------------------------------------------------------ building messages

    def via(self, branch: str | None = None) -> str:
        """Our Via value: sent-by from :attr:`local`, the branch, and ``rport`` (RFC 3581)."""
        branch = branch or self.ids.branch()
        local = self.local
        if self._via_for is not local:  # made again when bind() moves us
            sent_by = _hostport(local.host, local.port)
            self._via_prefix = f"SIP/2.0/{_via_transport(local.transport)} {sent_by};branch="
            self._via_for = local
        return f"{self._via_prefix}{branch};rport"

    def contact_uri(self, user: str | None = None) -> str:
        """``sip:user@host:port`` (``;transport=tcp`` off UDP) where we receive."""
        user = self.user if user is None else user
        userinfo = f"{user}@" if user else ""
        params = ""
        if self.local.transport in ("tcp", "tls"):
            params = f";transport={self.local.transport}"
        return f"sip:{userinfo}{_hostport(self.local.host, self.local.port)}{params}"

    def contact(self, user: str | None = None) -> str:
        """Our Contact header value."""
        if user is None:
            # made again when bind() moves us or the user changes
            if self._contact_for is not self.local or self._contact_user is not self.user:
                self._contact = f"<{self.contact_uri()}>"
                self._contact_for = self.local
                self._contact_user = self.user
            return self._contact
        return f"<{self.contact_uri(user)}>"

    def aor(self, user: str | None = None) -> str:
        """``sip:user@host`` with our host: a default From/To URI."""
        user = self.user if user is None else user
        host = f"[{self.local.host}]" if ":" in self.local.host else self.local.host
        return f"sip:{user}@{host}"

    def build_request(
        self,
        method: str,
        uri: str,
        *,
        from_uri: str | None = None,
        to_uri: str | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        contact: bool | str = True,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        branch: str | None = None,
    ) -> Request:
        """An out-of-dialog request (RFC 3261 8.1.1): our Via with a fresh branch and
        ``rport``, Max-Forwards 70, From with a new tag, To (with ``to_tag`` if given),
        a new Call-ID, CSeq, our Contact (or the given one; False: none)."""
        from_value = f"<{from_uri or self.aor()}>;tag={from_tag or self.ids.tag()}"
        to_value = f"<{to_uri or uri}>" + (f";tag={to_tag}" if to_tag else "")
        items: list[tuple[str, str]] = [
            ("Via", self.via(branch)),
            ("Max-Forwards", "70"),
            ("From", from_value),
            ("To", to_value),
            ("Call-ID", call_id or self.ids.call_id(self.local.host)),
            ("CSeq", f"{cseq} {method}"),
        ]
        if contact is True:
            items.append(("Contact", self.contact()))
        elif isinstance(contact, str):
            items.append(("Contact", contact))
        if self.user_agent:
            items.append(("User-Agent", self.user_agent))
        items.extend(headers)
        return build_request(method, uri, items, body, content_type)

    def resolve(self, uri: str) -> Address:
        """The address for a SIP URI whose host is an IP literal (or a ``mem`` name): the
        core does no DNS. ``transport=`` picks the transport, default ours."""
        parsed = parse_uri(uri, "URI")
        transport = (parsed.param("transport") or self.local.transport).lower()
        if self.local.transport == "mem":
            transport = "mem"
        if transport == "mem":
            port = 0
        else:
            port = parsed.port or (5061 if parsed.scheme == "sips" or transport == "tls" else 5060)
        return dataclasses.replace(self.local, transport=transport, host=parsed.host, port=port)

    # ------------------------------------------------------------------ sending

    def send_request(self, request: Request, dst: Address, now: float) -> TransactionKey:
        """Send ``request`` in a new client transaction; returns its key.

        A request without Via gets ours (fresh branch); one with a Via is sent as written
        (a test tool may need an odd branch). ACK has no transaction: use :meth:`ack` or
        :meth:`send_stateless`.
        """
        return self._send_new(request, dst, now, None)

    def _send_new(self, request: Request, dst: Address, now: float,
                  branch: str | None) -> TransactionKey:
        """:meth:`send_request`; ``branch`` is the top Via's, when we just wrote it."""
        if request.method == "ACK":
            raise TransactionError("ACK is sent with ack() or send_stateless()")
        if branch is None and "via" not in request.headers:
            branch = self.ids.branch()
            request = request.replace(headers=request.headers.added("Via", self.via(branch),
                                                                     first=True))
        txn = new_client_transaction(request, dst, self, self.timer_config, branch)
        if txn.key in self._client or txn.key in self._absorbing:
            raise TransactionError(f"branch already in use: {txn.key}")
        self._client[txn.key] = txn
        txn.start(now)
        self._arm(txn)
        self._dispatch(now)
        return txn.key

    def send_stateless(self, message: Message, dst: Address, now: float) -> None:
        """Send a message outside any transaction (ACK for 2xx, deliberate junk)."""
        self._queue(message.serialize(), dst, now)

    def send_raw(self, data: bytes, dst: Address, now: float) -> None:
        """Send bytes as they are (negative tests)."""
        self._queue(data, dst, now)

    def send_in_dialog(
        self,
        dialog: Dialog,
        method: str,
        now: float,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        contact: bool = True,
        dst: Address | None = None,
    ) -> TransactionKey:
        """Build (next CSeq) and send a request in ``dialog``; see :meth:`dialog_destination`."""
        branch = self.ids.branch()
        request = dialog.build_request(
            method, headers=headers, body=body, content_type=content_type,
            contact=self.contact() if contact else None, via=self.via(branch))
        return self._send_new(request, dst or self.dialog_destination(dialog), now, branch)

    def dialog_destination(self, dialog: Dialog) -> Address:
        """Where in-dialog requests go: the flow the peer uses (``dialog.peer``, which keeps
        NAT and TCP connections working), else the first Route or remote target."""
        if dialog.peer is not None:
            return dialog.peer
        return self.resolve(dialog.next_hop_uri())

    def ack(
        self,
        response: Response,
        now: float,
        *,
        dialog: Dialog | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        dst: Address | None = None,
    ) -> Request:
        """Send the ACK for a 2xx to INVITE (RFC 3261 13.2.2.4) and remember it, so that a
        retransmitted 2xx is ACKed again without bothering the TU."""
        key = client_key_for_response(response)
        txn = self._client.get(key) if key is not None else None
        if dialog is None:
            dialog = self.dialogs.find_for_response(response)
        if dialog is None:
            if txn is None:
                raise TransactionError("no INVITE transaction or dialog for this 2xx")
            dialog = Dialog.as_uac(txn.request, response, txn.peer)
        ack = dialog.build_ack(response.cseq.seq, headers=headers, body=body,
                               content_type=content_type, via=self.via())
        if dst is None:
            dst = txn.peer if txn is not None else self.dialog_destination(dialog)
        data = ack.serialize()
        self._queue(data, dst, now)
        if response.to_tag:
            self._uac_acks[(response.call_id, response.cseq.seq, response.to_tag)] = (data, dst)
        return ack

    def cancel(self, invite: TransactionKey, now: float) -> TransactionKey:
        """Cancel a pending INVITE (RFC 3261 9.1). Sent at once in Proceeding; in Calling it
        waits for the first provisional response. Returns the CANCEL's transaction key."""
        txn = self._client.get(invite)
        if not isinstance(txn, ClientInviteTransaction):
            raise TransactionError(f"no pending INVITE client transaction {invite}")
        cancel = build_cancel(txn.request)
        if txn.state is TxnState.PROCEEDING:
            self.send_request(cancel, txn.peer, now)
        elif txn.state is TxnState.CALLING:
            self._pending_cancels[invite] = cancel
        else:
            raise TransactionError(f"too late to cancel: INVITE is {txn.state.value}")
        return client_key(txn.key.branch, "CANCEL")

    # ------------------------------------------------------------------ answering

    def respond(self, transaction: TransactionKey, response: Response, now: float) -> None:
        """Send ``response`` in server transaction ``transaction``.

        A 2xx to INVITE is then retransmitted by the UA until its ACK arrives
        (13.3.1.4), or :class:`AckTimeout` after 64*T1.
        """
        txn = self._server.get(transaction)
        if txn is None:
            raise self._finished(transaction, response.status)
        txn.send_response(response, now)
        if txn.state is TxnState.COMPLETED and isinstance(txn, ServerNonInviteTransaction):
            self._keep_answer(txn)
        else:
            self._arm(txn)
        if (isinstance(txn, ServerInviteTransaction) and response.is_success
                and response.to_tag and (response.call_id, response.cseq.seq,
                                         response.to_tag) not in self._uas_2xx):
            retransmitter = _Uas2xxRetransmitter(self, response, txn.peer, now)
            self._uas_2xx[(response.call_id, response.cseq.seq, response.to_tag)] = retransmitter
            self._arm(retransmitter)
        self._dispatch(now)

    def local_tag_for(self, transaction: TransactionKey) -> str:
        """The To tag this server transaction answers with (made up once, then kept)."""
        txn = self._server.get(transaction)
        if txn is None:
            answered = self._answered.get(transaction)
            if answered is not None and answered.local_tag is not None:
                return answered.local_tag
            raise self._finished(transaction)
        if txn.local_tag is None:
            txn.local_tag = txn.request.to_tag or self.ids.tag()
        return txn.local_tag

    def reply(
        self,
        transaction: TransactionKey,
        status: int,
        now: float,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        contact: bool = False,
    ) -> Response:
        """Build the response to the transaction's request (our To tag on everything but
        100, Contact when asked) and send it with :meth:`respond`."""
        txn = self._server.get(transaction)
        if txn is None:
            raise self._finished(transaction, status)
        extra = list(headers)
        if contact:
            extra.insert(0, ("Contact", self.contact()))
        tag = self.local_tag_for(transaction) if status != 100 else None
        response = txn.request.response(status, reason, to_tag=tag, headers=extra, body=body,
                                        content_type=content_type)
        self.respond(transaction, response, now)
        return response

    def create_uas_dialog(self, transaction: TransactionKey) -> Dialog:
        """Register the dialog created by answering this request with a 2xx (or 1xx)."""
        txn = self._server.get(transaction)
        if txn is None:
            raise TransactionError(f"unknown or finished server transaction {transaction}")
        dialog = Dialog.as_uas(txn.request, self.local_tag_for(transaction), txn.source)
        return self.dialogs.add(dialog)

    def create_uac_dialog(self, response: Response) -> Dialog:
        """Register the dialog created by a response to a request we sent."""
        key = client_key_for_response(response)
        txn = self._client.get(key) if key is not None else None
        if txn is None:
            raise TransactionError("no client transaction for this response")
        existing = self.dialogs.find_for_response(response)
        if existing is not None:
            existing.receive_response(response)
            return existing
        return self.dialogs.add(Dialog.as_uac(txn.request, response, txn.peer))

    # ------------------------------------------------------------------ introspection

    def client_transaction(self, key: TransactionKey) -> ClientTransaction | None:
        """A client transaction still waiting for its final response (or an INVITE one);
        None once a non-INVITE one has it (it only absorbs retransmissions then)."""
        return self._client.get(key)

    def server_transaction(self, key: TransactionKey) -> ServerTransaction | None:
        """A server transaction still waiting for (or sending) its final response; None
        once a non-INVITE one has answered (it only absorbs retransmissions then)."""
        return self._server.get(key)

    @property
    def transaction_count(self) -> int:
        """Live transactions, both sides (0 once every K/J/I/D/L/M timer ran out)."""
        return (len(self._client) + len(self._server) + len(self._absorbing)
                + len(self._answered))

    # ------------------------------------------------------------------ TransactionUser

    def transaction_send(self, txn: Transaction, message: Message, now: float) -> None:
        data = message.serialize()
        self._last_sent = data
        self._queue(data, txn.peer, now)

    def transaction_response(self, txn: ClientTransaction, response: Response,
                             now: float) -> None:
        retransmission = False
        if isinstance(txn, ClientInviteTransaction) and response.is_success:
            tag = response.to_tag or ""
            stored = self._uac_acks.get((response.call_id, response.cseq.seq, tag))
            earlier = [r for r in txn.responses[:-1]
                       if r.is_success and (r.to_tag or "") == tag]
            if earlier and stored is not None:
                self._queue(stored[0], stored[1], now)  # 13.2.2.4: re-ACK, TU not bothered
                return
            retransmission = bool(earlier)
        if (response.status in (401, 407) and not retransmission
                and self._retry_with_credentials(txn, response, now)):
            return
        self._emit(ResponseReceived(response, txn.key, txn.request, retransmission))
        dialog = self.dialogs.find_for_response(response)
        if dialog is not None:
            dialog.receive_response(response)
        cancel = self._pending_cancels.pop(txn.key, None)
        if cancel is not None and response.is_provisional:
            self.send_request(cancel, txn.peer, now)

    def transaction_ack(self, txn: ServerInviteTransaction, ack: Request, now: float) -> None:
        self._ack_for_2xx(ack, txn.source, now)

    def transaction_timeout(self, txn: Transaction, timer: str, now: float) -> None:
        self._pending_cancels.pop(txn.key, None)
        self._emit(TransactionTimeout(txn.key, txn.request, timer))

    def transaction_transport_error(self, txn: Transaction, reason: str, now: float) -> None:
        self._emit(TransportFailure(txn.key, txn.request, txn.peer, reason))

    def transaction_terminated(self, txn: Transaction, now: float) -> None:
        if txn.key.role == "client":
            self._client.pop(txn.key, None)
            self._pending_cancels.pop(txn.key, None)
            if isinstance(txn, ClientInviteTransaction):
                for response in txn.responses:
                    if response.is_success:
                        self._uac_acks.pop(
                            (response.call_id, response.cseq.seq, response.to_tag or ""), None)
        else:
            self._server.pop(txn.key, None)

    # ------------------------------------------------------------------ internals: input

    def _on_request(self, request: Request, data: bytes, src: Address, now: float) -> None:
        try:
            key = server_key(request)
            cseq = request.cseq
            _ = (request.call_id, request.from_addr, request.to_addr)
            if cseq.method != request.method:
                raise SipParseError("Bad Header: CSeq method does not match the request")
            _check_single_valued(request)
            request = self._annotate_via(request, src)
        except SipParseError as error:
            self._malformed(data, src, error, now)
            return
        if request.method == "ACK":
            self._on_ack(request, key, src, now)
            return
        existing = self._server.get(key)
        if existing is not None:
            existing.receive_request(request, now)  # retransmission: absorbed or re-answered
            self._arm(existing)
            return
        answered = self._answered.get(key)
        if answered is not None:
            self._queue(answered.data, answered.peer, now)  # 17.2.2: the final again
            return
        if request.method == "CANCEL":
            self._on_cancel(request, key, src, now)
            return
        if not request.to_tag and self.overloaded:
            self._shed(request, key, src, now)
            return
        dialog_id: DialogId | None = None
        if request.to_tag:
            dialog = self.dialogs.find_for_request(request)
            if dialog is not None:
                try:
                    status = dialog.receive_request(request)  # reads Contact: may be bad
                except SipParseError as error:
                    self._malformed(data, src, error, now)
                    return
                if status is not None:
                    self._reject(request, key, status, src, now, "CSeq out of order")
                    return
                dialog.peer = src
                dialog_id = dialog.id
            elif (not self.dialogs.is_expected(request.call_id, request.to_tag)
                  and self.reject_unknown_dialogs):
                self._reject(request, key, 481, src, now)
                return
        txn = self._new_server_transaction(request, key, src, now)
        self._emit(RequestReceived(request, txn.key, src, dialog_id))

    def _new_server_transaction(self, request: Request, key: TransactionKey, src: Address,
                                now: float) -> ServerTransaction:
        """A server transaction for ``request``, known by ``key``: its key as received (the
        ``received`` noted in its top Via would change an RFC 2543 key)."""
        txn = new_server_transaction(request, self._response_destination(request, src), self,
                                     self.timer_config, key)
        txn.source = src
        self._server[txn.key] = txn
        if isinstance(txn, ServerInviteTransaction):
            txn.arm_trying(now)
        self._arm(txn)
        return txn

    def _keep_answer(self, txn: ServerNonInviteTransaction) -> None:
        """``txn`` sent its final response and waits out Timer J: keep only its answer."""
        deadline = txn.get_timer()
        assert deadline is not None, "a Completed non-INVITE server transaction runs Timer J"
        txn.timers.clear()
        del self._server[txn.key]
        answered = _Completed(txn.key, txn.peer, self._last_sent, txn.local_tag, deadline,
                              self._answered)
        self._answered[txn.key] = answered
        if not self._timer_j.add(answered):
            self._arm(answered)

    def _finished(self, key: TransactionKey, status: int | None = None) -> TransactionError:
        """What answering in a transaction that is not live raises."""
        if status is not None and key in self._answered:
            return TransactionError("non-INVITE server transaction in state Completed cannot "
                                    f"send {status}")
        return TransactionError(f"unknown or finished server transaction {key}")

    def _shed(self, request: Request, key: TransactionKey, src: Address, now: float) -> None:
        """503 Service Unavailable with Retry-After (RFC 3261 21.5.4): overloaded.

        Answered statelessly (8.2.7): no transaction is kept (shedding must cost less than
        serving, in time and memory); a retransmission gets the same answer again, its To
        tag a keyed hash of the request's transaction key."""
        self.stats.shed += 1
        if self._tag_secret is None:
            self._tag_secret = self.rng.randbytes(16)
        tag = hashlib.blake2s(str(key).encode("utf-8", "surrogateescape"),
                              key=self._tag_secret, digest_size=6).hexdigest()
        response = request.response(503, to_tag=tag,
                                    headers=[("Retry-After", str(self.retry_after))])
        self._queue(response.serialize(), self._response_destination(request, src), now)
        self._emit(RequestRejected(request, 503, src))

    def _reject(self, request: Request, key: TransactionKey, status: int, src: Address,
                now: float, reason: str | None = None) -> None:
        txn = self._new_server_transaction(request, key, src, now)
        self.stats.rejected += 1
        self.reply(txn.key, status, now, reason)
        self._emit(RequestRejected(request, status, src))

    def _on_ack(self, ack: Request, key: TransactionKey, src: Address, now: float) -> None:
        txn = self._server.get(key)
        if isinstance(txn, ServerInviteTransaction):
            txn.receive_request(ack, now)  # non-2xx ACK absorbed; Accepted -> TU
            self._arm(txn)
            return
        self._ack_for_2xx(ack, src, now)

    def _ack_for_2xx(self, ack: Request, src: Address, now: float) -> None:
        retransmitter = self._uas_2xx.pop((ack.call_id, ack.cseq.seq, ack.to_tag or ""), None)
        if retransmitter is not None:
            retransmitter.stop()
        dialog = self.dialogs.find_for_request(ack)
        self._emit(AckReceived(ack, src, dialog.id if dialog is not None else None))

    def _on_cancel(self, cancel: Request, key: TransactionKey, src: Address,
                   now: float) -> None:
        invite_key = TransactionKey("server", key.branch, "INVITE", key.sent_by)
        invite = self._server.get(invite_key)
        txn = self._new_server_transaction(cancel, key, src, now)
        if not isinstance(invite, ServerInviteTransaction):
            self.stats.rejected += 1
            self.reply(txn.key, 481, now)
            self._emit(RequestRejected(cancel, 481, src))
            return
        # 9.2: the CANCEL's 200 carries the same To tag as the INVITE's responses
        tag = self.local_tag_for(invite_key)
        self.respond(txn.key, cancel.response(200, to_tag=tag), now)
        if invite.state is TxnState.PROCEEDING:
            self.reply(invite_key, 487, now)
        self._emit(CancelReceived(cancel, invite_key, src))

    def _on_response(self, response: Response, data: bytes, src: Address, now: float) -> None:
        try:
            _ = (response.cseq, response.call_id, response.from_addr, response.to_addr)
            key = client_key_for_response(response)
        except SipParseError as error:
            self._malformed(data, src, error, now)
            return
        txn = self._client.get(key) if key is not None else None
        if txn is None:
            if key is not None and key in self._absorbing:
                return  # a retransmitted final response: absorbed (Timer K, 17.1.2.2)
            stored = None
            if response.is_success and response.cseq.method == "INVITE":
                stored = self._uac_acks.get(
                    (response.call_id, response.cseq.seq, response.to_tag or ""))
            if stored is not None:
                self._queue(stored[0], stored[1], now)
                return
            self.stats.stray_responses += 1
            self._emit(StrayResponse(response, src))
            return
        txn.receive_response(response, now)
        if (txn.state is TxnState.COMPLETED and isinstance(txn, ClientNonInviteTransaction)
                and self._client.get(txn.key) is txn):
            self._keep_absorbing(txn)
        else:
            self._arm(txn)

    def _keep_absorbing(self, txn: ClientNonInviteTransaction) -> None:
        """``txn`` got its final response (the TU has it) and waits out Timer K: keep only
        its key and deadline."""
        deadline = txn.get_timer()
        assert deadline is not None, "a Completed non-INVITE client transaction runs Timer K"
        txn.timers.clear()
        del self._client[txn.key]
        done = _Completed(txn.key, txn.peer, b"", None, deadline, self._absorbing)
        self._absorbing[txn.key] = done
        if not self._timer_k.add(done):
            self._arm(done)

    def _malformed(self, data: bytes, src: Address, error: SipParseError, now: float) -> None:
        self.stats.malformed += 1
        answer = salvage_error_response(data, error, self.ids.tag())
        if answer is not None:
            self.stats.malformed_answered += 1
            self._queue(answer.serialize(), src, now)
        self._emit(MalformedMessage(data, src, error, answer.status if answer else None))

    def _extension_parse_error(self, event: UaEvent, error: SipParseError,
                               now: float) -> None:
        """Answer a request an extension choked on with the error's status (if nothing
        final was sent yet) and report it as malformed."""
        if not isinstance(event, RequestReceived):
            raise error  # a response or timeout cannot carry a bad header of ours: a bug
        txn = self._server.get(event.transaction)
        answered: int | None = None
        final_sent = event.transaction in self._answered or (
            txn is not None and txn.last_response is not None
            and txn.last_response.status >= 200)
        if txn is not None and not final_sent:
            self.reply(event.transaction, error.status, now, error.reason)
            answered = error.status
        self.stats.malformed += 1
        self._events.append(MalformedMessage(event.request.serialize(), event.src, error,
                                             answered))

    def _annotate_via(self, request: Request, src: Address) -> Request:
        """RFC 3261 18.2.1 and RFC 3581: note where the request really came from in the
        top Via (``received``; ``rport`` filled in when the client asked for it)."""
        if src.transport == "mem":
            return request
        via = request.top_via
        new = via
        rport_asked = via.rport is not None and via.rport == ""
        if rport_asked:
            new = new.with_param("received", src.host).with_param("rport", str(src.port))
        elif via.host.strip("[]").lower() != src.host.lower():
            new = new.with_param("received", src.host)
        if new is via:
            return request
        return replace_top_via(request, str(new))

    def _response_destination(self, request: Request, src: Address) -> Address:
        """RFC 3261 18.2.2 with RFC 3581: over a stream (or ``mem``) back to the source;
        over UDP to ``received``:``rport`` (or the Via's sent-by)."""
        if self.respond_to_source or src.transport != "udp":
            return src
        via = request.top_via
        host = via.received or via.host
        try:
            port = int(via.rport) if via.rport else (via.port or 5060)
            return dataclasses.replace(src, host=host, port=port)
        except ValueError:
            return src

    # ------------------------------------------------------------------ internals: output

    def _queue(self, data: bytes, dst: Address, now: float) -> None:
        self.stats.sent += 1
        self._outbox.append((data, dst))
        if self.recorders:
            self._record(MessageRecord(now, "out", self.local, dst, data))

    def _record(self, record: MessageRecord) -> None:
        for recorder in self.recorders:
            recorder(record)

    def _emit(self, event: UaEvent) -> None:
        self._incoming.append(event)

    def _dispatch(self, now: float) -> None:
        """Offer each new event to the extensions, in order; the rest go to the TU."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._incoming:
                event = self._incoming.popleft()
                consumed = False
                try:
                    for extension in self.extensions:
                        if extension.handle_event(event, now):
                            consumed = True
                            break
                except SipParseError as error:
                    # an extension read a header that does not parse (Event, Contact...)
                    consumed = True
                    self._extension_parse_error(event, error, now)
                if not consumed:
                    self._events.append(event)
        finally:
            self._dispatching = False

    def _arm(self, owner: _TimerOwner) -> None:
        deadline = owner.get_timer()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._seq), owner))

    def _forget_2xx(self, retransmitter: _Uas2xxRetransmitter) -> None:
        response = retransmitter.response
        self._uas_2xx.pop((response.call_id, response.cseq.seq, response.to_tag or ""), None)

    # ------------------------------------------------------------------ authentication

    def _retry_with_credentials(self, txn: ClientTransaction, response: Response,
                                now: float) -> bool:
        """Resend the request with digest credentials (RFC 3261 22.2) when we hold some for
        the challenge's realm and have not just failed with that nonce."""
        if not self.credentials:
            return False
        proxy = response.status == 407
        challenge_header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        answer_header = "Proxy-Authorization" if proxy else "Authorization"
        request = txn.request
        for value in response.headers.get_all(challenge_header):
            try:
                challenge = Challenge.parse(value, challenge_header)
            except SipParseError:
                continue
            creds = next((c for c in self.credentials
                          if c.realm is None or c.realm == challenge.realm), None)
            if creds is None:
                continue
            if not challenge.stale and self._already_tried(request, answer_header, challenge):
                return False  # wrong password: let the TU see the 401/407
            count_key = (challenge.realm, challenge.nonce)
            nc = self._nonce_counts.get(count_key, 0) + 1
            self._nonce_counts[count_key] = nc
            entity = request.body if "auth" not in challenge.qop else None
            authorization = make_authorization(
                challenge, creds.username, creds.password, request.method, request.uri,
                self.ids.cnonce(), nc, entity_body=entity)
            seq = request.cseq.seq + 1
            headers = request.headers.removed(answer_header).replaced(
                "CSeq", f"{seq} {request.method}").added(answer_header, authorization)
            retry = replace_top_via(request.replace(headers=headers),
                                    str(request.top_via.with_param("branch", self.ids.branch())))
            retry = build_request(retry.method, retry.uri, list(retry.headers.items), retry.body)
            new_key = self.send_request(retry, txn.peer, now)
            dialog = self.dialogs.find_for_response(response) if request.to_tag else None
            if dialog is not None:
                dialog.local_cseq = max(dialog.local_cseq, seq)
            self._emit(AuthenticationRetry(txn.key, new_key, retry, response))
            return True
        return False

    @staticmethod
    def _already_tried(request: Request, header: str, challenge: Challenge) -> bool:
        for value in request.headers.get_all(header):
            try:
                sent = Credentials.parse(value, header)
            except SipParseError:
                continue
            if sent.realm == challenge.realm and sent.nonce == challenge.nonce:
                return True
        return False


__all__ = [
    "AckReceived",
    "AckTimeout",
    "AuthenticationRetry",
    "CancelReceived",
    "DigestCredentials",
    "MalformedMessage",
    "MessageRecord",
    "Recorder",
    "RequestReceived",
    "RequestRejected",
    "ResponseReceived",
    "StrayResponse",
    "TransactionTimeout",
    "TransportFailure",
    "UaEvent",
    "UaExtension",
    "UaStats",
    "UserAgent",
    "build_cancel",
    "replace_top_via",
    "salvage_error_response",
]
