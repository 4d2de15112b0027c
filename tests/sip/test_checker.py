"""The strict checker (fsync_model.sip.checker): correct feature-sync traffic gives no finding,
each rule fires on a minimal wrong message, and nothing ever raises. Plus a smoke run of the
parser benchmark (bench/bench_parser.py --quick)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsync_model.findings import Finding, rules
from fsync_model.sip import checker
from fsync_model.sip.checker import (
    ALLOW_EVENTS,
    ALLOW_EVENTS_489,
    BRANCH_COOKIE,
    CHECKER_INTERNAL,
    CONTACT_MISSING,
    CONTACT_STAR,
    CONTENT_LENGTH,
    CONTENT_TYPE,
    CSEQ_METHOD,
    EVENT_MISSING,
    EVENT_SYNTAX,
    EXPIRES_LONGER,
    EXPIRES_MISSING,
    FROM_TAG,
    HDR_DUPLICATE,
    HDR_MISSING,
    HDR_SYNTAX,
    MAX_FORWARDS,
    MULTIPART,
    PAIR_ACK,
    PAIR_BRANCH,
    PAIR_CALL_ID,
    PAIR_CSEQ,
    PAIR_FROM_TAG,
    PAIR_TO_TAG,
    RULES,
    SIP_PARSE,
    SUBSTATE_EXPIRES,
    SUBSTATE_MISSING,
    SUBSTATE_SYNTAX,
    SUBSTATE_UNKNOWN,
    TO_TAG,
    VERSION_CASE,
    VIA_BRANCH,
    VIA_TRANSPORT,
    check_bytes,
    check_message,
    check_pair,
)
from fsync_model.sip.message import Headers, Message, Request, Response, parse_message
from fsync_model.sip.multipart import BodyPart, build_multipart

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "bench" / "corpus"
NS = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
AFE = "application/x-as-feature-event+xml"

# --------------------------------------------------------------------------- helpers


def wire(text: str, body: bytes = b"") -> bytes:
    """Wire bytes from readable text: one header per line, CRLF added, exact Content-Length."""
    lines = [line for line in text.strip("\n").split("\n") if line]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parsed(text: str, body: bytes = b"") -> Message:
    return parse_message(wire(text, body))


def build(text: str, body: bytes = b"", *, content_length: bool = True) -> Message:
    """A message made without the parser, so that the negative cases stay checkable however
    strict the parser becomes. Content-Length is appended (exact) unless the text has one or
    ``content_length`` is false."""
    lines = [line for line in text.strip("\n").split("\n") if line]
    items = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        items.append((name.strip(), value.strip()))
    if content_length and not any(n.lower() in ("content-length", "l") for n, _ in items):
        items.append(("Content-Length", str(len(body))))
    headers = Headers(tuple(items))
    start = lines[0]
    if start.upper().startswith("SIP/"):
        version, status, reason = start.split(" ", 2)
        return Response(int(status), reason, headers, body, version)
    method, uri, version = start.split(" ")
    return Request(method, uri, headers, body, version)


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one line starting with ``old`` replaced by ``new`` (removed if empty)."""
    out = []
    hits = 0
    for line in text.strip("\n").split("\n"):
        if line.startswith(old):
            hits += 1
            if new:
                out.append(new)
        else:
            out.append(line)
    assert hits == 1, f"{old!r} matched {hits} lines"
    return "\n".join(out)


def add(text: str, line: str) -> str:
    return text.strip("\n") + "\n" + line


def xml(root: str, *elements: tuple[str, str]) -> bytes:
    inner = "".join(f"  <{k}>{v}</{k}>\n" for k, v in elements)
    return (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<{root} xmlns="{NS}">\n'
            f"{inner}</{root}>\n").encode("iso-8859-1")


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


# --------------------------------------------------------------------------- correct traffic

SUBSCRIBE = """
SUBSCRIBE sip:1001@as.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1597532684;rport
From: "1001" <sip:1001@as.example.com>;tag=2917433582
To: <sip:1001@as.example.com>
Call-ID: 1830946597@192.168.1.50
CSeq: 1 SUBSCRIBE
Contact: <sip:1001@192.168.1.50:5060>
Max-Forwards: 70
Expires: 3600
Event: as-feature-event
Accept: application/x-as-feature-event+xml
Allow-Events: talk, hold, conference, refer, check-sync
"""

SUBSCRIBE_SET_DND = """
SUBSCRIBE sip:as.example.com:5060;transport=udp SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK2094557126;rport
From: "1001" <sip:1001@as.example.com>;tag=2917433582
To: <sip:1001@as.example.com>;tag=as7f3a91c2
Call-ID: 1830946597@192.168.1.50
CSeq: 2 SUBSCRIBE
Contact: <sip:1001@192.168.1.50:5060>
Max-Forwards: 70
Expires: 3600
Event: as-feature-event
Content-Type: application/x-as-feature-event+xml
"""
SET_DND_BODY = xml("SetDoNotDisturb", ("device", "1001"), ("doNotDisturbOn", "true"))

