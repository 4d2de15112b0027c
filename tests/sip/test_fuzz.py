"""The one-exception contract of the message layer, checked with Hypothesis (as h11's
``fuzz/afl-server.py`` does for HTTP): whatever bytes arrive, :func:`parse_message`, the
stream framer and every structured accessor raise nothing but :class:`SipParseError`, whose
status is one a UA can answer with and whose reason fits in a reason phrase; nothing hangs.

Inputs are arbitrary bytes, valid messages (the RFC 4475 torture corpus and feature-sync
traffic) mutated by byte flips, insertions of SIP-significant bytes, truncation, duplicated
and swapped header lines, huge values, wrong Content-Lengths, bad UTF-8, NUL bytes and CR/LF
games, and header soups whose values are drawn from the characters the grammar cares about.
Each input goes through the datagram parser and, whole and one byte at a time, through
:class:`StreamFramer` + ``parse_message(stream=True)``. What parses must also serialize to a
fixed point, and its structured values must print back to themselves.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_name_addr, parse_uri, parse_via
from fsync_model.sip.framing import StreamFramer
from fsync_model.sip.message import Message, Request, parse_message
from fsync_model.sip.multipart import parse_multipart
from fsync_model.sip.params import parse_header_value
from tests.sip.test_torture import REJECTED, VALID, wire

T = TypeVar("T")

#: The statuses a parse error may carry (RFC 3261 section 21.4).
STATUSES = frozenset({400, 413, 415, 416, 505, 513})
#: Wall-clock limit for one example: a parser that loops forever fails instead of hanging.
HARD_LIMIT_SECONDS = 10.0
#: ``FSYNC_FUZZ_SCALE=50 pytest tests/sip/test_fuzz.py`` runs a longer campaign.
SCALE = int(os.environ.get("FSYNC_FUZZ_SCALE", "1"))
#: Parse limit used when re-reading what we serialized (serializing may add a few bytes).
BIG = 1 << 24

FEATURE_SYNC = [
    wire(
        "SUBSCRIBE sip:1001@192.0.2.10 SIP/2.0\n"
        "Via: SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK776asdhds;rport\n"
        "Max-Forwards: 70\n"
        'From: "Alice \\"A\\"" <sip:1001@example.com>;tag=1928301774\n'
        "To: <sip:1001@example.com>\n"
        "Call-ID: a84b4c76e66710@pc33.example.com\n"
        "CSeq: 314159 SUBSCRIBE\n"
        "Contact: <sip:1001@[2001:db8::5]:5060;transport=udp>;expires=3600, *\n"
        "Event: as-feature-event;id=1\n"
        "Expires: 3600\n"
        "Accept: application/x-as-feature-event+xml\n"
        "Content-Length: 0"
    ),
    wire(
        "NOTIFY sip:1001@192.0.2.5:5060 SIP/2.0\n"
        "v: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK.1;received=192.0.2.10\n"
        "f: <sip:1001@example.com>;tag=srv\n"
        "t: <sip:1001@example.com>;tag=1928301774\n"
        "i: a84b4c76e66710@pc33.example.com\n"
        "CSeq: 2 NOTIFY\n"
        "m: <sip:srv@192.0.2.10>\n"
        "o: as-feature-event\n"
        "Subscription-State: active;expires=3599\n"
        "Date: Sat, 15 Oct 2005 04:44:56 GMT\n"
        'c: multipart/mixed;boundary="b 1"\n'
        "l: {CL}",
        b"--b 1\r\nContent-Type: application/x-as-feature-event+xml\r\n\r\n<x/>\r\n--b 1--\r\n",
    ),
    wire(
        "SIP/2.0 200 OK\n"
        "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK776asdhds;received=2001:db8::9;rport=5062\n"
        "From: <sip:1001@example.com>;tag=1928301774\n"
        "To: <sip:1001@example.com>;tag=srv\n"
        "Call-ID: a84b4c76e66710@pc33.example.com\n"
        "CSeq: 314159 SUBSCRIBE\n"
        "Contact: <sip:srv@192.0.2.10>\n"
        "Expires: 3600\n"
        "Content-Length: 0"
    ),
    wire(
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKnashds7\n"
        "Max-Forwards: 70\n"
        "To: Bob <sip:bob@example.com>\n"
        "From: Bob <sip:bob@example.com>;tag=456248\n"
        "Call-ID: 843817637684230@998sdasdh09\n"
        "CSeq: 1826 REGISTER\n"
        "Contact: *\n"
        "Expires: 0\n"
        "Content-Length: 0"
    ),
]
SEEDS: list[bytes] = [*VALID.values(), *(case.data for case in REJECTED.values()), *FEATURE_SYNC]

#: Bytes that matter to the grammar, for flips and insertions.
SPICE = [
    b"\r\n", b"\n", b"\r", b"\r\n ", b"\r\n\r\n", b"\x00", b"\xff", b"\xc3(", b"\xed\xa0\x80",
    b'"', b"\\", b"<", b">", b";", b";;", b",", b"=", b":", b"@", b"%", b"%0", b"[", b"]",
    b"?", b"/", b" ", b"\t", b"*", b"\x7f", b"\xc2\xb2", b"\xd9\xa1", b"sip:", b"SIP/2.0",
    b"tag=", b";branch=z9hG4bK", b"l: 5\r\n", b"Content-Length: 99999999999999999999\r\n",
]

CONTENT_LENGTHS = [
    b"0", b"1", b"-1", b"+5", b"99999999999", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa1", b"0x10",
    b"", b" 7 ", b"5, 5", b"00000000000000000000000003",
]

class Draw:
    """What a mutation draws with: Hypothesis for choices, a seeded Random for positions
    (Hypothesis's integers favour small values, which would put most mutations in the start
    line)."""

    def __init__(self, draw: st.DrawFn, rnd: random.Random) -> None:
        self.draw = draw
        self.rnd = rnd

    def __call__(self, strategy: st.SearchStrategy[T]) -> T:
        return self.draw(strategy)

    def at(self, low: int, high: int) -> int:
        """A position in ``[low, high]``, uniformly."""
        return self.rnd.randint(low, high) if high > low else low


Mutation = Callable[[Draw, bytearray], bytearray]


def _flip(draw: Draw, data: bytearray) -> bytearray:
    if data:
        index = draw.at(0, len(data) - 1)
        data[index] = draw.at(0, 255)
    return data


def _insert(draw: Draw, data: bytearray) -> bytearray:
    index = draw.at(0, len(data))
    data[index:index] = draw(st.sampled_from(SPICE))
    return data


def _delete(draw: Draw, data: bytearray) -> bytearray:
    if data:
        index = draw.at(0, len(data) - 1)
        del data[index : index + draw.at(1, 8)]
    return data


def _truncate(draw: Draw, data: bytearray) -> bytearray:
    return data[: draw.at(0, len(data))]


def _lines(data: bytearray) -> tuple[list[bytes], bytes]:
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    return head.split(b"\r\n"), (sep + body)


def _duplicate_line(draw: Draw, data: bytearray) -> bytearray:
    lines, rest = _lines(data)
    line = draw(st.sampled_from(lines))
    lines.insert(draw.at(1, len(lines)), line)
    return bytearray(b"\r\n".join(lines) + rest)


def _swap_lines(draw: Draw, data: bytearray) -> bytearray:
    lines, rest = _lines(data)
    i = draw.at(min(1, len(lines) - 1), len(lines) - 1)
    j = draw.at(0, len(lines) - 1)
    lines[i], lines[j] = lines[j], lines[i]
    return bytearray(b"\r\n".join(lines) + rest)


def _huge_value(draw: Draw, data: bytearray) -> bytearray:
    lines, rest = _lines(data)
    index = draw.at(min(1, len(lines) - 1), len(lines) - 1)
    unit = draw(st.sampled_from([b"x", b";a=b", b",", b", SIP/2.0/UDP h", b"\\\"", b"9", b" ",
                                 b"\r\n x", b"<", b"%"]))
    size = draw(st.sampled_from([10, 1000, 70_000]))
    lines[index] += unit * draw.at(1, max(1, size // len(unit)))
    return bytearray(b"\r\n".join(lines) + rest)


def _content_length(draw: Draw, data: bytearray) -> bytearray:
    lines, rest = _lines(data)
    value = draw(st.sampled_from(CONTENT_LENGTHS))
    name = draw(st.sampled_from([b"Content-Length", b"l", b"content-length ", b"L"]))
    lines = [line for line in lines if not line.lower().startswith((b"content-length", b"l:"))]
    lines.insert(draw.at(1, len(lines)), name + b": " + value)
    return bytearray(b"\r\n".join(lines) + rest)


def _line_ends(draw: Draw, data: bytearray) -> bytearray:
    game = draw(st.sampled_from(["lf", "cr", "lead", "noblank", "mixed", "fold"]))
    raw = bytes(data)
    if game == "lf":
        return bytearray(raw.replace(b"\r\n", b"\n"))
    if game == "cr":
        return bytearray(raw.replace(b"\r\n", b"\r"))
    if game == "lead":
        return bytearray(b"\r\n" * draw.at(1, 5) + raw)
    if game == "noblank":
        return bytearray(raw.replace(b"\r\n\r\n", b"\r\n", 1))
    if game == "mixed":
        return bytearray(raw.replace(b"\r\n", b"\n", draw.at(1, 5)))
    lines, rest = _lines(data)
    index = draw.at(1, len(lines))
    lines.insert(index, draw(st.sampled_from([b" folded", b"\tx", b" ", b""])))
    return bytearray(b"\r\n".join(lines) + rest)


MUTATIONS: list[Mutation] = [
    _flip, _flip, _insert, _insert, _delete, _truncate, _duplicate_line, _swap_lines,
    _huge_value, _content_length, _line_ends,
]


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    mutate = Draw(draw, draw(st.randoms(use_true_random=False)))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.sampled_from(MUTATIONS))(mutate, data)
    return bytes(data)


#: Characters a header value's grammar cares about (for the header soup).
VALUE_ALPHABET = st.sampled_from(
    [*" \t\"<>;,=:@%[]\\/?*.-_!~'()+&$#azAZ09", "sip:", "tel:", "SIP/2.0/UDP ", "%4",
     "z9hG4bK", "tag=", "[::1]", "\x00", "\x7f", "\u00e9", "\udcff", "\u00b2", "\r\n ", "\n"]
)
_NAME_ADDR = ['"Al \\"x\\""', "Bob", " ", "<", ">", "sip:", "sips:", "tel:+1", "user", "@",
              "host.example.com", "[2001:db8::1]", ":5060", ";tag=abc", ";expires=60", ";lr",
              ";transport=tcp", "?h=v", "%41", ",", "*", ";q=0.5", ';+sip.instance="<urn:x>"']
#: Per header: fragments of its grammar, so that a good share of the values parse and the
#: paths past the first check are reached too.
SOUP_FRAGMENTS: dict[str, list[str]] = {
    "Via": ["SIP/2.0/UDP ", "SIP / 2.0 / TCP ", "192.0.2.1", "[::1]", "host", ":5060", " ",
            ";branch=z9hG4bK1", ";received=192.0.2.9", ";received=::1", ";rport",
            ";rport=5062", ";ttl=3", ";maddr=h.example", ",", ";x"],
    "From": _NAME_ADDR, "To": _NAME_ADDR, "Contact": _NAME_ADDR, "Route": _NAME_ADDR,
    "Call-ID": ["abc", "@", "host", " ", "x"],
    "CSeq": ["1", "0009", "4294967296", " ", "INVITE", "NOTIFY", "\r\n "],
    "Event": ["as-feature-event", "presence", ";id=1", ";id=", ".template", " "],
    "Subscription-State": ["active", "pending", "terminated", ";expires=3600",
                           ";reason=timeout", ";retry-after=5", ", 3600", " "],
    "Content-Type": ["multipart/mixed", "application/sdp", ";boundary=b", ';boundary="b 1"',
                     " / ", ";charset=utf-8"],
    "Content-Length": ["0", "5", "12", " "],
    "Expires": ["0", "3600", "4294967296", " "],
    "Max-Forwards": ["70", "0", "256", " "],
    "Date": ["Sat, 15 Oct 2005 04:44:56 GMT", "Sat, 31 Feb 2005 04:44:56 GMT", " EST"],
    "X-Other": ["x"],
}
SOUP_NAMES = {"v": "Via", "f": "From", "t": "To", "m": "Contact", "c": "Content-Type",
              "l": "Content-Length", "i": "Call-ID", "o": "Event"}


@st.composite
def header_soups(draw: st.DrawFn) -> bytes:
    start = draw(st.sampled_from([
        "NOTIFY sip:1001@192.0.2.5 SIP/2.0", "SIP/2.0 200 OK", "SUBSCRIBE tel:+1234 SIP/2.0",
        "INVITE sip:a@[2001:db8::1]:5070;transport=tcp SIP/2.0", "SIP/2.0 489 Bad Event",
    ]))
    lines = [start]
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from([*SOUP_FRAGMENTS, *SOUP_NAMES]))
        pieces = st.one_of(st.sampled_from(SOUP_FRAGMENTS[SOUP_NAMES.get(name, name)]),
                           VALUE_ALPHABET)
        value = "".join(draw(st.lists(pieces, max_size=12)))
        lines.append(f"{name}: {value}")
    body = draw(st.binary(max_size=40))
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


# --------------------------------------------------------------------------- the contract


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so no parser can swallow it."""


