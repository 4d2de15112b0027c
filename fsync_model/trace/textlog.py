"""Read SIP messages out of plain-text logs: SIPp traces, Asterisk, baresip, and bare dumps.

Recognised markers (each is optional; messages may also just follow each other, separated
by blank lines):

* SIPp ``-trace_msg``: a ``----------------------------------------------- <timestamp>``
  line, then ``UDP message sent (N bytes):`` or ``UDP message received [N] bytes :``;
* Asterisk chan_pjsip ``<--- Received SIP request (N bytes) from UDP:1.2.3.4:5060 --->`` /
  ``<--- Transmitting SIP response (N bytes) to ...`` and chan_sip ``<--- SIP read from
  UDP:... --->`` / ``<--- Transmitting (no NAT) to ... --->`` (ended by ``<------------->``);
* baresip / libre ``-s`` traces: ``#`` then ``UDP 127.0.0.1:5070 -> 127.0.0.1:5060``;
* PJSIP ``RX 500 bytes Request msg ... from UDP 1.2.3.4:5060:`` ... ``--end msg--``;
* lines starting with ``>>>`` (sent) or ``<<<`` (received), with addresses if they hold any.

Addresses come from the markers; where a marker names only the peer, or nothing, the
placeholders ``mem:local`` and ``mem:remote`` stand in (``mem:unknown`` both ways when not
even the direction is known). Timestamps come from markers and log-line prefixes (naive
dates are taken as UTC, so a log reads the same on every machine); a message without one
gets the previous message's time, or 0.
"""
from __future__ import annotations

import bisect
import calendar
import re
from dataclasses import dataclass
from typing import Final

from fsync_model.trace.reassembly import SIP_START_LINE
from fsync_model.trace.records import CapturedMessage, CaptureError, CaptureSummary
from fsync_model.transport.address import Address, AddressError

#: Placeholders for addresses that a log does not give.
LOCAL: Final = Address("mem", "local")
REMOTE: Final = Address("mem", "remote")
UNKNOWN: Final = Address("mem", "unknown")

_ANSI_ESCAPE: Final = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_BINARY_SAMPLE: Final = 65536

# An address in a marker: [transport:]host:port, host an IPv4 or a bracketed IPv6 address.
_ADDRESS: Final = (
    rb"(?:(?P<{0}tr>udp|tcp|tls|ws|wss|sctp)[: ])?"
    rb"(?P<{0}host>\[[0-9A-Fa-f:.]+\]|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}|[A-Za-z0-9.-]+):"
    rb"(?P<{0}port>[0-9]{{1,5}})"
)
_ANY_ADDRESS: Final = re.compile(_ADDRESS.replace(b"{0}", b"").replace(b"{{", b"{").replace(
    b"}}", b"}"), re.IGNORECASE)


def _marker(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern, re.IGNORECASE)


def _addr(name: str) -> bytes:
    return _ADDRESS.replace(b"{0}", name.encode()).replace(b"{{", b"{").replace(b"}}", b"}")


_SIPP_SEPARATOR: Final = _marker(rb"-{40,}(?:\s.*)?")
_SIPP_MESSAGE: Final = _marker(
    rb"(?P<tr>\w+) (?:\S+ )*?message (?P<dir>sent|received) "
    rb"(?:\((?P<size>[0-9]{1,9}) bytes\)|\[(?P<size2>[0-9]{1,9})\] bytes)\s*:"
)
_ASTERISK_PJSIP: Final = _marker(
    rb"<--- (?P<dir>Received|Transmitting) SIP (?:request|response) "
    rb"\((?P<size>[0-9]{1,9}) bytes\) (?:from|to) " + _addr("a") + rb" --->"
)
_ASTERISK_SIP_READ: Final = _marker(rb"<--- SIP read from " + _addr("a") + rb" --->")
_ASTERISK_SIP_SENT: Final = _marker(
    rb"<--- (?:Reliably )?Transmitting (?:\([^)]*\) )?to " + _addr("a") + rb" --->"
)
_LIBRE: Final = _marker(
    rb"(?:(?P<dir>TX|RX)\s+)?(?P<tr>UDP|TCP|TLS|WS|WSS) " + _addr("a") + rb" -> " + _addr("b")
)
_PJSIP: Final = _marker(
    rb".*?\b(?P<dir>TX|RX) (?P<size>[0-9]{1,9}) bytes (?:Request|Response) msg .*? "
    rb"(?:to|from) (?P<tr>UDP|TCP|TLS) " + _addr("a") + rb":"
)
_ARROWS: Final = _marker(rb"(?P<arrow><<<|>>>)(?P<rest>.*)")
# Lines that end a message without starting one.
_TERMINATOR: Final = _marker(
    rb"<-{5,}>|--end msg--|--- \(\d+ headers \d+ lines\) ---|(?:[0-9:.]+\|)?#"
)
# A timestamp: an epoch (SIPp prints one after the date with -trace_msg on some builds) or a
# date and time.
_DATE_TIME: Final = re.compile(
    rb"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[ T\t]+"
    rb"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?"
)
_LOG_LINE_PREFIX: Final = re.compile(
    rb"\[(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[A-Z][a-z]{2} [ 0-9][0-9]) "
)
_CONTENT_LENGTH: Final = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*$",
                                    re.IGNORECASE | re.MULTILINE)
