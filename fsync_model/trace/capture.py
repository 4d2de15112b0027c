"""Read a trace (pcap, pcapng or a plain-text SIP log) into the SIP messages it carries.

:func:`open_capture` is the one entry point the CLI and the checkers use: it sniffs the
format from the content, not the file name, and returns every SIP message found with a
:class:`CaptureSummary`. Bad input never raises, except :class:`CaptureError` for a file that
is no trace at all or cannot be read; damage inside a trace is listed in the summary's
``problems`` and the readable part is still returned.
"""
from __future__ import annotations

import gzip
import os
import socket
import zlib
from pathlib import Path
from typing import Final

from fsync_model.trace import pcapfile, textlog
from fsync_model.trace.packets import (
    PROTO_UDP,
    SUPPORTED_LINKTYPES,
    BadPacket,
    Datagram,
    Skipped,
    decode_frame,
)
from fsync_model.trace.reassembly import SIP_START_LINE, TcpReassembler
from fsync_model.trace.records import CapturedMessage, CaptureError, CaptureSummary
from fsync_model.transport.address import Address

__all__ = [
    "CaptureError",
    "CaptureSummary",
    "CapturedMessage",
    "open_capture",
    "read_capture",
    "read_packets",
]

_GZIP_MAGIC: Final = b"\x1f\x8b"
#: Leading CR/LF allowed before a SIP message in a datagram (RFC 3261 section 7.5).
_LEADING_CRLF: Final = b"\r\n"


def open_capture(path: str | os.PathLike[str]) -> tuple[list[CapturedMessage], CaptureSummary]:
    """Read the pcap, pcapng (optionally gzip-compressed) or SIP text log at ``path``.

    Raises :class:`CaptureError` if the file cannot be read or is none of those.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CaptureError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    try:
        return read_capture(data)
    except CaptureError as error:
        raise CaptureError(f"{os.fspath(path)}: {error}") from None


def read_capture(data: bytes) -> tuple[list[CapturedMessage], CaptureSummary]:
    """Like :func:`open_capture`, for the bytes of a file."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise CaptureError(f"unreadable gzip data: {error}") from None
    if not data:
        raise CaptureError("empty file")
    kind = pcapfile.sniff(data)
    if kind is not None:
        return read_packets(data)
    return textlog.read_text_log(data)


def read_packets(data: bytes) -> tuple[list[CapturedMessage], CaptureSummary]:
    """Read a pcap or pcapng file's bytes. Raises CaptureError if it is neither."""
    kind = pcapfile.sniff(data)
    if kind is None:
        raise CaptureError("not a pcap or pcapng file")
    summary = CaptureSummary(kind)
    problems = summary.problems
    records = (pcapfile.iter_pcap if kind == "pcap" else pcapfile.iter_pcapng)(data, problems)
    reader = _PacketReader(summary)
    for number, time, linktype, start, end in records:
        reader.frame(data, number, time, linktype, start, end)
    reader.finish()
    return reader.messages, summary


class _PacketReader:
    """Turns frames into messages: UDP datagrams directly, TCP through the reassembler."""

    def __init__(self, summary: CaptureSummary) -> None:
        self.summary = summary
        self.messages: list[CapturedMessage] = []
        self.tcp = TcpReassembler(summary.problems)
        self._addresses: dict[tuple[int, bytes, int], Address] = {}
        self._unsupported: dict[int, tuple[int, int]] = {}
        self._first_fragment = 0

    def frame(self, data: bytes, number: int, time: float, linktype: int, start: int,
              end: int) -> None:
        summary = self.summary
        summary.packets = number
        if linktype == pcapfile.SKIPPED:
            summary.other += 1
            return
        decoded = decode_frame(linktype, data, start, end)
        if type(decoded) is Datagram:
            src = self._address(decoded.protocol, decoded.src_ip, decoded.src_port)
            dst = self._address(decoded.protocol, decoded.dst_ip, decoded.dst_port)
            payload = data[decoded.start : decoded.end]
            if decoded.protocol == PROTO_UDP:
                self._datagram(number, time, src, dst, payload)
            else:
                if not payload:
                    summary.other += 1
                self.messages.extend(
                    self.tcp.segment(number, time, src, dst, decoded.seq, decoded.flags, payload)
                )
        elif isinstance(decoded, BadPacket):
            summary.problems.append(f"packet {number}: {decoded.reason}; skipped")
        elif decoded is Skipped.FRAGMENT:
            summary.fragments += 1
            self._first_fragment = self._first_fragment or number
        else:
            summary.other += 1
            if decoded is Skipped.UNSUPPORTED_LINKTYPE and linktype not in SUPPORTED_LINKTYPES:
                first, count = self._unsupported.get(linktype, (number, 0))
                self._unsupported[linktype] = (first, count + 1)

    def _datagram(self, number: int, time: float, src: Address, dst: Address,
                  payload: bytes) -> None:
        start = len(payload) - len(payload.lstrip(_LEADING_CRLF))
        if SIP_START_LINE.match(payload, start) is None:
            self.summary.non_sip += 1
            return
        self.messages.append(CapturedMessage(number, time, src, dst, payload[start:]))

    def _address(self, protocol: int, ip: bytes, port: int) -> Address:
        key = (protocol, ip, port)
        address = self._addresses.get(key)
        if address is None:
            family = socket.AF_INET if len(ip) == 4 else socket.AF_INET6
            transport = "udp" if protocol == PROTO_UDP else "tcp"
            address = Address(transport, socket.inet_ntop(family, ip), port)
            self._addresses[key] = address
        return address

    def finish(self) -> None:
        summary = self.summary
        self.messages.extend(self.tcp.finish())
        # Messages freed at the end (behind TCP gaps) go back in packet order.
        self.messages.sort(key=lambda message: message.number)
        summary.non_sip += self.tcp.non_sip
        summary.retransmissions = self.tcp.retransmissions
        summary.messages = len(self.messages)
        if summary.fragments:
            summary.problems.append(
                f"packet {self._first_fragment}: {summary.fragments} IP fragment(s) skipped "
                "from here on (IP reassembly is not supported); messages they carried are "
                "missing"
            )
        for linktype, (first, count) in sorted(self._unsupported.items()):
            summary.problems.append(
                f"packet {first}: link type {linktype} is not supported; {count} packet(s) "
                "skipped"
            )
