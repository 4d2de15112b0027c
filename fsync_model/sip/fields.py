"""Structured SIP header values: URIs, name-addr, Via, CSeq, and `;param` lists.

Parsing here is on demand: :mod:`fsync_model.sip.message` keeps header values as text and calls
these functions when a structured value is asked for. Malformed values raise
:class:`~fsync_model.sip.errors.SipParseError` with status 400 and a reason naming the header
(``"Bad Header: Via"``), so an agent can answer with it directly (RFC 3261 section 21.4.1).
"""
from __future__ import annotations

from dataclasses import dataclass

from fsync_model.sip.errors import SipParseError

#: Parameters in the order they were written; lookups are case-insensitive on the name.
Params = tuple[tuple[str, str | None], ...]

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)

#: RFC 3261 section 8.1.1.7: a branch starting with this was made by an RFC 3261 element.
MAGIC_COOKIE = "z9hG4bK"


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def param(params: Params, name: str) -> str | None:
    """Value of parameter ``name`` (case-insensitive); ``""`` for a flag, None when absent."""
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else value
    return None


def has_param(params: Params, name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key, _ in params)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on ``sep`` except inside double quotes (with quoted-pairs) and angle brackets."""
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_quotes:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quotes = False
        elif c == '"':
            in_quotes = True
        elif c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == sep and not in_angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unquote(text: str) -> str:
    """Remove surrounding double quotes and resolve quoted-pairs (RFC 3261 section 25.1)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out = []
        i = 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str, header: str) -> Params:
    """Parse ``;a=b;c;d="x y"`` (the leading ``;`` optional) into ordered pairs."""
    out: list[tuple[str, str | None]] = []
    for chunk in split_outside_quotes(text, ";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        if "=" in chunk:
            key, _, value = chunk.partition("=")
            key = key.strip()
            value = value.strip()
            if not key:
                raise SipParseError(f"Bad Header: {header} (empty parameter name)")
            out.append((key, unquote(value)))
        else:
            out.append((chunk, None))
    return tuple(out)


def format_params(params: Params) -> str:
    parts = []
    for key, value in params:
        if value is None:
            parts.append(f";{key}")
        elif value == "" or any(c not in _TOKEN_CHARS and c not in "[]:" for c in value):
            parts.append(f";{key}={quote(value)}")
        else:
            parts.append(f";{key}={value}")
    return "".join(parts)


def parse_value_params(text: str, header: str) -> tuple[str, Params]:
    """Split ``value;p=1;q`` into the value (stripped) and its parameters."""
    value, sep, rest = text.partition(";")
    value = value.strip()
    if not value:
        raise SipParseError(f"Bad Header: {header} (empty value)")
    return value, (parse_params(rest, header) if sep else ())


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:``/``sips:``/``tel:`` URI (RFC 3261 section 19.1). ``user`` stays escaped."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.host}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += f":{self.password}"
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{host}{port}{format_params(self.params)}{hdrs}"

    @property
    def unescaped_user(self) -> str | None:
        """The user part with %XX escapes resolved (``%23`` -> ``#`` in feature codes)."""
        if self.user is None:
            return None
        from urllib.parse import unquote as url_unquote

        return url_unquote(self.user)

    def param(self, name: str) -> str | None:
        return param(self.params, name)


def parse_uri(text: str, header: str = "Request-URI") -> SipUri:
    """Parse a SIP, SIPS or tel URI; raise SipParseError(400) naming ``header``."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    lscheme = scheme.lower()
    if not colon or lscheme not in ("sip", "sips", "tel"):
        raise SipParseError(f"Bad {header}: unsupported URI scheme", 416 if colon else 400)
    if lscheme == "tel":
        number, sep, prm = rest.partition(";")
        if not number:
            raise SipParseError(f"Bad {header}: empty tel number")
        return SipUri("tel", None, number, None, parse_params(prm, header) if sep else ())
    hdrs: str | None = None
    if "?" in rest:
        rest, _, hdrs = rest.partition("?")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, psep, pw = userinfo.partition(":")
        password = pw if psep else None
        if not user:
            raise SipParseError(f"Bad {header}: empty user part")
    hostport, sep, prm = rest.partition(";")
    params = parse_params(prm, header) if sep else ()
    host, port = _split_hostport(hostport, header)
    return SipUri(lscheme, user, host, port, params, hdrs, password)


def _split_hostport(hostport: str, header: str) -> tuple[str, int | None]:
    hostport = hostport.strip()
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SipParseError(f"Bad {header}: unterminated IPv6 reference")
        host = hostport[1:end]
        rest = hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"Bad {header}: junk after IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if sep else None
    if not host or any(c in host for c in " \t<>\"") :
        raise SipParseError(f"Bad {header}: bad host")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"Bad {header}: bad port")
        port = int(port_text)
    return host, port


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"Display" <uri>;tag=...`` or a bare addr-spec (RFC 3261 section 20.10)."""

    uri: str
    display: str | None = None
    params: Params = ()
    angle: bool = True

    @property
    def tag(self) -> str | None:
        return param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    def parsed_uri(self, header: str = "Contact") -> SipUri:
        return parse_uri(self.uri, header)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        kept = tuple((k, v) for k, v in self.params if k.lower() != name.lower())
        return NameAddr(self.uri, self.display, (*kept, (name, value)), True)

    def __str__(self) -> str:
        if not self.angle and not self.params:
            return self.uri
        display = ""
        if self.display is not None:
            display = (self.display if is_token(self.display.replace(" ", ""))
                       else quote(self.display)) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(text: str, header: str) -> NameAddr:
    text = text.strip()
    if not text:
        raise SipParseError(f"Bad Header: {header} (empty)")
    lt = -1
    if text.startswith('"'):
        # quoted display name, then <uri>
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                break
            i += 1
        else:
            raise SipParseError(f"Bad Header: {header} (unterminated display name)")
        display: str | None = unquote(text[: i + 1])
        lt = text.find("<", i + 1)
        if lt < 0:
            raise SipParseError(f"Bad Header: {header} (display name without <uri>)")
    else:
        lt = text.find("<")
        display = text[:lt].strip() or None if lt >= 0 else None
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"Bad Header: {header} (missing '>')")
        uri = text[lt + 1 : gt].strip()
        rest = text[gt + 1 :].strip()
        if rest and not rest.startswith(";"):
            raise SipParseError(f"Bad Header: {header} (junk after '>')")
        params = parse_params(rest, header) if rest else ()
        angle = True
    else:
        # addr-spec: parameters after it belong to the header, not the URI
        uri, sep, rest = text.partition(";")
        uri = uri.strip()
        params = parse_params(rest, header) if sep else ()
        angle = False
    if ":" not in uri or " " in uri:
        raise SipParseError(f"Bad Header: {header} (bad URI)")
    return NameAddr(uri, display, params, angle)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param(self.params, "received")

    @property
    def rport(self) -> str | None:
        return param(self.params, "rport")

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        kept = tuple((k, v) for k, v in self.params if k.lower() != name.lower())
        return Via(self.transport, self.host, self.port, (*kept, (name, value)), self.protocol)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    text = text.strip()
    sent_protocol, _, rest = text.partition(" ")
    bits = [b.strip() for b in sent_protocol.split("/")]
    if len(bits) != 3 or not all(bits):
        # tolerate "SIP / 2.0 / UDP" spacing (RFC 4475 wsinv)
        joined = text.replace(" /", "/").replace("/ ", "/")
        sent_protocol, _, rest = joined.partition(" ")
        bits = [b.strip() for b in sent_protocol.split("/")]
        if len(bits) != 3 or not all(bits):
            raise SipParseError("Bad Header: Via (sent-protocol)")
    hostport, sep, prm = rest.strip().partition(";")
    if not hostport.strip():
        raise SipParseError("Bad Header: Via (sent-by)")
    host, port = _split_hostport(hostport, "Header: Via")
    params = parse_params(prm, "Via") if sep else ()
    return Via(bits[2].upper(), host, port, params, f"{bits[0]}/{bits[1]}")


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
        raise SipParseError("Bad Header: CSeq")
    seq = int(parts[0])
    if seq >= 2**31:
        raise SipParseError("Bad Header: CSeq (number too large)")
    return CSeq(seq, parts[1])


@dataclass(frozen=True, slots=True)
class ValueWithParams:
    """A header value of the form ``value;p=1`` (Event, Subscription-State, Content-Type...)."""

    value: str
    params: Params = ()

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    def __str__(self) -> str:
        return f"{self.value}{format_params(self.params)}"
