"""Running tshark on a capture file, for tests that let Wireshark judge what we write."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_peer

#: Make tshark verify every checksum we compute (it does not by default).
CHECK_CHECKSUMS = (
    "-o", "ip.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
)
#: Anything Wireshark considers wrong: malformed packets and expert infos of warning or worse.
PROBLEMS_FILTER = "_ws.malformed || _ws.expert.severity >= warning"


def decode_as(*, udp: tuple[int, ...] = (), tcp: tuple[int, ...] = ()) -> list[str]:
    """``-d`` options that decode the given ports as SIP."""
    options: list[str] = []
    for port in udp:
        options += ["-d", f"udp.port=={port},sip"]
    for port in tcp:
        options += ["-d", f"tcp.port=={port},sip"]
    return options


def tshark(path: Path, *args: str) -> list[str]:
    """tshark's output lines for ``tshark -r path ARGS``; fails the test if tshark fails."""
    executable = require_peer("tshark")
    result = subprocess.run(
        [executable, "-r", str(path), *args], capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"tshark failed: {result.stderr}"
    return [line for line in result.stdout.splitlines() if line.strip()]


def sip_frames(path: Path, decode: list[str]) -> list[tuple[int, str]]:
    """(frame number, Call-IDs) of every frame tshark dissects as SIP."""
    lines = tshark(path, *decode, "-Y", "sip", "-T", "fields", "-e", "frame.number",
                   "-e", "sip.Call-ID")
    frames = []
    for line in lines:
        number, _, call_ids = line.partition("\t")
        frames.append((int(number), call_ids))
    return frames


def problems(path: Path, decode: list[str]) -> list[str]:
    """Frames with malformed data or warnings, checksums checked."""
    return tshark(path, *decode, *CHECK_CHECKSUMS, "-Y", PROBLEMS_FILTER)
