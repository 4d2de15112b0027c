"""A tap that writes what it sees as a classic pcap file Wireshark and tshark can open.

Each SIP message becomes Ethernet + IPv4/IPv6 + UDP, or a TCP flow for ``tcp``/``tls``
addresses (a synthesized three-way handshake at the first message of a flow, then data
segments of at most one MSS with consistent sequence and acknowledgement numbers). TLS flows
are written in clear, as if already decrypted. ``mem:`` addresses and host names, which have
no IP address, are given deterministic 127.0.0.x addresses, so in-memory runs produce
captures too. Output depends only on the records given: the same records, the same bytes.
"""
from __future__ import annotations

import ipaddress
import os
import struct
import zlib
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Final

from fsync_model.transport.address import Address

#: The pcap file format (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html).
PCAP_MAGIC_MICROSECONDS: Final = 0xA1B2C3D4
LINKTYPE_ETHERNET: Final = 1
#: Snapshot length written in the header; every frame we write fits in it.
SNAPLEN: Final = 262144
#: Port given to ``mem:`` and host-name addresses (they have none): the SIP port, so tools
#: decode the traffic as SIP without being told.
DEFAULT_SIP_PORT: Final = 5060
#: The usual Ethernet maximum segment sizes (1500 bytes MTU minus IP and TCP headers).
DEFAULT_MSS_IPV4: Final = 1460
DEFAULT_MSS_IPV6: Final = 1440
#: Window scale shift announced in the SYNs, so that a long one-way burst of messages never
#: looks like it overflows the receive window (RFC 7323 section 2).
_WINDOW_SHIFT: Final = 7
_WINDOW: Final = 0xFFFF

_ETHERTYPE_IPV4: Final = 0x0800
_ETHERTYPE_IPV6: Final = 0x86DD
_PROTO_TCP: Final = 6
_PROTO_UDP: Final = 17
_TCP_SYN: Final = 0x02
_TCP_SYN_ACK: Final = 0x12
_TCP_ACK: Final = 0x10
_TCP_PSH_ACK: Final = 0x18

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IPV6_HEADER = struct.Struct("!IHBB16s16s")
_UDP_HEADER = struct.Struct("!HHHH")
_TCP_HEADER = struct.Struct("!HHIIHHHH")

_STREAM_TRANSPORTS: Final = frozenset({"tcp", "tls"})


def internet_checksum(data: bytes, initial: int = 0) -> int:
    """The RFC 1071 ones' complement checksum of ``data`` (plus a partial sum ``initial``)."""
    if len(data) % 2:
        data += b"\x00"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = initial + sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class _Endpoint:
    """An address as it appears on the wire: IP version, packed IP, port, L4 protocol."""

    version: int
    ip: bytes
    port: int
    protocol: int


@dataclass
class _TcpFlow:
    """One synthesized TCP connection: who opened it and the next sequence number each way."""

    client: _Endpoint
    server: _Endpoint
    next_seq: dict[_Endpoint, int]


