"""SIP messages on the wire as a ladder: one lifeline per endpoint, one arrow per message.

:func:`ladder_from_messages` turns what a capture, a tap or an in-memory run recorded (time,
source, destination, bytes) into a :class:`~fsync_model.diagrams.ladder.Ladder`: each arrow is
labelled with the method (``INVITE *716000``) or status (``200 OK``) and carries the lines a
reader looks for (Event, Subscription-State, CSeq, Expires, Content-Type and the feature values
of the body: ``doNotDisturbOn=true``, ``forwardTo=2000``, ``m=audio 4000``). Retransmissions are
dashed, messages that do not parse are drawn in red with the parser's reason. The output depends
only on the records, in their order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from fsync_model.bodies import csta
from fsync_model.bodies import feature_event as afe
from fsync_model.diagrams.ladder import Arrow, ArrowStyle, Item, Ladder, Lifeline, Note
from fsync_model.findings import Finding
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_uri
from fsync_model.sip.message import Message, Request, Response, parse_message
from fsync_model.sip.multipart import parse_multipart
from fsync_model.sip.sdp import parse_sdp
from fsync_model.transport.address import Address

__all__ = [
    "MessageLike",
    "MessageRecord",
    "arrow_for",
    "body_lines",
    "ladder_from_messages",
    "message_log",
    "message_users",
    "select_messages",
]

SDP_TYPE: Final = "application/sdp"
#: Methods whose sender is the phone and whose receiver is the server, in every flow fsync
#: draws (a REGISTER or SUBSCRIBE never goes the other way); NOTIFY and INFO go the other way.
_PHONE_SENDS: Final = frozenset({"REGISTER", "SUBSCRIBE", "PUBLISH"})
_SERVER_SENDS: Final = frozenset({"NOTIFY", "INFO"})
#: A method's evidence is worth more than a product header's: servers send User-Agent too.
_STRONG: Final = 3
#: Methods and responses where Expires says something (how long a binding or subscription
#: lasts); elsewhere it is noise.
_EXPIRES_METHODS: Final = frozenset({"REGISTER", "SUBSCRIBE", "PUBLISH"})
_ID_CHARS_RE: Final = re.compile(r"[^A-Za-z0-9]+")


class MessageLike(Protocol):
    """What a ladder needs of a recorded message. ``CapturedMessage`` (from a trace),
    ``TapRecord`` (from a tap) and :class:`MessageRecord` all fit; ``number`` (the packet
    number) is read when the object has one."""

    @property
    def time(self) -> float: ...

    @property
    def src(self) -> Address | str: ...

    @property
    def dst(self) -> Address | str: ...

    @property
    def data(self) -> bytes: ...


M = TypeVar("M", bound=MessageLike)


@dataclass(frozen=True)
class MessageRecord:
    """One message as sent: ``time`` in seconds from any origin, addresses (an
    :class:`Address` or its text form), the bytes, and the packet number when known."""

    time: float
    src: Address | str
    dst: Address | str
    data: bytes
    number: int | None = None


# ----------------------------------------------------------------------------------------------
# Reading one message


@dataclass
class _Parsed:
    """One record with its parse result (``message`` or ``error``, never both)."""

    record: MessageLike
    src: str
    dst: str
    message: Message | None
    error: SipParseError | None


def _parse(record: MessageLike) -> _Parsed:
    src, dst = str(record.src), str(record.dst)
    try:
        return _Parsed(record, src, dst, parse_message(bytes(record.data)), None)
    except SipParseError as error:
        return _Parsed(record, src, dst, None, error)


def _safe(read: Callable[[], object]) -> str | None:
    """Call an accessor; a header that does not parse reads as absent."""
    try:
        value = read()
    except SipParseError:
        return None
    return None if value is None else str(value)


def _call_id(message: Message) -> str | None:
    return _safe(lambda: message.call_id)


def _uri_user(uri: str, header: str) -> str | None:
    try:
        return parse_uri(uri, header).user or None
    except SipParseError:
        return None


def message_users(message: Message) -> set[str]:
    """The user parts of From, To and (for a request) the Request-URI."""
    users: set[str] = set()
    for header in ("From", "To"):
        try:
            uri = (message.from_addr if header == "From" else message.to_addr).uri
        except SipParseError:
            continue
        user = _uri_user(uri, header)
        if user:
            users.add(user)
    if isinstance(message, Request):
        user = _uri_user(message.uri, "Request-URI")
        if user:
            users.add(user)
    return users


def select_messages(
    records: Iterable[M], *, user: str | None = None, call_id: str | None = None
) -> list[M]:
    """The records that concern ``user`` (From, To or Request-URI user) and belong to the
    dialog ``call_id`` (the whole Call-ID, or its first characters as a ladder shows them).

    A message that does not parse is kept when it mentions ``sip:<user>@`` (and, with a
    Call-ID filter, the Call-ID): a broken message of the exchange is worth seeing.
    """
    kept: list[M] = []
    for record in records:
        parsed = _parse(record)
        if parsed.message is None:
            text = bytes(record.data)
            if user is not None and f":{user}@".encode() not in text:
                continue
            if call_id is not None and call_id.encode() not in text:
                continue
            kept.append(record)
            continue
        message = parsed.message
        if user is not None and user not in message_users(message):
            continue
        if call_id is not None:
            value = _call_id(message)
            if value is None or not (value == call_id or value.startswith(call_id)):
                continue
        kept.append(record)
    return kept


# ----------------------------------------------------------------------------------------------
# Arrow text


def _label(message: Message) -> str:
    if isinstance(message, Response):
        return f"{message.status} {message.reason}".strip()
    if message.method.upper() == "INVITE":
        user = _uri_user(message.uri, "Request-URI")
        if user:
            return f"INVITE {user}"
    return message.method


def _answered_method(message: Message) -> str | None:
    if isinstance(message, Request):
        return message.method.upper()
    try:
        return message.cseq.method.upper()
    except SipParseError:
        return None


def _header_lines(message: Message) -> list[str]:
    lines: list[str] = []
    for name in ("Event", "Subscription-State", "CSeq"):
        value = message.headers.get(name)
        if value is not None:
            lines.append(f"{name}: {value}")
    if message.headers.get("Expires") is not None and _answered_method(message) in _EXPIRES_METHODS:
        lines.append(f"Expires: {message.headers.get('Expires')}")
    content_type = _safe(lambda: message.content_type)
    if content_type and message.body:
        lines.append(f"Content-Type: {content_type}")
    return lines


def _feature_summary(document: afe.FeatureDocument, *, one_line: bool) -> list[str]:
    """The values of an as-feature-event document that a reader compares between messages."""
    if isinstance(document, afe.SetDoNotDisturb | afe.DoNotDisturbEvent):
        return [f"{document.ROOT}: doNotDisturbOn={_flag(document.on)}"]
    if isinstance(document, afe.SetForwarding):
        rest = [f"activateForward={_flag(document.activate)}"]
        if document.forward_dn:
            rest.append(f"forwardDN={document.forward_dn}")
    else:
        rest = [f"forwardStatus={_flag(document.status)}"]
        if document.forward_to:
            rest.append(f"forwardTo={document.forward_to}")
    if document.ring_count is not None:
        rest.append(f"ringCount={document.ring_count}")
    if one_line:  # a multipart part: the type says which forward, the root is implied
        return [f"{document.forwarding_type.value}: {' '.join(rest)}"]
    return [f"{document.ROOT}: forwardingType={document.forwarding_type.value}", " ".join(rest)]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _findings_line(findings: Sequence[Finding]) -> list[str]:
    """Rules worth a reader's attention (warnings and errors; info findings are variants)."""
    rules = sorted({finding.rule for finding in findings if finding.severity != "info"})
    return [f"findings: {', '.join(rules)}"] if rules else []


