"""Structured SIP header values: URIs, name-addr, Via, CSeq (RFC 3261 sections 19.1, 20, 25.1).

Parsing here is on demand: :mod:`fsync_model.sip.message` keeps header values as text and calls
these functions when a structured value is asked for. The lexical rules (tokens, quoted
strings, ``;name=value`` parameters, list splitting) live in :mod:`fsync_model.sip.params`,
which this module uses and re-exports; what is here is the structure around them. Malformed
values raise :class:`~fsync_model.sip.errors.SipParseError` with status 400 and a reason naming
the header (``"Bad Header: Via (...)"``), so an agent can answer with it directly (RFC 3261
section 21.4.1); a URI scheme other than sip, sips or tel gives 416.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote as url_unquote

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.params import (
    BARE_PARAMS_RE,
    PARAMS_RE,
    QUOTED_RE,
    TOKEN_CHARS,
    TOKEN_RE,
    HeaderValue,
    Param,
    Params,
    Scanner,
    check_escapes,
    find_param,
    format_params,
    has_param,
    is_token,
    params_of,
    parse_header_value,
    parse_params,
    quote,
    quoted_content,
    split_outside_quotes,
    unquote,
)

# slot_setters lives in params (HeaderValue uses it) and is imported from here as well
from fsync_model.sip.params import slot_setters as slot_setters

__all__ = [
    "MAGIC_COOKIE", "CSeq", "NameAddr", "Param", "Params", "SipUri", "ValueWithParams", "Via",
    "format_params", "has_param", "is_token", "param", "parse_cseq", "parse_name_addr",
    "parse_params", "parse_uri", "parse_value_params", "parse_via", "quote",
    "split_outside_quotes", "unquote", "uri_problem",
]

#: RFC 3261 section 8.1.1.7: a branch starting with this was made by an RFC 3261 element.
MAGIC_COOKIE = "z9hG4bK"

#: ``value;params`` header values (Event, Subscription-State, Content-Type...): the same
#: type as :class:`fsync_model.sip.params.HeaderValue` (``.value``, ``.params``, ``.param()``).
ValueWithParams = HeaderValue

#: The value of a parameter by name (any case), ``""`` for a flag, ``None`` when absent.
param = find_param

#: Largest CSeq number (RFC 3261 section 8.1.1.5: less than 2**31).
MAX_CSEQ = 2**31 - 1
#: Largest delta-seconds a parser must accept (RFC 3261 section 25.1 and RFC 4475 scalar02).
MAX_DELTA_SECONDS = 2**32 - 1

_DIGIT_CHARS = frozenset(string.digits)
# hostname = *( domainlabel "." ) toplabel [ "." ]; "_" is tolerated (container and lab names
# use it) although RFC 3261 does not allow it.
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# Never inside a URI: whitespace, controls, non-ASCII (must be escaped), and the delimiters
# that surround a URI in a header (RFC 3261 section 25.1; RFC 3986 section 2).
_URI_FORBIDDEN = re.compile(r'[^\x21-\x7e]|[<>"]')
# Characters of the user and password parts (user-unreserved, unreserved, escaped, and what
# password adds); "#" is tolerated in the user part because phones dial feature codes raw.
_USER_CHARS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()" + "&=+$,;?/%#")
_PASSWORD_CHARS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()" + "&=+$,%")
# hname / hvalue characters of URI headers (hnv-unreserved, unreserved, escaped).
_URI_HEADER_CHARS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()" + "[]/?:+$%")

# Fast paths (see fsync_model.sip.params): patterns accepting a subset of what the Scanner
# accepts, with the same result; anything they do not match takes the Scanner's path.
#: _HOST_CHARS as a regex class (a hostname or IPv4 address; IPv6 references go the slow way).
_HOST_RE = r"[A-Za-z0-9\-._]+"
#: An absolute URI that uri_problem() accepts and that holds no whitespace (so no "<>").
_ABS_URI_RE = r'[A-Za-z][A-Za-z0-9+.\-]*:[\x21\x23-\x3b\x3d\x3f-\x7e]+'
#: A display-name word: token characters or non-ASCII text (not a surrogate escape).
_DISPLAY_RE = r"[A-Za-z0-9\-.!%*_+`'~\x80-\ud7ff\ue000-\U0010ffff]"
_NAME_ADDR = re.compile(
    rf'[ \t]*(?:({QUOTED_RE})[ \t]*|({_DISPLAY_RE}+(?:[ \t]+{_DISPLAY_RE}+)*)[ \t]*)?'
    rf"<({_ABS_URI_RE})>({PARAMS_RE})"
)
#: ``SIP/2.0/UDP host:port;branch=...``, the spelling nearly every Via has.
_USUAL_VIA = re.compile(
    rf"SIP/2\.0/({TOKEN_RE}+) ({_HOST_RE})(?::([0-9]{{1,5}}))?({BARE_PARAMS_RE})"
)
#: ``"Display" <uri>;tag=x`` or ``<uri>;tag=x``: no quoted-pair, no extra whitespace.
_USUAL_NAME_ADDR = re.compile(
    rf'(?:"([^"\\\x00-\x08\x0a-\x1f\x7f]*)" )?<({_ABS_URI_RE})>({BARE_PARAMS_RE})'
)
_VIA = re.compile(
    rf"[ \t]*({TOKEN_RE}+)[ \t]*/[ \t]*({TOKEN_RE}+)[ \t]*/[ \t]*({TOKEN_RE}+)[ \t]+"
    rf"({_HOST_RE})(?:[ \t]*:[ \t]*([0-9]{{1,5}}))?({PARAMS_RE})"
)
#: ``sip:`` / ``sips:`` [user ``@``] host [``:`` port] *(``;`` uri-parameter), with no
#: escape, password, IPv6 reference or URI header: what a Request-URI nearly always is.
_PLAIN_SIP_URI = re.compile(
    r"[Ss][Ii][Pp][Ss]?:(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/#]+@)?"
    rf"({_HOST_RE})(?::([0-9]{{1,5}}))?"
    r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+)?)*"
)


def parse_value_params(text: str, header: str) -> tuple[str, Params]:
    """Split ``value;p=1;q`` into the value and its parameters (strictly, as
    :func:`fsync_model.sip.params.parse_header_value` does)."""
    parsed = parse_header_value(text, header)
    return parsed.value, parsed.params


def uri_problem(text: str) -> str | None:
    """Why ``text`` is not an absolute URI (any scheme), or ``None`` when it looks like one:
    ``scheme ":" 1*char`` with no whitespace, control, non-ASCII, ``<``, ``>`` or ``"``."""
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        return "no URI scheme"
    if not rest:
        return "nothing after the URI scheme"
    bad = _URI_FORBIDDEN.search(text)
    if bad is not None:
        return f"{bad.group()!r} in URI"
    return None


