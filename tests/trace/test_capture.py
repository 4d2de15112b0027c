"""The capture reader on hand-built files: every container variant and link type, TCP
reassembly under reordering, duplication, overlap and loss, damaged and non-capture files."""
from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from fsync_model.trace.capture import open_capture, read_capture
from fsync_model.trace.records import CapturedMessage, CaptureError
from fsync_model.transport.address import Address
from fsync_model.transport.pcap import PcapWriter
from tests.conftest import require_peer
from tests.trace import frames as f

A4, B4 = "127.0.0.1", "127.0.0.2"
A6, B6 = "::1", "fe80::2"


def udp4(call_id: str, sport: int = 5070, dport: int = 5080) -> bytes:
    return f.ipv4(A4, B4, 17, f.udp(sport, dport, f.sip_message(call_id)))


def udp6(call_id: str) -> bytes:
    return f.ipv6(A6, B6, 17, f.udp(5070, 5080, f.sip_message(call_id)))


def call_ids(messages: list[CapturedMessage]) -> list[str]:
    ids = []
    for message in messages:
        for line in message.data.split(b"\r\n"):
            if line.startswith(b"Call-ID: "):
                ids.append(line[9:].decode())
    return ids


# -- containers -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanoseconds", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(order: str, nanoseconds: bool) -> None:
    data = f.pcap_file([(1.5, f.ethernet(udp4("a"))), (2.000001234, f.ethernet(udp6("b")))],
                       order=order, nanoseconds=nanoseconds)
    messages, summary = read_capture(data)
    assert call_ids(messages) == ["a", "b"]
    assert [m.number for m in messages] == [1, 2]
    assert messages[0].time == 1.5
    expected = 2.000001234 if nanoseconds else 2.000001
    assert messages[1].time == pytest.approx(expected, abs=1e-10)
    assert messages[0].src == Address("udp", A4, 5070)
    assert messages[1].dst == Address("udp", B6, 5080)
    assert (summary.format, summary.packets, summary.messages, summary.problems) == (
        "pcap", 2, 2, [])


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_blocks(order: str) -> None:
    data = b"".join([
        f.shb(order),
        f.idb(1, order),                                    # 0: Ethernet, microseconds
        f.idb(101, order, tsresol=9, tsoffset=1000),        # 1: raw IP, nanoseconds, offset
        f.custom_block(order),
        f.epb(0, 1_500_000, f.ethernet(udp4("eth")), order),
        f.epb(1, 2_250_000_000, udp6("raw"), order),
        f.spb(f.ethernet(udp4("simple")), order),          # no timestamp, interface 0
        # A second section in the other byte order resets the interfaces.
        f.shb(">" if order == "<" else "<"),
        f.idb(228, ">" if order == "<" else "<", tsresol=0x80 | 10),  # 2^-10 s
        f.epb(0, 3 * 1024 + 512, udp4("section2"), ">" if order == "<" else "<"),
    ])
    messages, summary = read_capture(data)
    assert summary.format == "pcapng" and summary.problems == []
    assert call_ids(messages) == ["eth", "raw", "simple", "section2"]
    assert [m.number for m in messages] == [1, 2, 3, 4]
    assert [m.time for m in messages] == [1.5, 1002.25, 1002.25, 3.5]


def test_pcapng_packet_on_unknown_interface_is_a_problem() -> None:
    data = f.shb() + f.idb(1) + f.epb(3, 0, f.ethernet(udp4("x"))) + f.epb(
        0, 0, f.ethernet(udp4("y")))
    messages, summary = read_capture(data)
    assert call_ids(messages) == ["y"]
    assert messages[0].number == 2
    assert summary.problems == ["packet 1: unknown interface 3; skipped"]


def test_editcap_pcapng_and_nanosecond_pcap_read_the_same(tmp_path: Path) -> None:
    editcap = require_peer("editcap")
    original = tmp_path / "ours.pcap"
    with PcapWriter(original, epoch=1_600_000_000) as writer:
        writer.record(0.25, Address("udp", A4, 5070), Address("udp", A4, 5080),
                      f.sip_message("u1"))
        writer.record(0.5, Address("tcp", A6, 40000), Address("tcp", A6, 5060),
                      f.sip_message("t1", body=b"b" * 4000))
        writer.record(0.75, Address("tcp", A6, 5060), Address("tcp", A6, 40000),
                      f.sip_response("t1"))
    expected, _ = open_capture(original)
    assert len(expected) == 3
    for output_format, name in (("pcapng", "ng.pcapng"), ("nsecpcap", "ns.pcap")):
        converted = tmp_path / name
        subprocess.run([editcap, "-F", output_format, str(original), str(converted)],
                       check=True, capture_output=True, timeout=60)
        messages, summary = open_capture(converted)
        assert summary.format == ("pcapng" if output_format == "pcapng" else "pcap")
        assert messages == expected, output_format
        assert summary.problems == []