def _afe_lines(body: bytes, *, one_line: bool) -> list[str]:
    result = afe.parse(body, strict=False)
    return [
        *_feature_summary(result.document, one_line=one_line),
        *_findings_line(result.findings),
    ]


def _csta_lines(body: bytes) -> list[str]:
    document = csta.parse(body).document
    if document.do_not_disturb_on is None:
        return [document.root]
    return [f"{document.root}: doNotDisturbOn={_flag(document.do_not_disturb_on)}"]


def _sdp_lines(body: bytes) -> list[str]:
    return [f"m={media.media} {media.port}" for media in parse_sdp(body).media]


def _part_lines(media_type: str, body: bytes, *, one_line: bool) -> list[str]:
    if media_type == afe.CONTENT_TYPE:
        return _afe_lines(body, one_line=one_line)
    if media_type == csta.CONTENT_TYPE:
        return _csta_lines(body)
    if media_type == SDP_TYPE:
        return _sdp_lines(body)
    return []


def body_lines(content_type: str | None, full_content_type: str | None, body: bytes) -> list[str]:
    """The key values of a body, one line each; a multipart body gives one line per part.

    Raises :class:`SipParseError` (a ``BodyError`` for XML bodies) when the body cannot be read.
    """
    if not body or not content_type:
        return []
    if content_type.startswith("multipart/"):
        lines: list[str] = []
        for part in parse_multipart(full_content_type or content_type, body):
            shown = _part_lines(part.media_type, part.body, one_line=True)
            lines.extend(shown or [f"part: {part.media_type}"])
        return lines
    return _part_lines(content_type, body, one_line=False)