_TRANSPORTS: Final = {b"udp": "udp", b"tcp": "tcp", b"tls": "tls", b"ws": "tcp", b"wss": "tls",
                      b"sctp": "udp"}


@dataclass
class _Entry:
    """What the markers before a message said about it."""

    src: Address | None = None
    dst: Address | None = None
    size: int | None = None


def read_text_log(data: bytes) -> tuple[list[CapturedMessage], CaptureSummary]:
    """Every SIP message in a text log; CaptureError if there is none or it is not text."""
    if b"\x00" in data[:_BINARY_SAMPLE]:
        raise CaptureError("binary data that is not a pcap or pcapng file")
    text = _ANSI_ESCAPE.sub(b"", data)
    lines = text.split(b"\n")
    starts = [0] * (len(lines) + 1)
    position = 0
    for index, line in enumerate(lines):
        position += len(line) + 1
        starts[index + 1] = position
    summary = CaptureSummary("text")
    messages: list[CapturedMessage] = []
    entry = _Entry()
    time = 0.0
    index = 0
    count = len(lines)
    while index < count:
        line = lines[index].strip(b" \t\r")
        if SIP_START_LINE.match(text, starts[index]) is None:
            time = _time_in(line, time)
            _read_marker(line, entry)
            index += 1
            continue
        summary.packets += 1
        number = summary.packets
        start = starts[index]
        if _logged_exactly(text, start, entry.size):
            # The marker's byte count holds, whatever the body looks like.
            assert entry.size is not None
            message = text[start : start + entry.size]
            end = bisect.bisect_left(starts, start + entry.size, index + 1, count)
        else:
            end = index + 1
            while end < count:
                if _ends_message(lines[end].strip(b" \t\r")) or (
                    not lines[end - 1].strip(b" \t\r")
                    and SIP_START_LINE.match(text, starts[end]) is not None
                ):
                    break
                end += 1
            region = text[start : min(starts[end], len(text))]
            message = _assemble(region, number, summary.problems)
        src, dst = entry.src, entry.dst
        if src is None or dst is None:
            src, dst = src or UNKNOWN, dst or UNKNOWN
        messages.append(CapturedMessage(number, time, src, dst, message))
        entry = _Entry()
        index = end
    if not messages:
        raise CaptureError("no SIP messages found: not a pcap, pcapng or SIP text log")
    summary.messages = len(messages)
    return messages, summary


def _ends_message(line: bytes) -> bool:
    return bool(
        _TERMINATOR.fullmatch(line)
        or _SIPP_SEPARATOR.fullmatch(line)
        or _LOG_LINE_PREFIX.match(line)
        or (line[:3] in (b"<--", b"<<<", b">>>"))
        or _LIBRE.fullmatch(line)
        or _PJSIP.fullmatch(line)
        or _SIPP_MESSAGE.fullmatch(line)
    )


