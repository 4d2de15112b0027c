"""Decode one captured frame down to its UDP datagram or TCP segment.

Link layers: Ethernet (with 802.1Q / 802.1ad VLAN tags), Linux cooked capture v1 and v2,
raw IP, BSD null/loopback. Network layers: IPv4 (fragments are reported, not reassembled)
and IPv6 (extension headers walked). Works on offsets into the capture buffer with
``struct.unpack_from``: a frame is never copied, only the payload of interest is sliced.
IP and transport checksums are not checked (loopback captures carry offloaded, unfilled
checksums).
"""
from __future__ import annotations

import enum
import struct
from typing import Final, NamedTuple

#: Link types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_LINUX_SLL2: Final = 276
SUPPORTED_LINKTYPES: Final = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL,
    LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
})

PROTO_TCP: Final = 6
PROTO_UDP: Final = 17

_ETHERTYPE_IPV4: Final = 0x0800
_ETHERTYPE_IPV6: Final = 0x86DD
_ETHERTYPE_VLAN: Final = frozenset({0x8100, 0x88A8, 0x9100})
# BSD address families for IPv6 differ by OS (NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
_AF_INET: Final = 2
_AF_INET6: Final = frozenset({24, 28, 30, 10})
# IPv6 extension headers with the common (next header, length in 8-octet units) layout.
_IPV6_EXTENSIONS: Final = frozenset({0, 43, 60, 135, 139, 140})
_IPV6_FRAGMENT: Final = 44
_IPV6_AH: Final = 51
_MAX_EXTENSION_HEADERS: Final = 16

_U16 = struct.Struct("!H")
_U32_LE = struct.Struct("<I")
_IPV4 = struct.Struct("!BxHxxHxBxx")  # version/IHL, total length, flags/offset, protocol
_IPV6 = struct.Struct("!xxxxHBx")  # payload length, next header
_PORTS = struct.Struct("!HH")
_UDP = struct.Struct("!HHH")
_TCP = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags


class Datagram(NamedTuple):
    """The transport-layer part of a frame: addresses, and the payload as ``start:end``.

    ``seq`` and ``flags`` are the TCP sequence number and flag bits (0 for UDP).
    """

    protocol: int
    src_ip: bytes
    src_port: int
    dst_ip: bytes
    dst_port: int
    seq: int
    flags: int
    start: int
    end: int


class Skipped(enum.Enum):
    """Why a well-formed frame has no datagram for us."""

    NOT_IP = "not IPv4 or IPv6"
    OTHER_PROTOCOL = "neither UDP nor TCP"
    FRAGMENT = "an IP fragment"
    UNSUPPORTED_LINKTYPE = "an unsupported link type"


class BadPacket(NamedTuple):
    """A frame too short or with inconsistent lengths; ``reason`` says what is wrong."""

    reason: str


Decoded = Datagram | Skipped | BadPacket


def decode_frame(linktype: int, buf: bytes, start: int, end: int) -> Decoded:
    """Decode the frame ``buf[start:end]`` captured with ``linktype``."""
    if linktype == LINKTYPE_ETHERNET:
        if end - start < 14:
            return BadPacket("Ethernet header truncated")
        (ethertype,) = _U16.unpack_from(buf, start + 12)
        start += 14
        while ethertype in _ETHERTYPE_VLAN:
            if end - start < 4:
                return BadPacket("VLAN tag truncated")
            (ethertype,) = _U16.unpack_from(buf, start + 2)
            start += 4
        version = 4 if ethertype == _ETHERTYPE_IPV4 else 6 if ethertype == _ETHERTYPE_IPV6 else 0
    elif linktype == LINKTYPE_LINUX_SLL:
        if end - start < 16:
            return BadPacket("Linux cooked header truncated")
        (protocol,) = _U16.unpack_from(buf, start + 14)
        start += 16
        version = 4 if protocol == _ETHERTYPE_IPV4 else 6 if protocol == _ETHERTYPE_IPV6 else 0
    elif linktype == LINKTYPE_LINUX_SLL2:
        if end - start < 20:
            return BadPacket("Linux cooked v2 header truncated")
        (protocol,) = _U16.unpack_from(buf, start)
        start += 20
        version = 4 if protocol == _ETHERTYPE_IPV4 else 6 if protocol == _ETHERTYPE_IPV6 else 0
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if end <= start:
            return BadPacket("empty packet")
        version = buf[start] >> 4
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if end - start < 4:
            return BadPacket("loopback header truncated")
        (family,) = _U32_LE.unpack_from(buf, start)
        if linktype == LINKTYPE_LOOP or family > 0xFFFF:
            # LOOP is always big-endian; NULL is in the capturing host's order.
            family = int.from_bytes(family.to_bytes(4, "little"), "big")
        start += 4
        version = 4 if family == _AF_INET else 6 if family in _AF_INET6 else 0
    else:
        return Skipped.UNSUPPORTED_LINKTYPE
    if version == 4:
        return _decode_ipv4(buf, start, end)
    if version == 6:
        return _decode_ipv6(buf, start, end)
    return Skipped.NOT_IP