def arrow_for(
    message: Message,
    src: str,
    dst: str,
    *,
    time: float | None = None,
    packet: int | None = None,
    style: ArrowStyle = "normal",
) -> Arrow:
    """The arrow of one parsed message from lifeline ``src`` to ``dst``. A body that cannot be
    read turns the arrow red, with the reason as its last detail."""
    details = _header_lines(message)
    try:
        full_type = message.headers.get("Content-Type")
        details += body_lines(_safe(lambda: message.content_type), full_type, message.body)
    except SipParseError as error:
        details.append(f"body: {error.reason}")
        style = "error"
    return Arrow(src, dst, _label(message), tuple(details), time, packet, style)


def _error_arrow(parsed: _Parsed, src: str, dst: str, packet: int | None) -> Arrow:
    error = parsed.error
    assert error is not None
    first = bytes(parsed.record.data).lstrip(b"\r\n").split(b"\n", 1)[0].strip()
    label = first.decode("utf-8", "replace") or "empty message"
    details = [f"unparsable: {error.reason}"]
    if error.line and error.line.strip() != label:
        details.append(error.line)
    return Arrow(src, dst, label, tuple(details), parsed.record.time, packet, "error")


def _packet(record: MessageLike) -> int | None:
    number = getattr(record, "number", None)
    return number if isinstance(number, int) else None


# ----------------------------------------------------------------------------------------------
# Retransmissions


def _transaction_key(parsed: _Parsed) -> tuple[str, ...] | None:
    """What a retransmission repeats: the top Via branch, CSeq, the method or status, the
    direction. ``None`` when the message lacks one of them (then only identical bytes count)."""
    message = parsed.message
    if message is None:
        return None
    branch = _safe(lambda: message.branch)
    cseq = _safe(lambda: message.cseq)
    call_id = _call_id(message)
    if branch is None or cseq is None or call_id is None:
        return None
    kind = message.method if isinstance(message, Request) else str(message.status)
    return (parsed.src, parsed.dst, call_id, branch, cseq, kind)


# ----------------------------------------------------------------------------------------------
# Lifelines


@dataclass
class _Endpoint:
    """What the messages say about one address."""

    address: str
    phone: int = 0
    server: int = 0
    users: list[str] = field(default_factory=list)
    product: str | None = None

    @property
    def role(self) -> str | None:
        if self.phone > self.server:
            return "phone"
        if self.server > self.phone:
            return "server"
        return None


def _product(value: str | None) -> str | None:
    """``Asterisk PBX 18.0`` -> ``Asterisk``; ``fsync-server/0.1`` -> ``fsync-server``."""
    if not value or not value.strip():
        return None
    token = value.strip().split()[0].split("/")[0]
    return token[:24] or None


def _contact_user(message: Message) -> str | None:
    try:
        contacts = message.contacts
    except SipParseError:
        contacts = []
    for contact in contacts:
        user = _uri_user(contact.uri, "Contact")
        if user:
            return user
    try:
        return _uri_user(message.from_addr.uri, "From")
    except SipParseError:
        return None


def _study(parsed: Sequence[_Parsed], order: Sequence[str]) -> dict[str, _Endpoint]:
    endpoints = {address: _Endpoint(address) for address in order}
    for item in parsed:
        message = item.message
        if message is None:
            continue
        sender, receiver = endpoints[item.src], endpoints[item.dst]
        if isinstance(message, Request):
            method = message.method.upper()
            if method in _PHONE_SENDS or (method == "INVITE" and _is_feature_code(message)):
                sender.phone += _STRONG
                receiver.server += _STRONG
                user = _contact_user(message)
                if user and user not in sender.users:
                    sender.users.append(user)
            elif method in _SERVER_SENDS:
                sender.server += _STRONG
                receiver.phone += _STRONG
            if sender.product is None:
                sender.product = _product(message.headers.get("User-Agent"))
        else:
            server = message.headers.get("Server")
            if server is not None:
                sender.server += 1
                sender.product = sender.product or _product(server)
            elif sender.product is None:
                sender.product = _product(message.headers.get("User-Agent"))
    return endpoints


def _is_feature_code(request: Request) -> bool:
    user = _uri_user(request.uri, "Request-URI")
    return user is not None and user[0] in "*#"


