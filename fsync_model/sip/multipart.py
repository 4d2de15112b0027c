"""``multipart/*`` bodies (RFC 2046 section 5.1): split into parts, and build them.

Feature sync needs this for the full-state NOTIFY that carries one
``application/x-as-feature-event+xml`` part per feature (OpenSIPS, FreeSWITCH). Parsing is
tolerant where real stacks differ (preamble and epilogue, spaces after a boundary, a bare LF
instead of CRLF, no line break after the close delimiter) and strict where content would be
lost (no boundary found, no closing delimiter, a header line without a colon). Every failure
is a :class:`~fsync_model.sip.errors.SipParseError` with status 400 and a reason starting
``"Bad multipart body: "``. Building takes the boundary as an argument, so output is
deterministic.
"""
from __future__ import annotations

import itertools
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.params import is_token, parse_header_value, quote

#: RFC 2045 section 5.2: a part without Content-Type is plain US-ASCII text.
DEFAULT_PART_TYPE = "text/plain"

#: RFC 2046 section 5.1.1: bchars; a boundary is 1 to 70 of them, not ending with a space.
BOUNDARY_CHARS = frozenset(string.ascii_letters + string.digits + "'()+_,-./:=? ")
MAX_BOUNDARY = 70

_LWSP = b" \t"
_FIELD_NAME_CHARS = frozenset(chr(code) for code in range(33, 127)) - {":"}


@dataclass(frozen=True)
class BodyPart:
    """One body part: its MIME headers (name as written, value stripped) and its bytes."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def make(cls, content_type: str, body: bytes, *extra: tuple[str, str]) -> BodyPart:
        """A part with a ``Content-Type`` header first, then ``extra`` headers."""
        return cls((("Content-Type", content_type), *extra), body)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` value as written, or ``text/plain`` when the part has none."""
        return self.header("Content-Type") or DEFAULT_PART_TYPE

    @property
    def media_type(self) -> str:
        """``type/subtype`` of :attr:`content_type`, lower case, parameters dropped."""
        return self.content_type.split(";", 1)[0].strip().replace(" ", "").lower()


def _fail(why: str, offset: int | None = None, line: bytes | None = None) -> NoReturn:
    shown = line.decode("utf-8", "replace") if line is not None else None
    raise SipParseError(f"Bad multipart body: {why}", 400, offset=offset, line=shown)


@dataclass(frozen=True)
class _Delimiter:
    start: int  # index of the leading "--"
    end: int  # index just after the delimiter line's line break (or the end of the body)
    close: bool  # "--boundary--"


def _delimiters(body: bytes, dash: bytes) -> list[_Delimiter]:
    """Every delimiter line up to and including the close delimiter (RFC 2046 5.1.1).

    A delimiter starts a line, may be followed by ``--`` (close) and linear white space, then
    ends the line. ``--boundary`` followed by anything else is content, not a delimiter.
    """
    found: list[_Delimiter] = []
    search = 0
    while True:
        start = body.find(dash, search)
        if start < 0:
            return found
        search = start + 1
        if start > 0 and body[start - 1] != 0x0A:
            continue
        cursor = start + len(dash)
        close = body.startswith(b"--", cursor)
        if close:
            cursor += 2
        while cursor < len(body) and body[cursor] in _LWSP:
            cursor += 1
        if cursor == len(body):
            end = cursor
        elif body.startswith(b"\r\n", cursor):
            end = cursor + 2
        elif body[cursor] == 0x0A:
            end = cursor + 1
        else:
            continue
        found.append(_Delimiter(start, end, close))
        if close:
            return found
        search = end


def _strip_line_break(raw: bytes) -> bytes:
    """Drop the line break that belongs to the following delimiter (CRLF, or a bare LF)."""
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n"):
        return raw[:-1]
    return raw


