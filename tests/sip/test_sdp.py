"""Minimal SDP offer/answer for feature-code calls (RFC 4566, RFC 3264)."""
from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.sdp import make_answer, make_offer, parse_sdp

OFFER = (
    b"v=0\r\n"
    b"o=- 42 42 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=sendrecv\r\n"
)


def test_offer_is_exact() -> None:
    assert make_offer("192.0.2.10", 40000, 42) == OFFER
    assert make_offer("192.0.2.10", 40000, 42) == make_offer("192.0.2.10", 40000, 42)


def test_offer_parses_back() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.origin is not None and sdp.origin.session_id == "42"
    assert sdp.connection == "192.0.2.10"
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == ("audio", 40000, "RTP/AVP",
                                                                     ("0", "8"))
    assert audio.rtpmap("8") == "PCMA/8000"
    assert audio.direction == "sendrecv"


def test_answer_picks_first_common_codec_in_offer_order() -> None:
    answer = make_answer(OFFER, "192.0.2.20", 50000, 7, codecs=(8, 0))
    assert answer == (
        b"v=0\r\n"
        b"o=- 7 7 IN IP4 192.0.2.20\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.20\r\n"
        b"t=0 0\r\n"
        b"m=audio 50000 RTP/AVP 0\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=sendrecv\r\n"
    )


def test_answer_without_common_codec_rejects_with_port_zero() -> None:
    answer = parse_sdp(make_answer(OFFER, "192.0.2.20", 50000, 7, codecs=(9,)))
    (audio,) = answer.media
    assert audio.port == 0
    assert audio.formats == ("0", "8")


def test_answer_mirrors_direction_and_rejects_extra_streams_ipv6() -> None:
    offer = (
        b"v=0\no=alice 1 1 IN IP6 2001:db8::1\ns=x\nc=IN IP6 2001:db8::1\nt=0 0\n"
        b"m=video 5000 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
        b"m=audio 5002 RTP/AVP 18 8\na=sendonly\n"
        b"m=audio 5004 RTP/AVP 8\n"
    )
    answer = make_answer(offer, "2001:db8::2", 6000, 3)
    assert answer.decode().splitlines()[1:] == [
        "o=- 3 3 IN IP6 2001:db8::2",
        "s=-",
        "c=IN IP6 2001:db8::2",
        "t=0 0",
        "m=video 0 RTP/AVP 96",
        "m=audio 6000 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        "a=recvonly",
        "m=audio 0 RTP/AVP 8",
    ]


def test_media_level_connection_and_unknown_lines_are_tolerated() -> None:
    sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\nz=ignored\r\nm=audio 1/2 RTP/AVP 0\r\n"
                    b"c=IN IP4 224.2.1.1/127\r\na=ptime:20\r\n\r\n")
    (audio,) = sdp.media
    assert audio.connection == "224.2.1.1"
    assert audio.attribute("ptime") == "20"
    assert audio.port == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"v=1\r\n",
        b"v=0\r\no=too few\r\n",
        b"v=0\r\nc=IN IP4\r\n",
        b"v=0\r\nm=audio port RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 4000 RTP/AVP\r\n",
        b"v=0\r\nnot a line\r\n",
        b"v=0\r\nv=0\r\n",
        b"v=0\r\ns=\xff\r\n",
    ],
)
def test_garbage_raises_400(data: bytes) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_sdp(data)
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad SDP")


def test_offer_refuses_dynamic_payloads_and_bad_ports() -> None:
    with pytest.raises(ValueError):
        make_offer("h", 4000, 1, codecs=(101,))
    with pytest.raises(ValueError):
        make_offer("h", 70000, 1)
    with pytest.raises(ValueError):
        make_offer("h", 4000, 1, codecs=())


@given(st.binary(max_size=200))
def test_parse_only_raises_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_sdp(data)


_sdp_lines = st.lists(
    st.sampled_from(["o=- 1 1 IN IP4 h", "c=IN IP4 h", "m=audio 9 RTP/AVP 0 8 ²",
                     "m=audio 0 RTP/AVP 8", "m=video 9 RTP/AVP 96", "a=sendonly", "a=rtpmap:0 x",
                     "t=0 0", "s=-", "a=inactive"]),
    max_size=12,
)


@given(_sdp_lines)
def test_answer_to_any_wellformed_offer_is_parsable_with_one_line_per_stream(
    lines: list[str],
) -> None:
    offer = ("\r\n".join(["v=0", *lines]) + "\r\n").encode()
    answer = parse_sdp(make_answer(offer, "192.0.2.1", 4000, 1))
    assert len(answer.media) == len(parse_sdp(offer).media)
    assert sum(media.port != 0 for media in answer.media) <= 1
