"""SIP dialogs (RFC 3261 section 12): identifiers, CSeq bookkeeping, target and route set.

A :class:`Dialog` is plain state plus the rules that read and write it: how it is created by
a UAC (from the request and a response with a To tag, 12.1.2), by a UAS (12.1.1), or by a
NOTIFY that beats the 200 to an initial SUBSCRIBE (RFC 6665 section 4.1.2.4); how an
in-dialog request is built (12.2.1.1, loose and strict routing) and checked (12.2.2: a CSeq
lower than the last one is answered 500). :class:`DialogTable` finds the dialog a message
belongs to; the UA answers 481 to in-dialog requests that match none.

Sans-IO and transport-blind: the ``peer`` address (where the dialog's messages came from) is
kept as an opaque value for the UA to send to.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import NameAddr, parse_name_addr, slot_setters
from fsync_model.sip.message import Request, Response, build_request
from fsync_model.sip.params import SHORT_HASH, format_param_value

if TYPE_CHECKING:
    from fsync_model.transport.address import Address

#: Methods whose Contact replaces the remote target (RFC 3261 12.2, RFC 3311, RFC 6665 4.1.2.2
#: and 4.2.1.2 make SUBSCRIBE and NOTIFY target refresh requests).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


@dataclass(frozen=True, slots=True, init=False, eq=False)
class DialogId:
    """Call-ID plus local and remote tag, as seen from this side (RFC 3261 section 12).

    A dictionary key looked up for every message of a dialog: hashed once, with
    ``__init__``, ``__eq__`` and ``__hash__`` written out (see TransactionKey)."""

    call_id: str
    local_tag: str
    remote_tag: str
    _hash: int = field(default=0, repr=False, compare=False)

    def __init__(self, call_id: str, local_tag: str, remote_tag: str) -> None:
        _ID_CALL_ID(self, call_id)
        _ID_LOCAL_TAG(self, local_tag)
        _ID_REMOTE_TAG(self, remote_tag)
        _ID_HASH(self, hash((call_id, local_tag, remote_tag)) & SHORT_HASH)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DialogId):
            return NotImplemented
        return (self._hash == other._hash and self.call_id == other.call_id
                and self.local_tag == other.local_tag and self.remote_tag == other.remote_tag)

    def __str__(self) -> str:
        return f"{self.call_id};local={self.local_tag};remote={self.remote_tag}"


_ID_CALL_ID, _ID_LOCAL_TAG, _ID_REMOTE_TAG, _ID_HASH = slot_setters(
    DialogId, "call_id", "local_tag", "remote_tag", "_hash")


def _without_tag(addr: NameAddr) -> NameAddr:
    params = tuple((k, v) for k, v in addr.params if k.lower() != "tag")
    return NameAddr(addr.uri, addr.display, params, True)


def _tagged(addr: NameAddr, tag: str) -> str:
    """``str(addr.with_param("tag", tag))``: the usual name-addr (no display name, no
    parameter) without building another NameAddr."""
    if addr.display is None and not addr.params:
        return f"<{addr.uri}>;tag={format_param_value(tag)}"
    return str(addr.with_param("tag", tag))


def _contact_uri(message: Request | Response) -> str | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


class Dialog:
    """One dialog's state (RFC 3261 section 12.1): ids, CSeqs, remote target, route set."""

    __slots__ = ("call_id", "confirmed", "local", "local_cseq", "local_tag", "peer", "remote",
                 "remote_cseq", "remote_tag", "remote_target", "route_set", "secure")

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local: NameAddr,
        remote: NameAddr,
        remote_target: str,
        route_set: Sequence[str] = (),
        local_cseq: int = 0,
        remote_cseq: int | None = None,
        secure: bool = False,
        peer: Address | None = None,
        confirmed: bool = True,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        #: our From (To when we are the UAS) URI and display name, without tag
        self.local = _without_tag(local)
        self.remote = _without_tag(remote)
        self.remote_target = remote_target
        self.route_set: tuple[str, ...] = tuple(route_set)
        #: the CSeq of the last request we sent in this dialog (0: none yet)
        self.local_cseq = local_cseq
        #: the CSeq of the last request the peer sent (None: none yet, 12.1.2)
        self.remote_cseq = remote_cseq
        self.secure = secure
        #: where the dialog's messages come from (the flow to answer on)
        self.peer = peer
        #: False for an early dialog (created by a 1xx with a To tag)
        self.confirmed = confirmed

    def __repr__(self) -> str:
        state = "confirmed" if self.confirmed else "early"
        return (f"<Dialog {self.id} {state} local_cseq={self.local_cseq} "
                f"remote_cseq={self.remote_cseq} target={self.remote_target}>")

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def as_uac(cls, request: Request, response: Response,
               peer: Address | None = None) -> Dialog:
        """The dialog a UAC gets from a response with a To tag (RFC 3261 12.1.2).

        Route set: the response's Record-Route in reverse; remote target: its Contact;
        local CSeq: the request's; remote CSeq: empty. A 1xx makes an early dialog.
        """
        remote_tag = response.to_tag
        local_tag = request.from_tag
        if not remote_tag or not local_tag:
            raise SipParseError("Missing tag: a dialog needs From and To tags")
        target = _contact_uri(response) or request.uri
        return cls(
            call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local=request.from_addr, remote=response.to_addr, remote_target=target,
            route_set=list(reversed(response.headers.values("record-route"))),
            local_cseq=request.cseq.seq, remote_cseq=None,
            secure=request.uri.lower().startswith("sips:"), peer=peer,
            confirmed=not response.is_provisional,
        )

    @classmethod
    def as_uas(cls, request: Request, local_tag: str, peer: Address | None = None) -> Dialog:
        """The dialog a UAS gets when it answers ``request`` with ``local_tag`` (12.1.1).

        Route set: the request's Record-Route in order; remote target: its Contact; remote
        CSeq: the request's; local CSeq: empty (0).
        """
        remote_tag = request.from_tag
        if not remote_tag:
            raise SipParseError("Missing tag: a dialog needs a From tag")
        target = _contact_uri(request)
        if target is None:
            raise SipParseError("Missing Header: Contact")
        return cls(
            call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local=request.to_addr, remote=request.from_addr, remote_target=target,
            route_set=request.headers.values("record-route"),
            local_cseq=0, remote_cseq=request.cseq.seq,
            secure=request.uri.lower().startswith("sips:"), peer=peer,
        )

    @classmethod
    def from_notify(cls, subscribe: Request, notify: Request,
                    peer: Address | None = None) -> Dialog:
        """The subscriber's dialog when a NOTIFY arrives before the 2xx to the SUBSCRIBE
        (RFC 6665 section 4.1.2.4): the NOTIFY is a request received in the new dialog, so
        the route set is its Record-Route in order (12.1.1) and its CSeq is the remote CSeq.
        """
        remote_tag = notify.from_tag
        local_tag = subscribe.from_tag
        if not remote_tag or not local_tag:
            raise SipParseError("Missing tag: a dialog needs From and To tags")
        target = _contact_uri(notify)
        if target is None:
            raise SipParseError("Missing Header: Contact")
        return cls(
            call_id=subscribe.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local=subscribe.from_addr, remote=notify.from_addr, remote_target=target,
            route_set=notify.headers.values("record-route"),
            local_cseq=subscribe.cseq.seq, remote_cseq=notify.cseq.seq,
            secure=subscribe.uri.lower().startswith("sips:"), peer=peer,
        )

    # -- sending ----------------------------------------------------------------------------

    def next_cseq(self) -> int:
        """Advance and return the local CSeq (12.2.1.1: one more than the last)."""
        self.local_cseq += 1
        return self.local_cseq

    def request_uri_and_routes(self) -> tuple[str, list[str]]:
        """Request-URI and Route values for a request in this dialog (12.2.1.1).

        Loose routing (first route has ``lr``) or no route set: the remote target is the
        Request-URI and the route set goes in Route. Strict routing: the first route becomes
        the Request-URI and the remote target is appended as the last Route.
        """
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0], "Route")
        try:
            loose = first.parsed_uri("Route").param("lr") is not None
        except SipParseError:
            loose = True
        if loose:
            return self.remote_target, list(self.route_set)
        return first.uri, [*self.route_set[1:], f"<{self.remote_target}>"]

    def next_hop_uri(self) -> str:
        """The URI whose host and port the request is sent to (first Route or target)."""
        if self.route_set:
            return parse_name_addr(self.route_set[0], "Route").uri
        return self.remote_target

    def build_request(
        self,
        method: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
        contact: str | None = None,
        via: str | None = None,
    ) -> Request:
        """A request in this dialog with the next CSeq (or ``cseq`` when given, which
        moves the counter forward if larger). No Via unless ``via``: the UA adds its own."""
        if cseq is None:
            seq = self.next_cseq()
        else:
            seq = cseq
            self.local_cseq = max(self.local_cseq, cseq)
        uri, routes = self.request_uri_and_routes()
        items: list[tuple[str, str]] = []
        if via is not None:
            items.append(("Via", via))
        items.extend(("Route", r) for r in routes)
        items.append(("Max-Forwards", "70"))
        items.append(("From", _tagged(self.local, self.local_tag)))
        items.append(("To", _tagged(self.remote, self.remote_tag)))
        items.append(("Call-ID", self.call_id))
        items.append(("CSeq", f"{seq} {method}"))
        if contact is not None:
            items.append(("Contact", contact))
        items.extend(headers)
        return build_request(method, uri, items, body, content_type)

    def build_ack(
        self,
        invite_cseq: int,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        via: str | None = None,
    ) -> Request:
        """The ACK for a 2xx to the INVITE with CSeq ``invite_cseq`` (13.2.2.4): same CSeq
        number, method ACK; does not advance the local CSeq."""
        uri, routes = self.request_uri_and_routes()
        items: list[tuple[str, str]] = []
        if via is not None:
            items.append(("Via", via))
        items.extend(("Route", r) for r in routes)
        items.append(("Max-Forwards", "70"))
        items.append(("From", _tagged(self.local, self.local_tag)))
        items.append(("To", _tagged(self.remote, self.remote_tag)))
        items.append(("Call-ID", self.call_id))
        items.append(("CSeq", f"{invite_cseq} ACK"))
        items.extend(headers)
        return build_request("ACK", uri, items, body, content_type)

    # -- receiving --------------------------------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """Account for an in-dialog request (12.2.2). Returns the status to reject it with
        (500 for a CSeq lower than the last one), else None after updating the remote CSeq
        and, for target refresh requests, the remote target."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return None  # they reuse the CSeq number of the request they belong to
        if self.remote_cseq is not None and seq < self.remote_cseq:
            return 500
        self.remote_cseq = seq
        if request.method in TARGET_REFRESH_METHODS:
            target = _contact_uri(request)
            if target is not None:
                self.remote_target = target
        return None

    def receive_response(self, response: Response) -> None:
        """A response to a request we sent in this dialog: a 2xx to a target refresh request
        updates the remote target (12.2.1.2) and confirms an early dialog."""
        if response.is_success:
            self.confirmed = True
            if response.cseq.method in TARGET_REFRESH_METHODS:
                target = _contact_uri(response)
                if target is not None:
                    self.remote_target = target