OK_SUBSCRIBE = """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1597532684;rport=5060;received=192.168.1.50
From: "1001" <sip:1001@as.example.com>;tag=2917433582
To: <sip:1001@as.example.com>;tag=as7f3a91c2
Call-ID: 1830946597@192.168.1.50
CSeq: 1 SUBSCRIBE
Contact: <sip:as.example.com:5060;transport=udp>
Expires: 3600
"""

ACCEPTED_SUBSCRIBE = (OK_SUBSCRIBE.replace("200 OK", "202 Accepted")
                      .replace("z9hG4bK1597532684", "z9hG4bK2094557126")
                      .replace("CSeq: 1 SUBSCRIBE", "CSeq: 2 SUBSCRIBE"))

NOTIFY = """
NOTIFY sip:1001@192.168.1.50:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-as-4f1c9a01
Max-Forwards: 70
From: <sip:1001@as.example.com>;tag=as7f3a91c2
To: "1001" <sip:1001@as.example.com>;tag=2917433582
Call-ID: 1830946597@192.168.1.50
CSeq: 2 NOTIFY
Contact: <sip:as.example.com:5060>
Event: as-feature-event
Subscription-State: active;expires=3599
Content-Type: application/x-as-feature-event+xml
"""
DND_EVENT_BODY = xml("DoNotDisturbEvent", ("device", "1001"), ("doNotDisturbOn", "true"))

OK_NOTIFY = """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-as-4f1c9a01
From: <sip:1001@as.example.com>;tag=as7f3a91c2
To: "1001" <sip:1001@as.example.com>;tag=2917433582
Call-ID: 1830946597@192.168.1.50
CSeq: 2 NOTIFY
"""

INVITE = """
INVITE sip:*74@pbx.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK3361427780;rport
From: "1001" <sip:1001@pbx.example.com>;tag=1249338210
To: <sip:*74@pbx.example.com>
Call-ID: 0_2849110394@192.168.1.50
CSeq: 1 INVITE
Contact: <sip:1001@192.168.1.50:5060>
Max-Forwards: 70
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE
Content-Type: application/sdp
"""
SDP = (b"v=0\r\no=- 20518 0 IN IP4 192.168.1.50\r\ns=-\r\nc=IN IP4 192.168.1.50\r\nt=0 0\r\n"
       b"m=audio 11780 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")

OK_INVITE = """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK3361427780;rport=5060;received=192.168.1.50
From: "1001" <sip:1001@pbx.example.com>;tag=1249338210
To: <sip:*74@pbx.example.com>;tag=ys8c04bd
Call-ID: 0_2849110394@192.168.1.50
CSeq: 1 INVITE
Contact: <sip:*74@192.168.1.20:5060>
Content-Type: application/sdp
"""

TRYING = """
SIP/2.0 100 Trying
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK3361427780;rport=5060;received=192.168.1.50
From: "1001" <sip:1001@pbx.example.com>;tag=1249338210
To: <sip:*74@pbx.example.com>
Call-ID: 0_2849110394@192.168.1.50
CSeq: 1 INVITE
"""

ACK = """
ACK sip:*74@192.168.1.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1927364512;rport
From: "1001" <sip:1001@pbx.example.com>;tag=1249338210
To: <sip:*74@pbx.example.com>;tag=ys8c04bd
Call-ID: 0_2849110394@192.168.1.50
CSeq: 1 ACK
Max-Forwards: 70
"""

BYE = """
BYE sip:*74@192.168.1.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK0092831745;rport
From: "1001" <sip:1001@pbx.example.com>;tag=1249338210
To: <sip:*74@pbx.example.com>;tag=ys8c04bd
Call-ID: 0_2849110394@192.168.1.50
CSeq: 2 BYE
Max-Forwards: 70
"""

REGISTER = """
REGISTER sip:pbx.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK2815523980;rport
From: "1001" <sip:1001@pbx.example.com>;tag=3517629043
To: "1001" <sip:1001@pbx.example.com>
Call-ID: 0_1150376522@192.168.1.50
CSeq: 2 REGISTER
Contact: <sip:1001@192.168.1.50:5060>;expires=3600
Max-Forwards: 70
Expires: 3600
Authorization: Digest username="1001", realm="pbx.example.com", nonce="1727781234:8e3c", \
uri="sip:pbx.example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5
"""

UNAUTHORIZED = """
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK2815523980;rport=5060;received=192.168.1.50
From: "1001" <sip:1001@pbx.example.com>;tag=3517629043
To: "1001" <sip:1001@pbx.example.com>;tag=ys5f2a11
Call-ID: 0_1150376522@192.168.1.50
CSeq: 2 REGISTER
WWW-Authenticate: Digest realm="pbx.example.com", nonce="1727781234:8e3c", algorithm=MD5, \
qop="auth"
"""

