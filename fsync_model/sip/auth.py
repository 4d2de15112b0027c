"""HTTP Digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 3261 section 22).

Both sides: a server builds a :class:`Challenge` for ``WWW-Authenticate`` /
``Proxy-Authenticate`` and checks an ``Authorization`` / ``Proxy-Authorization`` value with
:func:`verify`; a client parses the challenge and answers with :func:`make_authorization`.
Algorithms MD5, MD5-sess, SHA-256, SHA-256-sess; qop ``auth``, ``auth-int`` and none (RFC
2069 compatibility). Pure functions: the nonce, the cnonce and the nonce count are arguments,
and remembering which nonces were issued and which counts were seen is the caller's job (the
parsed ``nc`` comes back from :func:`verify` for exactly that). Not supported: ``userhash``,
``username*`` (RFC 7616 section 3.4.4), SHA-512-256, several challenges in one header value.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.params import parse_param_list, quote


class DigestAlgorithm(StrEnum):
    """The ``algorithm`` values understood here, spelled as RFC 7616 section 6.1 lists them."""

    #: RFC 2617 section 3.2.1; the default when a challenge names no algorithm.
    MD5 = "MD5"
    #: RFC 2617 section 3.2.2.2: A1 re-hashed with nonce and cnonce.
    MD5_SESS = "MD5-sess"
    #: RFC 7616 section 3.4.2.
    SHA_256 = "SHA-256"
    #: RFC 7616 section 3.4.2, session variant.
    SHA_256_SESS = "SHA-256-sess"

    @property
    def is_session(self) -> bool:
        return self.value.endswith("-sess")

    def digest(self, text: str) -> str:
        """H(text): lower-case hex of MD5 or SHA-256 over the UTF-8 bytes."""
        data = text.encode("utf-8")
        if self in (DigestAlgorithm.MD5, DigestAlgorithm.MD5_SESS):
            return hashlib.md5(data, usedforsecurity=False).hexdigest()
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def lookup(cls, text: str) -> DigestAlgorithm | None:
        """The algorithm spelled ``text`` in any case, or ``None`` when unsupported."""
        wanted = text.lower()
        return next((member for member in cls if member.value.lower() == wanted), None)


QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"
SUPPORTED_QOP = (QOP_AUTH, QOP_AUTH_INT)

_SPACE = re.compile(r"[ \t\r\n]+")
_NC = re.compile(r"[0-9A-Fa-f]{1,8}")


def _fail(header: str, why: str, text: str) -> NoReturn:
    raise SipParseError(f"Bad Header: {header} ({why})", 400, line=text)


def _digest_params(text: str, header: str) -> dict[str, str]:
    """``Digest k=v, k="v"`` as a dict with lower-case keys; the scheme must be Digest."""
    parts = _SPACE.split(text.strip(), maxsplit=1)
    if parts[0].lower() != "digest":
        _fail(header, f"scheme {parts[0]!r} is not Digest", text)
    if len(parts) < 2:
        _fail(header, "no parameters", text)
    found: dict[str, str] = {}
    for name, value in parse_param_list(parts[1], header, separator=","):
        key = name.lower()
        if value is None:
            _fail(header, f"parameter {name} has no value", text)
        if key in found:
            _fail(header, f"parameter {name} appears twice", text)
        found[key] = value
    return found


def _algorithm(params: dict[str, str], header: str, text: str) -> DigestAlgorithm | None:
    raw = params.get("algorithm")
    if raw is None:
        return None
    algorithm = DigestAlgorithm.lookup(raw)
    if algorithm is None:
        _fail(header, f"unsupported algorithm {raw!r}", text)
    return algorithm


def _required(params: dict[str, str], name: str, header: str, text: str) -> str:
    value = params.get(name)
    if value is None:
        _fail(header, f"missing {name}", text)
    return value


@dataclass(frozen=True)
class Challenge:
    """A Digest challenge (``WWW-Authenticate`` in a 401, ``Proxy-Authenticate`` in a 407).

    ``algorithm`` is ``None`` when the challenge names none (then MD5 applies, RFC 2617
    3.2.1); ``qop`` lists the offered options, empty for an RFC 2069 style challenge.
    """

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: DigestAlgorithm | None = None
    qop: tuple[str, ...] = ()
    stale: bool = False

    @property
    def effective_algorithm(self) -> DigestAlgorithm:
        return self.algorithm or DigestAlgorithm.MD5

    def to_header(self) -> str:
        """The header value: ``Digest realm="...", nonce="...", ...`` (deterministic order)."""
        items = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        if self.opaque is not None:
            items.append(f"opaque={quote(self.opaque)}")
        if self.algorithm is not None:
            items.append(f"algorithm={self.algorithm.value}")
        if self.qop:
            items.append(f"qop={quote(','.join(self.qop))}")
        if self.stale:
            items.append("stale=true")
        return "Digest " + ", ".join(items)

    @classmethod
    def parse(cls, text: str, header: str = "WWW-Authenticate") -> Challenge:
        """Parse a challenge value; malformed or unsupported ones raise SipParseError (400)."""
        params = _digest_params(text, header)
        qop = tuple(
            option.strip().lower() for option in params.get("qop", "").split(",") if option.strip()
        )
        stale = params.get("stale", "false").lower()
        if stale not in ("true", "false"):
            _fail(header, f"stale={stale!r}", text)
        return cls(
            realm=_required(params, "realm", header, text),
            nonce=_required(params, "nonce", header, text),
            opaque=params.get("opaque"),
            algorithm=_algorithm(params, header, text),
            qop=qop,
            stale=stale == "true",
        )


@dataclass(frozen=True)
class Credentials:
    """Digest credentials (``Authorization`` / ``Proxy-Authorization``).

    ``nc`` is the nonce count as a number (written as 8 hex digits); ``qop``, ``cnonce`` and
    ``nc`` are ``None`` in the RFC 2069 form.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: DigestAlgorithm | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: int | None = None

    @property
    def effective_algorithm(self) -> DigestAlgorithm:
        return self.algorithm or DigestAlgorithm.MD5

    def to_header(self) -> str:
        """The header value, parameters in the order of the RFC 2617 / RFC 3261 examples."""
        items = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
        ]
        if self.algorithm is not None:
            items.append(f"algorithm={self.algorithm.value}")
        if self.qop is not None:
            items.append(f"qop={self.qop}")
        if self.nc is not None:
            items.append(f"nc={self.nc:08x}")
        if self.cnonce is not None:
            items.append(f"cnonce={quote(self.cnonce)}")
        items.append(f"response={quote(self.response)}")
        if self.opaque is not None:
            items.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(items)

    @classmethod
    def parse(cls, text: str, header: str = "Authorization") -> Credentials:
        """Parse a credentials value; malformed ones raise SipParseError (400)."""
        params = _digest_params(text, header)
        qop = params.get("qop")
        if qop is not None:
            qop = qop.lower()
            if qop not in SUPPORTED_QOP:
                _fail(header, f"unsupported qop {qop!r}", text)
        raw_nc = params.get("nc")
        nc: int | None = None
        if raw_nc is not None:
            if not _NC.fullmatch(raw_nc):
                _fail(header, f"nc={raw_nc!r} is not 8 hex digits", text)
            nc = int(raw_nc, 16)
        if qop is not None and (nc is None or "cnonce" not in params):
            _fail(header, "qop given without nc and cnonce", text)
        return cls(
            username=_required(params, "username", header, text),
            realm=_required(params, "realm", header, text),
            nonce=_required(params, "nonce", header, text),
            uri=_required(params, "uri", header, text),
            response=_required(params, "response", header, text),
            algorithm=_algorithm(params, header, text),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
            qop=qop,
            nc=nc,
        )


