"""Header values with parameters: ``value;name=token;name="quoted"`` (RFC 3261 section 25.1).

One grammar serves the headers that feature sync reads and writes: media types
(``multipart/mixed;boundary=xyz``), ``Event: as-feature-event;id=1``, ``Subscription-State:
active;expires=3600``, ``Content-Disposition: signal;handling=required``. Parameters keep their
order and original case; lookup ignores case. The same scanner reads the comma-separated
parameter lists of Digest authentication (:mod:`fsync_model.sip.auth`). Malformed input raises
:class:`~fsync_model.sip.errors.SipParseError` (400, ``"Bad Header: <name>"``), nothing else.
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from fsync_model.sip.errors import SipParseError

#: RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
#: gen-value may also be a host; an IPv6 reference needs brackets and colons.
_VALUE_CHARS = TOKEN_CHARS | frozenset("[]:")
_WSP = " \t"
_FOLD = re.compile(r"\r?\n[ \t]+")

Param = tuple[str, str | None]
"""One parameter: (name as written, value unquoted, or ``None`` for a flag like ``;lr``)."""


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token (needs no quotes)."""
    return bool(text) and all(char in TOKEN_CHARS for char in text)


def quote(text: str) -> str:
    """``text`` as an RFC 3261 quoted-string: ``"`` and ``\\`` escaped as quoted-pairs.

    CR and LF cannot appear in a quoted-string at all (quoted-pair excludes them), so they
    raise :class:`ValueError`: that is a bug in the caller, not bad input from the wire.
    """
    if "\r" in text or "\n" in text:
        raise ValueError(f"CR/LF cannot be quoted in a SIP header: {text!r}")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_param_value(text: str) -> str:
    """A parameter value as written on the wire: bare when it is a token, quoted otherwise."""
    return text if all(char in _VALUE_CHARS for char in text) and text else quote(text)


def format_header_value(value: str, params: Iterable[Param] = ()) -> str:
    """``value;name=value;flag`` with each value quoted only when it must be."""
    parts = [value]
    for name, param_value in params:
        if not is_token(name):
            raise ValueError(f"parameter name is not a token: {name!r}")
        parts.append(name if param_value is None else f"{name}={format_param_value(param_value)}")
    return ";".join(parts)


@dataclass(frozen=True)
class HeaderValue:
    """A parsed ``value;params`` header value.

    ``value`` is the leading token (or ``type/subtype``) as written, without whitespace
    around the slash; ``params`` keeps order and case. :meth:`get` looks names up without
    regard to case and returns the first match.
    """

    value: str
    params: tuple[Param, ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of parameter ``name`` (any case): ``""`` for a flag such as ``;lr``
        (as :func:`fsync_model.sip.fields.param` does), ``default`` when absent."""
        wanted = name.lower()
        for param_name, param_value in self.params:
            if param_name.lower() == wanted:
                return "" if param_value is None else param_value
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        wanted = name.lower()
        return any(param_name.lower() == wanted for param_name, _ in self.params)

    @property
    def value_lower(self) -> str:
        """The value lower-cased: media types, event packages and states compare that way."""
        return self.value.lower()

    def __str__(self) -> str:
        return format_header_value(self.value, self.params)


class _Scanner:
    """A cursor over one header value; every failure names the header."""

    def __init__(self, text: str, header: str) -> None:
        self.text = _FOLD.sub(" ", text)
        self.header = header
        self.pos = 0
        for index, char in enumerate(self.text):
            if char in "\r\n\x00":
                self.pos = index
                self.fail(f"control character {char!r} in value")

    def fail(self, why: str) -> NoReturn:
        # The position is a character index into one header value, not a byte offset into
        # the message, so it goes into the reason rather than ``offset``.
        raise SipParseError(
            f"Bad Header: {self.header} ({why} at character {self.pos})", 400, line=self.text
        )

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WSP:
            self.pos += 1

    def run(self, allowed: frozenset[str], what: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        if self.pos == start:
            found = self.peek() or "end of value"
            self.fail(f"expected {what}, found {found!r}")
        return self.text[start : self.pos]

    def quoted_string(self) -> str:
        """Read ``"..."`` at the cursor; quoted-pairs are unescaped (RFC 3261 25.1)."""
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

    def params(self, separator: str, first: bool) -> tuple[Param, ...]:
        """Read ``name[=value]`` items each introduced by ``separator`` (none before the first
        item when ``first`` is true) up to the end of the text."""
        found: list[Param] = []
        need_separator = not first
        while True:
            self.skip_ws()
            if self.at_end():
                return tuple(found)
            if need_separator:
                if self.peek() != separator:
                    self.fail(f"expected {separator!r}, found {self.peek()!r}")
                self.pos += 1
                self.skip_ws()
            name = self.run(TOKEN_CHARS, "a parameter name")
            self.skip_ws()
            value: str | None = None
            if self.peek() == "=":
                self.pos += 1
                self.skip_ws()
                value = self.param_value()
            found.append((name, value))
            need_separator = True


def parse_header_value(text: str, header: str = "header") -> HeaderValue:
    """Parse ``token[/token] *(;name[=value])`` (RFC 3261 25.1: generic-param, SEMI, EQUAL).

    ``header`` names the header in the error reason. Whitespace around ``;``, ``=`` and ``/``
    is allowed, folded lines are unfolded; a value that is not a token, an empty parameter,
    an unterminated quoted string or a comma where a ``;`` belongs (the malformed
    ``active, 3600`` seen in the field) raise :class:`SipParseError` with status 400.
    """
    scanner = _Scanner(text, header)
    scanner.skip_ws()
    value = scanner.run(TOKEN_CHARS, "a token")
    scanner.skip_ws()
    if scanner.peek() == "/":
        scanner.pos += 1
        scanner.skip_ws()
        value = f"{value}/{scanner.run(TOKEN_CHARS, 'a subtype')}"
    return HeaderValue(value, scanner.params(";", first=False))


def parse_param_list(
    text: str, header: str = "header", *, separator: str = ","
) -> tuple[Param, ...]:
    """Parse a bare list ``name=value, name="quoted", flag`` (the Digest auth-param list).

    Unlike :func:`parse_header_value` there is no leading value; the items are separated by
    ``separator``. An empty text gives an empty tuple.
    """
    return _Scanner(text, header).params(separator, first=True)