def _memo_short(check: Callable[[str], bool]) -> Callable[[str], bool]:
    """``check`` memoized for texts of up to 64 characters (the same few hosts recur in
    every message; ``ipaddress`` objects are slow to build). Longer texts are checked each
    time, so a peer sending long junk hosts cannot make the memo hold megabytes."""
    memo = functools.lru_cache(maxsize=1024)(check)

    def checked(text: str) -> bool:
        return memo(text) if len(text) <= 64 else check(text)

    checked.__doc__ = check.__doc__
    return checked


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _hostname(host: str) -> bool:
    """A domain name or dotted IPv4 address (RFC 3261 section 25.1 ``host``)."""
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if all(label.isdigit() for label in labels):
        return _is_ipv4(host)
    return all(label and label[0] != "-" and label[-1] != "-" for label in labels)


_is_ipv6 = _memo_short(_ipv6)
_is_ipv4 = _memo_short(_ipv4)
_is_hostname = _memo_short(_hostname)


def _scan_host(scanner: Scanner) -> str:
    """Read a host at the cursor: an IPv6 reference (returned without brackets), an IPv4
    address or a hostname."""
    if scanner.peek() == "[":
        end = scanner.text.find("]", scanner.pos)
        if end < 0:
            scanner.fail("unterminated IPv6 reference")
        inner = scanner.text[scanner.pos + 1 : end]
        if not _is_ipv6(inner):
            scanner.fail("bad IPv6 address")
        scanner.pos = end + 1
        return inner
    start = scanner.pos
    host = scanner.run(_HOST_CHARS, "a host")
    if not _is_hostname(host):
        scanner.pos = start
        scanner.fail("bad host name")
    return host