def _find_name(names: Mapping[str, str], address: str) -> str | None:
    if address in names:
        return names[address]
    _, _, host_port = address.partition(":")  # "udp:127.0.0.1:5060" -> "127.0.0.1:5060"
    return names.get(host_port)


def _lifelines(
    endpoints: Mapping[str, _Endpoint], order: Sequence[str], names: Mapping[str, str]
) -> list[Lifeline]:
    lifelines: list[Lifeline] = []
    taken: set[str] = set()
    servers = [a for a in order if endpoints[a].role == "server"]
    for position, address in enumerate(order, start=1):
        endpoint = endpoints[address]
        label = _find_name(names, address)
        if label is None:
            if endpoint.role == "phone":
                label = f"phone {endpoint.users[0]}" if endpoint.users else "phone"
            elif endpoint.role == "server":
                label = "server"
                if len(servers) > 1:
                    label += f" {servers.index(address) + 1}"
                if endpoint.product:
                    label += f" ({endpoint.product})"
            else:
                label = f"endpoint {position}"
        base = _ID_CHARS_RE.sub("_", label.split(" (")[0]).strip("_").lower() or "endpoint"
        lifeline_id, suffix = base, 2
        while lifeline_id in taken:
            lifeline_id, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(lifeline_id)
        lifelines.append(Lifeline(lifeline_id, label, address))
    return lifelines


# ----------------------------------------------------------------------------------------------
# The ladder


def ladder_from_messages(
    messages: Sequence[MessageLike],
    *,
    title: str,
    caption: str | None = None,
    lifeline_names: Mapping[str, str] | None = None,
    notes: Iterable[tuple[int, Note]] = (),
) -> Ladder:
    """The ladder of ``messages``, in the order given.

    ``lifeline_names`` maps an address (``udp:127.0.0.1:5070``, or ``127.0.0.1:5070``) to the
    label to show; other endpoints are named from the messages (``phone 1001``, ``server``).
    ``notes`` are ``(position, note)`` pairs: the note is drawn just before
    ``messages[position]`` (``position == len(messages)``: after the last), and a note's
    ``over`` names addresses, which are turned into lifeline ids here.

    Raises :class:`~fsync_model.diagrams.ladder.LadderError` when there is nothing to draw.
    """
    parsed = [_parse(record) for record in messages]
    order: list[str] = []
    for item in parsed:
        for address in (item.src, item.dst):
            if address not in order:
                order.append(address)
    endpoints = _study(parsed, order)
    lifelines = _lifelines(endpoints, order, lifeline_names or {})
    ids = {lifeline.sublabel: lifeline.id for lifeline in lifelines}

    placed: dict[int, list[Note]] = {}
    for position, note in notes:
        over = tuple(ids.get(address, address) for address in note.over)
        placed.setdefault(position, []).append(Note(over, note.text, note.kind))

    items: list[Item] = []
    seen_bytes: set[tuple[str, str, bytes]] = set()
    seen_keys: set[tuple[str, ...]] = set()
    for position, item in enumerate(parsed):
        items.extend(placed.get(position, ()))
        src, dst, packet = ids[item.src], ids[item.dst], _packet(item.record)
        if item.message is None:
            items.append(_error_arrow(item, src, dst, packet))
            continue
        data_key = (item.src, item.dst, bytes(item.record.data))
        key = _transaction_key(item)
        repeated = data_key in seen_bytes or (key is not None and key in seen_keys)
        seen_bytes.add(data_key)
        if key is not None:
            seen_keys.add(key)
        style: ArrowStyle = "retransmission" if repeated else "normal"
        items.append(
            arrow_for(item.message, src, dst, time=item.record.time, packet=packet, style=style)
        )
    items.extend(
        note for position in sorted(placed) if position >= len(parsed) for note in placed[position]
    )
    return Ladder(title, tuple(lifelines), tuple(items), caption)


def message_log(messages: Sequence[MessageLike]) -> str:
    """The full text of every message, each under a line saying which one, when (seconds
    after the first), from where and to where; line ends made LF for a text file."""
    out: list[str] = []
    origin = messages[0].time if messages else 0.0
    for position, record in enumerate(messages, start=1):
        number = _packet(record)
        offset = record.time - origin
        head = f"#{number if number is not None else position}  {offset:+.3f} s  "
        out.append(f"{head}{record.src} -> {record.dst}")
        text = bytes(record.data).decode("utf-8", "replace")
        out.append(text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n"))
        out.append("")
    return "\n".join(out)