INFO = """
INFO sip:1001@192.168.1.50:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.30:5060;branch=z9hG4bK-524287-1---b81a3c9d20e4f67a;rport
Max-Forwards: 70
Contact: <sip:10002@192.168.1.30:5060>
To: "1001" <sip:1001@pbx3cx.example.com>;tag=1904812365
From: <sip:10002@pbx3cx.example.com>;tag=0c6e2b1f
Call-ID: NzA2ZDFmYzQ0YjM1MmU0ZmU1ZTg3MjYwYjA4NmE0ZTc
CSeq: 3 INFO
Content-Disposition: signal;handling=required
Content-Type: application/csta+xml
"""
CSTA_BODY = (f'<?xml version="1.0" encoding="UTF-8"?>\n<DoNotDisturbEvent xmlns="{NS}">\n'
             "  <device>1001</device>\n  <doNotDisturbOn>true</doNotDisturbOn>\n"
             "</DoNotDisturbEvent>\n").encode()

BAD_EVENT = """
SIP/2.0 489 Bad Event
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK4457120935;rport=5060;received=192.168.1.50
From: "1001" <sip:1001@pbx.example.com>;tag=2241750893
To: <sip:1001@pbx.example.com>;tag=ys77e0c4
Call-ID: 0_3360498174@192.168.1.50
CSeq: 1 SUBSCRIBE
Allow-Events: message-summary, dialog, presence
"""


def _multipart_notify() -> tuple[str, bytes]:
    parts = [
        BodyPart.make(AFE, xml("ForwardingEvent", ("device", "1001"),
                               ("forwardingType", "forwardImmediate"),
                               ("forwardStatus", "false"))),
        BodyPart.make(AFE, xml("DoNotDisturbEvent", ("device", "1001"),
                               ("doNotDisturbOn", "false"))),
    ]
    content_type, body = build_multipart(parts, "UniqueBroadWorksBoundary")
    text = edit(NOTIFY, "Content-Type:", f"Content-Type: {content_type}")
    return edit(text, "CSeq:", "CSeq: 1 NOTIFY"), body


MULTIPART_NOTIFY, MULTIPART_BODY = _multipart_notify()

