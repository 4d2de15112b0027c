"""StreamFramer: SIP over a stream cut into messages (RFC 3261 section 18.3)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.framing import StreamFramer


def sip(body: bytes = b"", *, length_header: str = "Content-Length", method: str = "NOTIFY",
        extra: str = "") -> bytes:
    head = (
        f"{method} sip:alice@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n"
        "Call-ID: a84b4c76e66710@127.0.0.1\r\n"
        "CSeq: 2 NOTIFY\r\n"
        f"{extra}"
        f"{length_header}: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


BODY = b'<?xml version="1.0"?>\r\n<DoNotDisturbEvent><doNotDisturbOn>true</doNotDisturbOn>'
STREAM = sip(BODY) + b"\r\n\r\n" + sip() + sip(b"x" * 300, length_header="l")
EXPECTED = [sip(BODY), sip(), sip(b"x" * 300, length_header="l")]


def feed_bytewise(framer: StreamFramer, data: bytes) -> list[bytes]:
    out: list[bytes] = []
    for i in range(len(data)):
        out += framer.feed(data[i : i + 1])
    return out


def test_whole_stream_in_one_feed() -> None:
    framer = StreamFramer()
    assert framer.feed(STREAM) == EXPECTED
    assert framer.buffered == b""
    assert framer.pings == 1


def test_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    assert feed_bytewise(framer, STREAM) == EXPECTED
    assert framer.buffered == b""
    assert framer.pings == 1


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    framer = StreamFramer()
    bounds = [0, *sorted(cuts), len(STREAM)]
    out: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        out += framer.feed(STREAM[start:end])
    assert out == EXPECTED
    assert framer.pings == 1


def test_partial_message_is_buffered_not_returned() -> None:
    framer = StreamFramer()
    message = sip(BODY)
    assert framer.feed(message[:-1]) == []
    assert framer.buffered == message[:-1]
    assert framer.feed(message[-1:]) == [message]
    assert framer.buffered == b""


def test_body_is_exactly_content_length_even_if_it_looks_like_headers() -> None:
    body = b"INVITE sip:x SIP/2.0\r\nContent-Length: 99\r\n\r\n"
    framer = StreamFramer()
    assert framer.feed(sip(body) + sip()) == [sip(body), sip()]


@pytest.mark.parametrize(
    "header",
    ["content-length", "CONTENT-LENGTH", "l", "L", "Content-Length  "],
)
def test_content_length_name_any_case_and_compact(header: str) -> None:
    assert StreamFramer().feed(sip(b"hello", length_header=header)) == [
        sip(b"hello", length_header=header)
    ]


def test_folded_content_length_value() -> None:
    message = (
        b"NOTIFY sip:a@127.0.0.1 SIP/2.0\r\nContent-Length:\r\n   5\r\nCSeq: 1 NOTIFY\r\n\r\nhello"
    )
    assert StreamFramer().feed(message + b"\r\n") == [message]


def test_other_headers_named_like_l_do_not_count() -> None:
    # "Lx" and "Allow" must not be mistaken for the compact "l".
    message = sip(b"abc", extra="Lx: 900\r\nAllow: NOTIFY\r\nl-ish: 7\r\n")
    assert StreamFramer().feed(message) == [message]


def test_bare_lf_line_endings_tolerated() -> None:
    message = b"NOTIFY sip:a@127.0.0.1 SIP/2.0\nl: 3\n\nabc"
    assert StreamFramer().feed(message + message) == [message, message]


def test_keepalives_only() -> None:
    framer = StreamFramer()
    assert feed_bytewise(framer, b"\r\n\r\n" * 3 + b"\r\n") == []
    assert framer.pings == 3
    assert framer.buffered == b""


def test_pong_after_message_is_not_a_ping() -> None:
    # A single CRLF after a message and another before the next must not add up to a ping.
    framer = StreamFramer()
    framer.feed(b"\r\n" + sip() + b"\r\n" + sip())
    assert framer.pings == 0


def test_missing_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError) as caught:
        framer.feed(b"\r\nOPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")
    assert caught.value.status == 400
    assert caught.value.reason == "Missing Content-Length on stream transport"
    assert caught.value.offset == 2
    assert caught.value.line == "OPTIONS sip:a@127.0.0.1 SIP/2.0"


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "5 5", "5,5", "", "0x10", "\u0661"])
def test_bad_content_length(value: str) -> None:
    message = f"NOTIFY sip:a SIP/2.0\r\nCSeq: 1 NOTIFY\r\nContent-Length: {value}\r\n\r\n"
    with pytest.raises(SipParseError) as caught:
        StreamFramer().feed(message.encode())
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Content-Length")
    assert caught.value.offset == len("NOTIFY sip:a SIP/2.0\r\nCSeq: 1 NOTIFY\r\n")


def test_conflicting_content_lengths() -> None:
    message = b"NOTIFY sip:a SIP/2.0\r\nl: 3\r\nContent-Length: 4\r\n\r\nabcd"
    with pytest.raises(SipParseError) as caught:
        StreamFramer().feed(message)
    assert caught.value.status == 400
    assert "conflicting" in caught.value.reason


def test_error_offset_counts_from_stream_start() -> None:
    framer = StreamFramer()
    first = sip(b"abc")
    framer.feed(first)
    with pytest.raises(SipParseError) as caught:
        framer.feed(b"\r\n\r\nNOTIFY sip:a SIP/2.0\r\n\r\n")
    assert caught.value.offset == len(first) + 4


def test_oversize_header_block_513_without_waiting_for_its_end() -> None:
    framer = StreamFramer(max_header_bytes=200)
    framer.feed(b"NOTIFY sip:a SIP/2.0\r\n")
    with pytest.raises(SipParseError) as caught:
        framer.feed(b"X-Filler: " + b"a" * 300)
    assert caught.value.status == 513


def test_oversize_header_block_513_when_complete() -> None:
    framer = StreamFramer(max_header_bytes=100)
    with pytest.raises(SipParseError) as caught:
        framer.feed(sip(extra="X-Filler: " + "a" * 100 + "\r\n"))
    assert caught.value.status == 513


def test_header_block_at_the_limit_is_fine() -> None:
    message = sip()
    assert StreamFramer(max_header_bytes=len(message)).feed(message) == [message]


def test_oversize_body_413_before_the_body_arrives() -> None:
    framer = StreamFramer(max_body_bytes=10)
    with pytest.raises(SipParseError) as caught:
        framer.feed(b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 11\r\n\r\n")
    assert caught.value.status == 413


def test_absurd_content_length_413_not_a_crash() -> None:
    with pytest.raises(SipParseError) as caught:
        StreamFramer().feed(b"NOTIFY sip:a SIP/2.0\r\nl: " + b"9" * 5000 + b"\r\n\r\n")
    assert caught.value.status == 413


def test_default_limits() -> None:
    framer = StreamFramer()
    assert framer.max_header_bytes == 64 * 1024
    assert framer.max_body_bytes == 1024 * 1024
    body = b"b" * (1024 * 1024)
    assert framer.feed(sip(body)) == [sip(body)]


def test_feed_until_error_keeps_the_messages_before_the_error() -> None:
    bad = b"OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n"
    framer = StreamFramer()
    messages, error = framer.feed_until_error(sip(b"abc") + sip() + bad + sip())
    assert messages == [sip(b"abc"), sip()]
    assert error is not None and error.status == 400
    assert error.offset == len(sip(b"abc") + sip())
    assert framer.buffered.startswith(bad)
    assert framer.feed_until_error(sip()) == ([], error)
    # feed() raises the same error and loses what came before it in that call.
    other = StreamFramer()
    with pytest.raises(SipParseError):
        other.feed(sip() + bad)
    assert other.buffered.startswith(bad)


def test_error_sticks_until_reset() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError):
        framer.feed(b"NOTIFY sip:a SIP/2.0\r\n\r\n")
    with pytest.raises(SipParseError):
        framer.feed(sip())
    framer.reset()
    assert framer.feed(sip()) == [sip()]


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=7))
def test_garbage_raises_only_sip_parse_error(data: bytes, chunk: int) -> None:
    framer = StreamFramer(max_header_bytes=128, max_body_bytes=64)
    try:
        for i in range(0, len(data), chunk):
            for message in framer.feed(data[i : i + chunk]):
                assert message and message[:1] not in b"\r\n"
    except SipParseError as error:
        assert error.status in (400, 413, 513)
