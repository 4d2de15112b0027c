"""A capture made for real: tshark on the loopback interface while we send SIP over UDP."""
from __future__ import annotations

import os
import selectors
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fsync_model.trace.capture import open_capture
from fsync_model.trace.records import CapturedMessage, CaptureError, CaptureSummary
from fsync_model.transport.address import Address
from tests.conftest import require_peer
from tests.trace.frames import sip_message, sip_response


def _wait_for_capturing(process: subprocess.Popen[bytes], timeout: float) -> str:
    """tshark's stderr up to its "Capturing on" line (or what it said before dying)."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    said = b""
    deadline = time.monotonic() + timeout
    while b"Capturing on" not in said and time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        said += chunk
    selector.close()
    return said.decode(errors="replace")


def _poll(path: Path, done: Callable[[list[CapturedMessage], CaptureSummary], bool],
          timeout: float, send: Callable[[], object] | None = None) -> bool:
    """Read the growing capture file until ``done`` says so (sending ``send`` meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if send is not None:
            send()
        time.sleep(0.1)
        try:
            messages, summary = open_capture(path)
        except CaptureError:
            continue  # not written yet
        if done(messages, summary):
            return True
    return False


@pytest.mark.peer
def test_tshark_loopback_capture_reads_back(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    output = tmp_path / "live.pcapng"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))  # held open so no other test takes the port
        sender.bind(("127.0.0.1", 0))
        port, sender_port = receiver.getsockname()[1], sender.getsockname()[1]
        datagrams = [sip_message("live-1", body=b"hello"), sip_response("live-1")]
        process = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"udp port {port}", "-a", "duration:60",
             "-w", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            said = _wait_for_capturing(process, timeout=20)
            if "Capturing on" not in said:
                if "ermission" in said and os.environ.get("CI", "").lower() not in (
                        "1", "true", "yes"):
                    pytest.skip(f"no permission to capture on lo: {said.strip()}")
                pytest.fail(f"tshark did not start capturing: {said.strip()}")
            # "Capturing on" comes a moment before the capture filter is live: send non-SIP
            # probes until one shows up in the file, then the SIP datagrams.
            assert _poll(output, lambda _, summary: summary.non_sip > 0, 20,
                         lambda: sender.sendto(b"probe", ("127.0.0.1", port))), "no probe seen"
            started = time.time()
            for datagram in datagrams:
                sender.sendto(datagram, ("127.0.0.1", port))
            assert _poll(output, lambda messages, _: len(messages) == len(datagrams), 20)
        finally:
            process.terminate()
            process.wait(timeout=30)
            assert process.stderr is not None
            process.stderr.close()
    messages, summary = open_capture(output)
    assert summary.format == "pcapng"
    assert summary.problems == []
    assert [m.data for m in messages] == datagrams
    client, server = Address("udp", "127.0.0.1", sender_port), Address("udp", "127.0.0.1", port)
    assert all((m.src, m.dst) == (client, server) for m in messages)
    probes = summary.non_sip
    assert [m.number for m in messages] == [probes + 1, probes + 2]
    assert summary.packets == probes + 2
    assert all(abs(m.time - started) < 30 for m in messages)