@contextlib.contextmanager
def hard_limit(seconds: float = HARD_LIMIT_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the run) when the body takes longer than ``seconds``."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"one example took over {seconds} s: a parser loops")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_error(error: SipParseError) -> None:
    assert type(error) is SipParseError
    assert error.status in STATUSES, error
    reason = error.reason
    assert reason and len(reason) <= 200, error
    assert reason.isprintable() and "\r" not in reason and "\n" not in reason, repr(reason)


def attempt(read: Callable[[], T]) -> T | None:
    """``read()``, or None when it raised SipParseError (checked); anything else escapes."""
    try:
        return read()
    except SipParseError as error:
        check_error(error)
        return None


def exercise_fields(msg: Message) -> None:
    """Every structured accessor, then the printed forms of what they returned."""
    readers: list[Callable[[], object]] = [
        lambda: msg.call_id, lambda: msg.cseq, lambda: msg.from_addr, lambda: msg.to_addr,
        lambda: msg.from_tag, lambda: msg.to_tag, lambda: msg.vias, lambda: msg.top_via,
        lambda: msg.branch, lambda: msg.contacts, lambda: msg.contact_is_wildcard,
        lambda: msg.event, lambda: msg.subscription_state, lambda: msg.content_type,
        lambda: msg.content_type_full, lambda: msg.content_length, lambda: msg.expires,
        lambda: msg.max_forwards, lambda: msg.date, lambda: msg.int_header("Min-Expires"),
    ]
    if isinstance(msg, Request):
        readers.append(lambda: msg.request_uri)
    for read in readers:
        attempt(read)
    for name in ("via", "contact", "route", "accept"):
        msg.headers.values(name)

    for header, addr in (("From", attempt(lambda: msg.from_addr)),
                         ("To", attempt(lambda: msg.to_addr))):
        if addr is not None:
            assert_name_addr_round_trip(addr, header)
    for contact in attempt(lambda: msg.contacts) or []:
        assert_name_addr_round_trip(contact, "Contact")
        attempt(lambda c=contact: c.expires)  # type: ignore[misc]
        attempt(lambda c=contact: c.parsed_uri())  # type: ignore[misc]
    for via in attempt(lambda: msg.vias) or []:
        assert parse_via(str(via)) == via
    for value in (attempt(lambda: msg.event), attempt(lambda: msg.subscription_state),
                  attempt(lambda: msg.content_type_full)):
        if value is not None:
            assert parse_header_value(str(value), "X") == value
    uri = attempt(lambda: msg.request_uri) if isinstance(msg, Request) else None
    if uri is not None:
        assert parse_uri(str(uri)) == uri
    full = attempt(lambda: msg.content_type_full)
    if full is not None and str(full).lower().startswith("multipart/"):
        attempt(lambda: parse_multipart(str(full), msg.body))


