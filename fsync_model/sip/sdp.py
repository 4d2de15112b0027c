"""Just enough SDP (RFC 4566) and offer/answer (RFC 3264) for a feature-code call.

A phone that syncs DND or a forward by calling ``*74`` must send an INVITE with an offer, and
a PBX must answer it before hanging up; nobody listens to the audio. So: one audio stream,
static payload types only (PCMU 0 and PCMA 8 by default), no ICE, no SRTP. Output is
deterministic bytes with CRLF line ends; the session id is an argument. :func:`parse_sdp`
is lenient about what it does not use (unknown line types, LF line ends, missing ``s=``),
and raises :class:`~fsync_model.sip.errors.SipParseError` (400, ``"Bad SDP: ..."``) for
anything that is not SDP.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from fsync_model.sip.errors import SipParseError

#: RFC 3551 table 4: static audio payload types and their rtpmap encodings.
STATIC_AUDIO: dict[int, str] = {
    0: "PCMU/8000",
    3: "GSM/8000",
    4: "G723/8000",
    8: "PCMA/8000",
    9: "G722/8000",
    18: "G729/8000",
}
DEFAULT_CODECS = (0, 8)
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: RFC 3264 section 6.1: what the answerer's direction is for each offered one.
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
_LINE = re.compile(r"([a-z])=(.*)")
_PAYLOAD = re.compile(r"[0-9]{1,3}")
_PORT = re.compile(r"([0-9]{1,5})(?:/[0-9]{1,5})?")


def _fail(why: str, line: str | None = None) -> NoReturn:
    raise SipParseError(f"Bad SDP: {why}", 400, line=line)


@dataclass(frozen=True)
class Origin:
    """The ``o=`` line (RFC 4566 5.2)."""

    username: str
    session_id: str
    session_version: str
    net_type: str
    addr_type: str
    address: str


@dataclass(frozen=True)
class Media:
    """One ``m=`` section with its own ``c=`` address (if any) and attributes."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name:value`` (``""`` for a flag), or ``None``."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, ``None`` when absent."""
        return next((key for key, _ in self.attributes if key in DIRECTIONS), None)

    def rtpmap(self, payload: str) -> str | None:
        """The ``encoding/clock`` that ``a=rtpmap`` gives for ``payload``."""
        for key, value in self.attributes:
            if key == "rtpmap" and value is not None:
                number, _, encoding = value.partition(" ")
                if number == payload:
                    return encoding.strip()
        return None


@dataclass(frozen=True)
class SessionDescription:
    """A parsed SDP body: the session-level lines this project reads, and the media."""

    version: int
    origin: Origin | None
    session_name: str
    connection: str | None
    timing: str
    attributes: tuple[tuple[str, str | None], ...]
    media: tuple[Media, ...]

    @property
    def direction(self) -> str:
        """The session-level direction, ``sendrecv`` when absent (RFC 4566 6)."""
        return next((key for key, _ in self.attributes if key in DIRECTIONS), "sendrecv")


def _connection_address(value: str, line: str) -> str:
    fields = value.split()
    if len(fields) != 3 or fields[0] != "IN" or fields[1] not in ("IP4", "IP6"):
        _fail("c= is not 'IN IP4|IP6 <address>'", line)
    return fields[2].split("/", 1)[0]


def _attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    return name, rest if colon else None


@dataclass
class _MediaBuilder:
    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] | None = None

    def build(self) -> Media:
        return Media(
            self.media, self.port, self.proto, self.formats, self.connection,
            tuple(self.attributes or ()),
        )


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse an SDP body. ``v=0`` must come first; ``o=``, ``c=`` and ``m=`` lines, when
    present, must be well formed; other line types are skipped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail("not UTF-8")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines or lines[0].strip() != "v=0":
        _fail("does not start with v=0", lines[0] if lines else None)
    origin: Origin | None = None
    session_name = ""
    connection: str | None = None
    timing = "0 0"
    attributes: list[tuple[str, str | None]] = []
    media: list[_MediaBuilder] = []
    for line in lines[1:]:
        match = _LINE.fullmatch(line)
        if match is None:
            _fail("line is not '<letter>=<value>'", line)
        kind, value = match.group(1), match.group(2).strip()
        if kind == "v":
            _fail("second v= line", line)
        elif kind == "o":
            fields = value.split()
            if len(fields) != 6:
                _fail("o= needs 6 fields", line)
            origin = Origin(*fields)
        elif kind == "s":
            session_name = value
        elif kind == "t":
            timing = value
        elif kind == "c":
            address = _connection_address(value, line)
            if media:
                media[-1].connection = address
            else:
                connection = address
        elif kind == "m":
            fields = value.split()
            port_match = _PORT.fullmatch(fields[1]) if len(fields) >= 2 else None
            if len(fields) < 4 or port_match is None or int(port_match.group(1)) > 65535:
                _fail("m= is not '<media> <port> <proto> <fmt> ...'", line)
            media.append(
                _MediaBuilder(fields[0], int(port_match.group(1)), fields[2], tuple(fields[3:]))
            )
        elif kind == "a":
            if media:
                if media[-1].attributes is None:
                    media[-1].attributes = []
                media[-1].attributes.append(_attribute(value))
            else:
                attributes.append(_attribute(value))
    return SessionDescription(
        version=0,
        origin=origin,
        session_name=session_name,
        connection=connection,
        timing=timing,
        attributes=tuple(attributes),
        media=tuple(builder.build() for builder in media),
    )


def _addr_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _session_lines(
    address: str, session_id: int, session_version: int | None, username: str, timing: str
) -> list[str]:
    if session_id < 0 or (session_version is not None and session_version < 0):
        raise ValueError("session id and version are non-negative integers (RFC 4566 5.2)")
    if not username or " " in username:
        raise ValueError(f"bad o= username {username!r}")
    version = session_id if session_version is None else session_version
    kind = _addr_type(address)
    return [
        "v=0",
        f"o={username} {session_id} {version} IN {kind} {address}",
        "s=-",
        f"c=IN {kind} {address}",
        f"t={timing}",
    ]


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")


def _encode(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def make_offer(
    address: str,
    port: int,
    session_id: int,
    codecs: Sequence[int] = DEFAULT_CODECS,
    *,
    session_version: int | None = None,
    username: str = "-",
    direction: str = "sendrecv",
) -> bytes:
    """An offer with one ``m=audio`` line listing ``codecs`` (static payload types, in
    preference order), each with its ``a=rtpmap``. The version defaults to the session id."""
    _check_port(port)
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    unknown = [codec for codec in codecs if codec not in STATIC_AUDIO]
    if unknown:
        raise ValueError(f"only static audio payload types {sorted(STATIC_AUDIO)}: {unknown}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    lines = _session_lines(address, session_id, session_version, username, "0 0")
    lines.append(f"m=audio {port} RTP/AVP {' '.join(str(codec) for codec in codecs)}")
    lines.extend(f"a=rtpmap:{codec} {STATIC_AUDIO[codec]}" for codec in codecs)
    lines.append(f"a={direction}")
    return _encode(lines)


def make_answer(
    offer_bytes: bytes,
    address: str,
    port: int,
    session_id: int,
    *,
    codecs: Sequence[int] = DEFAULT_CODECS,
    session_version: int | None = None,
    username: str = "-",
) -> bytes:
    """The answer to ``offer_bytes`` (RFC 3264 section 6).

    One ``m=`` line per offered line, same order. The first offered ``RTP/AVP`` audio stream
    with a codec in ``codecs`` is accepted with the first such codec in the *offer's* order
    and the mirrored direction; every other stream (and that one when nothing is common) is
    rejected with port 0, keeping the offered formats. Raises :class:`SipParseError` when the
    offer is not SDP.
    """
    _check_port(port)
    offer = parse_sdp(offer_bytes)
    lines = _session_lines(address, session_id, session_version, username, offer.timing)
    accepted = False
    for media in offer.media:
        usable = media.media == "audio" and media.proto == "RTP/AVP" and media.port != 0
        common = [
            fmt for fmt in media.formats if _PAYLOAD.fullmatch(fmt) and int(fmt) in codecs
        ]
        if usable and common and not accepted:
            accepted = True
            chosen = common[0]
            offered_direction = media.direction or offer.direction
            lines.append(f"m=audio {port} RTP/AVP {chosen}")
            encoding = STATIC_AUDIO.get(int(chosen))
            if encoding is not None:
                lines.append(f"a=rtpmap:{chosen} {encoding}")
            lines.append(f"a={_ANSWER_DIRECTION[offered_direction]}")
        else:
            lines.append(f"m={media.media} 0 {media.proto} {' '.join(media.formats)}")
    return _encode(lines)
