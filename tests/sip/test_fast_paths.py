"""The message layer's fast paths give what the strict Scanner gives.

Each structured parser (:func:`parse_via`, :func:`parse_name_addr`,
:func:`parse_header_value`, the Request-URI check of :func:`parse_message`) first tries one
compiled pattern for the common well-formed case and falls back to the Scanner when the
pattern does not match. These tests hold the two to the same result: equal values where the
fast path answers, and, since the fast path never raises, the Scanner's errors everywhere
else. The inputs are built from the pieces the grammar cares about (whitespace around
separators, quoted-pairs, controls, non-ASCII and surrogate escapes, hosts and ports at and
past their limits).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsync_model.sip import fields, params
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import CSeq, NameAddr, Via
from fsync_model.sip.message import Headers, Request, Response, parse_message
from tests.sip.test_fuzz import mutated_messages

WS = st.sampled_from(["", "", "", " ", "\t", "  ", " \t"])
NAMES = st.sampled_from(
    ["tag", "branch", "a", "x-y", "q", "expires", "lr", "received", "rport", "ttl", "maddr",
     "boundary", "id", "TAG", "Branch", "", "a b", "a,b", "\u00e9", "a\x00", "%", "`'~"])
VALUES = st.sampled_from(
    ["abc", "z9hG4bK1", "1.2.3.4", "[::1]", "::1", "", "0", "5060", "65536", "300", "255",
     "01.2.3.4", "h.example", "-h", "a_b", "[x]", ":", '"q"', '""', '"a\\"b"', '"a\\\\"',
     '"a\tb"', '"a\x01b"', '"\u00e9"', '"\udcff"', '"unterminated', '"a\\', "a b",
     "1.2.3.4.", "a..b", "\u00e9", "99999", "x;y", "x,y", "<urn:x>", '"<urn:x>"', "=", "3600",
     "a\r\n b"])


@st.composite
def param_blocks(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        separator = draw(st.sampled_from([";", ";", ";", ",", ";;", ""]))
        out.append(draw(WS) + separator + draw(WS) + draw(NAMES))
        if draw(st.booleans()):
            out.append(draw(WS) + "=" + draw(WS) + draw(VALUES))
    out.append(draw(WS))
    return "".join(out)


URIS = st.sampled_from(
    ["sip:1001@as.example.com", "sip:a@b", "sips:x@[::1]:5060", "sip:as.example.com:5060",
     "tel:+1", "sip:a b", "sip:", "1sip:x", "sip:a@b>", "x:y", "sip:a@b;transport=udp",
     "sip:a\x00b", "sip:\u00e9@h", "sip:a@b?h=v", ":x", "", "sip:a@b\t", "SIP:A@B"])
DISPLAYS = st.sampled_from(
    ["", '"1001" ', '"Al \\"x\\"" ', "Bob ", "Bob  Smith\t", "J\u00f6rg ", "a:b ", '"a\x01" ',
     '"unterminated ', "Bob,x ", "\udcff ", '""', '"x"', "Bob", "B\x00 ", "a  b ", "\u00e9\t",
     '"\t"  ', '"a\\\x00"'])


@st.composite
def name_addrs(draw: st.DrawFn) -> str:
    lead = draw(WS)
    if draw(st.integers(0, 5)) == 0:
        return lead + draw(URIS) + draw(param_blocks())
    if draw(st.booleans()):
        uri = draw(st.sampled_from(["sip:1001@as.example.com", "sips:a@b;x", "tel:+1", "x:y"]))
        return lead + draw(DISPLAYS) + "<" + uri + ">" + draw(param_blocks())
    return (lead + draw(DISPLAYS) + draw(st.sampled_from(["<", "<", "< ", ""])) + draw(URIS)
            + draw(st.sampled_from([">", ">", " >", ""])) + draw(param_blocks()))


HOSTS = st.sampled_from(
    ["192.168.1.50", "as.example.com", "h", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.",
     "a-.b", "-a.b", "a_b.c", "a..b", ".", "[::1]", "[2001:db8::1]", "[::x]", "h.", "1.2.3.a",
     "0.0.0.0", "", "\u00e9", "a b"])
PORTS = st.sampled_from(["", "", ":5060", ":0", ":65535", ":65536", ":99999", ":123456",
                         " : 5060", ":", ":5060 ", ":x", ":00080"])


@st.composite
def vias(draw: st.DrawFn) -> str:
    protocol = draw(st.sampled_from(["SIP/2.0/UDP", "SIP / 2.0 / TCP", "SIP/2.0/udp",
                                     "SIP/2.0/", "SIP/2.0", "s/1/x", "SIP\t/2.0/TLS"]))
    return (draw(WS) + protocol + draw(st.sampled_from([" ", "  ", "\t", ""])) + draw(HOSTS)
            + draw(PORTS) + draw(param_blocks()))


@st.composite
def header_values(draw: st.DrawFn) -> str:
    value = draw(st.sampled_from(["as-feature-event", "multipart", "application", "", "a b",
                                  "\u00e9", "presence.winfo"]))
    subtype = draw(st.sampled_from(["", "/mixed", " / sdp", "/", "/x/y", "/ \u00e9"]))
    return draw(WS) + value + subtype + draw(param_blocks())


@st.composite
def sip_uris(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["sip:", "SIP:", "sips:", "SiPs:", "sipx:", "tel:"]))
    user = draw(st.sampled_from(["", "1001@", "*74@", "a;b@", "a?b@", "%41@", "a:pw@", "@",
                                 "a#b@", "a b@", "\u00e9@", "a&=+$,/@"]))
    port = draw(st.sampled_from(["", ":5060", ":0", ":65536", ":123456", ":"]))
    tail = draw(st.sampled_from(["", ";transport=udp", ";lr", ";a=b;c", ";", ";=x", ";a=%4",
                                 ";a=%41", ";maddr=[::1]", "?h=v", ";a=b?", ";x=\u00e9"]))
    return scheme + user + draw(HOSTS) + port + tail


def outcome(read: Callable[[], Any]) -> Any:
    try:
        return ("value", read())
    except SipParseError as error:
        return ("error", error.status, error.reason, error.offset, error.line)


@settings(max_examples=400)
@given(vias())
def test_via_fast_path_is_the_scanner(text: str) -> None:
    assert outcome(lambda: fields.parse_via(text)) == outcome(lambda: fields.scan_via(text))


@settings(max_examples=400)
@given(name_addrs(), st.sampled_from(["From", "To", "Contact"]))
def test_name_addr_fast_path_is_the_scanner(text: str, header: str) -> None:
    assert (outcome(lambda: fields.parse_name_addr(text, header))
            == outcome(lambda: fields.scan_name_addr(text, header)))


@settings(max_examples=400)
@given(header_values())
def test_header_value_fast_path_is_the_scanner(text: str) -> None:
    assert (outcome(lambda: params.parse_header_value(text, "Event"))
            == outcome(lambda: params.scan_header_value(text, "Event")))


@settings(max_examples=400)
@given(sip_uris())
def test_a_plain_sip_uri_is_one_parse_uri_accepts_without_headers(text: str) -> None:
    if fields.is_plain_sip_uri(text):
        assert fields.parse_uri(text).headers is None


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (fields.parse_via, "SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1597532684;rport"),
        (fields.parse_via, "SIP/2.0/TCP as.example.com;branch=z9hG4bK-1;received=192.0.2.1"),
        (lambda t: fields.parse_name_addr(t, "From"),
         '"1001" <sip:1001@as.example.com>;tag=2917433582'),
        (lambda t: fields.parse_name_addr(t, "To"), "Bob <sip:bob@example.com>"),
        (lambda t: params.parse_header_value(t, "Content-Type"),
         'multipart/mixed;boundary="b 1"'),
        (lambda t: params.parse_header_value(t, "Event"), "as-feature-event;id=1"),
    ],
)
def test_common_values_take_the_fast_path(parse: Callable[[str], Any], text: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Everyday values never reach the Scanner (a pattern that stopped matching them would
    only show as a slowdown)."""
    def no_scanner(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Scanner ran")

    monkeypatch.setattr(params.Scanner, "__init__", no_scanner)
    parse(text)


@pytest.mark.parametrize(
    "uri",
    ["sip:1001@as.example.com", "sip:*74@pbx.example.com", "SIP:as.example.com:5060;transport=udp",
     "sips:1001@192.168.1.50:5061;lr"],
)
def test_plain_request_uris_are_recognised(uri: str) -> None:
    assert fields.is_plain_sip_uri(uri)


@pytest.mark.parametrize(
    "uri",
    ["sip:user@example.com?Route=%3Csip:example.com%3E", "sip:%61lice@h", "sip:a:pw@h",
     "sip:[::1]", "sip:h:65536", "sip:h:0", "sip:256.1.1.1", "sip:a-.b", "tel:+1",
     "sip:h;a=%4", "sip:1.2.3.4."],
)
def test_unusual_request_uris_take_the_strict_path(uri: str) -> None:
    assert not fields.is_plain_sip_uri(uri)


# --------------------------------------------------------------------------- parse_message


CANONICAL = (
    b"NOTIFY sip:1001@192.168.1.50:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-as-1\r\n"
    b'From: "J\xc3\xb6rg" <sip:1001@as.example.com>;tag=as7f\r\n'
    b"To: <sip:1001@as.example.com>;tag=29174\r\n"
    b"Call-ID: 1830946597@192.168.1.50\r\n"
    b"CSeq: 1 NOTIFY\r\n"
    b"X-Empty: \r\n"
    b"Event: as-feature-event\r\n"
    b"Content-Type: application/x-as-feature-event+xml\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"<x/>"
)


def test_a_canonical_message_serializes_to_its_own_bytes() -> None:
    msg = parse_message(CANONICAL)
    assert msg.serialize() is CANONICAL
    assert msg.replace().serialize() == CANONICAL


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\r\n", b"\n"),                       # bare LF line ends
        (b"CSeq: 1", b"CSeq:  1"),              # two spaces after the colon
        (b"CSeq: 1", b"CSeq:1"),                # none
        (b"CSeq: 1", b"CSeq : 1"),              # space before the colon
        (b"NOTIFY\r\n", b"NOTIFY \r\n"),        # trailing space
        (b"CSeq: 1 NOTIFY\r\n", b"CSeq: 1\r\n NOTIFY\r\n"),  # folded
        (b"X-Empty: \r\n", b"X-Empty:\r\n"),
        (b"<x/>", b"<x/>trailing"),             # bytes past Content-Length
        (b"NOTIFY sip", b"\r\nNOTIFY sip"),     # a CRLF before the start line
    ],
)
def test_other_spellings_serialize_as_rebuilt(old: bytes, new: bytes) -> None:
    data = CANONICAL.replace(old, new)
    msg = parse_message(data)
    assert msg.serialize() != data
    assert msg.serialize() == msg.replace().serialize()


