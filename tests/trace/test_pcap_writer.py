"""PcapWriter: tshark must decode every message as SIP and find nothing wrong; output is
deterministic; our reader gets back exactly what was recorded."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from fsync_model.trace.capture import open_capture
from fsync_model.transport.address import Address
from fsync_model.transport.pcap import PcapWriter
from fsync_model.transport.tap import Tap
from tests.trace.frames import sip_message, sip_response
from tests.trace.tshark import decode_as, problems, sip_frames, tshark

EPOCH = 1_700_000_000.0


def test_is_a_tap(tmp_path: Path) -> None:
    with PcapWriter(tmp_path / "t.pcap") as writer:
        assert isinstance(writer, Tap)


@pytest.mark.parametrize(
    ("phone", "server"),
    [
        (Address("udp", "127.0.0.1", 5070), Address("udp", "127.0.0.1", 5080)),
        (Address("udp", "::1", 15070), Address("udp", "::1", 15080)),
    ],
    ids=["ipv4", "ipv6"],
)
def test_udp_decodes_as_sip_without_warnings(tmp_path: Path, phone: Address,
                                             server: Address) -> None:
    path = tmp_path / "udp.pcap"
    with PcapWriter(path, epoch=EPOCH) as writer:
        writer.record(0.0, phone, server, sip_message("c1"))
        writer.record(0.01, server, phone, sip_response("c1"))
        # Odd length: exercises the checksum's padding byte.
        writer.record(0.02, phone, server, sip_message("c2", body=b"odd"))
    decode = decode_as(udp=(server.port,))
    assert sip_frames(path, decode) == [(1, "c1"), (2, "c1"), (3, "c2")]
    assert problems(path, decode) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp_split_and_coalesced_messages(tmp_path: Path, host: str) -> None:
    path = tmp_path / "tcp.pcap"
    client = Address("tcp", host, 40001)
    server = Address("tcp", host, 5090)
    big = sip_message("big", body=b"x" * 2500)  # three segments at MSS 1000
    with PcapWriter(path, epoch=EPOCH, mss=1000) as writer:
        writer.record(0.0, client, server, sip_message("first"))
        writer.record(0.1, client, server, big)
        # Two messages in one segment (a transport flushing a coalesced buffer).
        writer.record(0.2, server, client, sip_response("first") + sip_response("big"))
        writer.record(0.3, client, server, sip_message("last"))
    decode = decode_as(tcp=(5090,))
    # 1-3 handshake, 4 first, 5-7 big, 8 both responses, 9 last.
    assert tshark(path, "-Y", "tcp.flags.syn == 1", "-T", "fields", "-e", "frame.number") == [
        "1", "2"]
    assert sip_frames(path, decode) == [(4, "first"), (7, "big"), (8, "first,big"), (9, "last")]
    assert problems(path, decode) == []
    assert tshark(path, *decode, "-Y", "tcp.analysis.flags") == []
    lengths = tshark(path, "-T", "fields", "-e", "tcp.len")
    assert [int(n) for n in lengths[4:7]] == [1000, 1000, len(big) - 2000]


def test_tls_is_written_in_clear_as_tcp(tmp_path: Path) -> None:
    path = tmp_path / "tls.pcap"
    client = Address("tls", "127.0.0.1", 40002)
    server = Address("tls", "127.0.0.1", 5061)
    with PcapWriter(path) as writer:
        writer.record(1.0, client, server, sip_message("tls"))
    # Wireshark expects TLS on 5061, so SIP in clear there needs a decode-as.
    decode = decode_as(tcp=(5061,))
    assert sip_frames(path, decode) == [(4, "tls")]
    messages, _ = open_capture(path)
    assert [(m.src, m.dst) for m in messages] == [
        (Address("tcp", "127.0.0.1", 40002), Address("tcp", "127.0.0.1", 5061))]


def test_mem_addresses_get_loopback_addresses_on_the_sip_port(tmp_path: Path) -> None:
    path = tmp_path / "mem.pcap"
    phone, server = Address("mem", "phone"), Address("mem", "server")
    with PcapWriter(path) as writer:
        writer.record(0.0, phone, server, sip_message("m1"))
        writer.record(0.1, server, phone, sip_response("m1"))
        writer.record(0.2, Address("mem", "third"), phone, sip_message("m2"))
    # Port 5060: tshark needs no decode-as.
    assert sip_frames(path, []) == [(1, "m1"), (2, "m1"), (3, "m2")]
    assert problems(path, []) == []
    messages, _ = open_capture(path)
    assert [(str(m.src), str(m.dst)) for m in messages] == [
        ("udp:127.0.0.1:5060", "udp:127.0.0.2:5060"),
        ("udp:127.0.0.2:5060", "udp:127.0.0.1:5060"),
        ("udp:127.0.0.3:5060", "udp:127.0.0.1:5060"),
    ]


def test_mixed_families_use_ipv4_mapped_ipv6(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    with PcapWriter(path) as writer:
        writer.record(0.0, Address("udp", "127.0.0.1", 5070), Address("udp", "::1", 5060),
                      sip_message("mixed"))
    messages, _ = open_capture(path)
    assert messages[0].src == Address("udp", "::ffff:127.0.0.1", 5070)
    assert messages[0].dst == Address("udp", "::1", 5060)
    assert problems(path, []) == []


def _records() -> list[tuple[float, Address, Address, bytes]]:
    a, b = Address("udp", "127.0.0.1", 5070), Address("udp", "127.0.0.1", 5080)
    c, d = Address("tcp", "::1", 40003), Address("tcp", "::1", 5060)
    return [
        (0.5, a, b, sip_message("d1")),
        (0.75, c, d, sip_message("d2", body=b"y" * 3000)),
        (1.0, d, c, sip_response("d2")),
        (1.25, b, a, sip_response("d1")),
    ]


def test_output_is_deterministic(tmp_path: Path) -> None:
    outputs = []
    for attempt in range(2):
        path = tmp_path / f"run{attempt}.pcap"
        with PcapWriter(path, epoch=EPOCH) as writer:
            for record in _records():
                writer.record(*record)
        outputs.append(path.read_bytes())
    buffer = io.BytesIO()
    with PcapWriter(buffer, epoch=EPOCH) as writer:
        for record in _records():
            writer.record(*record)
    assert outputs[0] == outputs[1] == buffer.getvalue()


def test_reader_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "round.pcap"
    with PcapWriter(path, epoch=EPOCH) as writer:
        for record in _records():
            writer.record(*record)
    messages, summary = open_capture(path)
    assert [(m.time, m.src, m.dst, m.data) for m in messages] == [
        (EPOCH + now, src, dst, data) for now, src, dst, data in _records()
    ]
    # Frame numbers are Wireshark's: the frames tshark shows as SIP.
    assert [m.number for m in messages] == [n for n, _ in sip_frames(path, decode_as(udp=(5080,)))]
    assert summary.problems == []
    assert summary.packets == writer.packets
    assert summary.messages == 4 and summary.non_sip == 0


def test_timestamps_and_header(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with PcapWriter(buffer, epoch=EPOCH) as writer:
        writer.record(1.2345674, Address("mem", "a"), Address("mem", "b"), sip_message("t"))
        writer.record(-EPOCH - 5, Address("mem", "a"), Address("mem", "b"), sip_message("t"))
    data = buffer.getvalue()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    assert snaplen >= 65535
    seconds, micros, caplen, origlen = struct.unpack_from("<IIII", data, 24)
    assert (seconds, micros) == (1_700_000_001, 234567)
    assert caplen == origlen
    # A time before the epoch is clamped to 0 rather than wrapping around.
    second = 24 + 16 + caplen
    assert struct.unpack_from("<II", data, second) == (0, 0)


def test_writer_owns_paths_but_not_file_objects(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    writer.close()
    writer.close()
    assert not buffer.closed and len(buffer.getvalue()) == 24
    with pytest.raises(ValueError, match="closed"):
        writer.record(0.0, Address("mem", "a"), Address("mem", "b"), b"x")
    path = tmp_path / "empty.pcap"
    with PcapWriter(path):
        pass
    assert path.stat().st_size == 24
    assert tshark(path) == []


def test_udp_message_too_large_for_a_datagram() -> None:
    with PcapWriter(io.BytesIO()) as writer, pytest.raises(ValueError, match="UDP datagram"):
        writer.record(0.0, Address("mem", "a"), Address("mem", "b"),
                      sip_message("big", body=b"z" * 70000))
