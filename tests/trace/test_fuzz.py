"""Arbitrary and mutated input: reading never raises anything but CaptureError, never hangs."""
from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsync_model.trace.capture import read_capture
from fsync_model.trace.records import CaptureError
from fsync_model.transport.address import Address
from fsync_model.transport.pcap import PcapWriter
from tests.trace import frames as f

#: Wall-clock limit per example: a reader stuck in a loop fails instead of hanging the run.
SECONDS_PER_EXAMPLE = 5


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"read_capture ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_anything(data: bytes) -> None:
    with time_limit(SECONDS_PER_EXAMPLE):
        try:
            messages, summary = read_capture(data)
        except CaptureError:
            return
    assert summary.messages == len(messages)
    assert all(m.number >= 1 for m in messages)


def _writer_capture() -> bytes:
    buffer = io.BytesIO()
    with PcapWriter(buffer, mss=200) as writer:
        a, b = Address("udp", "127.0.0.1", 5070), Address("udp", "::1", 5080)
        c, d = Address("tcp", "127.0.0.1", 40000), Address("tcp", "127.0.0.1", 5060)
        writer.record(0.0, a, b, f.sip_message("f1"))
        writer.record(0.1, c, d, f.sip_message("f2", body=b"x" * 500))
        writer.record(0.2, d, c, f.sip_response("f2") + f.sip_response("f3"))
    return buffer.getvalue()


SEEDS = {
    "pcap": _writer_capture(),
    "pcap-be-ns": f.pcap_file([(1.0, f.sll(f.ipv4("127.0.0.1", "127.0.0.2", 17, f.udp(
        1, 2, f.sip_message("s")))))], 113, order=">", nanoseconds=True),
    "pcapng": f.shb() + f.idb(1, tsresol=9) + f.epb(0, 5, f.ethernet(f.ipv6(
        "::1", "::2", 17, f.udp(1, 2, f.sip_message("n"))))) + f.spb(b"\x00" * 30),
    "text": (Path(__file__).parent / "data" / "sipp_uac_messages.log").read_bytes(),
}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    read_anything(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SEEDS)), st.binary(max_size=512))
def test_valid_header_then_garbage(seed: str, tail: bytes) -> None:
    header = {"pcap": 24, "pcap-be-ns": 24, "pcapng": 28, "text": 0}[seed]
    read_anything(SEEDS[seed][:header] + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=12),
    st.integers(min_value=0),
)
def test_mutated_captures(seed: str, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(SEEDS[seed])
    for position, value in flips:
        data[position % len(data)] = value
    read_anything(bytes(data[: len(data) - cut % (len(data) + 1)]))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=600))
def test_arbitrary_text(text: str) -> None:
    read_anything(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    f.sip_message("t", body=b"abc"), b"\r\n", b"--end msg--\n", b">>>\n", b"#\n",
    b"UDP message sent (50 bytes):\n", b"----------------------------------------------- x\n",
    b"<--- SIP read from UDP:1.2.3.4:5060 --->\n", b"\n", b"Content-Length: 99\r\n",
    b"SIP/2.0 200 OK\r\n", b"INVITE sip:x SIP/2.0\r\n",
]), max_size=30))
def test_text_log_pieces(pieces: list[bytes]) -> None:
    read_anything(b"".join(pieces))


def test_time_limit_guard_works() -> None:
    with pytest.raises(TimeoutError), time_limit(0.05):
        while True:
            pass
