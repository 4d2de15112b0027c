"""SIP messages: typed immutable requests and responses, the parser and the serializer.

Headers keep their order and original spelling (a test tool must be able to reproduce what it
received, and to send wrong messages on purpose); lookups are case-insensitive and know the
compact forms of RFC 3261 section 7.3.3 and RFC 6665 (``o`` Event, ``u`` Allow-Events).
Structured values (Via, CSeq, From/To tags, Event...) are parsed on demand from the text.

The parser is strict about the message frame (start line, Request-URI, header names, line
ends, Content-Length) and leaves header values as text: a bad value is found when its
accessor is read (``msg.subscription_state`` raises ``400 Bad Header: Subscription-State
(...)``), so a message with one odd header can still be answered. Bad bytes raise only
:class:`~fsync_model.sip.errors.SipParseError`, whose ``status`` is what to answer (400, 416,
505, 513); ``tests/sip/test_fuzz.py`` holds the parser, the accessors and the stream framer to
that. What is *legal but wrong* (a missing Max-Forwards, a branch without the magic cookie,
a CSeq method that is not the request's) is not an error here:
:mod:`fsync_model.sip.checker` reports it. ``tests/sip/test_torture.py`` says which layer
catches each RFC 4475 case.

Usage::

    msg = parse_message(data)
    if isinstance(msg, Request) and msg.method == "SUBSCRIBE":
        ok = msg.response(200, to_tag="abc", headers=[("Expires", "3600")])
        wire = ok.serialize()
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import (
    MAX_DELTA_SECONDS,
    CSeq,
    NameAddr,
    SipUri,
    Via,
    is_plain_sip_uri,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
    slot_setters,
    uri_problem,
)
from fsync_model.sip.params import (
    HeaderValue,
    is_token,
    parse_header_value,
    split_outside_quotes,
)

#: ``value;params`` header values (the type of :data:`fsync_model.sip.fields.ValueWithParams`).
ValueWithParams = HeaderValue

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

# The empty line ending the header block, and a line break in it: CRLF, or a bare LF as
# the stream framer also accepts (so both agree on where a message's head ends).
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_DIGITS = re.compile(r"[0-9]+")
_STATUS = re.compile(r"[1-6][0-9][0-9]")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_REASON_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: ``Method SP Request-URI SP SIP/2.0`` or ``SIP/2.0 SP Status-Code SP Reason-Phrase`` as
#: nearly every message has it (the Request-URI still to check); others take the long way.
_USUAL_START_LINE = re.compile(
    r"(?:([!%'*+\-.0-9A-Z_`a-z~]+) ([^ ]+) SIP/2\.0)"
    r"|(?:SIP/2\.0 ([1-6][0-9][0-9]) ([^\x00-\x08\x0a-\x1f\x7f]*))"
)
_CALL_ID_BAD = re.compile(r"[\x00-\x20\x7f]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (" + "|".join(_MONTHS)
                   + r") ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT")


#: Spelling as written -> :func:`canonical_name` (header spellings recur; bounded).
_CANONICAL: dict[str, str] = {}
_CANONICAL_MAX = 4096


def canonical_name(name: str) -> str:
    """Lower-case long form of a header name (``"i"`` -> ``"call-id"``)."""
    lname = _CANONICAL.get(name)
    if lname is None:
        lname = name.lower()
        if len(lname) == 1:
            lname = COMPACT_FORMS.get(lname, lname)
        if len(name) <= 64:  # a spelling worth remembering (not a hostile long one)
            if len(_CANONICAL) >= _CANONICAL_MAX:
                _CANONICAL.clear()
            _CANONICAL[name] = lname
    return lname


def pretty_name(name: str) -> str:
    """The spelling fsync uses when it writes a header it builds."""
    lname = canonical_name(name)
    return CANONICAL_NAMES.get(lname) or "-".join(p.capitalize() for p in lname.split("-"))


_PRETTY = {name: pretty_name(name) for name in ("event", "subscription-state", "content-type")}
#: What a response copies from its request besides the Via lines (8.2.6.2), as it spells them.
_COPIED_TO_RESPONSE = tuple((name, pretty_name(name)) for name in ("from", "to", "call-id", "cseq"))


@dataclass(frozen=True, slots=True, init=False)
class Headers:
    """Ordered, immutable header fields as written: ``((name, value), ...)``."""

    items: tuple[tuple[str, str], ...] = ()
    _index: dict[str, list[int]] | None = field(default=None, compare=False, repr=False)

    def __init__(self, items: tuple[tuple[str, str], ...] = (),
                 _index: dict[str, list[int]] | None = None) -> None:
        _HEADERS_ITEMS(self, items)
        _HEADERS_INDEX(self, _index)

    def _lookup(self) -> dict[str, list[int]]:
        index = self._index
        if index is None:
            index = {}
            for i, (name, _) in enumerate(self.items):
                index.setdefault(canonical_name(name), []).append(i)
            object.__setattr__(self, "_index", index)
        return index

    def _first(self, lname: str) -> str | None:
        """:meth:`get` for a name already in :func:`canonical_name` form."""
        idx = (self._index if self._index is not None else self._lookup()).get(lname)
        return self.items[idx[0]][1] if idx else None

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
        idx = self._lookup().get(lname)
        if not idx:
            return []
        items = self.items
        if lname not in LIST_HEADERS:
            return [items[i][1] for i in idx]
        out: list[str] = []
        for i in idx:
            line = items[i][1]
            if "," not in line:
                one = line.strip()
                if one:
                    out.append(one)
                continue
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


# (see fields.slot_setters: half the cost of the generated frozen __init__)
_HEADERS_ITEMS, _HEADERS_INDEX = slot_setters(Headers, "items", "_index")
_NO_HEADERS = Headers()

#: From and To values parsed lately, by text (frozen values: shared safely). A dialog's
#: requests and the responses to them repeat the same From and To; only a value that
#: parsed is kept, so an error is raised (with its header's name) on every read.
_NAME_ADDRS: dict[str, NameAddr] = {}
_NAME_ADDRS_MAX = 1024

#: What ``_cache.get`` returns for a value not parsed yet (a parsed value may be ``None``).
#: The locals it goes into are typed ``Any``: compiled by mypyc (setup.py), a local typed
#: ``CSeq`` or ``str | None`` is checked on assignment, and this sentinel is neither.
_MISSING: Any = object()


class _MessageAccess:
    """Structured, cached access shared by requests and responses.

    Every accessor parses on demand and raises only :class:`SipParseError` (400, with a
    reason naming the header: ``"Bad Header: CSeq"``, ``"Missing Header: Call-ID"``);
    a successful parse is cached, a failure is raised again on every access.
    """

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

    def _name_addr(self, lname: str, header: str) -> NameAddr:
        """From or To, parsed once (``lname`` lower-case, ``header`` as errors spell it)."""
        cache = self._cache
        got: Any = cache.get(lname, _MISSING)
        if got is not _MISSING:
            addr: NameAddr = got
            return addr
        raw = self.headers._first(lname)
        if raw is None:
            raise SipParseError(f"Missing Header: {header}")
        known = _NAME_ADDRS.get(raw)
        if known is None:
            known = parse_name_addr(raw, header)
            if len(raw) <= 256:
                if len(_NAME_ADDRS) >= _NAME_ADDRS_MAX:
                    _NAME_ADDRS.clear()
                _NAME_ADDRS[raw] = known
        cache[lname] = known
        return known

    @property
    def call_id(self) -> str:
        """The Call-ID, stripped; 400 when missing, empty, or holding whitespace or a
        control character (RFC 3261 25.1: callid = word ["@" word])."""
        value: str | None = self._cache.get("call-id")
        if value is None:
            value = self._required("call-id").strip()
            if not value or _CALL_ID_BAD.search(value):
                raise SipParseError("Bad Header: Call-ID")
            self._cache["call-id"] = value
        return value

    @property
    def cseq(self) -> CSeq:
        got: Any = self._cache.get("cseq", _MISSING)
        if got is not _MISSING:
            cseq: CSeq = got
            return cseq
        raw = self.headers._first("cseq")
        if raw is None:
            raise SipParseError("Missing Header: CSeq")
        cseq = self._cache["cseq"] = parse_cseq(raw)
        return cseq

    @property
    def from_addr(self) -> NameAddr:
        return self._name_addr("from", "From")

    @property
    def to_addr(self) -> NameAddr:
        return self._name_addr("to", "To")

    @property
    def from_tag(self) -> str | None:
        cache = self._cache
        got: Any = cache.get(" from-tag", _MISSING)
        if got is not _MISSING:
            tag: str | None = got
            return tag
        tag = cache[" from-tag"] = self._name_addr("from", "From").tag
        return tag

    @property
    def to_tag(self) -> str | None:
        cache = self._cache
        got: Any = cache.get(" to-tag", _MISSING)
        if got is not _MISSING:
            tag: str | None = got
            return tag
        tag = cache[" to-tag"] = self._name_addr("to", "To").tag
        return tag

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first (comma lists split); empty when there is none."""
        vias: list[Via] | None = self._cache.get("vias")
        if vias is None:
            headers = self.headers
            index = headers._index if headers._index is not None else headers._lookup()
            positions = index.get("via", ())
            line = headers.items[positions[0]][1].strip() if len(positions) == 1 else ""
            if line and "," not in line:
                vias = [parse_via(line)]  # what values() gives for one value
            else:
                vias = [parse_via(v) for v in headers.values("via")]
            self._cache["vias"] = vias
        return vias

    @property
    def top_via(self) -> Via:
        """The first Via value. Every Via is parsed (a malformed lower one fails here too,
        as :attr:`vias` does): the transaction layer relies on that."""
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Header: Via")
        return vias[0]

    @property
    def branch(self) -> str | None:
        vias: list[Via] | None = self._cache.get("vias")
        if not vias:
            return self.top_via.branch
        return vias[0].branch

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value (comma lists split); ``Contact: *`` (RFC 3261 10.2.2) gives
        no entry here: see :attr:`contact_is_wildcard`."""
        return self._cached("contacts", lambda: [  # type: ignore[no-any-return]
            parse_name_addr(v, "Contact") for v in self.headers.values("contact") if v != "*"
        ])

    @property
    def contact_is_wildcard(self) -> bool:
        """True for ``Contact: *`` (a REGISTER removing every binding)."""
        return "*" in self.headers.values("contact")

    def _value_params(self, name: str) -> HeaderValue | None:
        """``value;params`` of header ``name``: a media type (``type/subtype``) for
        Content-Type, a single token for the others (Event, Subscription-State)."""
        cache = self._cache
        got: Any = cache.get(name, _MISSING)
        if got is not _MISSING:
            known: HeaderValue | None = got
            return known
        parsed: HeaderValue | None
        raw = self.headers._first(name)
        if raw is None:
            parsed = None
        else:
            header = _PRETTY.get(name) or pretty_name(name)
            parsed = parse_header_value(raw, header)
            if ("/" in parsed.value) != (name == "content-type"):
                why = "not type/subtype" if name == "content-type" else "'/' in value"
                raise SipParseError(f"Bad Header: {header} ({why})", line=raw)
        cache[name] = parsed
        return parsed

    @property
    def event(self) -> HeaderValue | None:
        """``Event`` (RFC 6665): the package in ``.value`` (case kept), ``id`` in params."""
        return self._value_params("event")

    @property
    def subscription_state(self) -> HeaderValue | None:
        """``Subscription-State`` (RFC 6665 8.2.3) as ``value;params``; 400 ``"Bad Header:
        Subscription-State (...)"`` when malformed (``active, 3600``)."""
        return self._value_params("subscription-state")

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased (``application/sdp``)."""
        ct = self._value_params("content-type")
        return ct.value.lower() if ct is not None else None

    @property
    def content_type_full(self) -> HeaderValue | None:
        return self._value_params("content-type")

    @property
    def content_length(self) -> int | None:
        return _length(self.headers.get("content-length"))

    def int_header(self, name: str, maximum: int = MAX_DELTA_SECONDS) -> int | None:
        """A header holding one non-negative integer (Expires, Max-Forwards, Min-Expires,
        Retry-After without comment); 400 when it is not digits or exceeds ``maximum``
        (2**32-1 by default: RFC 4475 scalar02)."""
        raw = self.headers.get(name)
        if raw is None:
            return None
        digits = raw.strip()
        if not _DIGITS.fullmatch(digits):
            raise SipParseError(f"Bad Header: {pretty_name(name)}")
        digits = digits.lstrip("0") or "0"
        if len(digits) > len(str(maximum)) or int(digits) > maximum:
            raise SipParseError(f"Bad Header: {pretty_name(name)} (value too large)")
        return int(digits)

    @property
    def expires(self) -> int | None:
        return self.int_header("expires")

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, 0 to 255 (RFC 3261 20.22; RFC 4475 scalar02)."""
        return self.int_header("max-forwards", 255)

    @property
    def date(self) -> datetime | None:
        """The Date header as an aware UTC datetime (RFC 3261 20.17: rfc1123-date, always
        ``GMT``); 400 for anything else (RFC 4475 baddate: ``EST``)."""
        raw = self.headers.get("date")
        if raw is None:
            return None
        match = _DATE.fullmatch(raw.strip())
        if match is None:
            raise SipParseError("Bad Header: Date (not an RFC 1123 date in GMT)")
        day, month, year, hour, minute, second = match.groups()
        try:
            return datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hour),
                            int(minute), int(second), tzinfo=UTC)
        except ValueError:
            raise SipParseError("Bad Header: Date (no such day or time)") from None

    def _serialize_with(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{n}: {v}" for n, v in self.headers.items)
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass(frozen=True, slots=True, init=False)
class Request(_MessageAccess):
    """A SIP request. ``uri`` is the Request-URI as written."""

    method: str
    uri: str
    headers: Headers = _NO_HEADERS
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: The bytes this message was parsed from, when serialize() gives exactly them.
    _wire: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def __init__(self, method: str, uri: str, headers: Headers = _NO_HEADERS,
                 body: bytes = b"", version: str = SIP_VERSION,
                 _cache: dict[str, Any] | None = None) -> None:
        _REQUEST_METHOD(self, method)
        _REQUEST_URI(self, uri)
        _REQUEST_HEADERS(self, headers)
        _REQUEST_BODY(self, body)
        _REQUEST_VERSION(self, version)
        _REQUEST_CACHE(self, {} if _cache is None else _cache)
        _REQUEST_WIRE(self, None)

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    @property
    def request_uri(self) -> SipUri:
        """The Request-URI parsed (sip, sips or tel; 416 for another scheme, 400 when bad)."""
        return self._cached(  # type: ignore[no-any-return]
            "request-uri", lambda: parse_uri(self.uri, "Request-URI"))

    def serialize(self) -> bytes:
        wire = self._wire
        return wire if wire is not None else self._serialize_with(self.start_line)

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
        own = self.headers
        index = own._index if own._index is not None else own._lookup()
        items = own.items
        copied: list[tuple[str, str]] = [("Via", items[i][1]) for i in index.get("via", ())]
        for name, spelled in _COPIED_TO_RESPONSE:
            positions = index.get(name)
            if not positions:
                continue
            value = items[positions[0]][1]
            if name == "to" and to_tag is not None and status != 100:
                try:
                    has_tag = self.to_addr.tag is not None
                except SipParseError:
                    has_tag = True
                if not has_tag:
                    value = f"{value.rstrip()};tag={to_tag}"
            copied.append((spelled, value))
        copied.extend(headers)
        return build_response(status, reason, copied, body, content_type)

    def __str__(self) -> str:
        return self.serialize().decode("utf-8", "replace")


@dataclass(frozen=True, slots=True, init=False)
class Response(_MessageAccess):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = _NO_HEADERS
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: The bytes this message was parsed from, when serialize() gives exactly them.
    _wire: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def __init__(self, status: int, reason: str, headers: Headers = _NO_HEADERS,
                 body: bytes = b"", version: str = SIP_VERSION,
                 _cache: dict[str, Any] | None = None) -> None:
        _RESPONSE_STATUS(self, status)
        _RESPONSE_REASON(self, reason)
        _RESPONSE_HEADERS(self, headers)
        _RESPONSE_BODY(self, body)
        _RESPONSE_VERSION(self, version)
        _RESPONSE_CACHE(self, {} if _cache is None else _cache)
        _RESPONSE_WIRE(self, None)

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
        wire = self._wire
        return wire if wire is not None else self._serialize_with(self.start_line)

    def replace(self, **changes: Any) -> Response:
        values: dict[str, Any] = {"status": self.status, "reason": self.reason,
                                  "headers": self.headers, "body": self.body,
                                  "version": self.version}
        values.update(changes)
        return Response(**values)

    def __str__(self) -> str:
        return self.serialize().decode("utf-8", "replace")


Message = Request | Response

# (see fields.slot_setters: half the cost of the generated frozen __init__)
(_REQUEST_METHOD, _REQUEST_URI, _REQUEST_HEADERS, _REQUEST_BODY, _REQUEST_VERSION,
 _REQUEST_CACHE, _REQUEST_WIRE) = slot_setters(
    Request, "method", "uri", "headers", "body", "version", "_cache", "_wire")
(_RESPONSE_STATUS, _RESPONSE_REASON, _RESPONSE_HEADERS, _RESPONSE_BODY, _RESPONSE_VERSION,
 _RESPONSE_CACHE, _RESPONSE_WIRE) = slot_setters(
    Response, "status", "reason", "headers", "body", "version", "_cache", "_wire")


_BUILD_RANK: dict[str, int] = {n: i for i, n in enumerate(_BUILD_ORDER)}
_BUILD_RANK.update({n: 1000 + i for i, n in enumerate(_BODY_HEADERS)})
_OTHER_RANK = 500
_CONTENT_TYPE_RANK = _BUILD_RANK["content-type"]
_CONTENT_LENGTH_RANK = _BUILD_RANK["content-length"]
#: Spelling as written -> (canonical name, rank in the build order): the names of the
#: headers fsync builds are few (bounded as _CANONICAL).
_RANKS: dict[str, tuple[str, int]] = {}


def _rank(name: str) -> tuple[str, int]:
    info = _RANKS.get(name)
    if info is None:
        lname = canonical_name(name)
        info = (lname, _BUILD_RANK.get(lname, _OTHER_RANK))
        if len(name) <= 64:
            if len(_RANKS) >= _CANONICAL_MAX:
                _RANKS.clear()
            _RANKS[name] = info
    return info


def _with_body_headers(
    headers: Iterable[tuple[str, str]], body: bytes, content_type: str | None
) -> Headers:
    """``headers`` without Content-Length (and without Content-Type when ``content_type``
    is given), then Content-Type and Content-Length, in the build order: proxy-relevant
    headers first, the dialog identifiers, the rest, body headers last; equal ranks keep
    their order (a stable sort, done only when the headers are not in order already)."""
    items: list[tuple[str, str]] = []
    ranks: list[int] = []
    last = -1
    ordered = True
    ranks_get = _RANKS.get
    for item in headers:
        info = ranks_get(item[0]) or _rank(item[0])
        lname, rank = info
        if lname == "content-length" or (content_type is not None
                                         and lname == "content-type"):
            continue
        if rank < last:
            ordered = False
        else:
            last = rank
        items.append(item)
        ranks.append(rank)
    # the two body headers rank after every header kept, so they never break the order
    if content_type is not None:
        items.append(("Content-Type", content_type))
        ranks.append(_CONTENT_TYPE_RANK)
    items.append(("Content-Length", str(len(body))))
    if not ordered:
        ranks.append(_CONTENT_LENGTH_RANK)
        items = [items[i] for i in sorted(range(len(items)), key=ranks.__getitem__)]
    return Headers(tuple(items))


def build_request(
    method: str,
    uri: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """Build a request in RFC 3261 header order with a correct Content-Length."""
    return Request(method, uri, _with_body_headers(headers, body, content_type), body)


def build_response(
    status: int,
    reason: str | None,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    phrase = reason if reason is not None else REASON_PHRASES.get(status, "Unknown")
    return Response(status, phrase, _with_body_headers(headers, body, content_type), body)


def _bad(reason: str, status: int = 400, *, offset: int | None = None,
         line: str | None = None) -> SipParseError:
    return SipParseError(reason, status, offset=offset, line=line)


def _length(raw: str | None) -> int | None:
    """A Content-Length value: ASCII digits (``str.isdigit`` would let ``²`` through to a
    crashing ``int``), at most 10 significant ones."""
    if raw is None:
        return None
    digits = raw.strip()
    if not _DIGITS.fullmatch(digits) or len(digits.lstrip("0")) > 10:
        raise _bad("Bad Header: Content-Length", line=f"Content-Length: {raw}")
    return int(digits)


def parse_message(data: bytes | bytearray, *, max_size: int = DEFAULT_MAX_SIZE,
                  stream: bool = False) -> Message:
    """Parse exactly one SIP message from ``data``.

    ``stream`` says the bytes came over TCP/TLS, where a Content-Length is mandatory (framing
    already cut the message); over UDP a missing Content-Length means "the rest of the
    datagram" and bytes beyond it are discarded (RFC 3261 section 18.3). A Content-Length
    larger than the body is 400 on both.

    The header block ends at the first empty line; lines end in CRLF or, tolerated as
    :class:`~fsync_model.sip.framing.StreamFramer` does, a bare LF; a bare CR is an error.
    Folded lines are joined with one space. Header values are kept as text (undecodable
    bytes as surrogate escapes, so the message serializes back to the same bytes). When
    ``data`` is already what :meth:`~Request.serialize` would write (CRLF line ends,
    ``Name: value`` lines, nothing past the body), the message keeps it and serializes to
    it without rebuilding. A ``bytearray`` is parsed as the ``bytes`` it holds (copied: the
    message keeps no reference to a buffer the caller may reuse).
    """
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) > max_size:
        raise _bad(f"Message Too Large (over {max_size} bytes)", 513)
    # RFC 3261 section 7.5: implementations should ignore CRLFs before the start line.
    start = 0
    n = len(data)
    while start < n and data[start] in (13, 10):
        start += 1
    # The usual case, in one decode and one split: the head ends at the first CRLF CRLF and
    # holds no bare CR or LF. Anything else is cut line by line (_irregular_lines), which
    # also knows each line's byte offset; here an offset is computed only for an error.
    lines: list[str] | None = None
    offsets: list[int] | None = None
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        text = data[start:end].decode("utf-8", "surrogateescape")
        lines = text.split("\r\n")
        breaks = len(lines) - 1
        if text.count("\n") == breaks and text.count("\r") == breaks:
            body_start = end + 4
        else:
            lines = None
    if lines is None:
        lines, offsets, body_start = _irregular_lines(data, start)

    first = lines[0]
    usual = _USUAL_START_LINE.fullmatch(first)
    if usual is not None and (usual.group(1) is None or is_plain_sip_uri(usual.group(2))):
        # what _parse_start_line returns for it, and what start_line gives back
        method, uri, status_text, reason = usual.groups()
        if method is None:
            msg_kind, first_parts = "response", (SIP_VERSION, status_text, reason)
        else:
            msg_kind, first_parts = "request", (method, uri, SIP_VERSION)
        same_start = True
    else:
        msg_kind, first_parts = _parse_start_line(first, start)
        same_start = False

    # header lines; the index (canonical name -> positions) is built on the way, and
    # ``exact`` stays true while serialize() would give back these very bytes
    exact = offsets is None and start == 0
    items: list[tuple[str, str]] = []
    index: dict[str, list[int]] = {}
    known = _HEADER_NAMES
    for line in lines[1:]:
        # the usual line: a header name seen before, ": ", the value
        name, sep, value = line.partition(": ")
        lname = known.get(name) if sep else None
        if lname is not None:
            stripped = value.strip(" \t")
            if stripped != value:
                value = stripped
                exact = False
        else:
            if line[:1] in (" ", "\t"):
                if not items:
                    raise _bad("Continuation line before any header",
                               offset=_offset(lines, offsets, line, start), line=line)
                name, value = items[-1]
                more = line.strip(" \t")
                items[-1] = (name, f"{value} {more}" if value and more else value or more)
                exact = False
                continue
            colon = line.find(":")
            if colon <= 0:
                raise _bad("Bad header line (no colon)" if colon < 0 else "Empty header name",
                           offset=_offset(lines, offsets, line, start), line=line)
            name = line[:colon].rstrip(" \t")
            if not is_token(name):
                raise _bad("Bad header name", offset=_offset(lines, offsets, line, start),
                           line=line)
            lname = canonical_name(name)
            if len(name) == colon and colon <= 64:
                if len(known) >= _CANONICAL_MAX:
                    known.clear()
                known[name] = lname
            value = line[colon + 1 :].strip(" \t")
            if len(name) != colon or line[colon + 1 : colon + 2] != " " or (
                    len(value) != len(line) - colon - 2):
                exact = False
        positions = index.get(lname)
        if positions is None:
            index[lname] = [len(items)]
        else:
            positions.append(len(items))
        items.append((name, value))

    body = data[body_start:]
    positions = index.get("content-length")
    length: int | None = None
    if positions is not None:
        if len(positions) == 1:
            raw = items[positions[0]][1]
            if len(raw) <= 10 and raw.isdigit() and raw.isascii():
                length = int(raw)
            else:
                length = _length(raw)
        else:
            lengths = {_length(items[i][1]) for i in positions}
            if len(lengths) > 1:
                raise _bad("Conflicting Content-Length headers")
            length = lengths.pop()
    if length is not None:
        if length > len(body):
            raise _bad("Content-Length larger than body",
                       line=f"Content-Length: {length} but {len(body)} body bytes")
        if length < len(body):
            body = body[:length]
            exact = False
    elif stream:
        raise _bad("Missing Header: Content-Length (required on stream transports)")

    headers = Headers(tuple(items), index)
    msg: Message
    if msg_kind == "request":
        method, uri, version = first_parts
        msg = Request(method, uri, headers, body, version)
    else:
        version, status_text, reason = first_parts
        msg = Response(int(status_text), reason, headers, body, version)
    if exact and (same_start or msg.start_line == first):
        (_REQUEST_WIRE if msg_kind == "request" else _RESPONSE_WIRE)(msg, data)
    return msg


#: Header-name spellings seen that are tokens -> canonical_name (bounded as _CANONICAL).
_HEADER_NAMES: dict[str, str] = {}


def _irregular_lines(data: bytes, start: int) -> tuple[list[str], list[int], int]:
    """The head's lines cut one by one (bare LFs as line ends; a bare CR is an error), each
    line's byte offset, and where the body starts."""
    n = len(data)
    end = _HEAD_END.search(data, start)
    if end is not None:
        head_bytes = data[start : end.start()]
        body_start = end.end()
    else:
        # no empty line: the datagram has no body
        head_bytes = data[start:].rstrip(b"\r\n")
        body_start = n
    if not head_bytes:
        raise _bad("Empty message", offset=start)
    lines: list[str] = []
    offsets: list[int] = []
    line_start = 0
    for line_break in _LINE_BREAK.finditer(head_bytes):
        lines.append(_decoded_line(head_bytes[line_start : line_break.start()],
                                   start + line_start)[0])
        offsets.append(start + line_start)
        line_start = line_break.end()
    lines.append(_decoded_line(head_bytes[line_start:], start + line_start)[0])
    offsets.append(start + line_start)
    return lines, offsets, body_start


def _offset(lines: list[str], offsets: list[int] | None, bad: str, start: int) -> int:
    """Byte offset of header line ``bad`` (CRLF line ends when ``offsets`` is None). A line
    equal to it further up would have failed first, so the first such line is the one."""
    number = lines.index(bad, 1)
    if offsets is not None:
        return offsets[number]
    return start + sum(len(line.encode("utf-8", "surrogateescape")) + 2
                       for line in lines[:number])


def _decoded_line(raw: bytes, offset: int) -> tuple[str, int]:
    """One header-block line as text; a CR that does not end a line is an error."""
    line = raw.decode("utf-8", "surrogateescape")
    if "\r" in line:
        raise _bad("Bare CR in message header", offset=offset + raw.index(b"\r"), line=line)
    return line, offset


def _check_version(version: str, first: str, offset: int) -> None:
    if version.upper() == SIP_VERSION:
        return
    if _VERSION.fullmatch(version):
        raise _bad("Version Not Supported", 505, offset=offset, line=first)
    raise _bad("Bad SIP version", offset=offset, line=first)


def _parse_start_line(first: str, offset: int) -> tuple[str, tuple[str, str, str]]:
    """``Method SP Request-URI SP SIP-Version`` or ``SIP-Version SP Status-Code SP
    Reason-Phrase`` (RFC 3261 7.1, 7.2): single spaces, no control characters (HTAB allowed
    in a reason phrase), a 3-digit status, a Request-URI that is an absolute URI (and for
    sip/sips a valid one without headers: RFC 3261 19.1.1)."""
    usual = _USUAL_START_LINE.fullmatch(first)
    if usual is not None:
        method, uri, status_text, reason = usual.groups()
        if method is None:
            return "response", (SIP_VERSION, status_text, reason)
        if is_plain_sip_uri(uri):
            return "request", (method, uri, SIP_VERSION)
    if first[:4].upper() == "SIP/":
        parts = first.split(" ", 2)
        if len(parts) < 2:
            raise _bad("Bad status line", offset=offset, line=first)
        version, status_text = parts[0], parts[1]
        _check_version(version, first, offset)
        if not _STATUS.fullmatch(status_text):
            raise _bad("Bad status code", offset=offset, line=first)
        reason = parts[2] if len(parts) == 3 else ""
        if _REASON_BAD.search(reason):
            raise _bad("Control character in reason phrase", offset=offset, line=first)
        return "response", (version, status_text, reason)
    parts = first.split(" ")
    if len(parts) != 3 or not all(parts):
        raise _bad("Bad request line", offset=offset, line=first)
    method, uri, version = parts
    if not is_token(method):
        raise _bad("Bad request method", offset=offset, line=first)
    if not version[:4].upper() == "SIP/":
        raise _bad("Bad request line (no SIP version)", offset=offset, line=first)
    _check_version(version, first, offset)
    if is_plain_sip_uri(uri):
        return "request", (method, uri, version)
    problem = uri_problem(uri)
    if problem is not None:
        raise _bad(f"Bad Request-URI ({problem})", offset=offset, line=first)
    if uri.partition(":")[0].lower() in ("sip", "sips"):
        try:
            parsed = parse_uri(uri, "Request-URI")
        except SipParseError as error:
            raise _bad(error.reason, error.status, offset=offset, line=first) from None
        if parsed.headers is not None:
            raise _bad("Bad Request-URI (headers not allowed)", offset=offset, line=first)
    return "request", (method, uri, version)