class PcapWriter:
    """Writes every recorded message to a pcap file (LINKTYPE_ETHERNET); a ``Tap``.

    ``target`` is a path (the file is created, and closed by :meth:`close`) or a binary file
    opened for writing (flushed by :meth:`close`, left open for its owner). ``epoch`` is added
    to every ``now`` to make absolute timestamps: pass the wall-clock time at which virtual
    time 0 happened, or leave it at 0 for captures that start in 1970. ``mss`` overrides the
    maximum TCP segment size (default 1460 bytes over IPv4, 1440 over IPv6).

    Records whose source and destination are one IPv4 and one IPv6 address are written over
    IPv6 with the IPv4 side as an IPv4-mapped address. A UDP message larger than one
    datagram can carry raises ``ValueError``, as the socket would have.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        epoch: float = 0.0,
        mss: int | None = None,
    ) -> None:
        if mss is not None and not 1 <= mss <= 65495:
            raise ValueError(f"mss {mss} not in 1..65495")
        self.epoch = epoch
        self.mss = mss
        self._owned = isinstance(target, str | os.PathLike)
        self._file: BinaryIO = (
            open(target, "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
        )
        self._closed = False
        #: Number of packets (frames) written so far.
        self.packets = 0
        self._ip_id = 0
        self._mapped_hosts: dict[str, str] = {}
        self._flows: dict[tuple[_Endpoint, _Endpoint], _TcpFlow] = {}
        self._file.write(
            _FILE_HEADER.pack(PCAP_MAGIC_MICROSECONDS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
        )

    # -- the Tap protocol -------------------------------------------------------------------

    def record(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        """Write ``data`` sent from ``src`` to ``dst`` at ``now`` (seconds) as packets."""
        if self._closed:
            raise ValueError("PcapWriter is closed")
        source, destination = self._endpoints(src, dst)
        if source.protocol == _PROTO_UDP:
            self._write_udp(now, source, destination, bytes(data))
        else:
            self._write_tcp(now, source, destination, bytes(data))

    # -- file handling ------------------------------------------------------------------------

    def flush(self) -> None:
        """Push everything written so far to the file."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ----------------------------------------------------------------------------

    def _endpoints(self, src: Address, dst: Address) -> tuple[_Endpoint, _Endpoint]:
        protocol = _PROTO_TCP if src.transport in _STREAM_TRANSPORTS else _PROTO_UDP
        src_ip = self._ip_of(src)
        dst_ip = self._ip_of(dst)
        if src_ip.version != dst_ip.version:
            src_ip, dst_ip = _as_ipv6(src_ip), _as_ipv6(dst_ip)
        return (
            _Endpoint(src_ip.version, src_ip.packed, src.port or DEFAULT_SIP_PORT, protocol),
            _Endpoint(dst_ip.version, dst_ip.packed, dst.port or DEFAULT_SIP_PORT, protocol),
        )

    def _ip_of(self, address: Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        if address.transport != "mem":
            try:
                return ipaddress.ip_address(address.host)
            except ValueError:
                pass  # a host name: mapped like a mem name
        key = f"{address.transport == 'mem'}:{address.host}"
        mapped = self._mapped_hosts.get(key)
        if mapped is None:
            # In order of first appearance: 127.0.0.1, 127.0.0.2, ... 127.0.0.254, 127.0.1.1...
            index = len(self._mapped_hosts)
            mapped = f"127.0.{index // 254}.{index % 254 + 1}"
            self._mapped_hosts[key] = mapped
        return ipaddress.IPv4Address(mapped)

    # -- packets ------------------------------------------------------------------------------

    def _write_udp(self, now: float, src: _Endpoint, dst: _Endpoint, data: bytes) -> None:
        limit = 65535 - 8 - (20 if src.version == 4 else 0)
        if len(data) > limit:
            raise ValueError(
                f"a {len(data)}-byte message does not fit in one UDP datagram (max {limit})"
            )
        length = 8 + len(data)
        header = _UDP_HEADER.pack(src.port, dst.port, length, 0)
        checksum = internet_checksum(
            header + data, _pseudo_header_sum(src, dst, _PROTO_UDP, length)
        )
        # RFC 768: a computed checksum of zero is sent as all ones.
        header = _UDP_HEADER.pack(src.port, dst.port, length, checksum or 0xFFFF)
        self._write_ip(now, src, dst, _PROTO_UDP, header + data)

    def _write_tcp(self, now: float, src: _Endpoint, dst: _Endpoint, data: bytes) -> None:
        flow = self._flows.get((src, dst))
        if flow is None:
            flow = self._open_flow(now, src, dst)
        mss = self.mss or (DEFAULT_MSS_IPV4 if src.version == 4 else DEFAULT_MSS_IPV6)
        chunks = [data[i : i + mss] for i in range(0, len(data), mss)] or [b""]
        for index, chunk in enumerate(chunks):
            flags = _TCP_PSH_ACK if index == len(chunks) - 1 else _TCP_ACK
            seq = flow.next_seq[src]
            self._write_segment(now, src, dst, seq, flow.next_seq[dst], flags, chunk)
            flow.next_seq[src] = (seq + len(chunk)) & 0xFFFFFFFF

    def _open_flow(self, now: float, client: _Endpoint, server: _Endpoint) -> _TcpFlow:
        """Start a flow with SYN, SYN-ACK, ACK; initial sequence numbers from the endpoints."""
        client_isn = zlib.crc32(_flow_key(client, server))
        server_isn = zlib.crc32(_flow_key(server, client))
        mss = self.mss or (DEFAULT_MSS_IPV4 if client.version == 4 else DEFAULT_MSS_IPV6)
        # MSS, NOP, window scale (RFC 9293 section 3.7.1, RFC 7323 section 2.2).
        options = struct.pack("!BBHBBBB", 2, 4, mss, 1, 3, 3, _WINDOW_SHIFT)
        self._write_segment(now, client, server, client_isn, 0, _TCP_SYN, b"", options)
        self._write_segment(now, server, client, server_isn, client_isn + 1, _TCP_SYN_ACK, b"",
                            options)
        flow = _TcpFlow(
            client,
            server,
            {client: (client_isn + 1) & 0xFFFFFFFF, server: (server_isn + 1) & 0xFFFFFFFF},
        )
        self._write_segment(now, client, server, flow.next_seq[client], flow.next_seq[server],
                            _TCP_ACK, b"")
        self._flows[(client, server)] = flow
        self._flows[(server, client)] = flow
        return flow

    def _write_segment(
        self,
        now: float,
        src: _Endpoint,
        dst: _Endpoint,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes,
        options: bytes = b"",
    ) -> None:
        offset_flags = ((20 + len(options)) // 4) << 12 | flags
        ack &= 0xFFFFFFFF
        header = _TCP_HEADER.pack(src.port, dst.port, seq, ack, offset_flags, _WINDOW, 0, 0)
        segment = header + options + payload
        checksum = internet_checksum(
            segment, _pseudo_header_sum(src, dst, _PROTO_TCP, len(segment))
        )
        header = _TCP_HEADER.pack(src.port, dst.port, seq, ack, offset_flags, _WINDOW,
                                  checksum, 0)
        self._write_ip(now, src, dst, _PROTO_TCP, header + options + payload)

    def _write_ip(self, now: float, src: _Endpoint, dst: _Endpoint, protocol: int,
                  payload: bytes) -> None:
        if src.version == 4:
            self._ip_id = (self._ip_id + 1) & 0xFFFF
            fields = [0x45, 0, 20 + len(payload), self._ip_id, 0x4000, 64, protocol, 0,
                      src.ip, dst.ip]
            fields[7] = internet_checksum(_IPV4_HEADER.pack(*fields))
            packet = _IPV4_HEADER.pack(*fields) + payload
            ethertype = _ETHERTYPE_IPV4
        else:
            packet = _IPV6_HEADER.pack(6 << 28, len(payload), protocol, 64, src.ip,
                                       dst.ip) + payload
            ethertype = _ETHERTYPE_IPV6
        frame = _mac(dst.ip) + _mac(src.ip) + struct.pack("!H", ethertype) + packet
        self._write_frame(now, frame)

    def _write_frame(self, now: float, frame: bytes) -> None:
        # Rounded separately: the sum of a large epoch and a small ``now`` would lose the
        # microseconds of ``now`` to float precision.
        micros = max(0, round(now * 1_000_000) + round(self.epoch * 1_000_000))
        seconds, micros = divmod(micros, 1_000_000)
        self._file.write(
            _RECORD_HEADER.pack(seconds & 0xFFFFFFFF, micros, len(frame), len(frame)) + frame
        )
        self.packets += 1


def _as_ipv6(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address):
        return ip
    return ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + ip.packed)


def _pseudo_header_sum(src: _Endpoint, dst: _Endpoint, protocol: int, length: int) -> int:
    """The unfolded sum of the IPv4 (RFC 768) or IPv6 (RFC 8200 section 8.1) pseudo-header."""
    words = src.ip + dst.ip
    halves: tuple[int, ...] = struct.unpack(f"!{len(words) // 2}H", words)
    total = sum(halves)
    return total + protocol + (length & 0xFFFF) + (length >> 16)


def _flow_key(a: _Endpoint, b: _Endpoint) -> bytes:
    return a.ip + a.port.to_bytes(2, "big") + b.ip + b.port.to_bytes(2, "big")


def _mac(ip: bytes) -> bytes:
    """A locally administered MAC derived from the IP address, stable for each host."""
    return b"\x02\x00" + ip[-4:]
