"""Long SIP values are shortened so a reader still recognises them; unprintable text shows."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.diagrams.shorten import (
    ELLIPSIS,
    MAX_DETAIL_CHARS,
    MAX_LABEL_CHARS,
    REPLACEMENT,
    cap,
    printable,
    printable_lines,
    shorten_branch,
    shorten_call_id,
    shorten_detail,
    shorten_label,
    shorten_tag,
    shorten_uri,
)


def test_call_id_keeps_first_eight_characters() -> None:
    assert shorten_call_id("a84b4c76e66710@pc33.atlanta.com") == "a84b4c76" + ELLIPSIS
    assert shorten_call_id("short") == "short"
    assert shorten_call_id("12345678") == "12345678"


@pytest.mark.parametrize(
    ("uri", "short"),
    [
        ("sip:2000@192.0.2.1:5060;transport=udp", "2000@192.0.2.1"),
        ("sips:alice:secret@atlanta.com", "alice@atlanta.com"),
        ("sip:[2001:db8::1]:5061;lr", "[2001:db8::1]"),
        ("sip:bob@[2001:db8::1]:5061", "bob@[2001:db8::1]"),
        ("SIP:2000@as.example.com?subject=x", "2000@as.example.com"),
        ("tel:+4930123;phone-context=example.com", "+4930123"),
        ("http://example.com/x", "http://example.com/x"),  # not ours to shorten
        ("sip:", "sip:"),
    ],
)
def test_uri_keeps_user_at_host(uri: str, short: str) -> None:
    assert shorten_uri(uri) == short


def test_tag_and_branch() -> None:
    assert shorten_tag("9fe3a1b27c") == "9fe3a1" + ELLIPSIS
    assert shorten_tag("abc") == "abc"
    assert shorten_branch("z9hG4bK776asdhds") == "z9hG4bK776a" + ELLIPSIS
    assert shorten_branch("z9hG4bK1") == "z9hG4bK1"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Call-ID: a84b4c76e66710@pc33.atlanta.com", "Call-ID: a84b4c76…"),
        ("i: a84b4c76e66710", "i: a84b4c76…"),  # compact form
        (
            'From: "Alice" <sip:2000@192.0.2.1:5060;transport=udp>;tag=8f3a9c2d11ee',
            "From: 2000@192.0.2.1;tag=8f3a9c…",
        ),
        ("To: Bob Smith <sips:bob@biloxi.example.com>", "To: bob@biloxi.example.com"),
        (
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport",
            "Via: UDP 10.0.0.1:5060;branch=z9hG4bK776a…;rport",
        ),
        ("Contact: <sip:2000@10.0.0.5:5070>;expires=3600", "Contact: 2000@10.0.0.5;expires=3600"),
        ("v: SIP/2.0/TCP a:5060, SIP / 2.0 / TLS b", "v: TCP a:5060, TLS b"),
        ("Contact: <none>", "Contact: <none>"),  # not a URI: left alone, brackets kept
        ("Event: as-feature-event", "Event: as-feature-event"),
        ("Subscription-State: active;expires=3599", "Subscription-State: active;expires=3599"),
        ("CSeq: 2 SUBSCRIBE", "CSeq: 2 SUBSCRIBE"),
        ("doNotDisturbOn=true", "doNotDisturbOn=true"),
        ("forwardTo=sip:2000@example.com", "forwardTo=2000@example.com"),
        ("sip:2000@host:5060", "2000@host"),  # a bare URI is not a "sip" header
        ("  Expires:3600  ", "Expires: 3600"),
    ],
)
def test_detail_lines(line: str, shown: str) -> None:
    assert shorten_detail(line) == shown


def test_long_values_are_capped_with_an_ellipsis() -> None:
    detail = shorten_detail("X-Long: " + "v" * 200)
    assert len(detail) == MAX_DETAIL_CHARS
    assert detail.endswith(ELLIPSIS)
    assert len(shorten_label("A" * 100)) == MAX_LABEL_CHARS
    assert cap("abc", 3) == "abc"
    assert cap("abcd", 3) == "ab" + ELLIPSIS


def test_labels_drop_the_sip_version_and_shorten_the_request_uri() -> None:
    assert shorten_label("SUBSCRIBE sip:2000@as.example.com SIP/2.0") == (
        "SUBSCRIBE 2000@as.example.com"
    )
    assert shorten_label("SIP/2.0 200 OK") == "200 OK"
    assert shorten_label("NOTIFY") == "NOTIFY"


def test_unprintable_characters_become_visible() -> None:
    assert printable("a\tb\r\nc") == "a b  c"
    assert printable("\x00\x1b\u202e\ud800\ue000") == REPLACEMENT * 5
    assert printable_lines("one\r\ntwo\rthree\n") == ["one", "two", "three", ""]


@given(st.text())
def test_shortened_text_is_single_line_and_printable(text: str) -> None:
    for out in (shorten_detail(text), shorten_label(text)):
        assert "\n" not in out and "\r" not in out
        assert len(out) <= max(MAX_DETAIL_CHARS, MAX_LABEL_CHARS)
        assert all(ch.isprintable() or unicodedata.category(ch) == "Zs" for ch in out)
