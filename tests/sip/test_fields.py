"""Structured header values (fsync_model.sip.fields): SIP/SIPS/tel URIs, name-addr and
addr-spec with their parameters, Via, CSeq; every failure is a SipParseError naming the
header."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import (
    CSeq,
    NameAddr,
    SipUri,
    Via,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
    uri_problem,
)

# --------------------------------------------------------------------------- URIs


def test_sip_uri_parts() -> None:
    uri = parse_uri("sips:alice:secret@Example.COM:5061;transport=tls;lr?subject=hi&x=%20")
    assert uri == SipUri("sips", "alice", "Example.COM", 5061,
                         (("transport", "tls"), ("lr", None)), "subject=hi&x=%20", "secret")
    assert uri.param("TRANSPORT") == "tls" and uri.param("lr") == ""
    assert str(uri) == "sips:alice:secret@Example.COM:5061;transport=tls;lr?subject=hi&x=%20"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::1]", "2001:db8::1", None),
        ("sip:u@[2001:db8::1]:5070;transport=tcp", "2001:db8::1", 5070),
        ("sip:[::ffff:192.0.2.1]:5060", "::ffff:192.0.2.1", 5060),
        ("sip:192.0.2.1:1", "192.0.2.1", 1),
        ("sip:host.example.com.", "host.example.com.", None),
        ("sip:lab_host", "lab_host", None),
    ],
)
def test_hosts_and_ports(text: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port) == (host, port)
    assert parse_uri(str(uri)) == uri


def test_user_part_escapes_and_feature_codes() -> None:
    assert parse_uri("sip:%2A72%23@pbx").unescaped_user == "*72#"
    assert parse_uri("sip:*72#@pbx").unescaped_user == "*72#"  # raw '#': tolerated
    assert parse_uri("sip:user;par=u%40example.net@example.com").user == (
        "user;par=u%40example.net")
    assert parse_uri("sip:example.com").user is None


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert (uri.scheme, uri.host, uri.user) == ("tel", "+1-201-555-0123", None)
    assert uri.param("phone-context") == "example.com"
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


def test_unknown_scheme_is_416() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_uri("mailto:a@example.com", "Contact")
    assert caught.value.status == 416
    assert caught.value.reason.startswith("Bad Contact (unsupported URI scheme")


@pytest.mark.parametrize(
    "text",
    [
        "sip:", "sip:@host", "sip:user@", "sip:host:0", "sip:host:65536", "sip:host:5060x",
        "sip:host:" + "9" * 5000, "sip:host:\u0661", "sip:[2001:db8::1", "sip:[2001:zz::1]",
        "sip:[::1]x", "sip:ho st", "sip:<host>", "sip:host;;lr", "sip:host;a=%4", "sip:u%zz@h",
        "sip:u@h?noequals", "sip:h?a=1&", "sip:1.2.3.256", "sip:-host", "sip:host..com",
        "sip:h\u00e9", "sip:u@h@h", "tel:", "host", ":x", "1sip:host",
    ],
)
def test_bad_uris_raise_400(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_uri(text)
    assert caught.value.status == 400, caught.value


def test_uri_problem_is_generic() -> None:
    assert uri_problem("urn:uuid:1234") is None
    assert uri_problem("https://example.com/x") is None
    assert uri_problem("sip:a b") == "' ' in URI"
    assert uri_problem("<sip:a>") == "no URI scheme"
    assert uri_problem("sip:") == "nothing after the URI scheme"


# --------------------------------------------------------------------------- name-addr


@pytest.mark.parametrize(
    ("text", "display", "uri", "params", "angle"),
    [
        ('"Alice \\"A\\" Smith" <sip:alice@example.com>;tag=1', 'Alice "A" Smith',
         "sip:alice@example.com", (("tag", "1"),), True),
        ("Bob  Smith <sip:bob@b>", "Bob  Smith", "sip:bob@b", (), True),
        ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com",
         (("tag", "323"),), True),
        ("<sip:a@b;lr>;expires=60;q=0.5", None, "sip:a@b;lr", (("expires", "60"), ("q", "0.5")),
         True),
        # addr-spec: the parameters belong to the header, not to the URI
        ("sip:a@b;tag=x;expires=5", None, "sip:a@b", (("tag", "x"), ("expires", "5")), False),
        ("  sip:a@b  ;  tag = x ", None, "sip:a@b", (("tag", "x"),), False),
        ("tel:+123", None, "tel:+123", (), False),
        ('"" <sip:a@b>', "", "sip:a@b", (), True),
        ("J\u00f6rg <sip:j@b>", "J\u00f6rg", "sip:j@b", (), True),
        ("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", None,
         "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", (), True),
        ('<sip:a@b>;+sip.instance="<urn:x,y>"', None, "sip:a@b", (("+sip.instance", "<urn:x,y>"),),
         True),
    ],
)
def test_name_addr(text: str, display: str | None, uri: str,
                   params: tuple[tuple[str, str | None], ...], angle: bool) -> None:
    parsed = parse_name_addr(text, "From")
    assert parsed == NameAddr(uri, display, params, angle)
    again = parse_name_addr(str(parsed), "From")
    assert (again.uri, again.display, again.params) == (uri, display, params)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty value"),
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated quoted string"),
        ('"Watson, Thomas" < sip:t.watson@example.org >', "whitespace inside <>"),
        ("Bell, Alexander <sip:a.g.bell@example.com>", "',' in unquoted display name"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "addr-spec with ','"),
        ('"x" sip:a@b', "display name without <URI>"),
        ("<sip:a@b", "missing '>'"),
        ("<sip:a@b> junk", "expected ';'"),
        ("<sip:a@b>;;tag=1", "expected a parameter name"),
        ("<>", "no URI scheme"),
        ("<sip:a b@c>", "' ' in URI"),
        ("Joe sip:a@b", "':' in unquoted display name"),
        ("*", "in unquoted display name"),
    ],
)
def test_bad_name_addr(text: str, why: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_name_addr(text, "To")
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: To (")
    assert why in caught.value.reason


def test_name_addr_helpers() -> None:
    addr = parse_name_addr("Bob <sip:bob@b>;expires=0080", "Contact")
    assert addr.expires == 80 and addr.tag is None
    tagged = addr.with_param("tag", "t1").with_param("TAG", "t2")
    assert tagged.tag == "t2" and tagged.params == (("expires", "0080"), ("TAG", "t2"))
    assert str(tagged) == "Bob <sip:bob@b>;expires=0080;TAG=t2"
    assert str(parse_name_addr("sip:a@b", "To")) == "sip:a@b"
    assert str(parse_name_addr("sip:a@b;tag=1", "To")) == "<sip:a@b>;tag=1"
    assert str(NameAddr("sip:a@b", "a, b")) == '"a, b" <sip:a@b>'
    assert addr.parsed_uri().user == "bob"
    for bad in ("x", "", "4294967296", "-1"):
        with pytest.raises(SipParseError) as caught:
            _ = addr.with_param("expires", bad).expires
        assert caught.value.reason.startswith("Bad Header: Contact (expires")
    assert addr.with_param("expires", "4294967295").expires == 2**32 - 1


# --------------------------------------------------------------------------- Via


@pytest.mark.parametrize(
    ("text", "via"),
    [
        ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
         Via("UDP", "192.0.2.1", 5060, (("branch", "z9hG4bK1"),))),
        ("SIP  /   2.0 /udp 192.0.2.2;branch=390skdjuw",
         Via("UDP", "192.0.2.2", None, (("branch", "390skdjuw"),))),
        ("SIP/2.0/TCP [2001:db8::1]:5070 ; branch = z9hG4bK2 ; rport",
         Via("TCP", "2001:db8::1", 5070, (("branch", "z9hG4bK2"), ("rport", None)))),
        ("SIP/2.0/UDP host : 5060;received=192.0.2.9;rport=5062",
         Via("UDP", "host", 5060, (("received", "192.0.2.9"), ("rport", "5062")))),
        ("SIP/2.0/TLS h;received=2001:db8::9;ttl=16;maddr=239.255.255.1",
         Via("TLS", "h", None,
             (("received", "2001:db8::9"), ("ttl", "16"), ("maddr", "239.255.255.1")))),
        ("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
         Via("UNKNOWN", "t4.example.com", None, (("branch", "z9hG4bKasd0f3en"),))),
    ],
)
def test_via(text: str, via: Via) -> None:
    parsed = parse_via(text)
    assert parsed == via
    assert parse_via(str(parsed)) == parsed


def test_via_accessors() -> None:
    via = parse_via("SIP/2.0/UDP h;branch=z9hG4bKx;rport;received=192.0.2.1")
    assert (via.branch, via.rport, via.received) == ("z9hG4bKx", "", "192.0.2.1")
    via = via.with_param("rport", "5062").with_param("received", "192.0.2.7")
    assert str(via) == "SIP/2.0/UDP h;branch=z9hG4bKx;rport=5062;received=192.0.2.7"


@pytest.mark.parametrize(
    "text",
    [
        "", "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/2.0 192.0.2.1", "SIP/2.0/UDP192.0.2.1",
        "SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP host:0", "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host;received=host.example.com", "SIP/2.0/UDP host;rport=0",
        "SIP/2.0/UDP host;rport=x", "SIP/2.0/UDP host;ttl=256", "SIP/2.0/UDP host;ttl",
        "SIP/2.0/UDP host;maddr=a b", 'SIP/2.0/UDP host;branch="a b"', "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP [::1", "SIP/2.0/UDP ho<st",
    ],
)
def test_bad_via(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_via(text)
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: Via")


# --------------------------------------------------------------------------- CSeq


def test_cseq() -> None:
    assert parse_cseq("0009\r\n  INVITE".replace("\r\n", "")) == CSeq(9, "INVITE")
    assert parse_cseq(" 1  NOTIFY ") == CSeq(1, "NOTIFY")
    assert parse_cseq(f"{2**31 - 1} X") == CSeq(2**31 - 1, "X")
    assert str(CSeq(5, "SUBSCRIBE")) == "5 SUBSCRIBE"


@pytest.mark.parametrize(
    "text",
    ["", "INVITE", "1", "1 INVITE x", "-1 INVITE", f"{2**31} INVITE", "9" * 5000 + " INVITE",
     "\u0661 INVITE", "\u00b2 INVITE", "1 INV/ITE", "x1 INVITE"],
)
def test_bad_cseq(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_cseq(text)
    assert caught.value.status == 400 and caught.value.reason.startswith("Bad Header: CSeq")


# --------------------------------------------------------------------------- properties

_alphabet = st.sampled_from([*' \t"<>;,=:@%[]\\/?*.-_!~azAZ09', "sip:", "\u00e9"])


@given(st.lists(_alphabet, max_size=30).map("".join))
def test_field_parsers_only_raise_sip_parse_error(text: str) -> None:
    for parse in (lambda t: parse_name_addr(t, "To"), parse_via, parse_cseq, parse_uri):
        try:
            parse(text)
        except SipParseError as error:
            assert error.status in (400, 416) and error.reason
