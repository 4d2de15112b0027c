"""SIP messages: typed immutable requests and responses, the parser and the serializer.

Headers keep their order and original spelling (a test tool must be able to reproduce what it
received, and to send wrong messages on purpose); lookups are case-insensitive and know the
compact forms of RFC 3261 section 7.3.3 and RFC 6665 (``o`` Event, ``u`` Allow-Events).
Structured values (Via, CSeq, From/To tags, Event...) are parsed on demand from the text.

The parser is lenient about the grammar of values and strict about the message frame: bad
bytes raise only :class:`~fsync_model.sip.errors.SipParseError`, whose ``status`` is what to
answer (400, 413, 505, 513). What is *legal but wrong* (a missing Max-Forwards, a branch
without the magic cookie) is not an error here: :mod:`fsync_model.sip.checker` reports it.

Usage::

    msg = parse_message(data)
    if isinstance(msg, Request) and msg.method == "SUBSCRIBE":
        ok = msg.response(200, to_tag="abc", headers=[("Expires", "3600")])
        wire = ok.serialize()
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import (
    CSeq,
    NameAddr,
    ValueWithParams,
    Via,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_value_params,
    parse_via,
    split_outside_quotes,
)

#: RFC 3261 section 7.3.3 and RFC 6665 section 8.2.1 (``o``, ``u``), RFC 3515/3892 (r, b).
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "x": "session-expires",
    "y": "identity",
    "n": "identity-info",
}

#: Headers whose grammar allows several comma-separated values in one line (RFC 3261 7.3.1).
LIST_HEADERS = frozenset(
    {
        "via", "contact", "route", "record-route", "allow", "supported", "require",
        "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
        "allow-events", "content-encoding", "in-reply-to", "alert-info", "call-info",
        "error-info", "warning", "path", "service-route",
    }
)

#: Canonical spelling used when fsync builds a message (not when it relays one).
CANONICAL_NAMES: dict[str, str] = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version", "rack": "RAck", "rseq": "RSeq",
}

#: Header order for messages fsync builds: proxy-relevant headers first (RFC 3261 section
#: 7.3.1 recommends Via, Route, Record-Route, Proxy-Require, Max-Forwards and
#: Proxy-Authorization at the top), then the dialog identifiers, then the rest; body
#: headers last.
_BUILD_ORDER = [
    "via", "route", "record-route", "max-forwards", "proxy-authorization", "proxy-require",
    "from", "to", "call-id", "cseq", "contact", "expires", "event", "subscription-state",
    "allow-events", "accept", "allow", "supported", "require", "authorization",
    "www-authenticate", "proxy-authenticate", "user-agent", "server",
]
_BODY_HEADERS = ["content-disposition", "content-encoding", "mime-version", "content-type",
                 "content-length"]

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 489: "Bad Event",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

#: Default limit for one message (RFC 3261 does not set one; 64 KiB is far above any real
#: feature-sync message and keeps a hostile peer from making us buffer megabytes).
DEFAULT_MAX_SIZE = 65536

SIP_VERSION = "SIP/2.0"


def canonical_name(name: str) -> str:
    """Lower-case long form of a header name (``"i"`` -> ``"call-id"``)."""
    lname = name.lower()
    if len(lname) == 1:
        return COMPACT_FORMS.get(lname, lname)
    return lname


def pretty_name(name: str) -> str:
    """The spelling fsync uses when it writes a header it builds."""
    lname = canonical_name(name)
    return CANONICAL_NAMES.get(lname) or "-".join(p.capitalize() for p in lname.split("-"))


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered, immutable header fields as written: ``((name, value), ...)``."""

    items: tuple[tuple[str, str], ...] = ()
    _index: dict[str, list[int]] | None = field(default=None, compare=False, repr=False)

    def _lookup(self) -> dict[str, list[int]]:
        index = self._index
        if index is None:
            index = {}
            for i, (name, _) in enumerate(self.items):
                index.setdefault(canonical_name(name), []).append(i)
            object.__setattr__(self, "_index", index)
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header line called ``name`` (any spelling or compact form)."""
        idx = self._lookup().get(canonical_name(name))
        return self.items[idx[0]][1] if idx else default

    def get_all(self, name: str) -> list[str]:
        """Every header line called ``name``, in order, values unsplit."""
        idx = self._lookup().get(canonical_name(name), ())
        return [self.items[i][1] for i in idx]

    def values(self, name: str) -> list[str]:
        """Every value of ``name``: comma-separated lists split where the grammar allows."""
        lname = canonical_name(name)
        lines = self.get_all(lname)
        if lname not in LIST_HEADERS:
            return lines
        out: list[str] = []
        for line in lines:
            if lname == "contact" and line.strip() == "*":
                out.append("*")
                continue
            out.extend(v.strip() for v in split_outside_quotes(line, ",") if v.strip())
        return out

    def count(self, name: str) -> int:
        return len(self._lookup().get(canonical_name(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def added(self, name: str, value: str, *, first: bool = False) -> Headers:
        """A copy with one more header line (at the top when ``first``, as a new Via goes)."""
        item = (name, value)
        return Headers((item, *self.items) if first else (*self.items, item))

    def replaced(self, name: str, value: str) -> Headers:
        """A copy where the first ``name`` line has ``value`` (others of that name dropped);
        appended when absent."""
        lname = canonical_name(name)
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self.items:
            if canonical_name(n) == lname:
                if not done:
                    out.append((n, value))
                    done = True
                continue
            out.append((n, v))
        if not done:
            out.append((name, value))
        return Headers(tuple(out))

    def removed(self, name: str) -> Headers:
        lname = canonical_name(name)
        return Headers(tuple((n, v) for n, v in self.items if canonical_name(n) != lname))


class _MessageAccess:
    """Structured, cached access shared by requests and responses."""

    __slots__ = ()
    headers: Headers
    body: bytes
    _cache: dict[str, Any]

    def _cached(self, key: str, make: Any) -> Any:
        cache = self._cache
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"Missing Header: {pretty_name(name)}")
        return value

    @property
    def call_id(self) -> str:
        return self._required("call-id").strip()

    @property
    def cseq(self) -> CSeq:
        return self._cached("cseq", lambda: parse_cseq(self._required("cseq")))  # type: ignore[no-any-return]

    @property
    def from_addr(self) -> NameAddr:
        return self._cached(  # type: ignore[no-any-return]
            "from", lambda: parse_name_addr(self._required("from"), "From"))

    @property
    def to_addr(self) -> NameAddr:
        return self._cached(  # type: ignore[no-any-return]
            "to", lambda: parse_name_addr(self._required("to"), "To"))

    @property
    def from_tag(self) -> str | None:
        return self.from_addr.tag

    @property
    def to_tag(self) -> str | None:
        return self.to_addr.tag

    @property
    def vias(self) -> list[Via]:
        return self._cached(  # type: ignore[no-any-return]
            "vias", lambda: [parse_via(v) for v in self.headers.values("via")])

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Header: Via")
        return vias[0]

    @property
    def branch(self) -> str | None:
        return self.top_via.branch

    @property
    def contacts(self) -> list[NameAddr]:
        return self._cached("contacts", lambda: [  # type: ignore[no-any-return]
            parse_name_addr(v, "Contact") for v in self.headers.values("contact") if v != "*"
        ])

    def _value_params(self, name: str) -> ValueWithParams | None:
        def make() -> ValueWithParams | None:
            raw = self.headers.get(name)
            if raw is None:
                return None
            value, params = parse_value_params(raw, pretty_name(name))
            return ValueWithParams(value, params)

        return self._cached(name, make)  # type: ignore[no-any-return]

    @property
    def event(self) -> ValueWithParams | None:
        """``Event`` (RFC 6665): the package in ``.value`` (case kept), ``id`` in params."""
        return self._value_params("event")

    @property
    def subscription_state(self) -> ValueWithParams | None:
        return self._value_params("subscription-state")

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased (``application/sdp``)."""
        ct = self._value_params("content-type")
        return ct.value.lower() if ct is not None else None

    @property
    def content_type_full(self) -> ValueWithParams | None:
        return self._value_params("content-type")

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None:
            return None
        raw = raw.strip()
        if not raw.isdigit():
            raise SipParseError("Bad Header: Content-Length")
        return int(raw)

    def int_header(self, name: str) -> int | None:
        """A header holding one non-negative integer (Expires, Max-Forwards, Min-Expires)."""
        raw = self.headers.get(name)
        if raw is None:
            return None
        raw = raw.strip()
        if not raw.isdigit() or len(raw) > 10:
            raise SipParseError(f"Bad Header: {pretty_name(name)}")
        return int(raw)

    @property
    def expires(self) -> int | None:
        return self.int_header("expires")

    @property
    def max_forwards(self) -> int | None:
        return self.int_header("max-forwards")

    def _serialize_with(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{n}: {v}" for n, v in self.headers.items)
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass(frozen=True, slots=True)
class Request(_MessageAccess):
    """A SIP request. ``uri`` is the Request-URI as written."""

    method: str
    uri: str
    headers: Headers = Headers()
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def serialize(self) -> bytes:
        return self._serialize_with(self.start_line)

    def replace(self, **changes: Any) -> Request:
        """A copy with some fields changed (``headers=``, ``body=``, ``uri=``...)."""
        values: dict[str, Any] = {"method": self.method, "uri": self.uri,
                                  "headers": self.headers, "body": self.body,
                                  "version": self.version}
        values.update(changes)
        return Request(**values)

    def response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """Build the response to this request (RFC 3261 section 8.2.6.2).

        Copies every Via, From, To (adding ``to_tag`` when the To has none), Call-ID and
        CSeq; appends ``headers``; sets Content-Type and Content-Length.
        """
        copied: list[tuple[str, str]] = [("Via", v) for v in self.headers.get_all("via")]
        for name in ("from", "to", "call-id", "cseq"):
            value = self.headers.get(name)
            if value is None:
                continue
            if name == "to" and to_tag is not None and status != 100:
                try:
                    has_tag = self.to_addr.tag is not None
                except SipParseError:
                    has_tag = True
                if not has_tag:
                    value = f"{value.rstrip()};tag={to_tag}"
            copied.append((pretty_name(name), value))
        return build_response(status, reason, [*copied, *headers], body, content_type)

    def __str__(self) -> str:
        return self.serialize().decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Response(_MessageAccess):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = Headers()
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def method(self) -> str:
        """The method this answers, from CSeq."""
        return self.cseq.method

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def serialize(self) -> bytes:
        return self._serialize_with(self.start_line)

    def replace(self, **changes: Any) -> Response:
        values: dict[str, Any] = {"status": self.status, "reason": self.reason,
                                  "headers": self.headers, "body": self.body,
                                  "version": self.version}
        values.update(changes)
        return Response(**values)

    def __str__(self) -> str:
        return self.serialize().decode("utf-8", "replace")


Message = Request | Response


def _ordered(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    rank: dict[str, int] = {n: i for i, n in enumerate(_BUILD_ORDER)}
    body_rank = {n: 1000 + i for i, n in enumerate(_BODY_HEADERS)}

    def key(item: tuple[int, tuple[str, str]]) -> tuple[int, int]:
        pos, (name, _) = item
        lname = canonical_name(name)
        return (rank.get(lname, body_rank.get(lname, 500)), pos)

    return [item for _, item in sorted(enumerate(headers), key=key)]


def _with_body_headers(
    headers: Sequence[tuple[str, str]], body: bytes, content_type: str | None
) -> list[tuple[str, str]]:
    kept = [(n, v) for n, v in headers if canonical_name(n) != "content-length"]
    if content_type is not None:
        kept = [(n, v) for n, v in kept if canonical_name(n) != "content-type"]
        kept.append(("Content-Type", content_type))
    kept.append(("Content-Length", str(len(body))))
    return _ordered(kept)


def build_request(
    method: str,
    uri: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """Build a request in RFC 3261 header order with a correct Content-Length."""
    return Request(method, uri, Headers(tuple(_with_body_headers(headers, body, content_type))),
                   body)


def build_response(
    status: int,
    reason: str | None,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    phrase = reason if reason is not None else REASON_PHRASES.get(status, "Unknown")
    return Response(status, phrase, Headers(tuple(_with_body_headers(headers, body,
                                                                       content_type))), body)


def _bad(reason: str, status: int = 400, *, offset: int | None = None,
         line: str | None = None) -> SipParseError:
    return SipParseError(reason, status, offset=offset, line=line)


def parse_message(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE,
                  stream: bool = False) -> Message:
    """Parse exactly one SIP message from ``data``.

    ``stream`` says the bytes came over TCP/TLS, where a Content-Length is mandatory and
    exact (framing already cut the message); over UDP a missing Content-Length means "the
    rest of the datagram" and bytes beyond it are discarded (RFC 3261 section 18.3).
    """
    if len(data) > max_size:
        raise _bad("Message Too Large", 513)
    # RFC 3261 section 7.5: implementations should ignore CRLFs before the start line.
    start = 0
    n = len(data)
    while start < n and data[start] in (13, 10):
        start += 1
    sep = data.find(b"\r\n\r\n", start)
    if sep >= 0:
        head_bytes = data[start:sep]
        body_start = sep + 4
    else:
        # tolerate bare-LF messages; without any blank line the datagram has no body
        lf = data.find(b"\n\n", start)
        if lf >= 0:
            head_bytes = data[start:lf]
            body_start = lf + 2
        else:
            head_bytes = data[start:].rstrip(b"\r\n")
            body_start = n
    if not head_bytes:
        raise _bad("Empty message", offset=start)
    if b"\x00" in head_bytes:
        raise _bad("NUL byte in message header", offset=start + head_bytes.index(b"\x00"))
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    first = lines[0].rstrip("\r")
    msg_kind, first_parts = _parse_start_line(first, start)

    items: list[tuple[str, str]] = []
    offset = start + len(lines[0]) + 2
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if line[:1] in (" ", "\t"):
            if not items:
                raise _bad("Continuation line before any header", offset=offset, line=line)
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}".strip())
        else:
            colon = line.find(":")
            if colon <= 0:
                raise _bad("Bad header line (no colon)" if colon < 0 else "Empty header name",
                           offset=offset, line=line)
            name = line[:colon].rstrip(" \t")
            if not is_token(name):
                raise _bad("Bad header name", offset=offset, line=line)
            items.append((name, line[colon + 1 :].strip(" \t")))
        offset += len(raw) + 2

    headers = Headers(tuple(items))
    body = data[body_start:]
    cl_raw = headers.get("content-length")
    if cl_raw is not None:
        cl_text = cl_raw.strip()
        if not cl_text.isdigit() or len(cl_text) > 10:
            raise _bad("Bad Header: Content-Length", line=f"Content-Length: {cl_raw}")
        if headers.count("content-length") > 1 and len(set(headers.get_all("content-length"))) > 1:
            raise _bad("Conflicting Content-Length headers")
        length = int(cl_text)
        if length > len(body):
            raise _bad("Content-Length larger than body",
                       line=f"Content-Length: {length} but {len(body)} body bytes")
        body = body[:length]
    elif stream:
        raise _bad("Missing Header: Content-Length (required on stream transports)")

    if msg_kind == "request":
        method, uri, version = first_parts
        return Request(method, uri, headers, body, version)
    version, status_text, reason = first_parts
    return Response(int(status_text), reason, headers, body, version)


def _parse_start_line(first: str, offset: int) -> tuple[str, tuple[str, str, str]]:
    if first.startswith("SIP/") or first.upper().startswith("SIP/"):
        parts = first.split(" ", 2)
        if len(parts) < 2:
            raise _bad("Bad status line", offset=offset, line=first)
        version = parts[0]
        if version.upper() != SIP_VERSION:
            raise _bad("Version Not Supported", 505, offset=offset, line=first)
        status_text = parts[1]
        if len(status_text) != 3 or not status_text.isdigit() or not 100 <= int(status_text) <= 699:
            raise _bad("Bad status code", offset=offset, line=first)
        reason = parts[2] if len(parts) == 3 else ""
        return "response", (version, status_text, reason)
    parts = first.split(" ")
    if len(parts) != 3 or not all(parts):
        raise _bad("Bad request line", offset=offset, line=first)
    method, uri, version = parts
    if not is_token(method):
        raise _bad("Bad request method", offset=offset, line=first)
    if not version.upper().startswith("SIP/"):
        raise _bad("Bad request line (no SIP version)", offset=offset, line=first)
    if version.upper() != SIP_VERSION:
        raise _bad("Version Not Supported", 505, offset=offset, line=first)
    if ":" not in uri:
        raise _bad("Bad Request-URI", offset=offset, line=first)
    return "request", (method, uri, version)