def assert_name_addr_round_trip(addr: Any, header: str) -> None:
    again = parse_name_addr(str(addr), header)
    assert (again.uri, again.display, again.params) == (addr.uri, addr.display, addr.params)


def exercise_message(data: bytes, *, stream: bool = False) -> Message | None:
    try:
        msg = parse_message(data, stream=stream)
    except SipParseError as error:
        check_error(error)
        return None
    exercise_fields(msg)
    # serialize(parse(x)) is a fixed point after one round
    once = msg.serialize()
    again = parse_message(once, max_size=BIG)
    assert again.serialize() == once
    assert again.headers == msg.headers and again.body == msg.body
    if isinstance(msg, Request):
        response = msg.response(200, to_tag="fuzz")
        parsed = parse_message(response.serialize(), max_size=BIG)
        assert parsed.headers.get_all("via") == msg.headers.get_all("via")
    return msg


def exercise_stream(data: bytes, chunk: int) -> None:
    whole, whole_error = StreamFramer().feed_until_error(data)
    if whole_error is not None:
        check_error(whole_error)
    framer = StreamFramer()
    pieces: list[bytes] = []
    piece_error: SipParseError | None = None
    for start in range(0, len(data), chunk):
        found, piece_error = framer.feed_until_error(data[start : start + chunk])
        pieces.extend(found)
        if piece_error is not None:
            break
    assert pieces == whole
    assert (piece_error is None) == (whole_error is None)
    for message in whole:
        exercise_message(message, stream=True)


def exercise(data: bytes) -> None:
    with hard_limit():
        exercise_message(data)
        exercise_stream(data, 1 if len(data) <= 4096 else 997)


FUZZ = settings(
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FUZZ, max_examples=250 * SCALE)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    exercise(data)


@settings(FUZZ, max_examples=250 * SCALE)
@given(st.binary(max_size=300).map(lambda tail: b"INVITE sip:a@b SIP/2.0\r\n" + tail))
def test_bytes_after_a_start_line(data: bytes) -> None:
    exercise(data)


@settings(FUZZ, max_examples=400 * SCALE)
@given(mutated_messages())
def test_mutated_messages(data: bytes) -> None:
    exercise(data)


@settings(FUZZ, max_examples=300 * SCALE)
@given(header_soups())
def test_header_soup(data: bytes) -> None:
    exercise(data)


def test_seeds_are_exercised_whole() -> None:
    for seed in SEEDS:
        exercise(seed)
