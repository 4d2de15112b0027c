"""Build packets and capture files by hand, for reader tests that need what our writer does
not produce: other link types, byte orders, resolutions, pcapng blocks, broken files.

Checksums are left at zero: the reader ignores them, as loopback captures carry unfilled
offloaded checksums.
"""
from __future__ import annotations

import ipaddress
import struct


def sip_message(call_id: str, body: bytes = b"", method: str = "OPTIONS", cseq: int = 1) -> bytes:
    """A small, valid SIP request (with Content-Length, so it frames on TCP too)."""
    return (
        f"{method} sip:bob@127.0.0.1:5080 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{call_id}-{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        + ("Content-Type: text/plain\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def sip_response(call_id: str, status: int = 200, reason: str = "OK") -> bytes:
    return (
        f"SIP/2.0 {status} {reason}\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: <sip:bob@127.0.0.1>;tag=b1\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes = b"", *, ack: int = 0,
        flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 5 << 4, flags,
                       65535, 0, 0) + payload


SYN = 0x02
ACK = 0x10
PSH_ACK = 0x18


def ipv4(src: str, dst: str, protocol: int, payload: bytes, *, ident: int = 1,
         flags_fragment: int = 0x4000, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident,
                         flags_fragment, 64, protocol, 0, _ip(src), _ip(dst))
    return header + options + payload


def ipv6(src: str, dst: str, protocol: int, payload: bytes,
         extensions: list[tuple[int, bytes]] | None = None) -> bytes:
    """IPv6 with extension headers: each (type, body) with body padded to 8n-2 bytes."""
    chain = b""
    types = [kind for kind, _ in extensions or []] + [protocol]
    for (_kind, body), following in zip(extensions or [], types[1:], strict=True):
        total = 2 + len(body)
        assert total % 8 == 0, "extension header must be a multiple of 8 octets"
        chain += bytes([following, total // 8 - 1]) + body
    packet = chain + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(packet), types[0], 64, _ip(src),
                       _ip(dst)) + packet


def ethernet(packet: bytes, *, vlans: tuple[int, ...] = ()) -> bytes:
    ethertype = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    tags = b"".join(struct.pack("!HH", 0x8100, vlan) for vlan in vlans)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + tags + struct.pack(
        "!H", ethertype) + packet


def sll(packet: bytes) -> bytes:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113): 16-byte header."""
    protocol = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    return struct.pack("!HHH8sH", 0, 772, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00",
                       protocol) + packet


def sll2(packet: bytes) -> bytes:
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276): 20-byte header."""
    protocol = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    return struct.pack("!HHIHBB8s", protocol, 0, 1, 772, 0, 6,
                       b"\x02\x00\x00\x00\x00\x01\x00\x00") + packet


def null_loopback(packet: bytes, order: str = "<") -> bytes:
    """BSD loopback (LINKTYPE_NULL, 0): the address family in the capturing host's order."""
    family = 2 if packet[0] >> 4 == 4 else 30
    return struct.pack(order + "I", family) + packet


def pcap_file(frames: list[tuple[float, bytes]], linktype: int = 1, *, order: str = "<",
              nanoseconds: bool = False) -> bytes:
    """A classic pcap file holding ``frames`` (time, bytes)."""
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    ticks = 1_000_000_000 if nanoseconds else 1_000_000
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for time, frame in frames:
        total = round(time * ticks)
        out.append(struct.pack(order + "IIII", total // ticks, total % ticks, len(frame),
                               len(frame)) + frame)
    return b"".join(out)


# -- pcapng -------------------------------------------------------------------------------


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str = "<") -> bytes:
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int, order: str = "<", *, tsresol: int | None = None,
        tsoffset: int | None = None, snaplen: int = 0) -> bytes:
    options = b""
    if tsresol is not None:
        options += _option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        options += _option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += _option(order, 0, b"")
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def epb(interface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    return _block(order, 6, struct.pack(order + "IIIII", interface, ticks >> 32,
                                        ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def spb(frame: bytes, order: str = "<") -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(frame)) + frame)


def custom_block(order: str = "<") -> bytes:
    """A block readers must skip: a Name Resolution Block with just its end marker."""
    return _block(order, 4, struct.pack(order + "HH", 0, 0))