CORRECT: dict[str, tuple[str, bytes]] = {
    "initial SUBSCRIBE without body": (SUBSCRIBE, b""),
    "in-dialog SUBSCRIBE with SetDoNotDisturb": (SUBSCRIBE_SET_DND, SET_DND_BODY),
    "200 to SUBSCRIBE": (OK_SUBSCRIBE, b""),
    "202 to SUBSCRIBE": (ACCEPTED_SUBSCRIBE, b""),
    "NOTIFY with DoNotDisturbEvent": (NOTIFY, DND_EVENT_BODY),
    "multipart full-state NOTIFY": (MULTIPART_NOTIFY, MULTIPART_BODY),
    "terminated NOTIFY without body": (
        edit(edit(NOTIFY, "Subscription-State:", "Subscription-State: terminated;reason=timeout"),
             "Content-Type:", ""), b""),
    "200 to NOTIFY": (OK_NOTIFY, b""),
    "INVITE with SDP": (INVITE, SDP),
    "100 Trying without To tag": (TRYING, b""),
    "200 to INVITE with SDP": (OK_INVITE, SDP),
    "ACK": (ACK, b""),
    "BYE": (BYE, b""),
    "REGISTER with Authorization": (REGISTER, b""),
    "401 with WWW-Authenticate": (UNAUTHORIZED, b""),
    "INFO with application/csta+xml": (INFO, CSTA_BODY),
    "489 with Allow-Events": (BAD_EVENT, b""),
    "unregister with Contact: *": (
        edit(edit(REGISTER, "Contact:", "Contact: *"), "Expires:", "Expires: 0"), b""),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_feature_sync_messages_give_no_finding(name: str) -> None:
    text, body = CORRECT[name]
    assert check_message(parsed(text, body)) == []
    assert check_bytes(wire(text, body)) == []
    assert check_message(build(text, body)) == []


def test_correct_messages_over_tcp_give_no_finding() -> None:
    text = SUBSCRIBE.replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    assert check_message(parsed(text), transport="tcp") == []
    assert check_bytes(wire(text), transport="tcp") == []


def test_compact_forms_are_understood() -> None:
    text = """
SUBSCRIBE sip:1002@as.example.com SIP/2.0
v: SIP/2.0/UDP 192.168.1.51:5062;branch=z9hG4bK.8fBx2Lq0w;rport
f: <sip:1002@as.example.com>;tag=Qy7v1NcPz
t: <sip:1002@as.example.com>
i: kXo2sPq9aR4tL0mN
CSeq: 20 SUBSCRIBE
m: <sip:1002@192.168.1.51:5062;ob>
Max-Forwards: 70
o: as-feature-event
u: talk, hold
Expires: 3600
"""
    assert check_message(parsed(text)) == []
    # a compact and a long form of the same header are one header twice
    assert rules(check_message(build(add(text, "Call-ID: other")))) == [HDR_DUPLICATE]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sip")), ids=lambda p: p.name)
def test_benchmark_corpus_is_clean(path: Path) -> None:
    assert check_bytes(path.read_bytes()) == []


# --------------------------------------------------------------------------- one rule each


@pytest.mark.parametrize("header", ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"])
def test_request_missing_mandatory_header(header: str) -> None:
    findings = check_message(build(edit(SUBSCRIBE, f"{header}:", "")))
    missing = only(findings, HDR_MISSING)
    assert len(missing) == 1
    assert header in missing[0].message
    assert missing[0].status == 400
    assert missing[0].evidence == "SUBSCRIBE sip:1001@as.example.com SIP/2.0"


@pytest.mark.parametrize("header", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_response_missing_mandatory_header(header: str) -> None:
    findings = check_message(build(edit(OK_NOTIFY, f"{header}:", "")))
    missing = only(findings, HDR_MISSING)
    assert len(missing) == 1 and header in missing[0].message
    assert missing[0].status is None  # nobody answers a response


def test_response_needs_no_max_forwards() -> None:
    assert "Max-Forwards" not in OK_NOTIFY
    assert check_message(build(OK_NOTIFY)) == []


@pytest.mark.parametrize(("text", "status_header"), [
    (UNAUTHORIZED, "WWW-Authenticate:"),
])
def test_status_specific_header_missing(text: str, status_header: str) -> None:
    findings = check_message(build(edit(text, status_header, "")))
    assert rules(findings) == [HDR_MISSING]
    assert "WWW-Authenticate" in findings[0].message


@pytest.mark.parametrize(("line", "header"), [
    ("Call-ID: 99@x", "Call-ID"),
    ("CSeq: 1 SUBSCRIBE", "CSeq"),
    ('From: "1001" <sip:1001@as.example.com>;tag=2917433582', "From"),
    ("To: <sip:1001@as.example.com>", "To"),
    ("Max-Forwards: 70", "Max-Forwards"),
    ("Content-Length: 0", "Content-Length"),
    ("Content-Type: text/plain", "Content-Type"),
    ("Expires: 60", "Expires"),
    ("Event: as-feature-event", "Event"),
    ("Subscription-State: active;expires=60", "Subscription-State"),
])
def test_single_instance_header_duplicated(line: str, header: str) -> None:
    text = add(SUBSCRIBE, line)
    if f"\n{header}:" not in SUBSCRIBE:  # twice, then (build() adds no Content-Length now)
        text = add(text, line)
    findings = check_message(build(text))
    dup = only(findings, HDR_DUPLICATE)
    assert len(dup) == 1, findings
    assert header in dup[0].message
    assert dup[0].status == 400
    assert dup[0].evidence is not None and dup[0].evidence.startswith(header)


@pytest.mark.parametrize(("old", "new"), [
    ("CSeq:", "CSeq: 1"),
    ("CSeq:", "CSeq: one SUBSCRIBE"),
    ("CSeq:", "CSeq: 4294967296 SUBSCRIBE"),
    ("From:", "From: <sip:1001@as.example.com;tag=1"),
    ("To:", "To: sip 1001"),
    ("Call-ID:", "Call-ID: 1830946597 192.168.1.50"),
    ("Call-ID:", "Call-ID: @host"),
    ("Expires:", "Expires: 3600s"),
    ("Expires:", "Expires: Thu, 01 Dec 2024 16:00:00 GMT"),
    ("Max-Forwards:", "Max-Forwards: seventy"),
    ("Via:", "Via: SIP/2.0 192.168.1.50"),
    ("Contact:", "Contact: <sip:1001@192.168.1.50"),
    ("Contact:", "Contact: <sip:1001@192.168.1.50>;expires=soon"),
])
def test_malformed_values_are_syntax_findings(old: str, new: str) -> None:
    findings = check_message(build(edit(SUBSCRIBE, old, new)))
    syntax = only(findings, HDR_SYNTAX)
    assert len(syntax) == 1, findings
    assert syntax[0].evidence == new
    assert syntax[0].status == 400


def test_malformed_content_length_is_a_syntax_finding() -> None:
    findings = check_message(build(add(SUBSCRIBE, "Content-Length: zero")))
    assert rules(findings) == [HDR_SYNTAX]


def test_lower_case_version_on_the_start_line() -> None:
    request = build(SUBSCRIBE.replace(" SIP/2.0\n", " sip/2.0\n", 1))
    assert request.version == "sip/2.0"
    findings = check_message(request)
    assert rules(findings) == [VERSION_CASE]
    assert findings[0].severity == "warning"
    response = build(OK_NOTIFY.replace("SIP/2.0 200", "sip/2.0 200"))
    assert rules(check_message(response)) == [VERSION_CASE]


@pytest.mark.parametrize(("text", "cseq"), [
    (SUBSCRIBE, "CSeq: 1 INVITE"),
    (SUBSCRIBE, "CSeq: 1 subscribe"),
    (ACK, "CSeq: 1 INVITE"),
    (BYE, "CSeq: 2 ACK"),
])
def test_cseq_method_differs_from_request_method(text: str, cseq: str) -> None:
    findings = check_message(build(edit(text, "CSeq:", cseq)))
    assert rules(findings) == [CSEQ_METHOD]
    assert findings[0].evidence == cseq and findings[0].status == 400


def test_cancel_carries_cancel_in_cseq() -> None:
    cancel = (INVITE.replace("INVITE sip:", "CANCEL sip:").replace("Content-Type: application/sdp",
                                                                   ""))
    cancel = edit(cancel, "Contact:", "")
    assert check_message(build(edit(cancel, "CSeq:", "CSeq: 1 CANCEL"))) == []
    findings = check_message(build(cancel))
    assert rules(findings) == [CSEQ_METHOD]
    assert "CANCEL" in findings[0].message


def test_response_to_ack_is_flagged() -> None:
    findings = check_message(build(edit(OK_INVITE, "CSeq:", "CSeq: 1 ACK"), SDP))
    assert CSEQ_METHOD in rules(findings)


def test_from_tag_missing_in_request() -> None:
    findings = check_message(build(edit(SUBSCRIBE, "From:",
                                        'From: "1001" <sip:1001@as.example.com>')))
    assert rules(findings) == [FROM_TAG]
    assert findings[0].status == 400


@pytest.mark.parametrize("text", [NOTIFY, BYE, INFO])
def test_to_tag_missing_in_in_dialog_request(text: str) -> None:
    body = {NOTIFY: DND_EVENT_BODY, INFO: CSTA_BODY}.get(text, b"")
    to_line = next(line for line in text.split("\n") if line.startswith("To:"))
    findings = check_message(build(edit(text, "To:", to_line.split(";tag=")[0]), body))
    assert rules(findings) == [TO_TAG]
    assert findings[0].severity == "error" and findings[0].status == 481


def test_notify_has_both_tags_and_initial_subscribe_has_no_to_tag() -> None:
    assert check_message(build(SUBSCRIBE)) == []  # To without tag: fine for a new dialog
    assert check_message(build(NOTIFY, DND_EVENT_BODY)) == []


def test_ack_without_to_tag_is_a_warning() -> None:
    findings = check_message(build(edit(ACK, "To:", "To: <sip:*74@pbx.example.com>")))
    assert rules(findings) == [TO_TAG]
    assert findings[0].severity == "warning"


@pytest.mark.parametrize(("text", "body"), [(OK_SUBSCRIBE, b""), (ACCEPTED_SUBSCRIBE, b""),
                                            (OK_INVITE, SDP)])
def test_to_tag_missing_in_dialog_creating_2xx(text: str, body: bytes) -> None:
    to_line = next(line for line in text.split("\n") if line.startswith("To:"))
    findings = check_message(build(edit(text, "To:", to_line.split(";tag=")[0]), body))
    assert rules(findings) == [TO_TAG]
    assert findings[0].severity == "error" and findings[0].status is None


def test_to_tag_missing_in_other_final_response_is_a_warning() -> None:
    findings = check_message(build(edit(UNAUTHORIZED, "To:",
                                        'To: "1001" <sip:1001@pbx.example.com>')))
    assert rules(findings) == [TO_TAG]
    assert findings[0].severity == "warning"


def test_via_without_branch_and_without_cookie() -> None:
    no_branch = "Via: SIP/2.0/UDP 192.168.1.50:5060;rport"
    assert rules(check_message(build(edit(SUBSCRIBE, "Via:", no_branch)))) == [VIA_BRANCH]
    old = "Via: SIP/2.0/UDP 192.168.1.50:5060;branch=1597532684"
    findings = check_message(build(edit(SUBSCRIBE, "Via:", old)))
    assert rules(findings) == [BRANCH_COOKIE]
    assert findings[0].evidence == old
    # a lower Via added by another element is checked as well
    two = add(NOTIFY, "Via: SIP/2.0/UDP 10.0.0.1;branch=a1b2")
    findings = check_message(build(two, DND_EVENT_BODY))
    assert rules(findings) == [BRANCH_COOKIE] and "Via #2" in findings[0].message
    # several Vias in one line
    one_line = edit(NOTIFY, "Via:", "Via: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1, "
                    "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2")
    assert check_message(build(one_line, DND_EVENT_BODY)) == []


def test_via_transport_differs_from_the_transport_used() -> None:
    findings = check_message(build(SUBSCRIBE), transport="tcp")
    assert rules(findings) == [VIA_TRANSPORT]
    assert findings[0].severity == "warning"
    assert check_message(build(SUBSCRIBE), transport="mem") == []


def test_max_forwards_out_of_range() -> None:
    findings = check_message(build(edit(SUBSCRIBE, "Max-Forwards:", "Max-Forwards: 256")))
    assert rules(findings) == [MAX_FORWARDS]
    assert findings[0].status == 400
    assert check_message(build(edit(SUBSCRIBE, "Max-Forwards:", "Max-Forwards: 0"))) == []
    assert check_message(build(edit(SUBSCRIBE, "Max-Forwards:", "Max-Forwards: 255"))) == []


def test_content_length_mismatch_and_missing() -> None:
    wrong = build(add(SUBSCRIBE_SET_DND, "Content-Length: 10"), SET_DND_BODY)
    findings = check_message(wrong)
    assert rules(findings) == [CONTENT_LENGTH]
    assert findings[0].evidence == "Content-Length: 10"
    absent = build(SUBSCRIBE_SET_DND, SET_DND_BODY, content_length=False)
    tcp = check_message(absent, transport="tcp")
    assert rules(tcp) == [VIA_TRANSPORT, CONTENT_LENGTH]
    assert only(tcp, CONTENT_LENGTH)[0].severity == "error"
    udp = check_message(absent, transport="udp")
    assert rules(udp) == [CONTENT_LENGTH] and udp[0].severity == "info"


def test_bytes_after_the_declared_body() -> None:
    data = wire(SUBSCRIBE) + b"junk"
    findings = check_bytes(data)
    assert rules(findings) == [CONTENT_LENGTH]
    assert "4 bytes" in findings[0].message
    # keep-alive CRLFs before the start line are no body bytes
    assert check_bytes(b"\r\n\r\n" + wire(SUBSCRIBE_SET_DND, SET_DND_BODY)) == []
    assert rules(check_bytes(b"\r\n\r\n" + wire(SUBSCRIBE) + b"xy")) == [CONTENT_LENGTH]


def test_body_without_content_type() -> None:
    text = edit(SUBSCRIBE_SET_DND, "Content-Type:", "")
    findings = check_message(build(text, SET_DND_BODY))
    assert rules(findings) == [CONTENT_TYPE]
    assert findings[0].status == 400
    findings = check_message(build(edit(SUBSCRIBE_SET_DND, "Content-Type:", "Content-Type: xml"),
                                   SET_DND_BODY))
    assert rules(findings) == [CONTENT_TYPE]


def test_multipart_body_that_does_not_split() -> None:
    text = MULTIPART_NOTIFY.replace("UniqueBroadWorksBoundary", "OtherBoundary")
    findings = check_message(build(text, MULTIPART_BODY))
    assert rules(findings) == [MULTIPART]


@pytest.mark.parametrize(("text", "body"), [(SUBSCRIBE, b""), (INVITE, SDP),
                                            (NOTIFY, DND_EVENT_BODY)])
def test_contact_missing_in_dialog_creating_request(text: str, body: bytes) -> None:
    findings = check_message(build(edit(text, "Contact:", ""), body))
    assert rules(findings) == [CONTACT_MISSING]
    assert findings[0].status == 400


@pytest.mark.parametrize(("text", "body"), [(OK_SUBSCRIBE, b""), (OK_INVITE, SDP)])
def test_contact_missing_in_dialog_creating_2xx(text: str, body: bytes) -> None:
    findings = check_message(build(edit(text, "Contact:", ""), body))
    assert rules(findings) == [CONTACT_MISSING]
    assert findings[0].status is None


def test_contact_star_outside_unregister() -> None:
    findings = check_message(build(edit(REGISTER, "Contact:", "Contact: *")))
    assert rules(findings) == [CONTACT_STAR]
    star_subscribe = check_message(build(edit(SUBSCRIBE, "Contact:", "Contact: *")))
    assert rules(star_subscribe) == [CONTACT_STAR]


@pytest.mark.parametrize(("text", "body"), [(SUBSCRIBE, b""), (NOTIFY, DND_EVENT_BODY)])
def test_event_missing(text: str, body: bytes) -> None:
    findings = check_message(build(edit(text, "Event:", ""), body))
    assert rules(findings) == [EVENT_MISSING]
    assert findings[0].status == 489


@pytest.mark.parametrize("value", [
    "as feature event", "application/x-as-feature-event+xml", ".as-feature-event",
    "as-feature-event..x", "as-feature-event;id=", "as-feature-event, presence",
    'as-feature-event;id="a b"',
])
def test_event_package_grammar(value: str) -> None:
    findings = check_message(build(edit(SUBSCRIBE, "Event:", f"Event: {value}")))
    assert rules(findings) == [EVENT_SYNTAX], findings
    assert findings[0].evidence == f"Event: {value}"


def test_event_templates_and_id_are_fine() -> None:
    for value in ("presence.winfo", "as-feature-event;id=7", "dialog;call-id=x"):
        assert check_message(build(edit(SUBSCRIBE, "Event:", f"Event: {value}"))) == []


@pytest.mark.parametrize("value", ["talk, , hold", "as-feature-event;id=1", "presence; dialog",
                                   "talk,", "application/pidf+xml"])
def test_allow_events_mistakes(value: str) -> None:
    findings = check_message(build(edit(SUBSCRIBE, "Allow-Events:", f"Allow-Events: {value}")))
    assert rules(findings) == [ALLOW_EVENTS], findings


def test_489_without_allow_events_is_info() -> None:
    findings = check_message(build(edit(BAD_EVENT, "Allow-Events:", "")))
    assert rules(findings) == [ALLOW_EVENTS_489]
    assert findings[0].severity == "info"


def test_subscription_state_missing_in_notify() -> None:
    findings = check_message(build(edit(NOTIFY, "Subscription-State:", ""), DND_EVENT_BODY))
    assert rules(findings) == [SUBSTATE_MISSING]


@pytest.mark.parametrize("value", [
    "active, 3600", "active;expires=abc", "active;expires=-1", "active;expires=",
    "terminated;retry-after=soon", "active;expires=3600.5", "terminated;reason=\"no way\"",
    "active/pending",
])
def test_subscription_state_syntax(value: str) -> None:
    text = edit(NOTIFY, "Subscription-State:", f"Subscription-State: {value}")
    findings = check_message(build(text, DND_EVENT_BODY))
    assert rules(findings) == [SUBSTATE_SYNTAX], findings
    assert findings[0].evidence == f"Subscription-State: {value}"
    assert findings[0].status == 400


def test_subscription_state_unknown_value_and_missing_expires() -> None:
    unknown = edit(NOTIFY, "Subscription-State:", "Subscription-State: waiting;expires=30")
    findings = check_message(build(unknown, DND_EVENT_BODY))
    assert rules(findings) == [SUBSTATE_UNKNOWN] and findings[0].severity == "warning"
    for state in ("active", "pending", "Active ; reason=whatever"):
        text = edit(NOTIFY, "Subscription-State:", f"Subscription-State: {state}")
        findings = check_message(build(text, DND_EVENT_BODY))
        assert rules(findings) == [SUBSTATE_EXPIRES], state
        assert findings[0].severity == "warning"
    spaced = edit(NOTIFY, "Subscription-State:", "Subscription-State: active ; expires = 60")
    assert check_message(build(spaced, DND_EVENT_BODY)) == []
    retry = edit(NOTIFY, "Subscription-State:",
                 "Subscription-State: terminated;reason=probation;retry-after=60")
    assert check_message(build(retry, DND_EVENT_BODY)) == []


def test_2xx_to_subscribe_without_expires() -> None:
    findings = check_message(build(edit(OK_SUBSCRIBE, "Expires:", "")))
    assert rules(findings) == [EXPIRES_MISSING]
    assert check_message(build(edit(BAD_EVENT, "Allow-Events:", "Allow-Events: presence"))) == []


# --------------------------------------------------------------------------- pairs


@pytest.mark.parametrize(("request_text", "response_text"), [
    (SUBSCRIBE, OK_SUBSCRIBE),
    (INVITE, OK_INVITE),
    (INVITE, TRYING),
    (NOTIFY, OK_NOTIFY),
    (edit(REGISTER, "CSeq:", "CSeq: 2 REGISTER"), UNAUTHORIZED),
])
def test_matching_pairs_give_no_finding(request_text: str, response_text: str) -> None:
    assert check_pair(build(request_text), build(response_text)) == []  # type: ignore[arg-type]


def _pair(response_text: str, request_text: str = SUBSCRIBE) -> list[str]:
    request = build(request_text)
    assert isinstance(request, Request)
    return rules(check_pair(request, build(response_text)))


def test_pair_rules_each() -> None:
    assert _pair(edit(OK_SUBSCRIBE, "Call-ID:", "Call-ID: other")) == [PAIR_CALL_ID]
    assert _pair(edit(OK_SUBSCRIBE, "CSeq:", "CSeq: 2 SUBSCRIBE")) == [PAIR_CSEQ]
    assert _pair(edit(OK_SUBSCRIBE, "CSeq:", "CSeq: 1 NOTIFY")) == [PAIR_CSEQ]
    assert _pair(edit(OK_SUBSCRIBE, "From:",
                      'From: "1001" <sip:1001@as.example.com>;tag=x')) == [PAIR_FROM_TAG]
    assert _pair(edit(OK_SUBSCRIBE, "To:", "To: <sip:1001@as.example.com>")) == [PAIR_TO_TAG]
    assert _pair(edit(OK_SUBSCRIBE, "Via:",
                      "Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bKother")) == [PAIR_BRANCH]
    assert _pair(edit(OK_SUBSCRIBE, "Expires:", "Expires: 7200")) == [EXPIRES_LONGER]
    assert _pair(edit(OK_SUBSCRIBE, "Expires:", "Expires: 600")) == []


def test_pair_to_tag_must_stay_in_dialog() -> None:
    changed = OK_SUBSCRIBE.replace("CSeq: 1", "CSeq: 2").replace("tag=as7f3a91c2", "tag=other")
    request = SUBSCRIBE_SET_DND.replace("z9hG4bK2094557126", "z9hG4bK1597532684")
    assert _pair(changed, request) == [PAIR_TO_TAG]


def test_pair_response_to_ack() -> None:
    assert PAIR_ACK in _pair(OK_INVITE.replace("1 INVITE", "1 ACK"), ACK)


def test_pair_never_raises_on_garbage() -> None:
    request = build(edit(SUBSCRIBE, "CSeq:", "CSeq: garbage"))
    response = build(edit(OK_SUBSCRIBE, "From:", "From: <<<"))
    assert isinstance(request, Request)
    assert CHECKER_INTERNAL not in rules(check_pair(request, response))


# --------------------------------------------------------------------------- robustness


def test_rules_table_describes_every_rule_id() -> None:
    ids = [value for name, value in vars(checker).items()
           if name.isupper() and isinstance(value, str) and value in RULES]
    constants = {value for name, value in vars(checker).items()
                 if name.isupper() and isinstance(value, str) and re.fullmatch(
                     r"(RFC\d+|SIP|CHECKER)-[A-Z0-9-]+", value)}
    assert constants == set(RULES) == set(ids)
    assert all(re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", rule) for rule in RULES)
    assert all(description.strip() for description in RULES.values())


def test_parse_failure_is_a_finding() -> None:
    findings = check_bytes(b"SUBSCRIBE sip:x SIP/3.0\r\n\r\n")
    assert rules(findings) == [SIP_PARSE]
    assert findings[0].status == 505
    assert rules(check_bytes(b"")) == [SIP_PARSE]


HEADER_NAMES = ["Via", "v", "From", "To", "t", "Call-ID", "CSeq", "Max-Forwards", "Contact",
                "Expires", "Event", "o", "Subscription-State", "Allow-Events", "Content-Type",
                "Content-Length", "l", "X-Other"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.sampled_from(["SUBSCRIBE sip:a@b SIP/2.0", "NOTIFY sip:a@b SIP/2.0",
                           "ACK sip:a@b SIP/2.0", "SIP/2.0 200 OK", "SIP/2.0 489 Bad Event",
                           "SIP/2.0 100 Trying", "INFO sip:a@b sip/2.0"]),
    headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES),
                               st.text(st.characters(codec="utf-8"), max_size=40)), max_size=12),
    body=st.binary(max_size=40),
    transport=st.sampled_from(["udp", "tcp", "tls", "mem", "weird"]),
)
def test_check_message_never_raises(start: str, headers: list[tuple[str, str]], body: bytes,
                                    transport: str) -> None:
    if start.startswith("SIP/"):
        version, status, reason = start.split(" ", 2)
        msg: Message = Response(int(status), reason, Headers(tuple(headers)), body, version)
    else:
        method, uri, version = start.split(" ")
        msg = Request(method, uri, Headers(tuple(headers)), body, version)
    findings = check_message(msg, transport=transport)
    assert all(isinstance(f, Finding) for f in findings)
    assert CHECKER_INTERNAL not in rules(findings), findings
    if isinstance(msg, Request):
        other = Response(200, "OK", Headers(tuple(headers)), body)
        assert CHECKER_INTERNAL not in rules(check_pair(msg, other))


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 10_000), cut=st.integers(0, 10_000),
       junk=st.binary(min_size=1, max_size=8))