class DialogTable:
    """The dialogs a UA knows, found from either side's messages.

    Also remembers *expected* dialogs: an initial SUBSCRIBE (Call-ID + our From tag) whose
    NOTIFY may arrive before its 2xx and must not be rejected with 481.
    """

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}
        self._expected: set[tuple[str, str]] = set()

    def add(self, dialog: Dialog) -> Dialog:
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.pop(dialog_id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._dialogs

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __len__(self) -> int:
        return len(self._dialogs)

    def find_for_request(self, request: Request) -> Dialog | None:
        """The dialog a received request belongs to: To tag is ours, From tag theirs."""
        local, remote = request.to_tag, request.from_tag
        if not local or not remote:
            return None
        return self._dialogs.get(DialogId(request.call_id, local, remote))

    def find_for_response(self, response: Response) -> Dialog | None:
        """The dialog a received response belongs to: From tag is ours, To tag theirs."""
        local, remote = response.from_tag, response.to_tag
        if not local or not remote:
            return None
        return self._dialogs.get(DialogId(response.call_id, local, remote))

    def expect(self, call_id: str, local_tag: str) -> None:
        """A dialog-creating request is out: requests to ``(call_id, local_tag)`` from a
        tag we do not know yet are not strays."""
        self._expected.add((call_id, local_tag))

    def unexpect(self, call_id: str, local_tag: str) -> None:
        self._expected.discard((call_id, local_tag))

    def is_expected(self, call_id: str, local_tag: str) -> bool:
        return (call_id, local_tag) in self._expected