# -- link types and network layers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (113, f.sll),
        (276, f.sll2),
        (101, lambda packet: packet),
        (0, f.null_loopback),
        (0, lambda packet: f.null_loopback(packet, ">")),
        (1, lambda packet: f.ethernet(packet, vlans=(100, 200))),
    ],
    ids=["sll", "sll2", "raw", "null-le", "null-be", "ethernet-qinq"],
)
def test_link_types(linktype: int, wrap: object) -> None:
    assert callable(wrap)
    data = f.pcap_file([(1.0, wrap(udp4("v4"))), (2.0, wrap(udp6("v6")))], linktype)
    messages, summary = read_capture(data)
    assert call_ids(messages) == ["v4", "v6"]
    assert summary.problems == []


@pytest.mark.parametrize(("linktype", "packet"), [(228, udp4("v4")), (229, udp6("v6"))])
def test_raw_ipv4_and_ipv6_link_types(linktype: int, packet: bytes) -> None:
    messages, _ = read_capture(f.pcap_file([(0.0, packet)], linktype))
    assert len(messages) == 1


def test_ipv6_extension_headers_are_walked() -> None:
    payload = f.udp(5070, 5080, f.sip_message("ext"))
    packet = f.ipv6(A6, B6, 17, payload, extensions=[
        (0, b"\x01\x04\x00\x00\x00\x00"),           # hop-by-hop, PadN
        (60, b"\x01\x0c" + b"\x00" * 12),             # destination options, 16 octets
        (44, b"\x00\x00\x00\x00\x00\x01"),           # atomic fragment: offset 0, M=0
    ])
    messages, summary = read_capture(f.pcap_file([(0.0, f.ethernet(packet))]))
    assert call_ids(messages) == ["ext"] and summary.problems == []


def test_ip_fragments_are_counted_and_noted() -> None:
    first = f.ipv4(A4, B4, 17, f.udp(5070, 5080, f.sip_message("frag")), flags_fragment=0x2000)
    later = f.ipv4(A4, B4, 17, b"rest of it", flags_fragment=0x00B9)
    v6 = f.ipv6(A6, B6, 17, b"piece", extensions=[(44, b"\x00\x08\x00\x00\x00\x01")])
    data = f.pcap_file([(0.0, f.ethernet(p)) for p in (udp4("ok"), first, later, v6)])
    messages, summary = read_capture(data)
    assert call_ids(messages) == ["ok"]
    assert summary.fragments == 3
    assert summary.problems == [
        "packet 2: 3 IP fragment(s) skipped from here on (IP reassembly is not supported); "
        "messages they carried are missing"
    ]


def test_ipv4_options_and_ethernet_padding() -> None:
    short = f.sip_message("pad")
    packet = f.ipv4(A4, B4, 17, f.udp(5070, 5080, short), options=b"\x01\x01\x01\x00")
    messages, _ = read_capture(f.pcap_file([(0.0, f.ethernet(packet) + b"\x00" * 20)]))
    assert [m.data for m in messages] == [short]


