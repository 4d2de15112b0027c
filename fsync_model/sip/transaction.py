"""RFC 3261 section 17 transactions, sans-IO: four state machines with timers as deadlines.

A transaction never touches a socket or a clock. It is fed messages and ``now``, tells its
transaction user (TU, here the :class:`~fsync_model.sip.useragent.UserAgent`) what to send and
what happened through the small :class:`TransactionUser` protocol, and hands out its next
deadline from :meth:`Transaction.get_timer`; :meth:`Transaction.handle_timer` fires what is due.

INVITE transactions follow RFC 6026 (which updates RFC 3261): a 2xx moves the client
transaction to *Accepted* (Timer M) and the server transaction to *Accepted* (Timer L), so
2xx retransmissions and their ACKs are handled by the UA core, never dropped as strays.

Matching (17.1.3 and 17.2.3) is by :class:`TransactionKey`: branch + method on the client
side; branch + sent-by + method on the server side, where ACK matches the INVITE it
acknowledges and CANCEL has its own transaction. Requests from RFC 2543 elements (no magic
cookie in the branch) fall back to a key built from the dialog identifiers.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from fsync_model.sip.errors import TransactionError as TransactionError  # re-exported
from fsync_model.sip.fields import MAGIC_COOKIE, slot_setters
from fsync_model.sip.message import Message, Request, Response, build_request
from fsync_model.sip.params import SHORT_HASH
from fsync_model.sip.timers import Deadlines, TimerConfig, is_reliable

if TYPE_CHECKING:
    from fsync_model.transport.address import Address


class TxnState(enum.Enum):
    #: 17.1.1.2: INVITE sent, Timer A retransmits it, Timer B gives up.
    CALLING = "Calling"
    #: 17.1.2.2 / 17.2.2: non-INVITE sent (client) or received (server), no response yet.
    TRYING = "Trying"
    #: A provisional response was received (client) or sent (server).
    PROCEEDING = "Proceeding"
    #: A final response (300-699 for INVITE) was received or sent; absorbing retransmissions.
    COMPLETED = "Completed"
    #: RFC 6026 section 7.1/7.2: a 2xx to INVITE; the UA core owns its retransmission/ACK.
    ACCEPTED = "Accepted"
    #: 17.2.1: the ACK for a non-2xx final response was received (server INVITE only).
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


@dataclass(frozen=True, slots=True, init=False, eq=False)
class TransactionKey:
    """Identifies one transaction (RFC 3261 sections 17.1.3 and 17.2.3).

    ``method`` is ``INVITE`` for an ACK to a non-2xx (it belongs to the INVITE transaction);
    ``sent_by`` is the top Via's ``host:port`` on the server side and empty on the client side.

    A dictionary key of the UA's tables, looked up about a dozen times per message: the
    hash is computed once, and ``__init__``, ``__eq__`` and ``__hash__`` are written out (the
    ones dataclasses generates are interpreted even where this module is compiled).
    """

    role: Literal["client", "server"]
    branch: str
    method: str
    sent_by: str = ""
    _hash: int = field(default=0, repr=False, compare=False)

    def __init__(self, role: Literal["client", "server"], branch: str, method: str,
                 sent_by: str = "") -> None:
        _KEY_ROLE(self, role)
        _KEY_BRANCH(self, branch)
        _KEY_METHOD(self, method)
        _KEY_SENT_BY(self, sent_by)
        _KEY_HASH(self, hash((role, branch, method, sent_by)) & SHORT_HASH)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransactionKey):
            return NotImplemented
        return (self._hash == other._hash and self.branch == other.branch
                and self.method == other.method and self.role == other.role
                and self.sent_by == other.sent_by)

    def __str__(self) -> str:
        where = f"@{self.sent_by}" if self.sent_by else ""
        return f"{self.role}:{self.method}:{self.branch}{where}"


_KEY_ROLE, _KEY_BRANCH, _KEY_METHOD, _KEY_SENT_BY, _KEY_HASH = slot_setters(
    TransactionKey, "role", "branch", "method", "sent_by", "_hash")


def client_key(branch: str, method: str) -> TransactionKey:
    return TransactionKey("client", branch, method)


def client_key_for_response(response: Response) -> TransactionKey | None:
    """The client transaction a response belongs to (17.1.3), None without a branch."""
    branch = response.branch
    if not branch:
        return None
    return client_key(branch, response.cseq.method)


def server_key(request: Request) -> TransactionKey:
    """The server transaction a request belongs to (17.2.3).

    Raises :class:`~fsync_model.sip.errors.SipParseError` when Via or CSeq is unreadable.
    """
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    port = via.port if via.port is not None else 5060
    sent_by = f"{via.host.lower()}:{port}"
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE):
        return TransactionKey("server", branch, method, sent_by)
    # RFC 2543 peer: Request-URI, From tag, Call-ID, CSeq number and the top Via identify the
    # transaction (17.2.3); the To tag is left out so the ACK (which has one) still matches.
    legacy = "|".join(
        ("rfc2543", request.uri, request.from_tag or "", request.call_id,
         str(request.cseq.seq), str(via))
    )
    return TransactionKey("server", legacy, method, sent_by)


class TransactionUser(Protocol):
    """What a transaction tells its user. The UA implements it; tests record it."""

    def transaction_send(self, txn: Transaction, message: Message, now: float) -> None:
        """Put ``message`` on the wire towards ``txn.peer``."""

    def transaction_response(self, txn: ClientTransaction, response: Response,
                             now: float) -> None:
        """A response for the TU (client side; retransmissions are absorbed before this)."""

    def transaction_ack(self, txn: ServerInviteTransaction, ack: Request, now: float) -> None:
        """An ACK that matched an Accepted INVITE server transaction (RFC 6026 8.7)."""

    def transaction_timeout(self, txn: Transaction, timer: str, now: float) -> None:
        """Timer B, F or H fired: the peer never answered (or never ACKed)."""

    def transaction_transport_error(self, txn: Transaction, reason: str, now: float) -> None:
        """The transport could not send for this transaction (17.1.4, 17.2.4)."""

    def transaction_terminated(self, txn: Transaction, now: float) -> None:
        """The transaction reached Terminated: the UA forgets it."""


class Transaction:
    """State shared by the four machines: key, original request, peer, timers."""

    #: the RFC 3261 name of the machine, for diagrams and logs
    kind = "transaction"

    def __init__(self, key: TransactionKey, request: Request, peer: Address,
                 tu: TransactionUser, config: TimerConfig) -> None:
        self.key = key
        self.request = request
        self.peer = peer
        self.tu = tu
        self.config = config
        self.reliable = is_reliable(peer.transport)
        self.state = TxnState.TERMINATED
        self.timers = Deadlines()
        #: every state entered, in order (for tests and diagrams)
        self.history: list[TxnState] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key} {self.state.value} timers={self.timers}>"

    @property
    def terminated(self) -> bool:
        return self.state is TxnState.TERMINATED

    def get_timer(self) -> float | None:
        """The earliest deadline, absolute, in the caller's time base; None when idle."""
        return self.timers.earliest()

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now`` (earliest first)."""
        for name in self.timers.due(now):
            if self.terminated:
                break
            self._fire(name, now)

    def transport_error(self, reason: str, now: float) -> None:
        """The transport failed to deliver a message of this transaction: inform the TU and
        terminate (17.1.4 / 17.2.4)."""
        if self.terminated:
            return
        self.tu.transaction_transport_error(self, reason, now)
        self._terminate(now)

    # -- internals --------------------------------------------------------------------------

    def _enter(self, state: TxnState) -> None:
        self.state = state
        self.history.append(state)

    def _send(self, message: Message, now: float) -> None:
        self.tu.transaction_send(self, message, now)

    def _terminate(self, now: float) -> None:
        if self.terminated and self.history:
            return
        self.timers.clear()
        self._enter(TxnState.TERMINATED)
        self.tu.transaction_terminated(self, now)

    def _wait_or_end(self, timer: str, delay: float, now: float) -> None:
        """Arm an absorbing timer (D, K, I, J) or, when it is zero (reliable), end now."""
        if delay <= 0:
            self._terminate(now)
        else:
            self.timers.set(timer, now + delay)

    def _fire(self, name: str, now: float) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------- client side


class ClientTransaction(Transaction):
    """Base of the client machines: :meth:`start` sends, :meth:`receive_response` is fed."""

    def __init__(self, request: Request, peer: Address, tu: TransactionUser,
                 config: TimerConfig, branch: str | None = None) -> None:
        branch = branch or request.branch  # given by a caller that just wrote the Via
        if not branch:
            raise TransactionError("a client transaction needs a Via branch")
        super().__init__(client_key(branch, request.method), request, peer, tu, config)
        #: the interval the retransmission timer (A or E) was last armed with
        self.interval = config.t1
        #: the last response of each class seen, newest last
        self.responses: list[Response] = []

    def start(self, now: float) -> None:
        raise NotImplementedError

    def receive_response(self, response: Response, now: float) -> None:
        raise NotImplementedError


class ClientNonInviteTransaction(ClientTransaction):
    """RFC 3261 figure 6 (17.1.2.2): Trying -> Proceeding -> Completed -> Terminated.

    Timer E retransmits the request on unreliable transports at T1, 2*T1... capped at T2
    (T2 flat once a provisional arrived); Timer F (64*T1) gives up; Timer K (T4, zero on
    reliable transports) absorbs retransmitted final responses.
    """

    kind = "non-INVITE client"

    def start(self, now: float) -> None:
        self._enter(TxnState.TRYING)
        self._send(self.request, now)
        if not self.reliable:
            self.interval = self.config.t1
            self.timers.set("E", now + self.interval)
        self.timers.set("F", now + self.config.timeout)

    def receive_response(self, response: Response, now: float) -> None:
        if self.state not in (TxnState.TRYING, TxnState.PROCEEDING):
            return  # Completed: retransmitted final absorbed (Timer K's purpose)
        self.responses.append(response)
        if response.is_provisional:
            if self.state is TxnState.TRYING:
                self._enter(TxnState.PROCEEDING)
            self.tu.transaction_response(self, response, now)
            return
        self.timers.cancel("E", "F")
        self._enter(TxnState.COMPLETED)
        self.tu.transaction_response(self, response, now)
        self._wait_or_end("K", self.config.timer_k(self.reliable), now)

    def _fire(self, name: str, now: float) -> None:
        if name == "E":
            self._send(self.request, now)
            if self.state is TxnState.PROCEEDING:
                self.interval = self.config.t2
            else:
                self.interval = min(2 * self.interval, self.config.t2)
            self.timers.set("E", now + self.interval)
        elif name == "F":
            self.tu.transaction_timeout(self, "F", now)
            self._terminate(now)
        elif name == "K":
            self._terminate(now)


class ClientInviteTransaction(ClientTransaction):
    """RFC 3261 figure 5 (17.1.1.2) as updated by RFC 6026 figure 3.

    Calling (Timer A doubles without cap, Timer B = 64*T1) -> Proceeding on 1xx; on
    300-699 -> Completed, the transaction itself ACKs (17.1.1.3) and re-ACKs retransmitted
    finals during Timer D; on 2xx -> Accepted (Timer M = 64*T1), where 2xx retransmissions
    (and forked 2xx) go to the TU, which ACKs them (RFC 3261 13.2.2.4).
    """

    kind = "INVITE client"

    def __init__(self, request: Request, peer: Address, tu: TransactionUser,
                 config: TimerConfig, branch: str | None = None) -> None:
        super().__init__(request, peer, tu, config, branch)
        self.ack: Request | None = None

    def start(self, now: float) -> None:
        self._enter(TxnState.CALLING)
        self._send(self.request, now)
        if not self.reliable:
            self.interval = self.config.t1
            self.timers.set("A", now + self.interval)
        self.timers.set("B", now + self.config.timeout)

    def receive_response(self, response: Response, now: float) -> None:
        state = self.state
        if state in (TxnState.CALLING, TxnState.PROCEEDING):
            self.responses.append(response)
            if response.is_provisional:
                self.timers.cancel("A", "B")
                if state is TxnState.CALLING:
                    self._enter(TxnState.PROCEEDING)
                self.tu.transaction_response(self, response, now)
            elif response.is_success:
                self.timers.cancel("A", "B")
                self._enter(TxnState.ACCEPTED)
                self.timers.set("M", now + self.config.timeout)
                self.tu.transaction_response(self, response, now)
            else:
                self.timers.cancel("A", "B")
                self._enter(TxnState.COMPLETED)
                self.ack = build_non2xx_ack(self.request, response)
                self._send(self.ack, now)
                self.tu.transaction_response(self, response, now)
                self._wait_or_end("D", self.config.timer_d(self.reliable), now)
        elif state is TxnState.ACCEPTED:
            if response.is_success:
                self.responses.append(response)
                self.tu.transaction_response(self, response, now)
        elif state is TxnState.COMPLETED and response.status >= 300 and self.ack is not None:
            self._send(self.ack, now)

    def _fire(self, name: str, now: float) -> None:
        if name == "A":
            self._send(self.request, now)
            self.interval *= 2
            self.timers.set("A", now + self.interval)
        elif name == "B":
            self.tu.transaction_timeout(self, "B", now)
            self._terminate(now)
        elif name in ("D", "M"):
            self._terminate(now)


def build_non2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK for a 300-699 answer to ``invite`` (RFC 3261 section 17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via (same branch) as the INVITE, the
    To of the response (with its tag), the INVITE's Route headers; no body.
    """
    headers: list[tuple[str, str]] = [("Via", str(invite.top_via))]
    headers.extend(("Route", r) for r in invite.headers.get_all("route"))
    headers.append(("Max-Forwards", "70"))
    headers.append(("From", invite.headers.get("from") or ""))
    headers.append(("To", response.headers.get("to") or invite.headers.get("to") or ""))
    headers.append(("Call-ID", invite.call_id))
    headers.append(("CSeq", f"{invite.cseq.seq} ACK"))
    return build_request("ACK", invite.uri, headers)


