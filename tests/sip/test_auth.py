"""Digest authentication against the RFC test vectors, both sides, and bad input."""
from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.sip.auth import (
    Challenge,
    Credentials,
    DigestAlgorithm,
    compute_response,
    make_authorization,
    make_credentials,
    parse_challenge,
    parse_credentials,
    verify,
)
from fsync_model.sip.errors import SipParseError

# RFC 2617 section 3.5, verbatim (continuation lines folded as in the RFC).
RFC2617_CHALLENGE = """Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

# RFC 7616 section 3.9.1.
RFC7616_CHALLENGE = """Digest
       realm="http-auth@example.org",
       qop="auth, auth-int",
       algorithm=SHA-256,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""
RFC7616_AUTHORIZATION_SHA256 = """Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=SHA-256,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc2617_client_side_reproduces_the_example_exactly() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.algorithm is None
    value = make_authorization(
        challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1
    )
    assert value == RFC2617_AUTHORIZATION


def test_rfc2617_server_side_verifies_and_returns_nc() -> None:
    result = verify(RFC2617_AUTHORIZATION, "GET", lambda user, realm: "Circle Of Life")
    assert result
    assert result.ok and result.nc == 1
    assert result.credentials is not None and result.credentials.cnonce == "0a4f113b"
    assert not verify(RFC2617_AUTHORIZATION, "GET", lambda user, realm: "circle of life")
    assert not verify(RFC2617_AUTHORIZATION, "POST", lambda user, realm: "Circle Of Life")


def test_rfc7616_sha256_example() -> None:
    challenge = parse_challenge(RFC7616_CHALLENGE)
    assert challenge.algorithm is DigestAlgorithm.SHA_256
    credentials = make_credentials(
        challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html", RFC7616_CNONCE, 1
    )
    assert credentials.response == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )
    assert parse_credentials(RFC7616_AUTHORIZATION_SHA256) == credentials
    assert verify(RFC7616_AUTHORIZATION_SHA256, "GET", lambda user, realm: "Circle of Life")


def test_rfc7616_md5_example() -> None:
    challenge = dataclasses.replace(
        parse_challenge(RFC7616_CHALLENGE), algorithm=DigestAlgorithm.MD5
    )
    credentials = make_credentials(
        challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html", RFC7616_CNONCE, 1
    )
    assert credentials.response == "8ca523f5e9506fed4657c9700eebdbec"


def test_rfc2069_form_without_qop() -> None:
    challenge = Challenge(realm="biloxi.com", nonce="abc")
    credentials = make_credentials(challenge, "bob", "zanzibar", "REGISTER", "sip:biloxi.com",
                                   "cn", 1)
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    expected = compute_response(
        algorithm=DigestAlgorithm.MD5, username="bob", realm="biloxi.com", password="zanzibar",
        method="REGISTER", uri="sip:biloxi.com", nonce="abc",
    )
    assert credentials.response == expected
    assert "cnonce" not in credentials.to_header()
    assert verify(credentials.to_header(), "REGISTER", lambda user, realm: "zanzibar")


@pytest.mark.parametrize("algorithm", list(DigestAlgorithm))
@pytest.mark.parametrize("qop", [(), ("auth",), ("auth-int",)])
def test_every_algorithm_and_qop_round_trips_through_verify(
    algorithm: DigestAlgorithm, qop: tuple[str, ...]
) -> None:
    challenge = Challenge(realm="r", nonce="n1", opaque="op", algorithm=algorithm, qop=qop)
    assert parse_challenge(challenge.to_header()) == challenge
    body = b"v=0\r\n"
    value = make_authorization(challenge, "1001", "pw", "SUBSCRIBE", "sip:r", "cn", 7,
                               entity_body=body)
    credentials = parse_credentials(value)
    assert credentials.to_header() == value
    assert verify(value, "SUBSCRIBE", lambda user, realm: "pw", entity_body=body)
    assert not verify(value, "SUBSCRIBE", lambda user, realm: "other", entity_body=body)
    if qop == ("auth-int",):
        assert not verify(value, "SUBSCRIBE", lambda user, realm: "pw", entity_body=b"tampered")


def test_session_algorithm_differs_from_plain_one() -> None:
    def response(algorithm: DigestAlgorithm) -> str:
        return compute_response(algorithm=algorithm, username="u", realm="r", password="p",
                                method="M", uri="sip:x", nonce="n", qop="auth", nc=1, cnonce="c")

    assert response(DigestAlgorithm.MD5) != response(DigestAlgorithm.MD5_SESS)
    assert response(DigestAlgorithm.SHA_256) != response(DigestAlgorithm.SHA_256_SESS)
    assert len(response(DigestAlgorithm.SHA_256_SESS)) == 64


def test_stale_and_case_insensitive_names() -> None:
    challenge = parse_challenge('DIGEST REALM="r", Nonce="n", STALE=TRUE, Algorithm=md5-SESS')
    assert challenge.stale
    assert challenge.algorithm is DigestAlgorithm.MD5_SESS
    assert challenge.to_header() == 'Digest realm="r", nonce="n", algorithm=MD5-sess, stale=true'


def test_unknown_user_and_unparsable_header_are_false_not_exceptions() -> None:
    assert verify(RFC2617_AUTHORIZATION, "GET", lambda user, realm: None).reason.startswith(
        "unknown user"
    )
    result = verify("Basic QWxhZGRpbjpvcGVu", "GET", lambda user, realm: "x")
    assert not result and result.credentials is None and "Digest" in result.reason


@pytest.mark.parametrize("field", ["username", "realm", "nonce", "uri", "response"])
def test_credentials_that_were_not_utf8_are_refused_not_raised(field: str) -> None:
    """Headers are decoded with surrogateescape, so bytes that were not UTF-8 reach verify as
    lone surrogates: hashing them must give a refusal with the reason, not a crash."""
    values = {"username": "alice", "realm": "r", "nonce": "n", "uri": "sip:x",
              "response": "0123456789abcdef0123456789abcdef"}
    values[field] = values[field][:-1] + "\udcff"
    header = "Digest " + ", ".join(f'{name}="{value}"' for name, value in values.items())
    result = verify(header, "REGISTER", lambda user, realm: "secret")
    assert not result
    assert result.reason in ("credentials are not UTF-8", "wrong response")
    if field != "response":
        assert result.reason == "credentials are not UTF-8"


@pytest.mark.parametrize(
    "value",
    [
        "Basic realm=x",
        "Digest",
        'Digest realm="r"',  # no nonce
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',
        'Digest realm="r", nonce="n", realm="again"',
        'Digest realm="r", nonce="n", stale=maybe',
        'Digest realm="r", nonce="n", flag',
        'Digest realm="r" nonce="n"',
    ],
)
def test_bad_challenges_raise_400(value: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_challenge(value, "Proxy-Authenticate")
    assert caught.value.status == 400
    assert caught.value.reason.startswith("Bad Header: Proxy-Authenticate")


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth',
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth, '
        'cnonce="c", nc=zz',
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=other',
        'Digest username="u", realm="r", nonce="n", uri="u"',
    ],
)
def test_bad_credentials_raise_400(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_credentials(value)


def test_challenge_offering_only_unknown_qop_cannot_be_answered() -> None:
    with pytest.raises(SipParseError):
        make_authorization(Challenge("r", "n", qop=("auth-conf",)), "u", "p", "M", "sip:x", "c", 1)


def test_credentials_quote_special_characters() -> None:
    credentials = Credentials(username='we"ird\\', realm="r", nonce="n", uri="sip:x",
                              response="00")
    assert parse_credentials(credentials.to_header()) == credentials


@given(st.text(max_size=120))
def test_verify_never_raises(value: str) -> None:
    verify(value, "REGISTER", lambda user, realm: "pw")


@given(st.text(max_size=120))
def test_parse_challenge_only_raises_sip_parse_error(value: str) -> None:
    with contextlib.suppress(SipParseError):
        parse_challenge("Digest " + value)
