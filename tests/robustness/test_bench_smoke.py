"""Smoke test of the load benchmark: ``bench/bench_load.py --quick`` (50 flows/s for 2 s,
SIPp against fsync serve and against SIPp's own UAS) runs, no flow fails, and it prints its
ratio line. No timing is asserted: the figures are for reading (bench/README.md)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_peer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.peer
def test_bench_load_quick_has_no_failed_flow_and_prints_its_ratio() -> None:
    require_peer("sipp")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_load.py"), "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rows = re.findall(r"^(fsync|sipp)\s+50\s+100\s+\S+\s+(\d+)\s", out, re.M)
    assert sorted(server for server, _ in rows) == ["fsync", "sipp"], out
    assert all(failed == "0" for _, failed in rows), out
    assert re.search(r"^ratio fsync/sipp at 50 flows/s: completed \d", out, re.M), out


def test_bench_server_quick_runs_the_flow_without_a_failure() -> None:
    """``bench/bench_server.py --quick``: the load flow in process, both ways of building the
    server; nothing about the time is asserted."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_server.py"), "--quick",
                           "--repeat", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^(--quiet|not quiet)\s+[\d.]+ ms per flow.*; (\d+) failed flows$",
                      done.stdout, re.M)
    assert rows == [("--quiet", "0"), ("not quiet", "0")], done.stdout