def _scan_port(scanner: Scanner) -> int:
    """Read ``1*DIGIT`` at the cursor as a port number (1 to 65535)."""
    start = scanner.pos
    digits = scanner.run(_DIGIT_CHARS, "a port number")
    if len(digits) > 5 or not 0 < int(digits) < 65536:
        scanner.pos = start
        scanner.fail("port out of range")
    return int(digits)


def _scan_hostport(scanner: Scanner, *, spaces: bool) -> tuple[str, int | None]:
    """``host [ COLON port ]``; with ``spaces`` the colon may have whitespace around it (a
    Via's sent-by: COLON = SWS ":" SWS), never inside a URI."""
    host = _scan_host(scanner)
    mark = scanner.pos
    if spaces:
        scanner.skip_ws()
    if scanner.peek() != ":":
        scanner.pos = mark
        return host, None
    scanner.pos += 1
    if spaces:
        scanner.skip_ws()
    return host, _scan_port(scanner)


@dataclass(frozen=True, slots=True, init=False)
class SipUri:
    """A ``sip:``/``sips:``/``tel:`` URI (RFC 3261 section 19.1). ``user`` stays escaped."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    password: str | None = None

    def __init__(self, scheme: str, user: str | None, host: str, port: int | None = None,
                 params: Params = (), headers: str | None = None,
                 password: str | None = None) -> None:
        _URI_SCHEME(self, scheme)
        _URI_USER(self, user)
        _URI_HOST(self, host)
        _URI_PORT(self, port)
        _URI_PARAMS(self, params)
        _URI_HEADERS(self, headers)
        _URI_PASSWORD(self, password)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.host}{format_params(self.params, uri=True)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += f":{self.password}"
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        params = format_params(self.params, uri=True)
        return f"{self.scheme}:{userinfo}{host}{port}{params}{hdrs}"

    @property
    def unescaped_user(self) -> str | None:
        """The user part with %XX escapes resolved (``%23`` -> ``#`` in feature codes)."""
        if self.user is None:
            return None
        return url_unquote(self.user)

    def param(self, name: str) -> str | None:
        return find_param(self.params, name)


# (see slot_setters: a Request-URI is parsed for every request)
_URI_SCHEME, _URI_USER, _URI_HOST, _URI_PORT, _URI_PARAMS, _URI_HEADERS, _URI_PASSWORD = (
    slot_setters(SipUri, "scheme", "user", "host", "port", "params", "headers", "password"))


def _check_chars(scanner: Scanner, text: str, start: int, allowed: frozenset[str],
                 what: str) -> None:
    for index, char in enumerate(text):
        if char not in allowed:
            scanner.pos = start + index
            scanner.fail(f"{char!r} in {what}")
    check_escapes(text, scanner, start)


def is_plain_sip_uri(text: str) -> bool:
    """True when ``text`` is a ``sip:``/``sips:`` URI of the plain kind (user, host, port,
    parameters; no escape, password, IPv6 reference or header) that :func:`parse_uri`
    accepts. False says nothing: ask :func:`parse_uri`."""
    plain = _PLAIN_SIP_URI.fullmatch(text)
    if plain is None:
        return False
    host, port = plain.groups()
    return _is_hostname(host) and (port is None or 0 < int(port) < 65536)


def parse_uri(text: str, header: str = "Request-URI") -> SipUri:
    """Parse a SIP, SIPS or tel URI; raise SipParseError naming ``header`` (``"Bad
    Request-URI (...)"``): 416 for another scheme, 400 for anything malformed."""
    text = text.strip()
    label = f"Bad {header}"
    problem = uri_problem(text)
    if problem is not None:
        raise SipParseError(f"{label} ({problem})", 400, line=text)
    scheme = text.partition(":")[0]
    lscheme = scheme.lower()
    if lscheme not in ("sip", "sips", "tel"):
        raise SipParseError(f"{label} (unsupported URI scheme {scheme[:20]!r})", 416, line=text)
    start = len(scheme) + 1
    if lscheme == "tel":
        scanner = Scanner(text, header, label=label)
        semi = text.find(";", start)
        end = len(text) if semi < 0 else semi
        number = text[start:end]
        if not number:
            scanner.pos = start
            scanner.fail("empty tel number")
        _check_chars(scanner, number, start, _PASSWORD_CHARS | {"#"}, "tel number")
        scanner.pos = end
        return SipUri("tel", None, number, None, scanner.params(";", False, uri=True))
    # "@" appears in no other part of a SIP URI (it must be escaped everywhere else), so the
    # first one ends the userinfo, whose user part may hold ";" and "?" (RFC 4475 semiuri,
    # intmeth); the first "?" after it starts the headers.
    at = text.find("@", start)
    host_start = start if at < 0 else at + 1
    question = text.find("?", host_start)
    scanner = Scanner(text if question < 0 else text[:question], header, label=label)
    user: str | None = None
    password: str | None = None
    if at >= 0:
        user, colon, secret = text[start:at].partition(":")
        if not user:
            scanner.pos = start
            scanner.fail("empty user part")
        _check_chars(scanner, user, start, _USER_CHARS, "user part")
        if colon:
            password = secret
            _check_chars(scanner, secret, start + len(user) + 1, _PASSWORD_CHARS, "password")
    scanner.pos = host_start
    host, port = _scan_hostport(scanner, spaces=False)
    params = scanner.params(";", first=False, uri=True)
    hdrs: str | None = None
    if question >= 0:
        hdrs = text[question + 1 :]
        _check_uri_headers(scanner, hdrs, question + 1)
    return SipUri(lscheme, user, host, port, params, hdrs, password)


def _check_uri_headers(scanner: Scanner, text: str, start: int) -> None:
    """``hname "=" hvalue *( "&" hname "=" hvalue )`` (RFC 3261 section 25.1)."""
    offset = start
    for item in text.split("&"):
        name, equals, value = item.partition("=")
        if not name or not equals:
            scanner.pos = offset
            scanner.fail("URI header without 'name='")
        _check_chars(scanner, name, offset, _URI_HEADER_CHARS, "URI header name")
        _check_chars(scanner, value, offset + len(name) + 1, _URI_HEADER_CHARS,
                     "URI header value")
        offset += len(item) + 1


def _delta_seconds(text: str | None, label: str, name: str) -> int | None:
    """``delta-seconds`` (1*DIGIT, at most 2**32-1) or ``None`` for an absent parameter."""
    if text is None:
        return None
    if not text or not set(text) <= _DIGIT_CHARS:
        raise SipParseError(f"{label} ({name} is not a number of seconds)")
    if len(text.lstrip("0")) > 10 or int(text) > MAX_DELTA_SECONDS:
        raise SipParseError(f"{label} ({name} too large)")
    return int(text)


@dataclass(frozen=True, slots=True, init=False)
class NameAddr:
    """``"Display" <uri>;tag=...`` or a bare addr-spec (RFC 3261 section 20.10)."""

    uri: str
    display: str | None = None
    params: Params = ()
    angle: bool = True

    def __init__(self, uri: str, display: str | None = None, params: Params = (),
                 angle: bool = True) -> None:
        _NA_URI(self, uri)
        _NA_DISPLAY(self, display)
        _NA_PARAMS(self, params)
        _NA_ANGLE(self, angle)

    @property
    def tag(self) -> str | None:
        return find_param(self.params, "tag")

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter of a Contact (RFC 3261 section 10.2.1.1) in seconds,
        ``None`` when absent; SipParseError (400) when it is not delta-seconds."""
        return _delta_seconds(find_param(self.params, "expires"), "Bad Header: Contact",
                              "expires parameter")

    def param(self, name: str) -> str | None:
        return find_param(self.params, name)

    def parsed_uri(self, header: str = "Contact") -> SipUri:
        return parse_uri(self.uri, header)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        kept = tuple((k, v) for k, v in self.params if k.lower() != name.lower())
        return NameAddr(self.uri, self.display, (*kept, (name, value)), True)

    def __str__(self) -> str:
        if self.display is None:
            if not self.params:
                return f"<{self.uri}>" if self.angle else self.uri
            return f"<{self.uri}>{format_params(self.params)}"
        display = ""
        if self.display is not None:
            words = self.display.split(" ")
            display = (self.display if all(_is_display_word(word) for word in words)
                       else quote(self.display)) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"


def _is_display_char(char: str) -> bool:
    # token characters, and (leniently) UTF-8 text: phones send "Jörg <sip:...>" unquoted.
    # Undecodable bytes (surrogate escapes) are not text.
    return char in TOKEN_CHARS or (ord(char) > 0x7F and not 0xD800 <= ord(char) <= 0xDFFF)


def _is_display_word(word: str) -> bool:
    return bool(word) and all(_is_display_char(char) for char in word)


def _scan_display_word(scanner: Scanner) -> str:
    start = scanner.pos
    while scanner.pos < len(scanner.text) and _is_display_char(scanner.text[scanner.pos]):
        scanner.pos += 1
    return scanner.text[start : scanner.pos]


def parse_name_addr(text: str, header: str) -> NameAddr:
    """``[display-name] <URI> *(;param)`` or ``addr-spec *(;param)`` (RFC 3261 section 20.10
    and 25.1: display-name = *(token LWS) / quoted-string; no whitespace inside ``<>``; an
    addr-spec holding ``,``, ``?`` or ``;`` must be in angle brackets)."""
    usual = _USUAL_NAME_ADDR.fullmatch(text)
    if usual is not None:
        display, uri, block = usual.groups()
        return NameAddr(uri, display, params_of(block), True)
    fast = _NAME_ADDR.fullmatch(text)
    if fast is None:
        return scan_name_addr(text, header)
    quoted, words, uri, block = fast.groups()
    display = words if quoted is None else quoted_content(quoted)
    return NameAddr(uri, display, params_of(block), True)


def scan_name_addr(text: str, header: str) -> NameAddr:
    """:func:`parse_name_addr` by the Scanner alone (what the fast path falls back to)."""
    scanner = Scanner(text, header)
    scanner.skip_ws()
    if scanner.at_end():
        scanner.fail("empty value")
    display: str | None = None
    if scanner.peek() == '"':
        display = scanner.quoted_string()
        scanner.skip_ws()
        if scanner.peek() != "<":
            scanner.fail("display name without <URI>")
    elif scanner.peek() != "<":
        start = scanner.pos
        first = _scan_display_word(scanner)
        if not first or scanner.peek() == ":":
            scanner.pos = start
            return _addr_spec(scanner)
        end = scanner.pos
        while True:
            scanner.skip_ws()
            if scanner.peek() == "<":
                break
            if not _scan_display_word(scanner):
                found = scanner.peek() or "end of value"
                scanner.fail(f"{found!r} in unquoted display name")
            end = scanner.pos
        display = scanner.text[start:end]
    gt = scanner.text.find(">", scanner.pos)
    if gt < 0:
        scanner.fail("missing '>'")
    uri = scanner.text[scanner.pos + 1 : gt]
    scanner.pos += 1
    problem = uri_problem(uri)
    if uri != uri.strip(" \t"):
        problem = "whitespace inside <>"
    if problem is not None:
        scanner.fail(problem)
    scanner.pos = gt + 1
    return NameAddr(uri, display, scanner.params(";", first=False), True)


def _addr_spec(scanner: Scanner) -> NameAddr:
    start = scanner.pos
    while scanner.pos < len(scanner.text) and scanner.text[scanner.pos] not in " \t;":
        scanner.pos += 1
    uri = scanner.text[start : scanner.pos]
    problem = uri_problem(uri)
    if problem is None and ("," in uri or "?" in uri):
        problem = "addr-spec with ',' or '?' not in <>"
    if problem is not None:
        scanner.pos = start
        scanner.fail(problem)
    return NameAddr(uri, None, scanner.params(";", first=False), False)


@dataclass(frozen=True, slots=True, init=False)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    def __init__(self, transport: str, host: str, port: int | None = None,
                 params: Params = (), protocol: str = "SIP/2.0") -> None:
        _VIA_TRANSPORT(self, transport)
        _VIA_HOST(self, host)
        _VIA_PORT(self, port)
        _VIA_PARAMS(self, params)
        _VIA_PROTOCOL(self, protocol)

    @property
    def branch(self) -> str | None:
        return find_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return find_param(self.params, "received")

    @property
    def rport(self) -> str | None:
        return find_param(self.params, "rport")

    def param(self, name: str) -> str | None:
        return find_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        kept = tuple((k, v) for k, v in self.params if k.lower() != name.lower())
        return Via(self.transport, self.host, self.port, (*kept, (name, value)), self.protocol)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    """One via-parm: ``sent-protocol LWS sent-by *(;via-params)`` (RFC 3261 section 20.42
    and 25.1; whitespace around ``/`` and ``:`` allowed, as in RFC 4475 wsinv). ``received``
    must be an IP address, ``rport`` empty or a port, ``ttl`` 0 to 255, ``maddr`` a host."""
    usual = _USUAL_VIA.fullmatch(text)
    if usual is not None:
        transport, host, port, block = usual.groups()
        protocol = "SIP/2.0"
    else:
        fast = _VIA.fullmatch(text)
        if fast is None:
            return scan_via(text)
        name, version, transport, host, port, block = fast.groups()
        protocol = f"{name}/{version}"
    params = params_of(block)
    number = None if port is None else int(port)
    if (_is_hostname(host) and (number is None or 0 < number < 65536)
            and _via_param_problem(params) is None):
        return Via(transport.upper(), host, number, params, protocol)
    return scan_via(text)


def scan_via(text: str) -> Via:
    """:func:`parse_via` by the Scanner alone (what the fast path falls back to)."""
    scanner = Scanner(text, "Via")
    scanner.skip_ws()
    name = scanner.run(TOKEN_CHARS, "a protocol name")
    scanner.skip_ws()
    scanner.expect("/")
    scanner.skip_ws()
    version = scanner.run(TOKEN_CHARS, "a protocol version")
    scanner.skip_ws()
    scanner.expect("/")
    scanner.skip_ws()
    transport = scanner.run(TOKEN_CHARS, "a transport")
    if not scanner.skip_ws():
        scanner.fail("expected whitespace before sent-by")
    host, port = _scan_hostport(scanner, spaces=True)
    params = scanner.params(";", first=False)
    _check_via_params(scanner, params)
    return Via(transport.upper(), host, port, params, f"{name}/{version}")


def _check_via_params(scanner: Scanner, params: Params) -> None:
    problem = _via_param_problem(params)
    if problem is not None:
        scanner.fail(problem)


#: The Via parameters whose values _via_param_problem checks.
_CHECKED_VIA_PARAMS = frozenset({"received", "rport", "ttl", "maddr", "branch"})


def _via_param_problem(params: Params) -> str | None:
    for key, value in params:
        lkey = key.lower()
        if lkey not in _CHECKED_VIA_PARAMS:
            continue
        if lkey == "branch":
            if not is_token(value or ""):
                return "branch is not a token"
        elif lkey == "received":
            address = (value or "").removeprefix("[").removesuffix("]")
            if not (_is_ipv4(address) or _is_ipv6(address)):
                return "received is not an IP address"
        elif lkey == "rport" and value is not None and value != "":
            if not set(value) <= _DIGIT_CHARS or len(value) > 5 or not 0 < int(value) < 65536:
                return "rport is not a port"
        elif lkey == "ttl":
            if not value or not set(value) <= _DIGIT_CHARS or len(value) > 3 or int(value) > 255:
                return "ttl is not 0 to 255"
        elif lkey == "maddr":
            host = (value or "").removeprefix("[").removesuffix("]")
            if not (_is_ipv6(host) or (set(host) <= _HOST_CHARS and host
                                       and _is_hostname(host))):
                return "maddr is not a host"
    return None


@dataclass(frozen=True, slots=True, init=False)
class CSeq:
    seq: int
    method: str

    def __init__(self, seq: int, method: str) -> None:
        _CSEQ_SEQ(self, seq)
        _CSEQ_METHOD(self, method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_NA_URI, _NA_DISPLAY, _NA_PARAMS, _NA_ANGLE = slot_setters(
    NameAddr, "uri", "display", "params", "angle")
_VIA_TRANSPORT, _VIA_HOST, _VIA_PORT, _VIA_PARAMS, _VIA_PROTOCOL = slot_setters(
    Via, "transport", "host", "port", "params", "protocol")
_CSEQ_SEQ, _CSEQ_METHOD = slot_setters(CSeq, "seq", "method")


def parse_cseq(text: str) -> CSeq:
    """``1*DIGIT LWS Method`` with the number below 2**31 (RFC 3261 section 8.1.1.5)."""
    number, space, method = text.partition(" ")
    if (space and len(number) < 10 and number.isdigit() and number.isascii()
            and TOKEN_CHARS.issuperset(method) and method):
        return CSeq(int(number), method)  # the usual "1 INVITE" (below 10**9 < 2**31)
    parts = text.split()
    if len(parts) != 2 or not set(parts[0]) <= _DIGIT_CHARS or not is_token(parts[1]):
        raise SipParseError("Bad Header: CSeq")
    digits = parts[0].lstrip("0") or "0"
    if len(digits) > 10 or int(digits) > MAX_CSEQ:
        raise SipParseError("Bad Header: CSeq (number too large)")
    return CSeq(int(digits), parts[1])
