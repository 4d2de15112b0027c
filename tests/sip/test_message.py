"""The message layer (fsync_model.sip.message): framing of one message, header names and
compact forms, folding, comma lists, Content-Length rules, the serializer, building requests
and responses, and the structured accessors."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.framing import StreamFramer
from fsync_model.sip.message import (
    Headers,
    Request,
    Response,
    build_request,
    build_response,
    canonical_name,
    parse_message,
    pretty_name,
)
from fsync_model.sip.multipart import BodyPart, build_multipart, parse_multipart


def msg(*lines: str, body: bytes = b"", start: str = "NOTIFY sip:1001@192.0.2.5 SIP/2.0",
        end: str = "\r\n") -> bytes:
    """A message from header lines, joined with ``end`` (CRLF unless a test says)."""
    return (end.join([start, *lines]) + end + end).encode("utf-8", "surrogateescape") + body


BASE = [
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1",
    "From: <sip:srv@example.com>;tag=f",
    "To: <sip:1001@example.com>;tag=t",
    "Call-ID: c1@example.com",
    "CSeq: 7 NOTIFY",
    "Max-Forwards: 70",
]


def parse_request(data: bytes, **kwargs: bool) -> Request:
    parsed = parse_message(data, **kwargs)
    assert isinstance(parsed, Request)
    return parsed


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("compact", "long"),
    [("i", "Call-ID"), ("m", "Contact"), ("e", "Content-Encoding"), ("l", "Content-Length"),
     ("c", "Content-Type"), ("f", "From"), ("s", "Subject"), ("k", "Supported"), ("t", "To"),
     ("v", "Via"), ("o", "Event"), ("u", "Allow-Events"), ("r", "Refer-To"),
     ("b", "Referred-By")],
)
def test_compact_forms(compact: str, long: str) -> None:
    headers = Headers(((compact.upper(), "x"), (long.upper(), "y")))
    assert headers.get_all(long) == ["x", "y"] == headers.get_all(compact)
    assert canonical_name(compact) == long.lower()
    assert pretty_name(compact) == long


def test_compact_message_reads_like_the_long_one() -> None:
    compact = parse_message(msg(
        "v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1", "f: <sip:a@b>;tag=1", "t: <sip:c@d>",
        "i: abc", "CSeq: 1 NOTIFY", "m: <sip:a@192.0.2.10>", "o: as-feature-event;id=2",
        "c: application/x-as-feature-event+xml", "l: 4", body=b"<x/>"))
    assert compact.top_via.host == "192.0.2.10" and compact.from_tag == "1"
    assert compact.to_addr.uri == "sip:c@d" and compact.call_id == "abc"
    assert compact.contacts[0].uri == "sip:a@192.0.2.10"
    assert compact.event is not None and compact.event.param("id") == "2"
    assert compact.content_type == "application/x-as-feature-event+xml"
    assert compact.content_length == 4 and compact.body == b"<x/>"


def test_header_names_keep_their_spelling_and_order() -> None:
    parsed = parse_message(msg("X-B: 1", "x-a: 2", "X-B: 3", "Call-ID : spaced"))
    assert [name for name, _ in parsed.headers] == ["X-B", "x-a", "X-B", "Call-ID"]
    assert parsed.headers.get_all("x-b") == ["1", "3"] and parsed.headers.count("X-B") == 2
    assert parsed.call_id == "spaced" and "call-id" in parsed.headers and 5 not in parsed.headers


# --------------------------------------------------------------------------- lines


def test_folded_lines_are_joined_with_one_space() -> None:
    parsed = parse_message(msg(
        *BASE, "Subject: first", " second", "\tthird", "Empty:", "  later", "Blank: "))
    assert parsed.headers.get("subject") == "first second third"
    assert parsed.headers.get("empty") == "later"
    assert parsed.headers.get("blank") == ""


def test_bare_lf_and_mixed_line_ends_and_leading_crlf() -> None:
    lf = parse_message(msg(*BASE, "Content-Length: 2", end="\n", body=b"ab"))
    crlf = parse_message(msg(*BASE, "Content-Length: 2", body=b"ab"))
    assert lf.headers == crlf.headers and lf.body == b"ab"
    mixed = parse_message(b"\r\n\r\n" + msg(*BASE).replace(b"\r\n", b"\n", 3))
    assert mixed.headers == parse_message(msg(*BASE)).headers


def test_head_ends_at_the_first_empty_line() -> None:
    # a bare-LF head whose body holds a CRLFCRLF: the head must end at the first blank line
    data = msg(*BASE, end="\n") + b"body\r\n\r\nmore"
    parsed = parse_message(data)
    assert parsed.body == b"body\r\n\r\nmore"


def test_message_without_empty_line_has_no_body() -> None:
    parsed = parse_message("\r\n".join(["OPTIONS sip:a@b SIP/2.0", *BASE]).encode() + b"\r\n")
    assert parsed.body == b"" and parsed.call_id == "c1@example.com"


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"", 400, "Empty message"),
        (b"\r\n\r\n", 400, "Empty message"),
        (msg(" Folded: first"), 400, "Continuation line before any header"),
        (msg("NoColon"), 400, "Bad header line (no colon)"),
        (msg(": value"), 400, "Empty header name"),
        (msg("Bad Name: x"), 400, "Bad header name"),
        (msg("X-A: 1\rX-B: 2"), 400, "Bare CR in message header"),
        (b"\x00" + msg(), 400, "Bad request method"),
        (msg(start="NOTIFY sip:a@b SIP/2.0\x00"), 400, "Bad SIP version"),
        (msg(start="NOTIFY sip:a@b SIP/3.0"), 505, "Version Not Supported"),
        (msg(start="SIP/2.1 200 OK"), 505, "Version Not Supported"),
        (msg(start="NOTIFY sip:a@b HTTP/1.1"), 400, "Bad request line (no SIP version)"),
        (msg(start="NOTIFY sip:a@b SIP/x"), 400, "Bad SIP version"),
        (msg(start="NOTIFY  sip:a@b SIP/2.0"), 400, "Bad request line"),
        (msg(start="NOTIFY sip:a@b SIP/2.0 "), 400, "Bad request line"),
        (msg(start="NOTIFY\tsip:a@b\tSIP/2.0"), 400, "Bad request line"),
        (msg(start="NOT/IFY sip:a@b SIP/2.0"), 400, "Bad request method"),
        (msg(start="NOTIFY <sip:a@b> SIP/2.0"), 400, "Bad Request-URI"),
        (msg(start="NOTIFY sip:a@b?Route=x SIP/2.0"), 400, "Bad Request-URI (headers"),
        (msg(start="NOTIFY sip:a@b:99999 SIP/2.0"), 400, "Bad Request-URI (port"),
        (msg(start="NOTIFY nocolon SIP/2.0"), 400, "Bad Request-URI (no URI scheme)"),
        (msg(start="SIP/2.0 99 Low"), 400, "Bad status code"),
        (msg(start="SIP/2.0 700 High"), 400, "Bad status code"),
        (msg(start="SIP/2.0 2000 OK"), 400, "Bad status code"),
        (msg(start="SIP/2.0 \u0662\u0660\u0660 OK"), 400, "Bad status code"),
        (msg(start="SIP/2.0"), 400, "Bad status line"),
        (msg(start="SIP/2.0 200 O\x01K"), 400, "Control character in reason phrase"),
    ],
)
def test_bad_frames(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == status
    assert caught.value.reason.startswith(reason), caught.value


def test_error_offsets_point_at_the_line() -> None:
    data = msg(*BASE, "Bad Name: x")
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.offset == data.index(b"Bad Name")
    assert caught.value.line == "Bad Name: x"


def test_too_large_is_513() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(msg(*BASE, "X: " + "y" * 70_000))
    assert caught.value.status == 513
    small = msg(*BASE, "X: " + "y" * 100)
    assert parse_message(small, max_size=len(small)).headers.get("x")
    with pytest.raises(SipParseError) as caught:
        parse_message(small, max_size=len(small) - 1)
    assert caught.value.status == 513


def test_unknown_scheme_request_uri_parses_and_its_accessor_says_416() -> None:
    parsed = parse_request(msg(*BASE, start="NOTIFY urn:service:sos SIP/2.0"))
    with pytest.raises(SipParseError) as caught:
        _ = parsed.request_uri
    assert caught.value.status == 416
    tel = parse_request(msg(*BASE, start="INVITE tel:+12015550123 SIP/2.0"))
    assert tel.request_uri.host == "+12015550123"


def with_line(line: str) -> list[str]:
    """BASE with ``line`` replacing the header of the same name (or added)."""
    name = line.split(":", 1)[0]
    kept = [old for old in BASE if old.split(":", 1)[0] != name]
    return [*kept, line]


def test_nul_and_bad_utf8_in_values_are_kept() -> None:
    data = msg(*with_line('To: "a\\\x00b" <sip:x@y>'), "X-Raw: caf\xe9", "Subject: \udcff")
    data = data.replace("\udcff".encode("utf-8", "surrogateescape"), b"\xff")
    parsed = parse_message(data)
    assert parsed.to_addr.display == "a\x00b"
    assert parsed.headers.get("subject") == "\udcff"
    assert parsed.serialize() == data


# --------------------------------------------------------------------------- lists


def test_via_list_over_lines_and_commas() -> None:
    parsed = parse_message(msg(
        "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::2]:5070"
        ";branch=z9hG4bK2;received=2001:db8::9",
        "v: SIP/2.0/UDP c;branch=z9hG4bK3;rport=5062", *BASE[1:]))
    assert [(v.transport, v.host, v.port) for v in parsed.vias] == [
        ("UDP", "a.example.com", None), ("TCP", "2001:db8::2", 5070), ("UDP", "c", None)]
    assert parsed.top_via.branch == parsed.branch == "z9hG4bK1"
    assert parsed.vias[1].received == "2001:db8::9" and parsed.vias[2].rport == "5062"
    assert parsed.headers.values("via")[1].startswith("SIP/2.0/TCP [2001:db8::2]")


def test_contact_list_and_star() -> None:
    parsed = parse_message(msg(
        *BASE, 'Contact: "Doe, John" <sip:j@a>;expires=60, sip:k@b;q=0.5',
        "m: <sip:l@c;lr>;+sip.instance=\"<urn:uuid:1,2>\""))
    assert [(c.display, c.uri, c.params) for c in parsed.contacts] == [
        ("Doe, John", "sip:j@a", (("expires", "60"),)),
        (None, "sip:k@b", (("q", "0.5"),)),
        (None, "sip:l@c;lr", (("+sip.instance", "<urn:uuid:1,2>"),)),
    ]
    assert parsed.contacts[0].expires == 60 and not parsed.contact_is_wildcard
    star = parse_message(msg(*BASE, "Contact: *", "Expires: 0"))
    assert star.contacts == [] and star.contact_is_wildcard
    assert star.headers.values("contact") == ["*"]
    assert parse_message(msg(*BASE)).contacts == []


def test_non_list_headers_are_not_split() -> None:
    parsed = parse_message(msg(*BASE, "Subject: a, b", "Date: Sat, 15 Oct 2005 04:44:56 GMT"))
    assert parsed.headers.values("subject") == ["a, b"]
    assert parsed.date == datetime(2005, 10, 15, 4, 44, 56, tzinfo=UTC)


# --------------------------------------------------------------------------- Content-Length


def test_missing_content_length_on_udp_means_the_rest() -> None:
    parsed = parse_message(msg(*BASE, body=b"all of it\r\n"))
    assert parsed.body == b"all of it\r\n" and parsed.content_length is None


def test_content_length_smaller_truncates_larger_is_400() -> None:
    assert parse_message(msg(*BASE, "Content-Length: 3", body=b"abcdef")).body == b"abc"
    with pytest.raises(SipParseError) as caught:
        parse_message(msg(*BASE, "Content-Length: 7", body=b"abcdef"))
    assert caught.value.status == 400 and "larger than body" in caught.value.reason


def test_content_length_is_required_on_a_stream() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(msg(*BASE, body=b"x"), stream=True)
    assert caught.value.status == 400 and "Content-Length" in caught.value.reason
    assert parse_message(msg(*BASE, "l: 1", body=b"x"), stream=True).body == b"x"


@pytest.mark.parametrize(
    "value", ["-1", "+1", "1.0", "0x1", "\u00b2", "\u0661", "1 2", "", "99999999999",
              "9" * 5000],
)
def test_bad_content_length_is_400(value: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(msg(*BASE, f"Content-Length: {value}", body=b"x"))
    assert caught.value.status == 400
    assert caught.value.reason == "Bad Header: Content-Length"


def test_repeated_content_length_must_agree() -> None:
    assert parse_message(msg(*BASE, "Content-Length: 1", "l: 01", body=b"xy")).body == b"x"
    with pytest.raises(SipParseError) as caught:
        parse_message(msg(*BASE, "Content-Length: 1", "l: 2", body=b"xy"))
    assert caught.value.reason == "Conflicting Content-Length headers"


def test_stream_framer_and_parser_agree_on_the_message() -> None:
    first = msg(*BASE, "Content-Length: 3", body=b"abc")
    second = msg(*BASE, "l: 0", end="\n")
    stream = first + b"\r\n\r\n" + second
    framed = StreamFramer().feed(stream)
    assert framed == [first, second]
    assert [parse_message(m, stream=True).body for m in framed] == [b"abc", b""]


# --------------------------------------------------------------------------- multipart


def test_multipart_body_through_the_message() -> None:
    parts = [BodyPart.make("application/x-as-feature-event+xml", b"<DoNotDisturbEvent/>"),
             BodyPart.make("application/x-as-feature-event+xml", b"<ForwardingEvent/>",
                           ("Content-ID", "<2@x>"))]
    content_type, body = build_multipart(parts, "fsync-boundary-1")
    built = build_request("NOTIFY", "sip:1001@192.0.2.5", [(n, v) for n, v in
                          (line.split(": ", 1) for line in BASE)], body, content_type)
    parsed = parse_message(built.serialize())
    assert parsed.content_type == "multipart/mixed"
    full = parsed.content_type_full
    assert full is not None and full.param("boundary") == "fsync-boundary-1"
    assert parse_multipart(str(full), parsed.body) == parts


# --------------------------------------------------------------------------- serializer


@pytest.mark.parametrize(
    "data",
    [
        msg(*BASE, "Subject: a", " folded", body=b"rest"),
        b"\r\n" + msg(*BASE, "l: 2", end="\n", body=b"xyz"),
        msg(*BASE, "X-Empty:", "Call-ID : x", 'To: "a\\\x00" <sip:x@y>'),
        msg("v: SIP/2.0/UDP h;branch=z9hG4bK1 , SIP/2.0/UDP i", start="SIP/2.0 100 "),
        msg(*BASE, start="SIP/2.0 200 = 2**3 \u043d\u043e"),
        "\r\n".join(["OPTIONS sip:a@b SIP/2.0", *BASE]).encode(),
    ],
)
def test_serialize_parse_is_a_fixed_point_after_one_round(data: bytes) -> None:
    once = parse_message(data).serialize()
    assert parse_message(once).serialize() == once


def test_serialize_writes_what_it_parsed() -> None:
    data = msg(*BASE, "Content-Length: 4", body=b"body")
    assert parse_message(data).serialize() == data


# --------------------------------------------------------------------------- building

SHUFFLED = [
    ("Content-Type", "application/sdp"), ("X-Custom", "1"), ("Call-ID", "c"),
    ("Contact", "<sip:a@h>"), ("CSeq", "1 INVITE"), ("To", "<sip:b@d>"),
    ("Max-Forwards", "70"), ("From", "<sip:a@d>;tag=1"), ("Route", "<sip:p;lr>"),
    ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("User-Agent", "fsync"), ("X-Other", "2"),
    ("Proxy-Require", "foo"), ("Content-Length", "999"),
]


def test_build_request_uses_rfc3261_header_order() -> None:
    built = build_request("INVITE", "sip:b@d", SHUFFLED, b"v=0\r\n")
    assert [name for name, _ in built.headers] == [
        "Via", "Route", "Max-Forwards", "Proxy-Require", "From", "To", "Call-ID", "CSeq",
        "Contact", "User-Agent", "X-Custom", "X-Other", "Content-Type", "Content-Length"]
    assert built.headers.get("content-length") == "5"
    assert parse_message(built.serialize()).headers == built.headers


def test_build_response_default_reason_and_body() -> None:
    built = build_response(489, None, [("Allow-Events", "as-feature-event")])
    assert (built.status, built.reason) == (489, "Bad Event")
    assert build_response(299, None, []).reason == "Unknown"
    with_body = build_response(200, "Fine", [], b"x", "text/plain")
    assert with_body.serialize().endswith(b"Content-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")


REQUEST = msg(
    "Via: SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2",
    "Via: SIP/2.0/UDP uac;branch=z9hG4bKuac;rport",
    "Max-Forwards: 69", "From: Alice <sip:a@x>;tag=fa", "To: <sip:b@x>", "Call-ID: cid",
    "CSeq: 4 SUBSCRIBE", "Contact: <sip:a@uac>", "Event: as-feature-event", "Expires: 60",
    "Content-Length: 0", start="SUBSCRIBE sip:b@x SIP/2.0",
)


def test_response_copies_the_dialog_headers_and_adds_a_to_tag() -> None:
    request = parse_request(REQUEST)
    response = request.response(200, to_tag="tt", headers=[("Expires", "60")])
    assert isinstance(response, Response) and (response.status, response.reason) == (200, "OK")
    assert response.headers.get_all("via") == request.headers.get_all("via")
    assert [n for n, _ in response.headers] == [
        "Via", "Via", "From", "To", "Call-ID", "CSeq", "Expires", "Content-Length"]
    assert response.headers.get("from") == "Alice <sip:a@x>;tag=fa"
    assert response.to_tag == "tt" and response.to_addr.uri == "sip:b@x"
    assert (response.call_id, response.cseq) == ("cid", request.cseq)
    assert response.method == "SUBSCRIBE" and response.is_success
    assert parse_message(response.serialize()).headers == response.headers


def test_response_keeps_an_existing_to_tag_and_skips_it_on_100() -> None:
    tagged = parse_request(REQUEST.replace(b"To: <sip:b@x>", b"To: <sip:b@x>;tag=old"))
    assert tagged.response(200, to_tag="new").to_tag == "old"
    trying = parse_request(REQUEST).response(100, to_tag="new")
    assert trying.to_tag is None and trying.is_provisional
    assert parse_request(REQUEST).response(404).to_tag is None
    bad_to = parse_request(REQUEST.replace(b"To: <sip:b@x>", b"To: <sip:b@x"))
    assert bad_to.response(400, to_tag="x").headers.get("to") == "<sip:b@x"


def test_response_with_body() -> None:
    response = parse_request(REQUEST).response(200, "Yes", to_tag="t", body=b"{}",
                                               content_type="application/json")
    assert response.reason == "Yes" and response.content_type == "application/json"
    assert response.content_length == 2 and response.body == b"{}"


# --------------------------------------------------------------------------- accessors


def test_accessors_of_a_good_message() -> None:
    parsed = parse_message(msg(
        *BASE, "Event: As-Feature-Event;id=7", "Subscription-State: active;expires=3599",
        'Content-Type: multipart/mixed ; boundary="b 1"', "Expires: 0060", "l: 0"))
    assert parsed.call_id == "c1@example.com" and parsed.cseq.seq == 7
    assert (parsed.from_tag, parsed.to_tag) == ("f", "t")
    assert parsed.event is not None and parsed.event.value == "As-Feature-Event"
    state = parsed.subscription_state
    assert state is not None and (state.value, state.param("expires")) == ("active", "3599")
    assert parsed.content_type == "multipart/mixed"
    full = parsed.content_type_full
    assert full is not None and full.param("boundary") == "b 1"
    assert (parsed.expires, parsed.max_forwards, parsed.content_length) == (60, 70, 0)
    assert parsed.int_header("Min-Expires") is None and parsed.date is None


@pytest.mark.parametrize(
    ("line", "read", "reason"),
    [
        ("Subscription-State: active, 3600", lambda m: m.subscription_state,
         "Bad Header: Subscription-State ("),
        ("Event: as-feature-event;;id=1", lambda m: m.event, "Bad Header: Event ("),
        ("Content-Type: application", lambda m: m.content_type, "Bad Header: Content-Type ("),
        ("Event: a/b", lambda m: m.event, "Bad Header: Event ("),
        ("Content-Type: text/plain; charset", lambda m: m.content_type_full, None),
        ("Expires: 4294967296", lambda m: m.expires, "Bad Header: Expires (value too large)"),
        ("Expires: \u00b2", lambda m: m.expires, "Bad Header: Expires"),
        ("Max-Forwards: 256", lambda m: m.max_forwards, "Bad Header: Max-Forwards"),
        ("Date: Fri, 01 Jan 2010 16:00:00 EST", lambda m: m.date, "Bad Header: Date"),
        ("Date: Mon, 31 Feb 2010 16:00:00 GMT", lambda m: m.date, "Bad Header: Date (no such"),
    ],
)
def test_bad_values_raise_at_their_accessor(line: str, read: object, reason: str | None) -> None:
    parsed = parse_message(msg(*with_line(line)))
    assert callable(read)
    if reason is None:  # a flag parameter is legal: no error
        read(parsed)
        return
    with pytest.raises(SipParseError) as caught:
        read(parsed)
    assert caught.value.status == 400 and caught.value.reason.startswith(reason)
    # the failure is not cached away: asking again raises again
    with pytest.raises(SipParseError):
        read(parsed)


@pytest.mark.parametrize(
    ("drop", "read", "reason"),
    [
        ("Call-ID", lambda m: m.call_id, "Missing Header: Call-ID"),
        ("CSeq", lambda m: m.cseq, "Missing Header: CSeq"),
        ("From", lambda m: m.from_addr, "Missing Header: From"),
        ("To", lambda m: m.to_tag, "Missing Header: To"),
        ("Via", lambda m: m.branch, "Missing Header: Via"),
    ],
)
def test_missing_mandatory_headers(drop: str, read: object, reason: str) -> None:
    parsed = parse_message(msg(*(line for line in BASE if not line.startswith(drop + ":"))))
    assert callable(read)
    with pytest.raises(SipParseError) as caught:
        read(parsed)
    assert caught.value.reason == reason and caught.value.status == 400
    if drop == "Via":
        assert parsed.vias == []


@pytest.mark.parametrize("value", ["", "a b", "a\x00b"])
def test_bad_call_id(value: str) -> None:
    lines = [f"Call-ID: {value}" if line.startswith("Call-ID") else line for line in BASE]
    with pytest.raises(SipParseError) as caught:
        _ = parse_message(msg(*lines)).call_id
    assert caught.value.reason == "Bad Header: Call-ID"


def test_headers_edit_helpers() -> None:
    headers = Headers((("Via", "a"), ("X", "1"), ("x", "2")))
    assert headers.added("Via", "top", first=True).get("via") == "top"
    assert headers.replaced("X", "9").items == (("Via", "a"), ("X", "9"))
    assert headers.replaced("New", "n").get("new") == "n"
    assert headers.removed("x").items == (("Via", "a"),)
    assert len(headers) == 3 and next(iter(headers)) == ("Via", "a")
    parsed = parse_request(REQUEST)
    assert parsed.replace(uri="sip:c@x").start_line == "SUBSCRIBE sip:c@x SIP/2.0"
    assert "SUBSCRIBE sip:b@x SIP/2.0" in str(parsed)