def _decode_ipv4(buf: bytes, start: int, end: int) -> Decoded:
    if end - start < 20:
        return BadPacket("IPv4 header truncated")
    version_ihl, total, fragment, protocol = _IPV4.unpack_from(buf, start)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header < 20:
        return BadPacket(f"bad IPv4 header (version/IHL byte 0x{version_ihl:02x})")
    if total == 0:
        # TCP segmentation offload: the capture shows length 0; the frame is the packet.
        total = end - start
    if total < header:
        return BadPacket(f"IPv4 total length {total} shorter than its header")
    if total > end - start:
        return BadPacket(f"IPv4 packet truncated ({end - start} of {total} bytes captured)")
    if fragment & 0x3FFF:  # more-fragments flag or a fragment offset
        return Skipped.FRAGMENT
    return _decode_transport(
        protocol, buf, start + header, start + total, buf[start + 12 : start + 16],
        buf[start + 16 : start + 20],
    )


def _decode_ipv6(buf: bytes, start: int, end: int) -> Decoded:
    if end - start < 40:
        return BadPacket("IPv6 header truncated")
    if buf[start] >> 4 != 6:
        return BadPacket(f"bad IPv6 header (version {buf[start] >> 4})")
    payload_length, next_header = _IPV6.unpack_from(buf, start)
    src = buf[start + 8 : start + 24]
    dst = buf[start + 24 : start + 40]
    position = start + 40
    if payload_length == 0:
        payload_end = end  # a jumbogram (RFC 2675) or offloaded length: use what is there
    else:
        payload_end = position + payload_length
        if payload_end > end:
            return BadPacket(
                f"IPv6 packet truncated ({end - position} of {payload_length} payload bytes "
                "captured)"
            )
    for _ in range(_MAX_EXTENSION_HEADERS):
        if next_header in _IPV6_EXTENSIONS or next_header == _IPV6_AH:
            if payload_end - position < 8:
                return BadPacket("IPv6 extension header truncated")
            following, length = buf[position], buf[position + 1]
            # AH counts 4-octet units minus 2 (RFC 4302); the others 8-octet units minus 1.
            size = (length + 2) * 4 if next_header == _IPV6_AH else (length + 1) * 8
            if size > payload_end - position:
                return BadPacket("IPv6 extension header overruns the packet")
            next_header, position = following, position + size
        elif next_header == _IPV6_FRAGMENT:
            if payload_end - position < 8:
                return BadPacket("IPv6 fragment header truncated")
            (offset_flags,) = _U16.unpack_from(buf, position + 2)
            if offset_flags & 0xFFF9:  # offset or more-fragments: a real fragment
                return Skipped.FRAGMENT
            # An atomic fragment (RFC 6946): the whole packet, carry on.
            next_header, position = buf[position], position + 8
        else:
            return _decode_transport(next_header, buf, position, payload_end, src, dst)
    return BadPacket("too many IPv6 extension headers")


def _decode_transport(
    protocol: int, buf: bytes, start: int, end: int, src: bytes, dst: bytes
) -> Decoded:
    if protocol == PROTO_UDP:
        if end - start < 8:
            return BadPacket("UDP header truncated")
        src_port, dst_port, length = _UDP.unpack_from(buf, start)
        if length < 8:
            if length != 0:  # 0: offloaded or a jumbogram; take the IP payload as it is
                return BadPacket(f"bad UDP length {length}")
            length = end - start
        if length > end - start:
            return BadPacket(f"UDP length {length} exceeds the IP payload ({end - start} bytes)")
        return Datagram(PROTO_UDP, src, src_port, dst, dst_port, 0, 0, start + 8, start + length)
    if protocol == PROTO_TCP:
        if end - start < 20:
            return BadPacket("TCP header truncated")
        src_port, dst_port, seq, _ack, offset, flags = _TCP.unpack_from(buf, start)
        header = (offset >> 4) * 4
        if header < 20 or header > end - start:
            return BadPacket(f"bad TCP header length {header}")
        return Datagram(PROTO_TCP, src, src_port, dst, dst_port, seq, flags, start + header, end)
    return Skipped.OTHER_PROTOCOL