def _read_marker(line: bytes, entry: _Entry) -> bool:
    """Update ``entry`` from a marker line; False if ``line`` is no marker."""
    if match := _SIPP_MESSAGE.fullmatch(line):
        size = match.group("size") or match.group("size2")
        _set_direction(entry, match.group("dir").lower() == b"sent", None)
        entry.size = int(size)
        return True
    if match := _ASTERISK_PJSIP.search(line):
        sent = match.group("dir").lower() == b"transmitting"
        _set_direction(entry, sent, _address(match, "a", b"udp"))
        entry.size = int(match.group("size"))
        return True
    if match := _ASTERISK_SIP_READ.search(line):
        _set_direction(entry, False, _address(match, "a", b"udp"))
        return True
    if match := _ASTERISK_SIP_SENT.search(line):
        _set_direction(entry, True, _address(match, "a", b"udp"))
        return True
    if match := _LIBRE.fullmatch(line):
        transport = match.group("tr")
        entry.src = _address(match, "a", transport) or UNKNOWN
        entry.dst = _address(match, "b", transport) or UNKNOWN
        return True
    if match := _PJSIP.fullmatch(line):
        sent = match.group("dir").lower() == b"tx"
        _set_direction(entry, sent, _address(match, "a", match.group("tr")))
        entry.size = int(match.group("size"))
        return True
    if match := _ARROWS.fullmatch(line):
        rest = match.group("rest")
        found = [_address(m, "", b"udp") for m in _ANY_ADDRESS.finditer(rest)]
        addresses = [address for address in found if address is not None]
        if len(addresses) >= 2 and b"->" in rest:
            entry.src, entry.dst = addresses[0], addresses[1]
        else:
            lowered = rest.lower()
            sent = (match.group("arrow") == b">>>" if b" from " not in lowered
                    and b" to " not in lowered else b" to " in lowered)
            _set_direction(entry, sent, addresses[0] if addresses else None)
        return True
    return False


def _set_direction(entry: _Entry, sent: bool, peer: Address | None) -> None:
    if sent:
        entry.src, entry.dst = LOCAL, peer or REMOTE
    else:
        entry.src, entry.dst = peer or REMOTE, LOCAL


def _address(match: re.Match[bytes], name: str, default_transport: bytes | None) -> Address | None:
    transport = match.group(f"{name}tr") or default_transport or b"udp"
    host = match.group(f"{name}host")
    if host.startswith(b"["):
        host = host[1:-1]
    try:
        return Address(_TRANSPORTS.get(transport.lower(), "udp"), host.decode("ascii"),
                       int(match.group(f"{name}port")))
    except (AddressError, UnicodeDecodeError):
        return None


def _time_in(line: bytes, previous: float) -> float:
    """The timestamp in a non-message line, or ``previous``."""
    found = _DATE_TIME.search(line)
    if found is None:
        return previous
    try:
        seconds = calendar.timegm((
            int(found["y"]), int(found["mo"]), int(found["d"]),
            int(found["h"]), int(found["mi"]), int(found["s"]), 0, 0, 0,
        ))
    except (ValueError, OverflowError):
        return previous
    if not (1 <= int(found["mo"]) <= 12 and 1 <= int(found["d"]) <= 31):
        return previous
    fraction = found["f"]
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _logged_exactly(text: bytes, start: int, size: int | None) -> bool:
    """True if the ``size`` bytes from ``start`` are the message as sent: the log kept its
    CRLFs (so byte counts still hold) and the message ends at the end of a line."""
    if size is None or start + size > len(text):
        return False
    first_line_end = text.find(b"\n", start, start + size)
    if first_line_end <= start or text[first_line_end - 1] != 0x0D:
        return False
    line_end = text.find(b"\n", start + size)
    return not text[start + size : line_end if line_end >= 0 else len(text)].strip()


def _assemble(region: bytes, number: int, problems: list[str]) -> bytes:
    """The message in ``region`` (its lines as logged, up to the next marker), with CRLF
    line ends restored and the body cut to its Content-Length."""
    head_end = re.search(rb"\r?\n[ \t\r]*\n", region)
    if head_end is None:
        head, body_raw = region, b""
    else:
        head, body_raw = region[: head_end.start()], region[head_end.end() :]
    header_lines = [line.rstrip(b"\r") for line in head.split(b"\n")]
    headers = b"\r\n".join(header_lines) + b"\r\n\r\n"
    crlf_file = b"\r\n" in head
    body_lines = [line.rstrip(b"\r") for line in body_raw.split(b"\n")]
    # The last element is what follows the last newline: empty unless the log ends mid-line.
    unterminated = body_lines.pop() if body_lines else b""
    if unterminated.strip():
        rebuilt = b"".join(line + b"\r\n" for line in body_lines) + unterminated
    else:
        while body_lines and not body_lines[-1].strip():
            body_lines.pop()
        rebuilt = b"".join(line + b"\r\n" for line in body_lines)
    length = _CONTENT_LENGTH.search(head.replace(b"\r", b""))
    if length is None:
        return headers + rebuilt
    declared = int(length.group(1))
    # A log that kept the CRLFs kept the body as sent; otherwise rebuild its line breaks.
    body = body_raw if crlf_file and len(body_raw) >= declared else rebuilt
    if len(body) < declared:
        problems.append(
            f"packet {number}: Content-Length {declared} but only {len(body)} body bytes "
            "in the log; kept as logged"
        )
        return headers + body
    return headers + body[:declared]
