"""The one lexer for SIP header values: tokens, quoted strings, ``;name=value`` parameters.

Every parameter in fsync is read here (RFC 3261 section 25.1: generic-param, SEMI, EQUAL,
quoted-string, quoted-pair): media types (``multipart/mixed;boundary=xyz``), ``Event:
as-feature-event;id=1``, ``Subscription-State: active;expires=3600``, the parameters after a
name-addr or a Via (:mod:`fsync_model.sip.fields` uses :class:`Scanner` and
:func:`parse_params`), URI parameters (``uri=True``: paramchar, no quoting, no whitespace),
and the comma-separated lists of Digest authentication (:mod:`fsync_model.sip.auth`).
Parameters keep their order and original case; lookup ignores case.

The grammar is applied strictly: an empty parameter (``;;``), a value that is neither a
token, a host nor a quoted string, an unterminated quoted string, or a comma where a ``;``
belongs (the malformed ``Subscription-State: active, 3600`` seen in the field) raise
:class:`~fsync_model.sip.errors.SipParseError` (400, ``"Bad Header: <name> (<why>)"``),
nothing else. :func:`split_outside_quotes` is the lenient exception: it only cuts a list
into items, and the items are then parsed strictly.

Speed: the parsers of structured values (here :func:`parse_header_value`; in
:mod:`fsync_model.sip.fields` Via and name-addr) first try one compiled pattern that accepts
only well-formed values in their usual spelling and build the same result from its groups;
anything the pattern does not match goes through :class:`Scanner`, which then accepts it or
says why not. The fast path never raises, so every error is the Scanner's.
``tests/sip/test_fast_paths.py`` holds each fast path to its Scanner.
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, NoReturn

from fsync_model.sip.errors import SipParseError

#: RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
#: gen-value may also be a host; an IPv6 reference needs brackets and colons.
_VALUE_CHARS = TOKEN_CHARS | frozenset("[]:")
#: RFC 3261 25.1 paramchar (names and values of URI parameters): param-unreserved /
#: unreserved / escaped. ``%`` must start an escape (``%41``), which is checked separately.
URI_PARAM_CHARS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()" + "[]/:&+$%")
_HEX = frozenset(string.hexdigits)
_WSP = " \t"
#: A folded line (RFC 3261 7.3.1): the line break and the whitespace after it are one space.
_FOLD = re.compile(r"\r?\n[ \t]+")
_LINE_BREAK_CHAR = re.compile(r"[\r\n]")
_WS_RUN = re.compile(r"[ \t]*")

# Fast paths. Each structured parser first tries one compiled pattern that accepts only a
# subset of what the Scanner accepts (no line break anywhere, so no folding) and builds the
# same value from its groups; when the pattern does not match, the Scanner runs and says why.
# The patterns below spell the character sets above: keep them in step.
#: TOKEN_CHARS as a regex class.
TOKEN_RE = r"[A-Za-z0-9\-.!%*_+`'~]"
#: _VALUE_CHARS (a gen-value that is a token or a host) as a regex class.
VALUE_RE = r"[A-Za-z0-9\-.!%*_+`'~\[\]:]"
#: quoted-string: qdtext (no control character but HTAB) or a quoted-pair (no CR or LF).
QUOTED_RE = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\r\n])*"'
#: ``*( SEMI generic-param )`` and the whitespace after it, as Scanner.params reads it.
PARAMS_RE = (rf"(?:[ \t]*;[ \t]*{TOKEN_RE}+(?:[ \t]*=[ \t]*(?:{VALUE_RE}+|{QUOTED_RE}))?)*"
             r"[ \t]*")
#: The same without whitespace or quoted strings (what params_of splits instead of matching).
BARE_PARAMS_RE = rf"(?:;{TOKEN_RE}+(?:={VALUE_RE}+)?)*"
_PARAM_ITEM = re.compile(rf"[ \t]*;[ \t]*({TOKEN_RE}+)(?:[ \t]*=[ \t]*({VALUE_RE}+|{QUOTED_RE}))?")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_HEADER_VALUE = re.compile(rf"[ \t]*({TOKEN_RE}+)[ \t]*(?:/[ \t]*({TOKEN_RE}+))?({PARAMS_RE})")


def quoted_content(quoted: str) -> str:
    """The text of a quoted-string that :data:`QUOTED_RE` matched (quotes off, pairs
    resolved): what :meth:`Scanner.quoted_string` returns for it."""
    inner = quoted[1:-1]
    return _QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner


def params_of(block: str) -> Params:
    """The parameters of ``block``, a text that :data:`PARAMS_RE` matched whole."""
    if not block or ";" not in block:
        return ()
    found: list[Param] = []
    if block[0] == ";" and '"' not in block and " " not in block and "\t" not in block:
        # ;name=value;flag: neither a name nor a value holds ";" or "="
        if block.count(";") == 1:
            name, equals, value = block[1:].partition("=")
            return ((name, value if equals else None),)
        for item in block[1:].split(";"):
            name, equals, value = item.partition("=")
            found.append((name, value if equals else None))
        return tuple(found)
    for name, value in _PARAM_ITEM.findall(block):
        if not value:
            found.append((name, None))
        elif value[0] == '"':
            found.append((name, quoted_content(value)))
        else:
            found.append((name, value))
    return tuple(found)


#: ``[...]+`` for each character set :meth:`Scanner.run` is given (a handful of constants).
_RUN_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}


def _run_pattern(allowed: frozenset[str]) -> re.Pattern[str]:
    pattern = _RUN_PATTERNS.get(allowed)
    if pattern is None:
        pattern = re.compile("[" + "".join(re.escape(char) for char in sorted(allowed)) + "]+")
        if len(_RUN_PATTERNS) < 64:
            _RUN_PATTERNS[allowed] = pattern
    return pattern

Param = tuple[str, str | None]
"""One parameter: (name as written, value unquoted, or ``None`` for a flag like ``;lr``)."""
Params = tuple[Param, ...]
"""Parameters in the order they were written."""


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token (needs no quotes)."""
    return bool(text) and TOKEN_CHARS.issuperset(text)