def parse_challenge(text: str, header: str = "WWW-Authenticate") -> Challenge:
    """Same as :meth:`Challenge.parse`."""
    return Challenge.parse(text, header)


def parse_credentials(text: str, header: str = "Authorization") -> Credentials:
    """Same as :meth:`Credentials.parse`."""
    return Credentials.parse(text, header)


def compute_response(
    *,
    algorithm: DigestAlgorithm,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    entity_body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 2617 3.2.2.1, RFC 7616 3.4.1).

    ``request-digest = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)`` with qop, or
    ``H(HA1 ":" nonce ":" HA2)`` without; ``HA1 = H(username ":" realm ":" password)``, for
    ``-sess`` algorithms ``H(that ":" nonce ":" cnonce)``; ``HA2 = H(method ":" uri)``, for
    ``auth-int`` ``H(method ":" uri ":" H(entity-body))``.
    """
    ha1 = algorithm.digest(f"{username}:{realm}:{password}")
    if algorithm.is_session:
        if cnonce is None:
            raise ValueError(f"{algorithm.value} needs a cnonce")
        ha1 = algorithm.digest(f"{ha1}:{nonce}:{cnonce}")
    if qop == QOP_AUTH_INT:
        body_hash = (
            hashlib.md5(entity_body, usedforsecurity=False).hexdigest()
            if algorithm in (DigestAlgorithm.MD5, DigestAlgorithm.MD5_SESS)
            else hashlib.sha256(entity_body).hexdigest()
        )
        ha2 = algorithm.digest(f"{method}:{uri}:{body_hash}")
    elif qop in (None, QOP_AUTH):
        ha2 = algorithm.digest(f"{method}:{uri}")
    else:
        raise ValueError(f"unsupported qop {qop!r}")
    if qop is None:
        return algorithm.digest(f"{ha1}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    return algorithm.digest(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


def make_credentials(
    challenge: Challenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int,
    *,
    entity_body: bytes | None = None,
) -> Credentials:
    """Answer ``challenge``: qop ``auth`` when offered, else ``auth-int`` (over
    ``entity_body``), else the RFC 2069 form without cnonce and nc (a ``-sess`` algorithm
    still sends its cnonce, which its A1 needs). The algorithm is echoed only when the
    challenge named one."""
    if not challenge.qop:
        qop: str | None = None
    elif QOP_AUTH in challenge.qop and (entity_body is None or QOP_AUTH_INT not in challenge.qop):
        qop = QOP_AUTH
    elif QOP_AUTH_INT in challenge.qop:
        qop = QOP_AUTH_INT
    else:
        raise SipParseError(
            f"Bad Header: WWW-Authenticate (no supported qop in {challenge.qop!r})", 400
        )
    algorithm = challenge.effective_algorithm
    send_cnonce = qop is not None or algorithm.is_session
    response = compute_response(
        algorithm=algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc if qop is not None else None,
        cnonce=cnonce if send_cnonce else None,
        entity_body=entity_body or b"",
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce if send_cnonce else None,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc if qop is not None else None,
    )


def make_authorization(
    challenge: Challenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int,
    *,
    entity_body: bytes | None = None,
) -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value answering ``challenge``.

    With ``entity_body`` given and ``auth-int`` offered, the body is protected; otherwise
    ``auth`` is preferred. See :func:`make_credentials`.
    """
    return make_credentials(
        challenge, username, password, method, uri, cnonce, nc, entity_body=entity_body
    ).to_header()


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`; true in a boolean context exactly when ``ok``.

    ``credentials`` is set whenever the header parsed, so the caller can check what only it
    knows: that ``nonce`` is one it issued and is fresh, that ``nc`` grows (replay), that
    ``uri`` matches the Request-URI, that ``opaque`` is the one it sent.
    """

    ok: bool
    credentials: Credentials | None
    reason: str

    @property
    def nc(self) -> int | None:
        return self.credentials.nc if self.credentials is not None else None

    def __bool__(self) -> bool:
        return self.ok


PasswordLookup = Callable[[str, str], str | None]
"""``(username, realm) -> password``, or ``None`` for an unknown user."""


def verify(
    authorization_value: str,
    method: str,
    password_lookup: PasswordLookup,
    *,
    entity_body: bytes = b"",
    header: str = "Authorization",
) -> Verification:
    """Check ``authorization_value`` against the password of its user.

    Never raises on bad input: a header that does not parse, an unknown user or a wrong
    response give ``ok=False`` with the reason. The comparison is constant-time.
    """
    try:
        credentials = Credentials.parse(authorization_value, header)
    except SipParseError as error:
        return Verification(False, None, error.reason)
    password = password_lookup(credentials.username, credentials.realm)
    if password is None:
        return Verification(False, credentials, f"unknown user {credentials.username!r}")
    if credentials.effective_algorithm.is_session and credentials.cnonce is None:
        return Verification(False, credentials, "session algorithm without cnonce")
    try:
        expected = _expected_response(credentials, password, method, entity_body)
    except UnicodeEncodeError:  # parsed with surrogateescape: the bytes were not UTF-8
        return Verification(False, credentials, "credentials are not UTF-8")
    # Bytes, not str: compare_digest refuses non-ASCII text, and the response is input.
    if not hmac.compare_digest(expected.encode(),
                               credentials.response.lower().encode("utf-8", "replace")):
        return Verification(False, credentials, "wrong response")
    return Verification(True, credentials, "ok")


def _expected_response(credentials: Credentials, password: str, method: str,
                       entity_body: bytes) -> str:
    return compute_response(
        algorithm=credentials.effective_algorithm,
        username=credentials.username,
        realm=credentials.realm,
        password=password,
        method=method,
        uri=credentials.uri,
        nonce=credentials.nonce,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
        entity_body=entity_body,
    )
