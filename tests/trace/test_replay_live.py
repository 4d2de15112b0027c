"""``fsync check`` on captures made for real: tshark on the loopback interface while SIPp
(an exported scenario, playing the phone) talks to the reference server over UDP, and
SIPp's own ``-trace_msg`` log of the same run. A conformant exchange gives exit 0."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fsync_model.cli.main import main
from fsync_model.generate.sipp import parse_flow, scenario
from fsync_model.model import machines_for
from fsync_model.profile import load_all
from fsync_model.trace.capture import open_capture
from fsync_model.trace.records import CaptureError
from fsync_model.trace.report import check_messages
from fsync_model.transport.address import Address
from tests.cli.test_export_sipp_support import run_scenario
from tests.conftest import require_peer
from tests.trace.test_live_capture import _wait_for_capturing

pytestmark = pytest.mark.peer

CASES = [("broadsoft", "cfna-phone"), ("broadsoft", "dnd-server"), ("yeastar", "cfa-phone"),
         ("metaswitch", "cfb-phone")]


def _count(path: Path) -> tuple[int, int]:
    """(SIP messages, non-SIP datagrams) in the capture so far; (0, 0) before it exists."""
    try:
        messages, summary = open_capture(path)
    except CaptureError:
        return 0, 0
    return len(messages), summary.non_sip


async def _until(done: Callable[[], bool], timeout: float,
                 poke: Callable[[], object] | None = None) -> bool:
    """Wait (at most ``timeout`` s) for ``done()``, calling ``poke()`` meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poke is not None:
            poke()
        await asyncio.sleep(0.1)
        if done():
            return True
    return False


@pytest.mark.parametrize(("vendor", "flow"), CASES)
def test_tshark_capture_of_sipp_and_the_reference_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor: str, flow: str) -> None:
    tshark = require_peer("tshark")
    require_peer("sipp")
    profile = load_all()[vendor]
    [spec] = parse_flow(profile, flow)
    item = scenario(profile, spec, "phone")
    output = tmp_path / "live.pcapng"
    state: dict[str, subprocess.Popen[bytes]] = {}
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe_port = probe.getsockname()[1]

    async def start_capture(server: Address) -> None:
        process = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"udp port {server.port} or udp port {probe_port}",
             "-a", "duration:60", "-w", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        state["tshark"] = process
        said = _wait_for_capturing(process, timeout=20)
        if "Capturing on" not in said:
            if "ermission" in said and os.environ.get("CI", "").lower() not in (
                    "1", "true", "yes"):
                pytest.skip(f"no permission to capture on lo: {said.strip()}")
            pytest.fail(f"tshark did not start capturing: {said.strip()}")
        # the filter is live a moment after "Capturing on": probe until a probe shows up
        seen = await _until(lambda: _count(output)[1] > 0, 20,
                            lambda: probe.sendto(b"probe", ("127.0.0.1", probe_port)))
        assert seen, "no probe seen by tshark"

    try:
        result = asyncio.run(run_scenario(profile, item, tmp_path / "run", before=start_capture))
        assert result.ok, result.output[-1500:]
        wanted = len(result.messages)
        asyncio.run(_until(lambda: _count(output)[0] >= wanted, 20))
    finally:
        probe.close()
        process = state.get("tshark")
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
            assert process.stderr is not None
            process.stderr.close()
    messages, summary = open_capture(output)
    assert summary.format == "pcapng" and summary.problems == []
    assert len(messages) == len(result.messages) and summary.non_sip >= 1
    report = check_messages(str(output), messages, summary, profile)
    assert report.result.deviations == [], report.text()
    goal = machines_for(profile)[spec.key].goal
    assert [f.state for f in report.result.flows if f.machine == spec.name] == [goal]
    assert main(["check", str(output), "--vendor", vendor]) == 0
    assert "conformant (exit 0)" in capsys.readouterr().out
    # SIPp's own log of the same exchange, a plain-text capture
    [log] = sorted((tmp_path / "run").glob("*_messages.log"))
    assert main(["check", str(log), "--vendor", vendor]) == 0, capsys.readouterr().out
