"""The strict checker: what a parsed SIP message does against RFC 3261 and RFC 6665.

:mod:`fsync_model.sip.message` is lenient about header values so that a test tool can read
(and send) wrong messages; this module says what is wrong with them. :func:`check_message`
looks at one message, :func:`check_pair` at a request and a response to it, :func:`check_bytes`
at raw bytes (a parse failure is itself a finding). Each returns a list of
:class:`~fsync_model.findings.Finding` in a stable order and **never raises**: a malformed
header value is reported as a finding, not as an exception.

Every rule has a stable id listed in :data:`RULES`. ``status`` on a finding about a request is
the response a strict receiver would answer with (400, 481, 489); findings about responses
carry ``None`` (nobody answers a response). ``evidence`` is the offending header line as
written (``"CSeq: 1 INVITE"``), or the start line when something is missing.

The checks are chosen so that correct feature-sync traffic (as-feature-event SUBSCRIBE and
NOTIFY, feature-code INVITEs, uaCSTA INFO, REGISTER with digest) yields no finding at all: a
false alarm costs an engineer a day. Where RFC 3261 only says SHOULD, or a variant is legal
but unusual, the finding is a ``warning`` or ``info``, never an ``error``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fsync_model.findings import Finding, Severity
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import (
    MAGIC_COOKIE,
    CSeq,
    NameAddr,
    parse_cseq,
    parse_name_addr,
    parse_via,
    split_outside_quotes,
)
from fsync_model.sip.message import (
    Message,
    Request,
    canonical_name,
    parse_message,
    pretty_name,
)
from fsync_model.sip.multipart import parse_multipart
from fsync_model.sip.params import TOKEN_CHARS, HeaderValue, is_token, parse_header_value

# --------------------------------------------------------------------------- rule ids

SIP_PARSE = "SIP-PARSE"
HDR_MISSING = "RFC3261-HDR-MISSING"
HDR_DUPLICATE = "RFC3261-HDR-DUPLICATE"
HDR_SYNTAX = "RFC3261-HDR-SYNTAX"
VERSION_CASE = "RFC3261-VERSION-CASE"
CSEQ_METHOD = "RFC3261-CSEQ-METHOD"
FROM_TAG = "RFC3261-FROM-TAG"
TO_TAG = "RFC3261-TO-TAG"
VIA_BRANCH = "RFC3261-VIA-BRANCH"
BRANCH_COOKIE = "RFC3261-BRANCH-COOKIE"
VIA_TRANSPORT = "RFC3261-VIA-TRANSPORT"
MAX_FORWARDS = "RFC3261-MAX-FORWARDS"
CONTENT_LENGTH = "RFC3261-CONTENT-LENGTH"
CONTENT_TYPE = "RFC3261-CONTENT-TYPE"
CONTACT_MISSING = "RFC3261-CONTACT-MISSING"
CONTACT_STAR = "RFC3261-CONTACT-STAR"
MULTIPART = "RFC2046-MULTIPART"
EVENT_MISSING = "RFC6665-EVENT-MISSING"
EVENT_SYNTAX = "RFC6665-EVENT-SYNTAX"
ALLOW_EVENTS = "RFC6665-ALLOW-EVENTS"
ALLOW_EVENTS_489 = "RFC6665-ALLOW-EVENTS-489"
SUBSTATE_MISSING = "RFC6665-SUBSTATE-MISSING"
SUBSTATE_SYNTAX = "RFC6665-SUBSTATE-SYNTAX"
SUBSTATE_UNKNOWN = "RFC6665-SUBSTATE-UNKNOWN"
SUBSTATE_EXPIRES = "RFC6665-SUBSTATE-EXPIRES"
EXPIRES_MISSING = "RFC6665-EXPIRES-MISSING"
PAIR_CALL_ID = "RFC3261-PAIR-CALL-ID"
PAIR_CSEQ = "RFC3261-PAIR-CSEQ"
PAIR_FROM_TAG = "RFC3261-PAIR-FROM-TAG"
PAIR_TO_TAG = "RFC3261-PAIR-TO-TAG"
PAIR_BRANCH = "RFC3261-PAIR-BRANCH"
PAIR_ACK = "RFC3261-PAIR-ACK"
EXPIRES_LONGER = "RFC6665-EXPIRES-LONGER"
CHECKER_INTERNAL = "CHECKER-INTERNAL"

RULES: dict[str, str] = {
    SIP_PARSE: "the bytes are not a SIP message the parser can read (check_bytes only)",
    HDR_MISSING: "a mandatory header is missing (RFC 3261 8.1.1 for requests, 8.2.6.2 for "
    "responses; WWW-Authenticate in 401, Proxy-Authenticate in 407, Allow in 405, "
    "Min-Expires in 423, Unsupported in 420)",
    HDR_DUPLICATE: "a header allowed once (Call-ID, CSeq, From, To, Max-Forwards, "
    "Content-Length, Content-Type, Expires, Event, Subscription-State) appears several times",
    HDR_SYNTAX: "a header value does not follow its grammar (RFC 3261 section 25)",
    VERSION_CASE: "the start line spells the version other than SIP/2.0 (RFC 3261 7.1: "
    "receivers accept any case, senders MUST use upper case)",
    CSEQ_METHOD: "the CSeq method differs from the request method (an ACK carries ACK, a "
    "CANCEL carries CANCEL), or a response answers an ACK",
    FROM_TAG: "a request without a From tag (RFC 3261 8.1.1.3)",
    TO_TAG: "a To tag missing where a dialog exists: in-dialog requests (NOTIFY, BYE, INFO, "
    "PRACK, UPDATE; ACK as a warning), 2xx to INVITE/SUBSCRIBE/REFER, and (as a warning) any "
    "other response but 100 (RFC 3261 8.2.6.2, 12.1.1)",
    VIA_BRANCH: "a Via without a branch parameter (RFC 3261 8.1.1.7)",
    BRANCH_COOKIE: "a Via branch not starting with the magic cookie z9hG4bK: the sender is "
    "not an RFC 3261 element (8.1.1.7)",
    VIA_TRANSPORT: "the top Via of a request names another transport than the one it came "
    "over (RFC 3261 18.1.1)",
    MAX_FORWARDS: "Max-Forwards outside 0-255 (RFC 3261 20.22)",
    CONTENT_LENGTH: "Content-Length differs from the body length, or is missing on a "
    "stream transport (RFC 3261 18.3, 20.14); missing on UDP is reported as info",
    CONTENT_TYPE: "a non-empty body without Content-Type, or a Content-Type that is not "
    "type/subtype (RFC 3261 20.15)",
    CONTACT_MISSING: "no Contact in an INVITE, SUBSCRIBE or NOTIFY, an out-of-dialog REFER, "
    "or a 2xx to INVITE/SUBSCRIBE (RFC 3261 8.1.1.8, 12.1.1; RFC 6665)",
    CONTACT_STAR: "Contact: * outside a REGISTER with Expires: 0 and no other Contact "
    "(RFC 3261 10.2.2)",
    MULTIPART: "a multipart body that cannot be split with its boundary (RFC 2046 5.1)",
    EVENT_MISSING: "SUBSCRIBE or NOTIFY without Event (RFC 6665 8.2.1)",
    EVENT_SYNTAX: "Event is not event-package[.template] with token-nodot names "
    "(RFC 6665 8.2.1)",
    ALLOW_EVENTS: "Allow-Events is not a comma-separated list of bare event types "
    "(no parameters, no empty items; RFC 6665 8.2.2)",
    ALLOW_EVENTS_489: "a 489 Bad Event without Allow-Events: the subscriber cannot learn "
    "which packages are supported (info)",
    SUBSTATE_MISSING: "a NOTIFY without Subscription-State (RFC 6665 4.2.2)",
    SUBSTATE_SYNTAX: "Subscription-State is malformed: not substate;params (e.g. "
    "'active, 3600'), or expires/retry-after not a non-negative integer (RFC 6665 8.2.3)",
    SUBSTATE_UNKNOWN: "a substate other than active/pending/terminated (an extension "
    "substate: legal grammar, meaning unknown to the receiver)",
    SUBSTATE_EXPIRES: "active or pending Subscription-State in a NOTIFY without an expires "
    "parameter: the subscriber cannot tell when the subscription ends",
    EXPIRES_MISSING: "a 2xx to SUBSCRIBE without Expires (RFC 6665 4.2.1.1: MUST)",
    PAIR_CALL_ID: "the response's Call-ID differs from the request's",
    PAIR_CSEQ: "the response's CSeq number or method differs from the request's",
    PAIR_FROM_TAG: "the response's From tag differs from the request's",
    PAIR_TO_TAG: "the response's To tag differs from the request's, or a non-100 response "
    "to a request without To tag adds none (RFC 3261 8.2.6.2)",
    PAIR_BRANCH: "the response's top Via branch is not the request's (RFC 3261 17.1.3)",
    PAIR_ACK: "a response to an ACK (ACK is never answered, RFC 3261 17.1.1.3)",
    EXPIRES_LONGER: "a 2xx to SUBSCRIBE grants a longer Expires than requested "
    "(RFC 6665 4.2.1.1: MAY shorten, MUST NOT lengthen)",
    CHECKER_INTERNAL: "the checker itself failed on this input: a bug in the checker, "
    "reported instead of raised",
}

# --------------------------------------------------------------------------- tables

#: Headers every request must carry (RFC 3261 8.1.1), and every response (8.2.6.2).
REQUEST_MANDATORY = ("via", "from", "to", "call-id", "cseq", "max-forwards")
RESPONSE_MANDATORY = ("via", "from", "to", "call-id", "cseq")

#: Headers whose grammar allows one value only: a second line is a defect.
SINGLE_INSTANCE = (
    "call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type",
    "expires", "event", "subscription-state",
)

#: Requests whose 2xx creates a dialog, so the 2xx needs a To tag.
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
#: Requests that only exist inside a dialog (or an early dialog): the To tag is mandatory.
IN_DIALOG_ONLY = frozenset({"NOTIFY", "BYE", "INFO", "PRACK", "UPDATE"})
#: Requests that always carry a Contact: dialog-creating or target-refreshing (RFC 3261
#: 8.1.1.8, 12.2.1.1) and NOTIFY (RFC 6665). A REFER needs one only outside a dialog.
CONTACT_REQUIRED = frozenset({"INVITE", "SUBSCRIBE", "NOTIFY"})
#: Requests whose 2xx carries a Contact (the remote target of the new dialog).
CONTACT_REQUIRED_2XX = frozenset({"INVITE", "SUBSCRIBE"})

#: Status codes whose response must carry a header (RFC 3261 section 21, 20.23).
RESPONSE_REQUIRES: dict[int, str] = {
    401: "www-authenticate",
    405: "allow",
    407: "proxy-authenticate",
    420: "unsupported",
    423: "min-expires",
}

SUBSTATES = frozenset({"active", "pending", "terminated"})
STREAM_TRANSPORTS = frozenset({"tcp", "tls"})
#: Transports a Via can name, to compare with the one a request came over.
VIA_TRANSPORTS = frozenset({"udp", "tcp", "tls", "sctp", "ws", "wss"})

_T = TypeVar("_T")
_HEAD_END = re.compile(rb"\r?\n\r?\n")

_TOKEN_NODOT = TOKEN_CHARS - {"."}
#: RFC 3261 25.1 ``word``: the Call-ID alphabet.
_WORD_CHARS = TOKEN_CHARS | frozenset('()<>:\\"/[]?{}')


def _pretty(lname: str) -> str:
    return pretty_name(lname)


# --------------------------------------------------------------------------- context


@dataclass
class _Line:
    """One header line as written."""

    name: str
    value: str

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


@dataclass
class _Context:
    """What the checks share: the message, its header lines by canonical name, the values
    parsed so far (``None`` when absent or malformed) and the findings."""

    msg: Message
    transport: str
    lines: dict[str, list[_Line]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cseq: CSeq | None = None
    from_addr: NameAddr | None = None
    to_addr: NameAddr | None = None
    #: Canonical names of headers already reported malformed (no follow-up findings).
    bad: set[str] = field(default_factory=set)

    @property
    def is_request(self) -> bool:
        return isinstance(self.msg, Request)

    @property
    def method(self) -> str | None:
        """The request method, or for a response the method from its CSeq (when readable)."""
        if isinstance(self.msg, Request):
            return self.msg.method
        return self.cseq.method if self.cseq is not None else None

    @property
    def status(self) -> int | None:
        return None if isinstance(self.msg, Request) else self.msg.status

    @property
    def start_line(self) -> str:
        return self.msg.start_line

    def first(self, lname: str) -> _Line | None:
        found = self.lines.get(lname)
        return found[0] if found else None

    def add(self, rule: str, severity: Severity, message: str, status: int | None = None,
            evidence: str | None = None) -> None:
        """Record a finding; ``status`` only sticks to requests (a response is not answered)."""
        self.findings.append(Finding(rule, severity, message,
                                     status if self.is_request else None, evidence))

    def syntax(self, line: _Line, why: str, rule: str = HDR_SYNTAX) -> None:
        self.bad.add(canonical_name(line.name))
        self.add(rule, "error", f"{_pretty(canonical_name(line.name))}: {why}", 400, str(line))


def _reason(error: SipParseError) -> str:
    return error.reason


# --------------------------------------------------------------------------- checks


def _check_start_line(ctx: _Context) -> None:
    version = ctx.msg.version
    if version != "SIP/2.0" and version.upper() == "SIP/2.0":
        ctx.add(VERSION_CASE, "warning",
                f"the start line spells the version {version!r}: senders MUST write SIP/2.0",
                None, ctx.start_line)


def _check_duplicates(ctx: _Context) -> None:
    for lname in SINGLE_INSTANCE:
        found = ctx.lines.get(lname, [])
        if len(found) > 1:
            ctx.add(HDR_DUPLICATE, "error",
                    f"{_pretty(lname)} appears {len(found)} times; it is allowed once", 400,
                    str(found[1]))


def _check_mandatory(ctx: _Context) -> None:
    wanted = REQUEST_MANDATORY if ctx.is_request else RESPONSE_MANDATORY
    for lname in wanted:
        if lname not in ctx.lines:
            kind = "request" if ctx.is_request else "response"
            ctx.add(HDR_MISSING, "error", f"{_pretty(lname)} is missing: every {kind} needs it",
                    400, ctx.start_line)
    status = ctx.status
    if status is not None and status in RESPONSE_REQUIRES:
        lname = RESPONSE_REQUIRES[status]
        if lname not in ctx.lines:
            ctx.add(HDR_MISSING, "error", f"a {status} response must carry {_pretty(lname)}",
                    None, ctx.start_line)


def _check_cseq(ctx: _Context) -> None:
    line = ctx.first("cseq")
    if line is None:
        return
    try:
        ctx.cseq = parse_cseq(line.value)
    except SipParseError as error:
        ctx.syntax(line, f"{_reason(error)} (want '<number> <METHOD>', number below 2**31)")


def _check_from_to(ctx: _Context) -> None:
    for lname in ("from", "to"):
        line = ctx.first(lname)
        if line is None:
            continue
        try:
            addr = parse_name_addr(line.value, _pretty(lname))
        except SipParseError as error:
            ctx.syntax(line, _reason(error))
            continue
        if lname == "from":
            ctx.from_addr = addr
        else:
            ctx.to_addr = addr


def _check_call_id(ctx: _Context) -> None:
    line = ctx.first("call-id")
    if line is None:
        return
    value = line.value.strip()
    word, at, host = value.partition("@")
    if not word or (at and not host) or any(
            c not in _WORD_CHARS for c in word + host) or "@" in host:
        ctx.syntax(line, "not word[@word] (RFC 3261 25.1: no spaces, no empty parts)")


def _check_integers(ctx: _Context) -> None:
    for lname in ("max-forwards", "expires", "min-expires"):
        line = ctx.first(lname)
        if line is None:
            continue
        value = line.value.strip()
        if not value.isdigit() or not value.isascii():
            ctx.syntax(line, "not a non-negative integer (delta-seconds / 1*DIGIT)")
        elif lname == "max-forwards" and int(value) > 255 and ctx.is_request:
            ctx.bad.add(lname)
            ctx.add(MAX_FORWARDS, "error", f"Max-Forwards {int(value)} is outside 0-255", 400,
                    str(line))


def _check_vias(ctx: _Context) -> None:
    index = 0
    for line in ctx.lines.get("via", []):
        for raw in split_outside_quotes(line.value, ","):
            if not raw.strip():
                ctx.syntax(line, "empty Via value (stray comma)")
                continue
            try:
                via = parse_via(raw)
            except SipParseError as error:
                ctx.syntax(line, _reason(error))
                index += 1
                continue
            where = "top Via" if index == 0 else f"Via #{index + 1}"
            branch = via.branch
            if not branch:
                ctx.add(VIA_BRANCH, "error", f"{where} has no branch parameter", None, str(line))
            elif not branch.startswith(MAGIC_COOKIE):
                ctx.add(BRANCH_COOKIE, "error",
                        f"{where} branch {branch!r} does not start with {MAGIC_COOKIE}: "
                        "not an RFC 3261 element", None, str(line))
            transport = ctx.transport.lower()
            if (index == 0 and ctx.is_request and transport in VIA_TRANSPORTS
                    and via.transport.lower() in VIA_TRANSPORTS
                    and via.transport.lower() != transport):
                ctx.add(VIA_TRANSPORT, "warning",
                        f"top Via says {via.transport} but the request came over "
                        f"{transport.upper()}", None, str(line))
            index += 1


def _check_contacts(ctx: _Context) -> None:
    lines = ctx.lines.get("contact", [])
    stars: list[_Line] = []
    count = 0
    for line in lines:
        if line.value.strip() == "*":
            stars.append(line)
            count += 1
            continue
        for raw in split_outside_quotes(line.value, ","):
            count += 1
            if not raw.strip():
                ctx.syntax(line, "empty Contact value (stray comma)")
                continue
            try:
                addr = parse_name_addr(raw, "Contact")
            except SipParseError as error:
                ctx.syntax(line, _reason(error))
                continue
            expires = addr.param("expires")
            if expires is not None and not (expires.isdigit() and expires.isascii()):
                ctx.syntax(line, f"expires parameter {expires!r} is not an integer")
    if stars:
        expires_line = ctx.first("expires")
        ok = (ctx.is_request and ctx.method == "REGISTER" and count == 1
              and expires_line is not None and expires_line.value.strip() == "0")
        if not ok:
            ctx.add(CONTACT_STAR, "error",
                    "Contact: * is only allowed alone in a REGISTER with Expires: 0", 400,
                    str(stars[0]))


def _check_cseq_method(ctx: _Context) -> None:
    cseq = ctx.cseq
    if cseq is None:
        return
    line = ctx.first("cseq")
    evidence = str(line) if line is not None else None
    if isinstance(ctx.msg, Request):
        method = ctx.msg.method
        if cseq.method != method:
            hint = ""
            if method in ("ACK", "CANCEL"):
                hint = (f" (an {method} keeps the INVITE's number but carries method {method})"
                        if method == "ACK" else
                        " (a CANCEL keeps the request's number but carries method CANCEL)")
            ctx.add(CSEQ_METHOD, "error",
                    f"CSeq method {cseq.method} differs from the request method {method}{hint}",
                    400, evidence)
    elif cseq.method == "ACK":
        ctx.add(CSEQ_METHOD, "error", "a response to an ACK: ACK is never answered", None,
                evidence)


def _check_tags(ctx: _Context) -> None:
    msg = ctx.msg
    if isinstance(msg, Request):
        if ctx.from_addr is not None and not ctx.from_addr.tag:
            ctx.add(FROM_TAG, "error", "the From header has no tag (RFC 3261 8.1.1.3 MUST)",
                    400, _evidence(ctx, "from"))
        if ctx.to_addr is not None and not ctx.to_addr.tag:
            if msg.method in IN_DIALOG_ONLY:
                ctx.add(TO_TAG, "error",
                        f"a {msg.method} is only sent inside a dialog, but To has no tag",
                        481, _evidence(ctx, "to"))
            elif msg.method == "ACK":
                ctx.add(TO_TAG, "warning",
                        "an ACK copies the To of the response it acknowledges, which has a tag",
                        None, _evidence(ctx, "to"))
        return
    if ctx.to_addr is None or ctx.to_addr.tag or msg.status == 100:
        return
    method = ctx.method
    if 200 <= msg.status < 300 and method in DIALOG_CREATING:
        ctx.add(TO_TAG, "error",
                f"a {msg.status} to {method} creates a dialog, but To has no tag", None,
                _evidence(ctx, "to"))
    else:
        ctx.add(TO_TAG, "warning",
                f"a {msg.status} without To tag (the UAS MUST add one, RFC 3261 8.2.6.2)",
                None, _evidence(ctx, "to"))


def _evidence(ctx: _Context, lname: str) -> str | None:
    line = ctx.first(lname)
    return str(line) if line is not None else None


def _check_contact_required(ctx: _Context) -> None:
    if "contact" in ctx.lines:
        return
    msg = ctx.msg
    if isinstance(msg, Request):
        out_of_dialog_refer = (msg.method == "REFER" and ctx.to_addr is not None
                               and not ctx.to_addr.tag)
        if msg.method in CONTACT_REQUIRED or out_of_dialog_refer:
            ctx.add(CONTACT_MISSING, "error",
                    f"a {msg.method} must carry a Contact (the remote target of the dialog)",
                    400, ctx.start_line)
    elif 200 <= msg.status < 300 and ctx.method in CONTACT_REQUIRED_2XX:
        ctx.add(CONTACT_MISSING, "error",
                f"a {msg.status} to {ctx.method} must carry a Contact (the remote target)",
                None, ctx.start_line)


def _check_event(ctx: _Context) -> None:
    method = ctx.method
    line = ctx.first("event")
    if line is None:
        if ctx.is_request and method in ("SUBSCRIBE", "NOTIFY"):
            ctx.add(EVENT_MISSING, "error",
                    f"a {method} must name its event package in an Event header", 489,
                    ctx.start_line)
        return
    try:
        parsed = parse_header_value(line.value, "Event")
    except SipParseError as error:
        ctx.syntax(line, _reason(error), EVENT_SYNTAX)
        return
    why = _event_type_problem(parsed.value)
    if why is not None:
        ctx.syntax(line, why, EVENT_SYNTAX)
        return
    event_id = parsed.get("id")
    if event_id is not None and not is_token(event_id):
        ctx.syntax(line, f"id {event_id!r} is not a token", EVENT_SYNTAX)


def _event_type_problem(value: str) -> str | None:
    """Why ``value`` is not ``event-package *("." event-template)``, or None."""
    if "/" in value:
        return f"{value!r} is a media type, not an event package"
    if any(not part or any(c not in _TOKEN_NODOT for c in part) for part in value.split(".")):
        return f"{value!r} is not event-package[.template] (token-nodot names)"
    return None


def _check_allow_events(ctx: _Context) -> None:
    for line in ctx.lines.get("allow-events", []):
        for raw in line.value.split(","):
            item = raw.strip()
            if not item:
                ctx.syntax(line, "empty item (stray comma)", ALLOW_EVENTS)
                break
            if ";" in item:
                ctx.syntax(line, f"{item!r}: Allow-Events takes bare event types, no "
                           "parameters", ALLOW_EVENTS)
                break
            why = _event_type_problem(item)
            if why is not None:
                ctx.syntax(line, why, ALLOW_EVENTS)
                break
    if ctx.status == 489 and "allow-events" not in ctx.lines:
        ctx.add(ALLOW_EVENTS_489, "info",
                "a 489 Bad Event without Allow-Events does not say which packages work",
                None, ctx.start_line)


def _check_subscription_state(ctx: _Context) -> None:
    line = ctx.first("subscription-state")
    is_notify = ctx.is_request and ctx.method == "NOTIFY"
    if line is None:
        if is_notify:
            ctx.add(SUBSTATE_MISSING, "error", "a NOTIFY must carry Subscription-State", 400,
                    ctx.start_line)
        return
    try:
        parsed = parse_header_value(line.value, "Subscription-State")
    except SipParseError as error:
        ctx.syntax(line, _reason(error), SUBSTATE_SYNTAX)
        return
    problem = _substate_problem(parsed)
    if problem is not None:
        ctx.syntax(line, problem, SUBSTATE_SYNTAX)
        return
    state = parsed.value_lower
    if state not in SUBSTATES:
        ctx.add(SUBSTATE_UNKNOWN, "warning",
                f"substate {parsed.value!r} is not active, pending or terminated", None,
                str(line))
    elif is_notify and state in ("active", "pending") and parsed.get("expires") is None:
        ctx.add(SUBSTATE_EXPIRES, "warning",
                f"{state} without expires: the subscriber cannot tell when it ends", None,
                str(line))


def _substate_problem(parsed: HeaderValue) -> str | None:
    if "/" in parsed.value:
        return f"{parsed.value!r} is not a substate token"
    for name, value in parsed.params:
        lname = name.lower()
        if lname in ("expires", "retry-after"):
            if value is None or not value.isdigit() or not value.isascii():
                return f"{name}={value!r} is not a non-negative integer"
        elif lname == "reason" and (value is None or not is_token(value)):
            return f"reason={value!r} is not a token"
    return None


def _check_expires_in_subscribe_2xx(ctx: _Context) -> None:
    status = ctx.status
    if (status is not None and 200 <= status < 300 and ctx.method == "SUBSCRIBE"
            and "expires" not in ctx.lines):
        ctx.add(EXPIRES_MISSING, "error",
                f"a {status} to SUBSCRIBE must carry Expires (the granted duration)", None,
                ctx.start_line)


def _check_body(ctx: _Context) -> None:
    body = ctx.msg.body
    cl_line = ctx.first("content-length")
    stream = ctx.transport.lower() in STREAM_TRANSPORTS
    if cl_line is None:
        if stream:
            ctx.add(CONTENT_LENGTH, "error",
                    f"Content-Length is missing: it is mandatory over {ctx.transport.upper()}",
                    400, ctx.start_line)
        else:
            ctx.add(CONTENT_LENGTH, "info",
                    "no Content-Length: the body runs to the end of the datagram (UDP only)",
                    None, ctx.start_line)
    else:
        text = cl_line.value.strip()
        if not text.isdigit() or not text.isascii():
            ctx.syntax(cl_line, "not a non-negative integer")
        elif int(text) != len(body):
            ctx.add(CONTENT_LENGTH, "error",
                    f"Content-Length says {int(text)} but the body has {len(body)} bytes", 400,
                    str(cl_line))
    ct_line = ctx.first("content-type")
    if ct_line is None:
        if body:
            ctx.add(CONTENT_TYPE, "error",
                    f"a {len(body)}-byte body without Content-Type", 400, ctx.start_line)
        return
    try:
        parsed = parse_header_value(ct_line.value, "Content-Type")
    except SipParseError as error:
        ctx.syntax(ct_line, _reason(error), CONTENT_TYPE)
        return
    if "/" not in parsed.value:
        ctx.syntax(ct_line, f"{parsed.value!r} is not type/subtype", CONTENT_TYPE)
        return
    if body and parsed.value_lower.startswith("multipart/"):
        try:
            parse_multipart(ct_line.value, body)
        except SipParseError as error:
            ctx.add(MULTIPART, "error", error.reason, 400, str(ct_line))


_CHECKS: tuple[Callable[[_Context], None], ...] = (
    _check_start_line,
    _check_duplicates,
    _check_mandatory,
    _check_cseq,
    _check_from_to,
    _check_call_id,
    _check_integers,
    _check_vias,
    _check_contacts,
    _check_cseq_method,
    _check_tags,
    _check_contact_required,
    _check_event,
    _check_allow_events,
    _check_subscription_state,
    _check_expires_in_subscribe_2xx,
    _check_body,
)


def _index(msg: Message) -> dict[str, list[_Line]]:
    lines: dict[str, list[_Line]] = {}
    for name, value in msg.headers:
        lines.setdefault(canonical_name(name), []).append(_Line(name, value))
    return lines


def _internal(where: str, error: Exception) -> Finding:
    return Finding(CHECKER_INTERNAL, "warning",
                   f"checker bug in {where}: {type(error).__name__}: {error}")


# --------------------------------------------------------------------------- entry points


def check_message(msg: Message, *, transport: str = "udp") -> list[Finding]:
    """Every deviation of ``msg`` from RFC 3261 / RFC 6665 as findings, in a stable order.

    ``transport`` is how the message travelled (``"udp"``, ``"tcp"``, ``"tls"``...): over a
    stream a missing Content-Length is an error, and a request's top Via should name it.
    Never raises.
    """
    try:
        ctx = _Context(msg, transport, _index(msg))
    except Exception as error:  # a checker reports, it does not crash a capture run
        return [_internal("indexing headers", error)]
    for check in _CHECKS:
        try:
            check(ctx)
        except Exception as error:  # same: one broken check must not hide the others
            ctx.findings.append(_internal(check.__name__, error))
    return ctx.findings


def check_bytes(data: bytes, *, transport: str = "udp") -> list[Finding]:
    """Parse ``data`` and check the message; a parse failure is one ``SIP-PARSE`` finding
    carrying the parser's status (400, 505, 513...). Bytes beyond Content-Length in a
    datagram (discarded by RFC 3261 18.3) are reported too. Never raises."""
    stream = transport.lower() in STREAM_TRANSPORTS
    try:
        msg = parse_message(data, stream=stream)
    except SipParseError as error:
        return [Finding(SIP_PARSE, "error", error.reason, error.status, error.line)]
    except Exception as error:  # the parser's contract says this cannot happen
        return [_internal("parse_message", error)]
    findings = check_message(msg, transport=transport)
    extra = _trailing_bytes(data, msg)
    if extra:
        findings.append(Finding(CONTENT_LENGTH, "error",
                                f"{extra} bytes after the Content-Length body (discarded)",
                                400 if isinstance(msg, Request) else None,
                                f"Content-Length: {len(msg.body)}"))
    return findings


def _trailing_bytes(data: bytes, msg: Message) -> int:
    """How many bytes follow the declared body (0 when there is no Content-Length)."""
    if not any(canonical_name(name) == "content-length" for name, _ in msg.headers):
        return 0
    # as the parser does: CRLFs before the start line are skipped (RFC 3261 7.5), the head
    # ends at the first empty line (CRLF or bare LF)
    begin = len(data) - len(data.lstrip(b"\r\n"))
    end = _HEAD_END.search(data, begin)
    start = end.end() if end is not None else len(data)
    return max(0, len(data) - start - len(msg.body))


def check_pair(request: Request, response: Message) -> list[Finding]:
    """What ``response`` gets wrong as an answer to ``request`` (RFC 3261 8.2.6.2, 17.1.3):
    Call-ID, CSeq number and method, From tag and top Via branch echoed; the To tag kept
    when the request had one and added otherwise (except in a 100); a 2xx to SUBSCRIBE not
    granting more than was asked. Malformed values are left to :func:`check_message`.
    Never raises."""
    findings: list[Finding] = []
    try:
        _pair(request, response, findings)
    except Exception as error:  # a checker reports, it does not raise
        findings.append(_internal("check_pair", error))
    return findings


def _pair(request: Request, response: Message, out: list[Finding]) -> None:
    if isinstance(response, Request):
        out.append(Finding(PAIR_CSEQ, "error",
                           f"the answer to {request.method} is a {response.method} request"))
        return
    req = _index(request)
    rsp = _index(response)
    if request.method == "ACK":
        out.append(Finding(PAIR_ACK, "error", "a response to an ACK: ACK is never answered",
                           None, response.start_line))

    req_call_id = _first_value(req, "call-id")
    rsp_call_id = _first_value(rsp, "call-id")
    if req_call_id is not None and rsp_call_id is not None and req_call_id != rsp_call_id:
        out.append(Finding(PAIR_CALL_ID, "error",
                           f"Call-ID {rsp_call_id!r} is not the request's {req_call_id!r}",
                           None, f"Call-ID: {rsp_call_id}"))

    req_cseq = _parsed(req, "cseq", parse_cseq)
    rsp_cseq = _parsed(rsp, "cseq", parse_cseq)
    if req_cseq is not None and rsp_cseq is not None and req_cseq != rsp_cseq:
        out.append(Finding(PAIR_CSEQ, "error",
                           f"CSeq {rsp_cseq} is not the request's {req_cseq}", None,
                           f"CSeq: {rsp_cseq}"))

    req_from = _parsed(req, "from", lambda v: parse_name_addr(v, "From"))
    rsp_from = _parsed(rsp, "from", lambda v: parse_name_addr(v, "From"))
    if req_from is not None and rsp_from is not None and req_from.tag != rsp_from.tag:
        out.append(Finding(PAIR_FROM_TAG, "error",
                           f"From tag {rsp_from.tag!r} is not the request's {req_from.tag!r}",
                           None, _line_text(rsp, "from")))

    req_to = _parsed(req, "to", lambda v: parse_name_addr(v, "To"))
    rsp_to = _parsed(rsp, "to", lambda v: parse_name_addr(v, "To"))
    if req_to is not None and rsp_to is not None:
        if req_to.tag and rsp_to.tag != req_to.tag:
            out.append(Finding(PAIR_TO_TAG, "error",
                               f"To tag {rsp_to.tag!r} is not the request's {req_to.tag!r}: "
                               "the dialog changed under the request", None,
                               _line_text(rsp, "to")))
        elif not req_to.tag and not rsp_to.tag and response.status != 100:
            out.append(Finding(PAIR_TO_TAG, "error",
                               f"the request had no To tag and the {response.status} adds "
                               "none (RFC 3261 8.2.6.2)", None, _line_text(rsp, "to")))

    req_via = _top_via_value(req)
    rsp_via = _top_via_value(rsp)
    if req_via is not None and rsp_via is not None:
        req_branch = _branch_or_none(req_via)
        rsp_branch = _branch_or_none(rsp_via)
        if req_branch is not None and rsp_branch != req_branch:
            out.append(Finding(PAIR_BRANCH, "error",
                               f"top Via branch {rsp_branch!r} is not the request's "
                               f"{req_branch!r}", None, f"Via: {rsp_via}"))

    if request.method == "SUBSCRIBE" and 200 <= response.status < 300:
        asked = _int_value(req, "expires")
        granted = _int_value(rsp, "expires")
        if asked is not None and granted is not None and granted > asked:
            out.append(Finding(EXPIRES_LONGER, "error",
                               f"Expires {granted} is longer than the {asked} asked for", None,
                               f"Expires: {granted}"))


def _first_value(lines: dict[str, list[_Line]], lname: str) -> str | None:
    found = lines.get(lname)
    return found[0].value.strip() if found else None


def _line_text(lines: dict[str, list[_Line]], lname: str) -> str | None:
    found = lines.get(lname)
    return str(found[0]) if found else None


def _parsed(lines: dict[str, list[_Line]], lname: str,
               parse: Callable[[str], _T]) -> _T | None:
    value = _first_value(lines, lname)
    if value is None:
        return None
    try:
        return parse(value)
    except SipParseError:
        return None


def _top_via_value(lines: dict[str, list[_Line]]) -> str | None:
    value = _first_value(lines, "via")
    if value is None:
        return None
    return split_outside_quotes(value, ",")[0].strip()


def _branch_or_none(via_text: str) -> str | None:
    try:
        return parse_via(via_text).branch
    except SipParseError:
        return None


def _int_value(lines: dict[str, list[_Line]], lname: str) -> int | None:
    value = _first_value(lines, lname)
    if value is None or not value.isdigit() or not value.isascii():
        return None
    return int(value)