# --------------------------------------------------------------------------- server side


class ServerTransaction(Transaction):
    """Base of the server machines: fed retransmitted requests and the TU's responses.
    ``key`` is ``server_key(request)``, when the caller has it already."""

    def __init__(self, request: Request, peer: Address, tu: TransactionUser,
                 config: TimerConfig, key: TransactionKey | None = None) -> None:
        super().__init__(key if key is not None else server_key(request), request, peer, tu,
                         config)
        #: the last response sent (re-sent when the request is retransmitted)
        self.last_response: Response | None = None
        #: the To tag this transaction answers with, when the TU let the UA pick one
        self.local_tag: str | None = None
        #: where the request came from (``peer`` is where responses go: RFC 3581 may differ)
        self.source: Address = peer

    def receive_request(self, request: Request, now: float) -> None:
        raise NotImplementedError

    def send_response(self, response: Response, now: float) -> None:
        raise NotImplementedError


class ServerNonInviteTransaction(ServerTransaction):
    """RFC 3261 figure 8 (17.2.2): Trying -> Proceeding -> Completed (Timer J) -> Terminated.

    A retransmitted request is absorbed in Trying and answered with the last response in
    Proceeding and Completed.
    """

    kind = "non-INVITE server"

    def __init__(self, request: Request, peer: Address, tu: TransactionUser,
                 config: TimerConfig, key: TransactionKey | None = None) -> None:
        super().__init__(request, peer, tu, config, key)
        self._enter(TxnState.TRYING)

    def receive_request(self, request: Request, now: float) -> None:
        if self.state in (TxnState.PROCEEDING, TxnState.COMPLETED) and self.last_response:
            self._send(self.last_response, now)

    def send_response(self, response: Response, now: float) -> None:
        if self.state not in (TxnState.TRYING, TxnState.PROCEEDING):
            raise TransactionError(
                f"{self.kind} transaction in state {self.state.value} cannot send "
                f"{response.status}")
        self.last_response = response
        if response.is_provisional:
            if self.state is TxnState.TRYING:
                self._enter(TxnState.PROCEEDING)
            self._send(response, now)
            return
        self._enter(TxnState.COMPLETED)
        self._send(response, now)
        self._wait_or_end("J", self.config.timer_j(self.reliable), now)

    def _fire(self, name: str, now: float) -> None:
        if name == "J":
            self._terminate(now)