def find_param(params: Iterable[Param], name: str) -> str | None:
    """The value of parameter ``name`` (any case): ``""`` for a flag such as ``;lr``,
    ``None`` when absent. The first match wins."""
    wanted = name.lower()
    for param_name, param_value in params:
        if param_name.lower() == wanted:
            return "" if param_value is None else param_value
    return None


def has_param(params: Iterable[Param], name: str) -> bool:
    """True when a parameter called ``name`` (any case) is present, flag or not."""
    wanted = name.lower()
    return any(param_name.lower() == wanted for param_name, _ in params)


def quote(text: str) -> str:
    """``text`` as an RFC 3261 quoted-string: ``"``, ``\\`` and control characters escaped
    as quoted-pairs.

    CR and LF cannot appear in a quoted-string at all (quoted-pair excludes them), so they
    raise :class:`ValueError`: that is a bug in the caller, not bad input from the wire.
    """
    if "\r" in text or "\n" in text:
        raise ValueError(f"CR/LF cannot be quoted in a SIP header: {text!r}")
    out = []
    for char in text:
        if char in '"\\' or (ord(char) < 0x20 and char != "\t") or char == "\x7f":
            out.append("\\")
        out.append(char)
    return '"' + "".join(out) + '"'


def unquote(text: str) -> str:
    """``text`` without its surrounding double quotes, quoted-pairs resolved; text that is
    not quoted comes back unchanged. Lenient (never raises): use :class:`Scanner` to check."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    index = 0
    while index < len(inner):
        if inner[index] == "\\" and index + 1 < len(inner):
            index += 1
        out.append(inner[index])
        index += 1
    return "".join(out)


def format_param_value(text: str) -> str:
    """A parameter value as written on the wire: bare when it is a token, quoted otherwise."""
    return text if text and _VALUE_CHARS.issuperset(text) else quote(text)


def format_params(params: Iterable[Param], *, uri: bool = False) -> str:
    """``;name=value;flag`` for each parameter; with ``uri`` the values are written as they
    are (URI parameters are never quoted: they stay escaped)."""
    parts: list[str] = []
    for name, value in params:
        if value is None:
            parts.append(f";{name}")
        else:
            parts.append(f";{name}={value if uri else format_param_value(value)}")
    return "".join(parts)


#: Mask for a hash kept in a field (the SIP keys cache theirs): 61 bits fit the compiled
#: build's unboxed ints, so a cached hash allocates no int object per key.
SHORT_HASH = (1 << 61) - 1


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot descriptors' setters of ``cls``, a frozen slotted dataclass whose fields
    are ``names`` in this order (checked).

    The ``__init__`` that dataclasses generates for a frozen class stores every field
    through ``object.__setattr__`` (and stays interpreted Python where the module is
    compiled); the values built for every message read (Via, NameAddr, CSeq, SipUri,
    HeaderValue, the messages themselves, the UA's events) have an ``__init__`` storing them
    through these setters instead, at about half the cost. Same object: the class stays
    frozen. Inherited fields come first, in :func:`dataclasses.fields` order."""
    if tuple(item.name for item in fields(cls)) != names:
        raise TypeError(f"{cls.__name__} fields are not {names}")
    return tuple(getattr(cls, name).__set__ for name in names)