def _parse_part(raw: bytes, offset: int, index: int) -> BodyPart:
    """Headers up to the first empty line, then the body (RFC 2046 5.1: a part with no
    headers starts with its empty line)."""
    lines: list[tuple[bytes, int]] = []
    pos = 0
    body = b""
    while pos < len(raw):
        eol = raw.find(b"\n", pos)
        next_pos = len(raw) if eol < 0 else eol + 1
        line = raw[pos : len(raw) if eol < 0 else eol]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            body = raw[next_pos:]
            break
        lines.append((line, offset + pos))
        pos = next_pos
    headers: list[tuple[str, str]] = []
    for line, line_offset in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            _fail(f"part {index} header is not UTF-8", line_offset, line)
        if text[0] in " \t":
            if not headers:
                _fail(f"part {index} starts with a continuation line", line_offset, line)
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name or any(char not in _FIELD_NAME_CHARS for char in name):
            _fail(f"part {index} has a bad header line", line_offset, line)
        headers.append((name, value.strip(" \t")))
    return BodyPart(tuple(headers), body)


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a ``multipart/*`` Content-Type value."""
    try:
        parsed = parse_header_value(content_type, "Content-Type")
    except SipParseError as error:
        _fail(f"bad Content-Type ({error.reason})")
    if not parsed.value_lower.startswith("multipart/"):
        _fail(f"Content-Type {parsed.value!r} is not multipart")
    boundary = parsed.get("boundary")
    if not boundary:
        _fail("Content-Type has no boundary parameter")
    return boundary


def parse_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    """Split a ``multipart/*`` body into its parts, in order.

    ``content_type`` is the message's Content-Type value (the boundary comes from it). The
    preamble before the first delimiter and the epilogue after the close delimiter are
    ignored. At least one part and a close delimiter are required.
    """
    dash = b"--" + boundary_of(content_type).encode("utf-8")
    delimiters = _delimiters(body, dash)
    if not delimiters:
        _fail("boundary not found in body")
    if not delimiters[-1].close:
        _fail("no closing boundary (body truncated?)", len(body))
    if len(delimiters) < 2:
        _fail("no body parts", delimiters[0].start)
    parts: list[BodyPart] = []
    for index, (opening, closing) in enumerate(itertools.pairwise(delimiters)):
        raw = _strip_line_break(body[opening.end : closing.start])
        parts.append(_parse_part(raw, opening.end, index + 1))
    return parts


def _check_boundary(boundary: str) -> None:
    if not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise ValueError(f"a boundary has 1 to {MAX_BOUNDARY} characters, not {len(boundary)}")
    if boundary.endswith(" ") or any(char not in BOUNDARY_CHARS for char in boundary):
        raise ValueError(f"boundary {boundary!r} has characters RFC 2046 does not allow")


def _check_header(name: str, value: str) -> None:
    if not name or any(char not in _FIELD_NAME_CHARS for char in name):
        raise ValueError(f"bad part header name {name!r}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"part header {name} value contains a line break")


def build_multipart(
    parts: Iterable[BodyPart], boundary: str, *, subtype: str = "mixed"
) -> tuple[str, bytes]:
    """``(Content-Type value, body)`` for ``parts`` joined with ``boundary``.

    Lines end in CRLF; the body ends with ``--boundary--`` CRLF. A boundary that RFC 2046
    forbids, or that occurs inside a part's body, is a programming error
    (:class:`ValueError`): the caller chooses the boundary.
    """
    _check_boundary(boundary)
    if not is_token(subtype):
        raise ValueError(f"bad multipart subtype {subtype!r}")
    dash = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    items: Sequence[BodyPart] = list(parts)
    if not items:
        raise ValueError("a multipart body needs at least one part (RFC 2046 5.1.1)")
    for part in items:
        if dash in part.body:
            raise ValueError(f"boundary {boundary!r} occurs inside a part body")
        chunks.append(dash + b"\r\n")
        for name, value in part.headers:
            _check_header(name, value)
            chunks.append(f"{name}: {value}\r\n".encode())
        chunks.append(b"\r\n" + part.body + b"\r\n")
    chunks.append(dash + b"--\r\n")
    shown = boundary if is_token(boundary) else quote(boundary)
    return f"multipart/{subtype};boundary={shown}", b"".join(chunks)