def test_a_changed_message_serializes_its_change() -> None:
    msg = parse_message(CANONICAL)
    changed = msg.replace(headers=msg.headers.added("X-New", "1"))
    assert changed.serialize() == CANONICAL.replace(b"\r\n\r\n", b"\r\nX-New: 1\r\n\r\n")


def test_a_response_without_reason_phrase_is_not_its_own_bytes() -> None:
    data = b"SIP/2.0 200\r\nContent-Length: 0\r\n\r\n"
    assert parse_message(data).serialize() == b"SIP/2.0 200 \r\nContent-Length: 0\r\n\r\n"


def test_bytearray_input_parses_as_bytes() -> None:
    msg = parse_message(cast(bytes, bytearray(CANONICAL)))
    assert msg == parse_message(CANONICAL)
    assert msg.serialize() == CANONICAL


@pytest.mark.parametrize("crlf", [b"\r\n", b"\n"])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"No colon here", "Bad header line (no colon)"),
        (b": empty name", "Empty header name"),
        (b"Bad Name: x", "Bad header name"),
        (b"B\xc3\xa4d: x", "Bad header name"),
    ],
)
def test_error_offsets_count_bytes(crlf: bytes, bad: bytes, reason: str) -> None:
    """The one-decode path (CRLF) and the line-by-line path (bare LF) give the byte offset
    of the bad line, after multi-byte characters and surrogate escapes."""
    data = CANONICAL.replace(b"X-Empty: \r\n", b"X-Odd: \xff\xfe \xe2\x82\xac\r\n" + bad + b"\r\n")
    data = data.replace(b"\r\n", crlf)
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.reason == reason
    assert caught.value.offset == data.index(bad)