def format_header_value(value: str, params: Iterable[Param] = ()) -> str:
    """``value;name=value;flag`` with each value quoted only when it must be."""
    parts = [value]
    for name, param_value in params:
        if not is_token(name):
            raise ValueError(f"parameter name is not a token: {name!r}")
        parts.append(name if param_value is None else f"{name}={format_param_value(param_value)}")
    return ";".join(parts)


@dataclass(frozen=True, slots=True, init=False)
class HeaderValue:
    """A parsed ``value;params`` header value.

    ``value`` is the leading token (or ``type/subtype``) as written, without whitespace
    around the slash; ``params`` keeps order and case. :meth:`get` (or :meth:`param`) looks
    names up without regard to case and returns the first match.
    """

    value: str
    params: Params = ()

    def __init__(self, value: str, params: Params = ()) -> None:
        _HV_VALUE(self, value)
        _HV_PARAMS(self, params)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of parameter ``name`` (any case): ``""`` for a flag such as ``;lr``,
        ``default`` when absent."""
        found = find_param(self.params, name)
        return default if found is None else found

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (any case), ``""`` for a flag, ``None`` when absent
        (the spelling used by the other structured values of :mod:`fsync_model.sip.fields`)."""
        return find_param(self.params, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and has_param(self.params, name)

    @property
    def value_lower(self) -> str:
        """The value lower-cased: media types, event packages and states compare that way."""
        return self.value.lower()

    def __str__(self) -> str:
        return format_header_value(self.value, self.params)


# (see slot_setters: Event, Subscription-State, Content-Type... are parsed for every message)
_HV_VALUE, _HV_PARAMS = slot_setters(HeaderValue, "value", "params")


class Scanner:
    """A cursor over one header value; every failure names the header.

    Folded lines are unfolded first; a CR or LF left after that is an error. Building
    blocks (:meth:`run`, :meth:`quoted_string`, :meth:`params`) are shared by every parser
    of structured values, so the lexical rules live in one place.
    """

    def __init__(self, text: str, header: str, *, label: str | None = None) -> None:
        if "\r" in text or "\n" in text:
            text = _FOLD.sub(" ", text)
        self.text = text
        self.header = header
        #: What a failure's reason starts with (``"Bad Header: Via"``, ``"Bad Request-URI"``).
        self.label = label if label is not None else f"Bad Header: {header}"
        self.pos = 0
        line_break = _LINE_BREAK_CHAR.search(text)
        if line_break is not None:
            self.pos = line_break.start()
            self.fail(f"line break {line_break.group()!r} in value")

    def fail(self, why: str) -> NoReturn:
        # The position is a character index into one header value, not a byte offset into
        # the message, so it goes into the reason rather than ``offset``.
        raise SipParseError(
            f"{self.label} ({why} at character {self.pos})", 400, line=self.text
        )

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        """Skip spaces and tabs; true when there were any."""
        start = self.pos
        end = _WS_RUN.match(self.text, start).end()  # type: ignore[union-attr]
        self.pos = end
        return end > start

    def expect(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}, found {self.peek() or 'end of value'!r}")
        self.pos += 1

    def run(self, allowed: frozenset[str], what: str) -> str:
        """Read one or more characters of ``allowed``."""
        start = self.pos
        found = _run_pattern(allowed).match(self.text, start)
        if found is None:
            self.fail(f"expected {what}, found {self.peek() or 'end of value'!r}")
        self.pos = found.end()
        return found.group()

    def quoted_string(self) -> str:
        """Read ``"..."`` at the cursor; quoted-pairs are unescaped (RFC 3261 25.1).

        qdtext excludes control characters other than HTAB; a quoted-pair may escape any
        character but CR and LF (so ``\\`` followed by NUL is legal: RFC 4475 intmeth).
        """
        self.pos += 1  # the opening quote
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                self.fail("unterminated quoted string")
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    self.fail("backslash at end of quoted string")
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if (ord(char) < 0x20 and char != "\t") or char == "\x7f":
                self.fail(f"control character {char!r} in quoted string")
            out.append(char)
            self.pos += 1

    def param_value(self) -> str:
        if self.peek() == '"':
            return self.quoted_string()
        return self.run(_VALUE_CHARS, "a parameter value")

    def uri_chars(self, what: str) -> str:
        """Read 1*paramchar (a URI parameter name or value); ``%`` must start an escape."""
        start = self.pos
        text = self.run(URI_PARAM_CHARS, what)
        check_escapes(text, self, start)
        return text

    def params(self, separator: str, first: bool, *, uri: bool = False) -> Params:
        """Read ``name[=value]`` items each introduced by ``separator`` (none before the first
        item when ``first`` is true) up to the end of the text.

        With ``uri``, names and values are paramchar runs (no quoting, no whitespace).
        """
        found: list[Param] = []
        need_separator = not first
        while True:
            if not uri:
                self.skip_ws()
            if self.at_end():
                return tuple(found)
            if need_separator:
                self.expect(separator)
                if not uri:
                    self.skip_ws()
            value: str | None = None
            if uri:
                name = self.uri_chars("a parameter name")
                if self.peek() == "=":
                    self.pos += 1
                    value = self.uri_chars("a parameter value")
            else:
                name = self.run(TOKEN_CHARS, "a parameter name")
                self.skip_ws()
                if self.peek() == "=":
                    self.pos += 1
                    self.skip_ws()
                    value = self.param_value()
            found.append((name, value))
            need_separator = True


def check_escapes(text: str, scanner: Scanner, start: int = 0) -> None:
    """Fail unless every ``%`` in ``text`` starts an escape (RFC 3261 25.1: "%" HEXDIG
    HEXDIG). ``start`` is where ``text`` begins in the scanner's text (for the position)."""
    index = text.find("%")
    while index >= 0:
        if len(text) < index + 3 or text[index + 1] not in _HEX or text[index + 2] not in _HEX:
            scanner.pos = start + index
            scanner.fail("'%' that does not start an escape")
        index = text.find("%", index + 3)


def parse_header_value(text: str, header: str = "header") -> HeaderValue:
    """Parse ``token[/token] *(;name[=value])`` (RFC 3261 25.1: generic-param, SEMI, EQUAL).

    ``header`` names the header in the error reason. Whitespace around ``;``, ``=`` and ``/``
    is allowed, folded lines are unfolded; a value that is not a token, an empty parameter,
    an unterminated quoted string or a comma where a ``;`` belongs (the malformed
    ``active, 3600`` seen in the field) raise :class:`SipParseError` with status 400.
    """
    fast = _HEADER_VALUE.fullmatch(text)
    if fast is not None:
        value, subtype, block = fast.groups()
        return HeaderValue(value if subtype is None else f"{value}/{subtype}", params_of(block))
    return scan_header_value(text, header)


def scan_header_value(text: str, header: str = "header") -> HeaderValue:
    """:func:`parse_header_value` by the Scanner alone (what the fast path falls back to)."""
    scanner = Scanner(text, header)
    scanner.skip_ws()
    value = scanner.run(TOKEN_CHARS, "a token")
    scanner.skip_ws()
    if scanner.peek() == "/":
        scanner.pos += 1
        scanner.skip_ws()
        value = f"{value}/{scanner.run(TOKEN_CHARS, 'a subtype')}"
    return HeaderValue(value, scanner.params(";", first=False))


def parse_params(text: str, header: str = "header", *, uri: bool = False) -> Params:
    """Parse ``;a=b;c;d="x y"`` (the leading ``;`` optional) into ordered pairs.

    Header parameters (generic-param) by default; with ``uri``, URI parameters (paramchar
    names and values, escapes kept as written, no whitespace, no quoting).
    """
    scanner = Scanner(text, header)
    if not uri:
        scanner.skip_ws()
    leading = scanner.peek() == ";"
    return scanner.params(";", first=not leading, uri=uri)


def parse_param_list(text: str, header: str = "header", *, separator: str = ",") -> Params:
    """Parse a bare list ``name=value, name="quoted", flag`` (the Digest auth-param list).

    Unlike :func:`parse_header_value` there is no leading value; the items are separated by
    ``separator``. An empty text gives an empty tuple.
    """
    return Scanner(text, header).params(separator, first=True)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on ``sep`` except inside double quotes (with quoted-pairs) and angle brackets.

    Lenient on purpose: it only cuts a list header (``Via: a, b``; ``Contact: <x>, <y>``)
    into items, which are then parsed strictly. An unterminated quote runs to the end.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    index = 0
    while index < len(text):
        char = text[index]
        if in_quotes:
            if char == "\\":
                index += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == sep and not in_angle:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts
