"""multipart/mixed parsing and building (RFC 2046 5.1), and the header-parameter grammar
(RFC 3261 25.1, ``fsync_model.sip.params``) that the boundary is read with."""
from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.multipart import BodyPart, build_multipart, parse_multipart
from fsync_model.sip.params import (
    HeaderValue,
    format_header_value,
    parse_header_value,
    parse_param_list,
    quote,
)

AFE = "application/x-as-feature-event+xml"

# --------------------------------------------------------------------------- params.py


def test_media_type_with_quoted_boundary() -> None:
    parsed = parse_header_value('multipart/mixed ; Boundary="a b;c" ;charset=utf-8', "Content-Type")
    assert parsed.value == "multipart/mixed"
    assert parsed.params == (("Boundary", "a b;c"), ("charset", "utf-8"))
    assert parsed.get("boundary") == "a b;c"
    assert parsed.get("BOUNDARY") == "a b;c"
    assert "CHARSET" in parsed


def test_subscription_state_event_and_disposition() -> None:
    assert parse_header_value("active;expires=3600", "Subscription-State") == HeaderValue(
        "active", (("expires", "3600"),)
    )
    event = parse_header_value("as-feature-event;id=1", "Event")
    assert (event.value, event.get("id")) == ("as-feature-event", "1")
    disposition = parse_header_value("signal;handling=required", "Content-Disposition")
    assert disposition.get("handling") == "required"


def test_flag_param_and_absent_param() -> None:
    parsed = parse_header_value("x;lr;ttl=2", "Route-ish")
    assert parsed.params == (("lr", None), ("ttl", "2"))
    assert parsed.get("lr") == ""
    assert parsed.get("maddr") is None
    assert parsed.get("maddr", "dflt") == "dflt"


def test_quoted_pair_is_unescaped_and_requoted() -> None:
    parsed = parse_header_value(r'x;n="a\"b\\c"', "X")
    assert parsed.get("n") == 'a"b\\c'
    assert str(parsed) == r'x;n="a\"b\\c"'
    assert quote('say "hi"') == r'"say \"hi\""'


def test_folded_value_is_unfolded() -> None:
    assert parse_header_value("active;\r\n expires=60", "Subscription-State").get("expires") == "60"


@pytest.mark.parametrize(
    "text",
    [
        "active, 3600",  # the malformed Subscription-State seen in the field
        "",
        "active;",
        "active;=3",
        "active;expires=",
        'active;x="unterminated',
        "multipart/",
        "a b",
        "active;expires=1\r\nX: y",
    ],
)
def test_malformed_values_raise_400_naming_the_header(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_header_value(text, "Subscription-State")
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: Subscription-State")


def test_param_list_with_commas() -> None:
    assert parse_param_list('a=1, b="x,y" ,c') == (("a", "1"), ("b", "x,y"), ("c", None))
    assert parse_param_list("") == ()


def test_format_header_value_quotes_only_when_needed() -> None:
    assert format_header_value("active", [("expires", "60"), ("reason", "no resource")]) == (
        'active;expires=60;reason="no resource"'
    )
    with pytest.raises(ValueError):
        format_header_value("x", [("bad name", "1")])


@given(st.text(max_size=60))
def test_parse_header_value_only_raises_sip_parse_error(text: str) -> None:
    try:
        parsed = parse_header_value(text, "X")
    except SipParseError:
        return
    assert parse_header_value(str(parsed), "X") == parsed


# --------------------------------------------------------------------------- multipart.py

# The OpenSIPS / FreeSWITCH style full-state body, with a preamble and an epilogue.
FULL_STATE = (
    b"preamble to be ignored\r\n"
    b"--UniqueBoundary\r\n"
    b"Content-Type: application/x-as-feature-event+xml\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"<a/>\n\r\n"
    b"--UniqueBoundary \t\r\n"
    b"content-type: application/x-as-feature-event+xml\r\n"
    b"\r\n"
    b"<b/>\r\n"
    b"--UniqueBoundary--\r\n"
    b"epilogue, also ignored\r\n"
)


def test_parse_full_state_body() -> None:
    parts = parse_multipart("multipart/mixed;boundary=UniqueBoundary", FULL_STATE)
    assert [part.body for part in parts] == [b"<a/>\n", b"<b/>"]
    assert parts[0].headers == (("Content-Type", AFE), ("Content-Length", "5"))
    assert [part.content_type for part in parts] == [AFE, AFE]
    assert parts[1].media_type == AFE


def test_missing_final_crlf_bare_lf_and_folded_part_header() -> None:
    body = b"--b\nContent-Type: text/plain;\n charset=utf-8\n\nhello\n--b--"
    (part,) = parse_multipart('multipart/mixed; boundary="b"', body)
    assert part.body == b"hello"
    assert part.content_type == "text/plain; charset=utf-8"


def test_part_without_headers_defaults_to_text_plain() -> None:
    (part,) = parse_multipart("multipart/mixed;boundary=b", b"--b\r\n\r\nbody\r\n--b--\r\n")
    assert part.headers == ()
    assert part.content_type == "text/plain"
    assert part.body == b"body"


def test_boundary_prefix_inside_content_is_not_a_delimiter() -> None:
    body = b"--b\r\n\r\n--bx is content\r\n--b--\r\n"
    (part,) = parse_multipart("multipart/mixed;boundary=b", body)
    assert part.body == b"--bx is content"


@pytest.mark.parametrize(
    ("content_type", "body", "why"),
    [
        ("application/sdp", b"--b\r\n\r\nx\r\n--b--", "not multipart"),
        ("multipart/mixed", b"--b\r\n\r\nx\r\n--b--", "no boundary"),
        ("multipart/mixed;boundary=", b"--b\r\n\r\nx\r\n--b--", "Content-Type"),
        ("multipart/mixed;boundary=b", b"no delimiter at all", "boundary not found"),
        ("multipart/mixed;boundary=b", b"--b\r\n\r\nx\r\n", "no closing boundary"),
        ("multipart/mixed;boundary=b", b"--b--\r\n", "no body parts"),
        ("multipart/mixed;boundary=b", b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "bad header"),
        ("multipart/mixed;boundary=b", b"--b\r\nA: \xff\r\n\r\nx\r\n--b--", "not UTF-8"),
        ("multipart/mixed;boundary=b", b"--b\r\n cont\r\n\r\nx\r\n--b--", "continuation"),
    ],
)
def test_bad_multipart_raises_400(content_type: str, body: bytes, why: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_multipart(content_type, body)
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad multipart body: ")
    assert why in caught.value.reason


def test_build_is_exact_and_deterministic() -> None:
    parts = [BodyPart.make(AFE, b"<a/>"), BodyPart.make(AFE, b"<b/>", ("Content-ID", "<2>"))]
    content_type, body = build_multipart(parts, "fsync-boundary-1")
    assert content_type == "multipart/mixed;boundary=fsync-boundary-1"
    assert body == (
        b"--fsync-boundary-1\r\n"
        b"Content-Type: application/x-as-feature-event+xml\r\n\r\n<a/>\r\n"
        b"--fsync-boundary-1\r\n"
        b"Content-Type: application/x-as-feature-event+xml\r\nContent-ID: <2>\r\n\r\n<b/>\r\n"
        b"--fsync-boundary-1--\r\n"
    )
    assert parse_multipart(content_type, body) == parts


def test_build_quotes_a_boundary_that_is_not_a_token() -> None:
    content_type, body = build_multipart([BodyPart.make("text/plain", b"x")], "a b=c")
    assert content_type == 'multipart/mixed;boundary="a b=c"'
    assert parse_multipart(content_type, body)[0].body == b"x"


@pytest.mark.parametrize("boundary", ["", "x" * 71, "ends with space ", "bad\u00e9", "semi;colon"])
def test_build_refuses_bad_boundaries(boundary: str) -> None:
    with pytest.raises(ValueError):
        build_multipart([BodyPart.make("text/plain", b"x")], boundary)


def test_build_refuses_boundary_inside_a_part_and_empty_part_list() -> None:
    with pytest.raises(ValueError):
        build_multipart([BodyPart.make("text/plain", b"oops --b inside")], "b")
    with pytest.raises(ValueError):
        build_multipart([], "b")


_header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20
).map(str.strip)
_parts = st.lists(
    st.builds(
        BodyPart,
        st.lists(st.tuples(st.sampled_from(["Content-Type", "X-A", "Content-ID"]), _header_values),
                 max_size=3).map(tuple),
        st.binary(max_size=60),
    ),
    min_size=1,
    max_size=4,
)


@given(_parts)
def test_build_then_parse_round_trips(parts: list[BodyPart]) -> None:
    boundary = "fsync-b0undary"
    parts = [part for part in parts if b"--" + boundary.encode() not in part.body] or [
        BodyPart((), b"")
    ]
    content_type, body = build_multipart(parts, boundary)
    assert parse_multipart(content_type, body) == parts


@given(st.text(max_size=40), st.binary(max_size=300))
def test_arbitrary_input_only_raises_sip_parse_error(content_type: str, body: bytes) -> None:
    try:
        parse_multipart(content_type, body)
    except SipParseError as error:
        assert error.status == 400


@given(st.lists(st.sampled_from([b"--b", b"--b--", b"\r\n", b"\n", b" ", b"A: 1", b"x", b"\r"]),
                max_size=30))
def test_delimiter_soup_only_raises_sip_parse_error(chunks: list[bytes]) -> None:
    with contextlib.suppress(SipParseError):
        parse_multipart("multipart/mixed;boundary=b", b"".join(chunks))
