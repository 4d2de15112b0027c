"""The one parameter lexer (fsync_model.sip.params): header parameters, URI parameters,
quoted strings, list splitting, and that fields.py uses it rather than a copy."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip import fields, params
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.params import (
    HeaderValue,
    find_param,
    format_params,
    has_param,
    parse_header_value,
    parse_param_list,
    parse_params,
    quote,
    split_outside_quotes,
    unquote,
)


def test_fields_uses_the_params_implementation() -> None:
    assert fields.parse_params is params.parse_params
    assert fields.split_outside_quotes is params.split_outside_quotes
    assert fields.ValueWithParams is params.HeaderValue
    assert fields.param is params.find_param
    assert fields.is_token is params.is_token
    assert fields.quote is params.quote
    assert fields.parse_value_params("active;expires=5", "X") == ("active", (("expires", "5"),))


# --------------------------------------------------------------------------- header params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (";tag=abc;lr", (("tag", "abc"), ("lr", None))),
        ("tag=abc", (("tag", "abc"),)),
        ("  ;  tag  =  abc ; q = 0.5 ", (("tag", "abc"), ("q", "0.5"))),
        (';+sip.instance="<urn:uuid:1;2>"', (("+sip.instance", "<urn:uuid:1;2>"),)),
        (";received=2001:db8::1", (("received", "2001:db8::1"),)),
        (";maddr=[2001:db8::1]", (("maddr", "[2001:db8::1]"),)),
        ('; n="a\\"b"', (("n", 'a"b'),)),
        ("", ()),
        ("   ", ()),
    ],
)
def test_header_params(text: str, expected: tuple[tuple[str, str | None], ...]) -> None:
    assert parse_params(text, "Contact") == expected


@pytest.mark.parametrize(
    "text",
    [";;tag=a", ";tag=a;", ";tag=", ";=a", ";tag=a b", ";tag=a,b", ';tag="open', ";t@g=1",
     ";tag=\x00", ";a=\r\nb"],
)
def test_bad_header_params_raise_400_naming_the_header(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_params(text, "Contact")
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: Contact (")


def test_folded_params_are_unfolded() -> None:
    assert parse_params(";a=1\r\n ;b=2", "X") == (("a", "1"), ("b", "2"))


def test_quoted_pair_may_escape_nul_but_raw_controls_are_refused() -> None:
    assert parse_params(';d="a\\\x00b"', "X") == (("d", "a\x00b"),)
    with pytest.raises(SipParseError):
        parse_params(';d="a\x00b"', "X")
    with pytest.raises(SipParseError):
        parse_params(';d="a\\', "X")


# --------------------------------------------------------------------------- URI params


def test_uri_params_keep_escapes_and_refuse_quotes_and_spaces() -> None:
    assert parse_params(";%6C%72;n%61me=v%61lue%25%34%31", "URI", uri=True) == (
        ("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    assert parse_params(";x=/a:b[c]&$+", "URI", uri=True) == (("x", "/a:b[c]&$+"),)
    for bad in [';x="q"', "; x=1", ";x=1 ", ";x=%4", ";x=%zz", ";;x", ";x=a,b"]:
        with pytest.raises(SipParseError):
            parse_params(bad, "URI", uri=True)


# --------------------------------------------------------------------------- value;params


def test_subscription_state_with_a_comma_is_refused() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_header_value("active, 3600", "Subscription-State")
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: Subscription-State (expected ';'")


def test_header_value_accessors() -> None:
    value = parse_header_value("Active ; Expires=60;LR", "Subscription-State")
    assert value == HeaderValue("Active", (("Expires", "60"), ("LR", None)))
    assert value.value_lower == "active"
    assert value.param("expires") == value.get("EXPIRES") == "60"
    assert value.param("lr") == "" and value.param("nope") is None
    assert value.get("nope", "d") == "d"
    assert "lr" in value and "nope" not in value and 3 not in value
    assert str(value) == "Active;Expires=60;LR"
    assert parse_header_value("multipart / mixed", "Content-Type").value == "multipart/mixed"


def test_param_list() -> None:
    assert parse_param_list('realm="a, b", nonce=x ,qop=auth') == (
        ("realm", "a, b"), ("nonce", "x"), ("qop", "auth"))
    with pytest.raises(SipParseError):
        parse_param_list("a=1,,b=2", "Authorization")


# --------------------------------------------------------------------------- helpers


def test_find_param_first_match_any_case() -> None:
    found = (("Tag", "a"), ("tag", "b"), ("lr", None))
    assert find_param(found, "TAG") == "a"
    assert find_param(found, "lr") == ""
    assert find_param(found, "x") is None
    assert has_param(found, "LR") and not has_param(found, "x")


def test_quote_escapes_what_it_must() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("bel\x07 tab\t") == '"bel\\\x07 tab\t"'
    with pytest.raises(ValueError):
        quote("a\r\nb")
    assert unquote('"a\\"b"') == 'a"b'
    assert unquote("plain") == "plain"
    assert unquote('"') == '"'


def test_format_params_quotes_header_values_only() -> None:
    assert format_params([("a", "x y"), ("b", None), ("c", "")]) == ';a="x y";b;c=""'
    assert format_params([("a", "x/y"), ("b", None)], uri=True) == ";a=x/y;b"
    assert format_params([("received", "2001:db8::1")]) == ";received=2001:db8::1"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a, b ,c", ["a", " b ", "c"]),
        ('"x, y" <sip:a>, <sip:b;p=1,2>', ['"x, y" <sip:a>', " <sip:b;p=1,2>"]),
        ('"x\\", y" <sip:a>, b', ['"x\\", y" <sip:a>', " b"]),
        ('"unterminated, b', ['"unterminated, b']),
        ("", [""]),
    ],
)
def test_split_outside_quotes(text: str, parts: list[str]) -> None:
    assert split_outside_quotes(text, ",") == parts


# --------------------------------------------------------------------------- properties

_names = st.text(alphabet=sorted(params.TOKEN_CHARS), min_size=1, max_size=8)
_values = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
            max_size=12),
)


@given(st.lists(st.tuples(_names, _values), max_size=5))
def test_header_params_round_trip(found: list[tuple[str, str | None]]) -> None:
    assert parse_params(format_params(found), "X") == tuple(found)


@given(st.text(max_size=40), st.booleans())
def test_params_only_raise_sip_parse_error(text: str, uri: bool) -> None:
    try:
        parsed = parse_params(text, "X", uri=uri)
    except SipParseError as error:
        assert error.status == 400 and error.reason.startswith("Bad Header: X (")
        return
    assert parse_params(format_params(parsed, uri=uri), "X", uri=uri) == parsed