def test_continuation_before_any_header_offset() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.reason == "Continuation line before any header"
    assert caught.value.offset == data.index(b" folded")


@settings(max_examples=300)
@given(mutated_messages())
def test_serialize_is_the_rebuilt_message(data: bytes) -> None:
    """Returning the parsed bytes is only a shortcut: it never differs from rebuilding."""
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    assert msg.serialize() == msg.replace().serialize()


START_LINES = st.builds(
    lambda parts, spaces: spaces.join(parts),
    st.one_of(
        st.tuples(st.sampled_from(["INVITE", "NOTIFY", "NEWMETHOD", "IN VITE", "", "INV\u00e9",
                                   "SIP", "SIP/2.0"]),
                  sip_uris() | URIS,
                  st.sampled_from(["SIP/2.0", "sip/2.0", "SIP/7.0", "SIP/2.0 ", "SIP2.0", "",
                                   "SIP/2.0\t"])),
        st.tuples(st.sampled_from(["SIP/2.0", "sip/2.0", "SIP/7.0", "SIP/2", "SIP/"]),
                  st.sampled_from(["200", "100", "699", "700", "099", "20", "2000", "",
                                   "\u066200"]),
                  st.sampled_from(["OK", "", "Bad Event", "a\tb", "a\x00b", "a\x7f", "\u00e9",
                                   "OK ", " OK"])),
    ),
    st.sampled_from([" ", " ", "  ", "\t"]),
)


