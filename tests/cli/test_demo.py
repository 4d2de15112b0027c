"""`fsync demo`: the README's main job, over real sockets, with its artefacts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsync_model.cli.main import main
from fsync_model.trace.capture import open_capture


def test_demo_runs_a_vendor_over_udp_and_tcp_and_leaves_pcaps_and_ladders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--vendor", "broadsoft", "--vendor", "yeastar", "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "24 passed, 0 failed" in text
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary) == 24 and all(row["passed"] for row in summary)
    row = next(r for r in summary if r["flow"] == "broadsoft/cfna/phone-initiated"
               and r["transport"] == "tcp")
    messages, info = open_capture(row["pcap"])
    assert not info.problems
    methods = [m.data.split(b" ", 1)[0] for m in messages]
    assert methods.count(b"REGISTER") == 2 and b"SUBSCRIBE" in methods and b"NOTIFY" in methods
    svg = Path(row["ladder"]).read_text()
    assert svg.count('class="arrow"') == 4 and "forwardTo=3000" in svg


def test_demo_misuse_says_what_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--transport", "sctp"]) == 2
    assert "--transport udp,tcp" in capsys.readouterr().err