def test_non_sip_and_other_packets_are_counted() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    icmp = f.ipv4(A4, B4, 1, b"\x08\x00" + b"\x00" * 30)
    dns = f.ipv4(A4, B4, 17, f.udp(5353, 53, b"\x12\x34\x01\x00" + b"\x00" * 20))
    keepalive = f.ipv4(A4, B4, 17, f.udp(5070, 5080, b"\r\n\r\n"))
    http = f.ipv4(A4, B4, 6, f.tcp(40000, 80, 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    leading_crlf = f.ipv4(A4, B4, 17, f.udp(5070, 5080, b"\r\n" + f.sip_message("crlf")))
    frames = [arp, icmp, dns, keepalive, http, leading_crlf]
    data = f.pcap_file([(0.0, frame if frame is arp else f.ethernet(frame)) for frame in frames])
    messages, summary = read_capture(data)
    assert [m.data for m in messages] == [f.sip_message("crlf")]
    assert (summary.packets, summary.other, summary.non_sip) == (6, 2, 3)


def test_unsupported_link_type_is_reported_once() -> None:
    data = f.pcap_file([(0.0, b"\x00" * 40)] * 3, linktype=147)
    messages, summary = read_capture(data)
    assert messages == []
    assert summary.other == 3
    assert summary.problems == ["packet 1: link type 147 is not supported; 3 packet(s) skipped"]


def test_bad_lengths_are_problems_not_exceptions() -> None:
    truncated_ip = f.ethernet(udp4("t"))[:40]
    bad_udp_length = f.ipv4(A4, B4, 17, b"\x13\xce\x13\xd8\x00\x04\x00\x00" + b"x" * 10)
    data = f.pcap_file([(0.0, truncated_ip), (0.0, f.ethernet(bad_udp_length)),
                        (0.0, f.ethernet(udp4("fine")))])
    messages, summary = read_capture(data)
    assert call_ids(messages) == ["fine"]
    assert summary.problems == [
        f"packet 1: IPv4 packet truncated (26 of {len(udp4('t'))} bytes captured); skipped",
        "packet 2: bad UDP length 4; skipped",
    ]


# -- TCP reassembly --------------------------------------------------------------------------


def tcp_capture(segments: list[tuple[int, bytes]], *, syn_seq: int | None = 1000,
                reverse: list[tuple[int, bytes]] | None = None) -> bytes:
    """A capture of one connection: optional SYN, then data segments ``(seq, payload)``."""
    packets = []
    if syn_seq is not None:
        packets.append(f.ipv4(A4, B4, 6, f.tcp(40000, 5060, syn_seq, flags=f.SYN)))
        packets.append(f.ipv4(B4, A4, 6, f.tcp(5060, 40000, 9000, flags=f.SYN | f.ACK)))
    for seq, payload in segments:
        packets.append(f.ipv4(A4, B4, 6, f.tcp(40000, 5060, seq, payload)))
    for seq, payload in reverse or []:
        packets.append(f.ipv4(B4, A4, 6, f.tcp(5060, 40000, seq, payload)))
    return f.pcap_file([(index / 10, f.ethernet(p)) for index, p in enumerate(packets)])


def cut(data: bytes, *sizes: int) -> list[bytes]:
    pieces, start = [], 0
    for size in sizes:
        pieces.append(data[start : start + size])
        start += size
    pieces.append(data[start:])
    return pieces


STREAM = f.sip_message("s1", body=b"A" * 300) + f.sip_message("s2") + f.sip_message("s3",
                                                                                     b"C" * 50)


def segments_of(pieces: list[bytes], first_seq: int = 1001) -> list[tuple[int, bytes]]:
    out, seq = [], first_seq
    for piece in pieces:
        out.append((seq, piece))
        seq += len(piece)
    return out


def test_tcp_in_order_split_and_coalesced() -> None:
    segments = segments_of(cut(STREAM, 100, 250, 400))
    messages, summary = read_capture(tcp_capture(segments))
    assert call_ids(messages) == ["s1", "s2", "s3"]
    assert b"".join(m.data for m in messages) == STREAM
    # s1 ends in the third data segment (packet 5), s2 and s3 complete in packet 6.
    assert [m.number for m in messages] == [5, 6, 6]
    assert messages[0].time == pytest.approx(0.4)
    assert summary.problems == [] and summary.other == 2


def test_tcp_reordered_duplicated_and_overlapping_segments() -> None:
    s = segments_of(cut(STREAM, 100, 250, 400))
    overlap = (s[1][0] + 50, STREAM[150:500])  # overlaps the 2nd and 3rd segments
    order = [s[0], s[2], s[0], overlap, s[3], s[1], s[2], s[1]]
    messages, summary = read_capture(tcp_capture(order))
    assert b"".join(m.data for m in messages) == STREAM
    assert call_ids(messages) == ["s1", "s2", "s3"]
    # Everything was there once the 2nd segment (packet 8) arrived.
    assert [m.number for m in messages] == [8, 8, 8]
    # Only the repeats that brought nothing new count: s0, s2 and s1 the second time.
    assert summary.retransmissions == 3
    assert summary.problems == []


def test_tcp_sequence_numbers_wrap() -> None:
    segments = segments_of(cut(STREAM, 200, 300), first_seq=2**32 - 150)
    messages, _ = read_capture(tcp_capture(segments, syn_seq=2**32 - 151))
    assert b"".join(m.data for m in messages) == STREAM


def test_tcp_capture_starting_mid_message_resyncs_on_a_start_line() -> None:
    tail = STREAM[120:]  # starts inside s1's body
    messages, summary = read_capture(tcp_capture(segments_of(cut(tail, 300)), syn_seq=None))
    assert call_ids(messages) == ["s2", "s3"]
    assert summary.non_sip == 1  # the first segment held only the end of s1
    assert summary.problems == []


def test_tcp_start_line_split_across_segments_while_hunting() -> None:
    data = b"end of an earlier body\r\n" + STREAM
    split = len(b"end of an earlier body\r\n") + 10  # inside "OPTIONS sip:..."
    messages, _ = read_capture(tcp_capture(segments_of(cut(data, split)), syn_seq=None))
    assert call_ids(messages) == ["s1", "s2", "s3"]


def test_tcp_gap_never_filled_is_reported_and_later_messages_recovered() -> None:
    s = segments_of(cut(STREAM, 100, 250, 400))
    messages, summary = read_capture(tcp_capture([s[0], s[2], s[3]]))
    assert call_ids(messages) == ["s2", "s3"]
    assert [m.number for m in messages] == [5, 5]
    assert summary.problems == [
        "end of capture: tcp tcp:127.0.0.1:40000 -> tcp:127.0.0.2:5060: 250 bytes never "
        "captured before packet 4; skipped the gap",
        "end of capture: tcp tcp:127.0.0.1:40000 -> tcp:127.0.0.2:5060: incomplete SIP "
        "message (100 bytes) dropped",
    ]


def test_tcp_framing_error_resyncs_and_keeps_earlier_messages() -> None:
    no_length = b"NOTIFY sip:bob@127.0.0.1 SIP/2.0\r\nCall-ID: broken\r\n\r\n"
    data = f.sip_message("before") + no_length + f.sip_message("after")
    messages, summary = read_capture(tcp_capture(segments_of([data])))
    assert call_ids(messages) == ["before", "after"]
    assert len(summary.problems) == 1
    assert summary.problems[0].startswith(
        "packet 3: tcp tcp:127.0.0.1:40000 -> tcp:127.0.0.2:5060: SIP framing lost (400 "
        "Missing Content-Length")


def test_tcp_both_directions_and_a_reopened_connection() -> None:
    forward = segments_of([f.sip_message("req")])
    backward = segments_of([f.sip_response("req")], first_seq=9001)
    first = tcp_capture(forward, reverse=backward)
    # The same ports again, new ISN: a new connection whose stream starts afresh.
    again = tcp_capture(segments_of([f.sip_message("req2")], first_seq=5001), syn_seq=5000)
    messages, summary = read_capture(first + again[24:])
    assert call_ids(messages) == ["req", "req", "req2"]
    assert messages[1].src == Address("tcp", B4, 5060)
    assert summary.problems == []


def test_tcp_retransmitted_syn_keeps_the_stream() -> None:
    s = segments_of(cut(STREAM, 300))
    first = tcp_capture([s[0]])
    # The same SYN and SYN-ACK again (a duplicated handshake), then the rest of the stream.
    again = tcp_capture([s[1]], syn_seq=1000)
    messages, summary = read_capture(first + again[24:])
    assert b"".join(m.data for m in messages) == STREAM
    assert summary.problems == []


def test_tcp_non_sip_stream() -> None:
    http = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" * 3
    messages, summary = read_capture(tcp_capture(segments_of(cut(http, 40, 40))))
    assert messages == []
    assert summary.non_sip == 3


# -- damaged files and non-captures ------------------------------------------------------------


def test_truncated_final_record_keeps_earlier_packets() -> None:
    data = f.pcap_file([(0.0, f.ethernet(udp4(str(n)))) for n in range(3)])
    messages, summary = read_capture(data[:-10])
    assert call_ids(messages) == ["0", "1"]
    assert summary.packets == 2
    assert len(summary.problems) == 1
    assert summary.problems[0].startswith("packet 3: truncated record (")


def test_truncated_record_header() -> None:
    data = f.pcap_file([(0.0, f.ethernet(udp4("only")))])
    _, summary = read_capture(data + b"\x00" * 7)
    assert summary.problems == [
        "packet 2: truncated record header (7 of 16 bytes); file ends here"]


def test_truncated_and_corrupt_pcapng_blocks() -> None:
    good = f.shb() + f.idb(1) + f.epb(0, 0, f.ethernet(udp4("g")))
    last = f.epb(0, 0, f.ethernet(udp4("h")))
    messages, summary = read_capture(good + last[:-8])
    assert call_ids(messages) == ["g"]
    assert summary.problems[0].startswith("packet 2: truncated pcapng block")
    corrupt = last[:-4] + b"\x00\x00\x00\x00"  # trailing length disagrees
    messages, summary = read_capture(good + corrupt + last)
    assert call_ids(messages) == ["g"]
    assert "trailing length" in summary.problems[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00" + b"\x00" * 20, "not a pcapng file"),
        (b"\x00\x01\x02garbage\x00", "binary data"),
        (b"just some text\nwithout SIP in it\n", "no SIP messages"),
        (b"\x1f\x8bnot gzip", "unreadable gzip"),
    ],
)
def test_not_a_capture(data: bytes, message: str) -> None:
    with pytest.raises(CaptureError, match=message):
        read_capture(data)


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        open_capture(tmp_path / "missing.pcap")
    with pytest.raises(CaptureError, match="cannot read"):
        open_capture(tmp_path)


def test_gzip_compressed_capture(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(f.pcap_file([(0.0, f.ethernet(udp4("gz")))]), mtime=0))
    messages, summary = open_capture(path)
    assert call_ids(messages) == ["gz"] and summary.format == "pcap"