@settings(max_examples=400)
@given(START_LINES)
def test_start_line_fast_path_is_the_long_way(line: str) -> None:
    from fsync_model.sip import message

    fast = outcome(lambda: message._parse_start_line(line, 7))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(message, "_USUAL_START_LINE", re.compile(r"(?!)"))
        patch.setattr(message, "is_plain_sip_uri", lambda uri: False)
        slow = outcome(lambda: message._parse_start_line(line, 7))
    assert fast == slow


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["1", "0009", "2147483647", "2147483648", "999999999",
                                 "1000000000", "\u0661", " ", "\t", "INVITE", "NOTIFY", "a b",
                                 "\u00e9", "-1", "+1", ""]), max_size=4))
def test_cseq_fast_path_is_the_split(pieces: list[str]) -> None:
    text = " ".join(pieces)
    # a trailing tab changes nothing for str.split() and always misses the fast path
    assert outcome(lambda: fields.parse_cseq(text)) == outcome(
        lambda: fields.parse_cseq(text + "\t"))


@pytest.mark.parametrize(
    "minimal",
    [Via("UDP", "h"), NameAddr("sip:a@b"), CSeq(1, "INVITE"), Headers(),
     Request("OPTIONS", "sip:a@b"), Response(200, "OK")],
    ids=lambda obj: type(obj).__name__,
)
def test_hand_written_inits_are_the_dataclass_ones(minimal: Any) -> None:
    """The per-message values set their slots directly (fields.slot_setters): every field
    is set, to its declared default when not given, and the objects stay frozen."""
    for item in dataclasses.fields(minimal):
        value = getattr(minimal, item.name)
        if item.default is not dataclasses.MISSING:
            assert value == item.default, item.name
        elif item.default_factory is not dataclasses.MISSING:
            assert value == item.default_factory(), item.name
    assert dataclasses.replace(minimal) == minimal
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(minimal, dataclasses.fields(minimal)[0].name, None)
    assert repr(minimal).startswith(type(minimal).__name__ + "(")


def test_messages_get_a_cache_each() -> None:
    first, second = Request("OPTIONS", "sip:a@b"), Request("OPTIONS", "sip:a@b")
    assert first._cache is not second._cache


def test_the_name_memos_keep_no_long_spelling() -> None:
    from fsync_model.sip import message

    long_name = "X-" + "y" * 1000
    data = f"OPTIONS sip:a@b SIP/2.0\r\n{long_name}: 1\r\nContent-Length: 0\r\n\r\n"
    assert parse_message(data.encode()).headers.get(long_name) == "1"
    assert long_name not in message._HEADER_NAMES
    assert long_name not in message._CANONICAL
    host = "h" * 1000
    assert fields.parse_via(f"SIP/2.0/UDP {host}").host == host