class ServerInviteTransaction(ServerTransaction):
    """RFC 3261 figure 7 (17.2.1) as updated by RFC 6026 figure 5.

    Proceeding (100 Trying sent after ``trying_delay`` unless the TU answered) -> on
    300-699 Completed: Timer G retransmits the final (T1 doubling, capped at T2), Timer H
    (64*T1) gives up waiting for the ACK, which moves it to Confirmed (Timer I absorbs ACK
    retransmissions). On 2xx -> Accepted (Timer L): INVITE retransmissions are absorbed,
    the TU's 2xx retransmissions pass through, a matching ACK goes to the TU.
    """

    kind = "INVITE server"

    def __init__(self, request: Request, peer: Address, tu: TransactionUser,
                 config: TimerConfig, key: TransactionKey | None = None) -> None:
        super().__init__(request, peer, tu, config, key)
        self.interval = config.t1
        self._enter(TxnState.PROCEEDING)

    def arm_trying(self, now: float) -> None:
        """Start the 200 ms wait after which the transaction sends 100 Trying itself."""
        if self.config.trying_delay <= 0:
            self._send_trying(now)
        else:
            self.timers.set("Trying", now + self.config.trying_delay)

    def _send_trying(self, now: float) -> None:
        self.timers.cancel("Trying")
        trying = self.request.response(100)
        self.last_response = trying
        self._send(trying, now)

    def receive_request(self, request: Request, now: float) -> None:
        state = self.state
        if request.method == "ACK":
            if state is TxnState.COMPLETED:
                self.timers.cancel("G", "H")
                self._enter(TxnState.CONFIRMED)
                self._wait_or_end("I", self.config.timer_i(self.reliable), now)
            elif state is TxnState.ACCEPTED:
                self.tu.transaction_ack(self, request, now)
            return
        if state is TxnState.PROCEEDING:
            if self.last_response is None:
                self._send_trying(now)
            else:
                self._send(self.last_response, now)
        elif state is TxnState.COMPLETED and self.last_response is not None:
            self._send(self.last_response, now)
        # Accepted / Confirmed: absorbed (RFC 6026 section 7.1)

    def send_response(self, response: Response, now: float) -> None:
        state = self.state
        if state is TxnState.ACCEPTED and response.is_success:
            self._send(response, now)  # the UA core's 2xx retransmission (13.3.1.4)
            return
        if state is not TxnState.PROCEEDING:
            raise TransactionError(
                f"{self.kind} transaction in state {state.value} cannot send {response.status}")
        self.timers.cancel("Trying")
        self.last_response = response
        if response.is_provisional:
            self._send(response, now)
        elif response.is_success:
            self._enter(TxnState.ACCEPTED)
            self._send(response, now)
            self.timers.set("L", now + self.config.timeout)
        else:
            self._enter(TxnState.COMPLETED)
            self._send(response, now)
            if not self.reliable:
                self.interval = self.config.t1
                self.timers.set("G", now + self.interval)
            self.timers.set("H", now + self.config.timeout)

    def _fire(self, name: str, now: float) -> None:
        if name == "Trying":
            self._send_trying(now)
        elif name == "G":
            if self.last_response is not None:
                self._send(self.last_response, now)
            self.interval = min(2 * self.interval, self.config.t2)
            self.timers.set("G", now + self.interval)
        elif name == "H":
            self.tu.transaction_timeout(self, "H", now)
            self._terminate(now)
        elif name in ("I", "L"):
            self._terminate(now)


def new_client_transaction(request: Request, peer: Address, tu: TransactionUser,
                           config: TimerConfig,
                           branch: str | None = None) -> ClientTransaction:
    """The client machine for ``request`` (INVITE or non-INVITE; never ACK); ``branch``
    is its top Via's, when the caller just wrote it (else read from the request)."""
    if request.method == "ACK":
        raise TransactionError("ACK is not sent in a client transaction")
    if request.method == "INVITE":
        return ClientInviteTransaction(request, peer, tu, config, branch)
    return ClientNonInviteTransaction(request, peer, tu, config, branch)


def new_server_transaction(request: Request, peer: Address, tu: TransactionUser,
                           config: TimerConfig,
                           key: TransactionKey | None = None) -> ServerTransaction:
    """The server machine for a new ``request`` (never ACK); ``key`` when known already."""
    if request.method == "ACK":
        raise TransactionError("ACK does not create a server transaction")
    if request.method == "INVITE":
        return ServerInviteTransaction(request, peer, tu, config, key)
    return ServerNonInviteTransaction(request, peer, tu, config, key)
