"""Smoke tests of the benchmarks: ``bench/bench_load.py --quick`` (50 flows/s for 2 s,
SIPp against fsync serve and against SIPp's own UAS) runs, no flow fails, and it prints its
ratio line; ``bench_server.py --quick``; ``bench_property.py --quick``. No timing is
asserted: the figures are for reading (bench/README.md)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_peer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.peer
def test_bench_load_quick_has_no_failed_flow_and_prints_its_ratio() -> None:
    require_peer("sipp")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_load.py"), "--quick",
                           "--workers", "1,2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rows = re.findall(r"^(fsync|fsync-w2|sipp)\s+50\s+100\s+\S+\s+(\d+)\s", out, re.M)
    assert sorted(server for server, _ in rows) == ["fsync", "fsync-w2", "sipp"], out
    assert all(failed == "0" for _, failed in rows), out
    for label in ("fsync", "fsync-w2"):
        assert re.search(rf"^ratio {label}/sipp at 50 flows/s: completed \d.*cpu per flow "
                         r"[\d-]", out, re.M), out  # "-": no /proc to read CPU time from


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


def test_bench_property_quick_finds_and_shrinks_every_injected_defect(tmp_path: Path) -> None:
    """``bench/bench_property.py --quick``: the broadsoft machine in memory, fsync test's
    examples over UDP (in process and a ``fsync phone`` subprocess), and every injected
    defect (broken agents in memory, defective phones over UDP) found and shrunk. What is
    asserted is what the run did, not how fast."""
    from tests.dut.defective_phones import DEFECTS

    out = tmp_path / "property.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_property.py"), "--quick",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())
    (memory,) = rows["memory"]
    assert memory["profile"] == "broadsoft" and memory["failure"] is None, memory
    assert memory["examples"] == 10 and memory["steps"] > 0 and memory["messages"] > 0
    assert re.search(r"^broadsoft\s+10\s+\d+\s+\d+\s+[1-9]\d*\s", done.stdout, re.M), done.stdout
    kinds = {row["what"] for row in rows["udp"]}
    assert len(kinds) == (2 if shutil.which("curl") else 1), rows["udp"]
    for row in rows["udp"]:
        assert row["outcome"] == "pass" and row["steps"] > 0 and row["messages"] > 0, row
        assert row["steps_per_s"] > 0
    assert re.search(r"^ratio in-memory/UDP steps/s \(broadsoft\): \d+ ", done.stdout, re.M)
    defects = rows["defects"]
    assert {d["defect"] for d in defects} == {"IgnoresForwardNumbers", "SwapsBusyAndNoAnswer",
                                             "ForgetsTheNamespace", "RefusesChangeNotifies",
                                             *DEFECTS}
    for defect in defects:
        assert defect["found"] and defect["rule"], defect
        assert defect["first_examples"] is not None and defect["shrunk_length"] is not None
        # the shrunk sequence is never longer than the first failing one; a defect shown by
        # the registration and subscription themselves shrinks to no step at all
        assert 0 <= defect["shrunk_length"] <= defect["first_length"], defect
        assert defect["shrunk_seconds"] >= defect["first_seconds"] >= 0, defect
    # the random examples found long sequences and the runner shrank them
    assert any(d["first_length"] > d["shrunk_length"] >= 1 for d in defects), defects
