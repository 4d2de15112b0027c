"""The two capture container formats: classic pcap and pcapng, cut into packet records.

Only the container is read here; what is inside a frame is ``packets.py``'s job. Records are
yielded as ``(number, time, linktype, start, end)`` with ``start:end`` the captured bytes in
the buffer, so that no frame is copied. Damage after the file header is reported through the
``problems`` list and ends or skips the damaged part; only a file that is no capture at all
raises :class:`CaptureError`.

References: draft-ietf-opsawg-pcap (classic) and draft-ietf-opsawg-pcapng (next generation).
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from fsync_model.trace.records import CaptureError

#: A packet record: number (1-based), time (absolute seconds), link type, start, end.
FrameRecord = tuple[int, float, int, int, int]
#: The link type of a record that is counted but unusable (its problem is already noted).
SKIPPED: Final = -1

_PCAP_MAGICS: Final = {
    # magic as read little-endian -> (byte order, ticks per second)
    0xA1B2C3D4: ("<", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000),
    0xD4C3B2A1: (">", 1_000_000),
    0x4D3CB2A1: (">", 1_000_000_000),
}
_PCAPNG_SHB: Final = 0x0A0D0D0A
_PCAPNG_BOM: Final = 0x1A2B3C4D
_PCAPNG_IDB: Final = 1
_PCAPNG_OPB: Final = 2  # obsolete Packet Block, still written by old tools
_PCAPNG_SPB: Final = 3
_PCAPNG_EPB: Final = 6
_OPT_END: Final = 0
_OPT_IF_TSRESOL: Final = 9
_OPT_IF_TSOFFSET: Final = 14
# libpcap's LT_LINKTYPE(): the upper bits of the header's link type field carry FCS info.
_LINKTYPE_MASK: Final = 0x03FFFFFF


def sniff(buf: bytes) -> str | None:
    """``"pcap"``, ``"pcapng"`` or None, from the first four bytes."""
    if len(buf) < 4:
        return None
    (magic,) = struct.unpack_from("<I", buf)
    if magic in _PCAP_MAGICS:
        return "pcap"
    if magic == _PCAPNG_SHB:
        return "pcapng"
    return None


def iter_pcap(buf: bytes, problems: list[str]) -> Iterator[FrameRecord]:
    """Packet records of a classic pcap file; raises CaptureError if the header is bad."""
    if len(buf) < 24:
        raise CaptureError(f"truncated pcap file header ({len(buf)} of 24 bytes)")
    (magic,) = struct.unpack_from("<I", buf)
    if magic not in _PCAP_MAGICS:
        raise CaptureError("not a pcap file (bad magic number)")
    order, ticks = _PCAP_MAGICS[magic]
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(order + "HHiIII", buf, 4)
    if major != 2:
        raise CaptureError(f"pcap version {major} is not supported (only 2.x)")
    linktype = network & _LINKTYPE_MASK
    record = struct.Struct(order + "IIII")
    size = len(buf)
    offset = 24
    number = 0
    scale = 1.0 / ticks
    while offset < size:
        number += 1
        if size - offset < 16:
            problems.append(
                f"packet {number}: truncated record header ({size - offset} of 16 bytes); "
                "file ends here"
            )
            return
        seconds, fraction, caplen, _origlen = record.unpack_from(buf, offset)
        start = offset + 16
        if caplen > size - start:
            problems.append(
                f"packet {number}: truncated record ({size - start} of {caplen} bytes); "
                "file ends here"
            )
            return
        if fraction >= ticks:
            problems.append(f"packet {number}: bad timestamp fraction {fraction}; kept")
        yield number, seconds + fraction * scale, linktype, start, start + caplen
        offset = start + caplen


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    ticks_per_second: int = 1_000_000
    offset_seconds: int = 0


def iter_pcapng(buf: bytes, problems: list[str]) -> Iterator[FrameRecord]:
    """Packet records (EPB, SPB, OPB) of a pcapng file, over every section and interface.

    Raises CaptureError if the file does not start with a readable Section Header Block.
    """
    size = len(buf)
    order = _section_byte_order(buf, 0)
    if order is None:
        raise CaptureError("not a pcapng file (bad Section Header Block)")
    interfaces: list[_Interface] = []
    offset = 0
    number = 0
    last_time = 0.0
    while offset < size:
        if size - offset < 12:
            problems.append(
                f"packet {number + 1}: truncated pcapng block header at byte {offset}; "
                "file ends here"
            )
            return
        (block_type,) = struct.unpack_from(order + "I", buf, offset)
        if block_type == _PCAPNG_SHB:
            section_order = _section_byte_order(buf, offset)
            if section_order is None:
                problems.append(
                    f"packet {number + 1}: corrupt Section Header Block at byte {offset}; "
                    "file ends here"
                )
                return
            order = section_order
            interfaces = []
        (length,) = struct.unpack_from(order + "I", buf, offset + 4)
        if length < 12 or length % 4:
            problems.append(
                f"packet {number + 1}: corrupt pcapng block at byte {offset} "
                f"(bad length {length}); file ends here"
            )
            return
        if length > size - offset:
            problems.append(
                f"packet {number + 1}: truncated pcapng block at byte {offset} "
                f"({size - offset} of {length} bytes); file ends here"
            )
            return
        (trailer,) = struct.unpack_from(order + "I", buf, offset + length - 4)
        if trailer != length:
            problems.append(
                f"packet {number + 1}: corrupt pcapng block at byte {offset} (length "
                f"{length}, trailing length {trailer}); file ends here"
            )
            return
        body = offset + 8
        end = offset + length - 4
        if block_type == _PCAPNG_IDB:
            interface = _read_interface(buf, order, body, end)
            if interface is None:
                problems.append(
                    f"packet {number + 1}: corrupt Interface Description Block at byte "
                    f"{offset}; its packets will be skipped"
                )
                interface = _Interface(SKIPPED, 0)
            interfaces.append(interface)
        elif block_type in (_PCAPNG_EPB, _PCAPNG_OPB, _PCAPNG_SPB):
            number += 1
            record = _packet_record(buf, order, block_type, body, end, interfaces, number,
                                    last_time, problems)
            last_time = record[1]
            yield record
        offset += length


def _section_byte_order(buf: bytes, offset: int) -> str | None:
    if len(buf) - offset < 28:
        return None
    (bom,) = struct.unpack_from("<I", buf, offset + 8)
    if bom == _PCAPNG_BOM:
        return "<"
    if bom == int.from_bytes(_PCAPNG_BOM.to_bytes(4, "little"), "big"):
        return ">"
    return None


def _read_interface(buf: bytes, order: str, body: int, end: int) -> _Interface | None:
    if end - body < 8:
        return None
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, body)
    interface = _Interface(linktype, snaplen)
    position = body + 8
    while end - position >= 4:
        code, length = struct.unpack_from(order + "HH", buf, position)
        value = position + 4
        if code == _OPT_END or length > end - value:
            break
        if code == _OPT_IF_TSRESOL and length >= 1:
            resolution = buf[value]
            exponent = resolution & 0x7F
            interface.ticks_per_second = 2**exponent if resolution & 0x80 else 10**exponent
        elif code == _OPT_IF_TSOFFSET and length >= 8:
            (interface.offset_seconds,) = struct.unpack_from(order + "q", buf, value)
        position = value + (length + 3) // 4 * 4
    return interface


def _packet_record(
    buf: bytes,
    order: str,
    block_type: int,
    body: int,
    end: int,
    interfaces: list[_Interface],
    number: int,
    last_time: float,
    problems: list[str],
) -> FrameRecord:
    """The record of one packet block; an unusable one (problem noted) has link type SKIPPED."""
    if block_type == _PCAPNG_SPB:
        # Simple Packet Block: interface 0, no timestamp (we keep the previous packet's).
        if end - body < 4 or not interfaces:
            problems.append(f"packet {number}: unusable Simple Packet Block; skipped")
            return _skipped(number, last_time)
        (origlen,) = struct.unpack_from(order + "I", buf, body)
        interface = interfaces[0]
        caplen = min(origlen, end - body - 4)
        if interface.snaplen:
            caplen = min(caplen, interface.snaplen)
        if interface.linktype == SKIPPED:
            return _skipped(number, last_time)
        return number, last_time, interface.linktype, body + 4, body + 4 + caplen
    if end - body < 20:
        problems.append(f"packet {number}: packet block too short; skipped")
        return _skipped(number, last_time)
    # EPB: 32-bit interface id; the obsolete Packet Block: 16-bit id and 16-bit drop count.
    header = order + ("IIII" if block_type == _PCAPNG_EPB else "HHIII")
    fields = struct.unpack_from(header, buf, body)
    interface_id, high, low, caplen = fields[0], fields[-3], fields[-2], fields[-1]
    start = body + 20
    if caplen > end - start:
        problems.append(f"packet {number}: captured length {caplen} exceeds its block; skipped")
        return _skipped(number, last_time)
    if interface_id >= len(interfaces):
        problems.append(f"packet {number}: unknown interface {interface_id}; skipped")
        return _skipped(number, last_time)
    interface = interfaces[interface_id]
    if interface.linktype == SKIPPED:
        return _skipped(number, last_time)
    ticks = (high << 32) | low
    per_second = interface.ticks_per_second
    if per_second == 1_000_000:
        time = ticks / 1_000_000
    else:
        seconds, fraction = divmod(ticks, per_second)
        time = seconds + fraction / per_second
    return number, time + interface.offset_seconds, interface.linktype, start, start + caplen


def _skipped(number: int, time: float) -> FrameRecord:
    return number, time, SKIPPED, 0, 0