def test_check_bytes_never_raises_on_mangled_corpus(index: int, cut: int, junk: bytes) -> None:
    files = sorted(CORPUS.glob("*.sip"))
    data = files[index % len(files)].read_bytes()
    position = cut % (len(data) + 1)
    mangled = data[:position] + junk + data[position + len(junk):]
    findings = check_bytes(mangled)
    assert CHECKER_INTERNAL not in rules(findings), findings


# --------------------------------------------------------------------------- benchmark smoke


def test_benchmark_quick_mode_runs() -> None:
    for module in ("sipmessage", "dpkt"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not installed (pip install -e .[bench])")
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_parser.py"), "--quick"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "fsync/sipmessage" in result.stdout
    assert "fsync/dpkt" in result.stdout
    assert "MISMATCH" not in result.stdout


def test_refer_needs_contact_only_outside_a_dialog() -> None:
    refer = (BYE.replace("BYE sip:", "REFER sip:").replace("CSeq: 2 BYE", "CSeq: 2 REFER")
             + "\nRefer-To: <sip:2000@pbx.example.com>")
    assert check_message(build(refer)) == []  # in the dialog: To has a tag
    outside = edit(refer, "To:", "To: <sip:*74@pbx.example.com>")
    assert rules(check_message(build(outside))) == [CONTACT_MISSING]
    assert check_message(build(add(outside, "Contact: <sip:1001@192.168.1.50>"))) == []
