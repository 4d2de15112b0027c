"""What a ladder shows of a message: long SIP values shortened, unprintable characters made visible.

A diagram is read, not parsed: a Call-ID is recognised by its first 8 characters, a URI by
user@host, a tag or branch by its first few characters. The full values stay available elsewhere
(the SVG keeps them in each arrow's tooltip). Every renderer (SVG, Mermaid, PlantUML) goes through
these functions, so the three outputs show the same text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

ELLIPSIS: Final = "\u2026"
REPLACEMENT: Final = "\ufffd"
CALL_ID_KEEP: Final = 8
TAG_KEEP: Final = 6
#: "z9hG4bK" (RFC 3261 magic cookie) plus this many characters of a Via branch.
BRANCH_KEEP: Final = 4
MAX_LABEL_CHARS: Final = 48
MAX_DETAIL_CHARS: Final = 60
MAX_HEADER_CHARS: Final = 40

# Compact forms from RFC 3261 section 7.3.3 next to the long names.
_CALL_ID_HEADERS: Final = frozenset({"call-id", "i"})
_VIA_HEADERS: Final = frozenset({"via", "v"})
# "SIP/2.0/UDP host" says no more than "UDP host".
_VIA_PROTOCOL_RE: Final = re.compile(r"\bSIP\s*/\s*2\.0\s*/\s*", re.IGNORECASE)
_BRANCH_COOKIE: Final = "z9hG4bK"

# A name-addr: optional quoted display name, then <URI>. The display name is dropped (user@host
# says who); an unquoted display name is dropped only at the start of a header value.
_NAME_ADDR_RE: Final = re.compile(r'(?:"(?:[^"\\]|\\.)*"\s*)?<([^<>]*)>')
_LEADING_DISPLAY_NAME_RE: Final = re.compile(r'^[^\s<>";,:=]+(?:\s+[^\s<>";,:=]+)*\s*(?=<)')
# A bare URI: up to the first character that cannot belong to it outside angle brackets.
_BARE_URI_RE: Final = re.compile(r"\b(sips?|tel):[^\s<>;,\"]+", re.IGNORECASE)
_TAG_RE: Final = re.compile(r"(\btag=)([^;,\s>]+)", re.IGNORECASE)
_BRANCH_RE: Final = re.compile(r"(\bbranch=)([^;,\s>]+)", re.IGNORECASE)
_HEADER_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9!%*_+`'~.-]*)[ \t]*:[ \t]*(.*)$", re.DOTALL)
_URI_SCHEMES: Final = frozenset({"sip", "sips", "tel"})


def printable(text: str) -> str:
    """``text`` on one line, with characters XML or a reader cannot take made visible.

    Line breaks (U+2028 and U+2029 too) and tabs become spaces; control, format (bidi overrides,
    zero-width), private-use, surrogate and unassigned code points become U+FFFD, so what is
    drawn is what was sent.
    """
    out = []
    for ch in text:
        if ch in "\r\n\t" or unicodedata.category(ch) in ("Zl", "Zp"):
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(REPLACEMENT)
        else:
            out.append(ch)
    return "".join(out)


def printable_lines(text: str) -> list[str]:
    """Like :func:`printable` but keeps explicit line breaks (notes may have several lines)."""
    return [printable(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def cap(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, the last one an ellipsis when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - 1, 0)].rstrip() + ELLIPSIS


def _keep(value: str, keep: int) -> str:
    return value if len(value) <= keep else value[:keep] + ELLIPSIS


def shorten_call_id(value: str) -> str:
    """A Call-ID as its first 8 characters and an ellipsis.

    ``a84b4c76e66710@pc33.atlanta.com`` -> ``a84b4c76…``
    """
    return _keep(value.strip(), CALL_ID_KEEP)


def shorten_tag(value: str) -> str:
    """A From/To tag as its first 6 characters and an ellipsis."""
    return _keep(value, TAG_KEEP)


def shorten_branch(value: str) -> str:
    """A Via branch as the magic cookie plus 4 characters: ``z9hG4bK776a…``."""
    if value.startswith(_BRANCH_COOKIE):
        return _keep(value, len(_BRANCH_COOKIE) + BRANCH_KEEP)
    return _keep(value, BRANCH_KEEP + 4)


def shorten_uri(uri: str) -> str:
    """A SIP or tel URI as user@host: scheme, password, port, parameters and headers dropped.

    ``sip:2000@192.0.2.1:5060;transport=udp`` -> ``2000@192.0.2.1``; ``sips:[2001:db8::1]:5061``
    -> ``[2001:db8::1]``; ``tel:+4930123;phone-context=x`` -> ``+4930123``. Anything that is not a
    sip/sips/tel URI comes back unchanged.
    """
    short = _user_at_host(uri)
    return uri if short is None else short


def _user_at_host(uri: str) -> str | None:
    scheme, sep, rest = uri.strip().partition(":")
    if not sep or scheme.lower() not in _URI_SCHEMES:
        return None
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0] or None
    user, at, hostport = rest.rpartition("@")
    if not at:
        hostport = rest
    user = user.split(":", 1)[0]  # drop a password
    if hostport.startswith("[") and "]" in hostport:
        host = hostport[: hostport.index("]") + 1]
    else:
        host = re.split(r"[:;?]", hostport, maxsplit=1)[0]
    if not host:
        return None
    return f"{user}@{host}" if user else host


def _name_addr(match: re.Match[str]) -> str:
    short = _user_at_host(match.group(1))
    return match.group(0) if short is None else short


def shorten_value(value: str) -> str:
    """Shorten every URI, tag and branch found in a header value or a body line."""
    value = _NAME_ADDR_RE.sub(_name_addr, value)
    value = _BARE_URI_RE.sub(lambda m: shorten_uri(m.group(0)), value)
    value = _TAG_RE.sub(lambda m: m.group(1) + shorten_tag(m.group(2)), value)
    return _BRANCH_RE.sub(lambda m: m.group(1) + shorten_branch(m.group(2)), value)


def shorten_detail(line: str, max_chars: int = MAX_DETAIL_CHARS) -> str:
    """One detail line (a ``Name: value`` header or a ``key=value`` body value), as shown."""
    text = printable(line).strip()
    match = _HEADER_RE.match(text)
    if match and match.group(1).lower() not in _URI_SCHEMES:
        name, value = match.group(1), match.group(2)
        if name.lower() in _CALL_ID_HEADERS:
            value = shorten_call_id(value)
        elif name.lower() in _VIA_HEADERS:
            value = shorten_value(_VIA_PROTOCOL_RE.sub("", value))
        else:
            value = shorten_value(_LEADING_DISPLAY_NAME_RE.sub("", value))
        text = f"{name}: {value}"
    else:
        text = shorten_value(text)
    return cap(text, max_chars)


def shorten_label(label: str, max_chars: int = MAX_LABEL_CHARS) -> str:
    """An arrow label: a method or status, with a start line's URI and SIP version trimmed.

    ``SUBSCRIBE sip:2000@as.example.com SIP/2.0`` -> ``SUBSCRIBE 2000@as.example.com``;
    ``SIP/2.0 200 OK`` -> ``200 OK``.
    """
    text = printable(label).strip()
    if text.upper().startswith("SIP/2.0 "):
        text = text[8:].lstrip()
    if text.upper().endswith(" SIP/2.0"):
        text = text[:-8].rstrip()
    return cap(shorten_value(text), max_chars)


def shorten_header(text: str, max_chars: int = MAX_HEADER_CHARS) -> str:
    """A lifeline label or sublabel (an address such as ``udp:127.0.0.1:5070`` is kept whole)."""
    return cap(printable(text).strip(), max_chars)
