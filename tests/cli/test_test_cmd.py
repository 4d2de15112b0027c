"""``fsync test`` from the command line: the reference agents as devices under test (an
``fsync phone`` / ``fsync serve`` subprocess, driven and read through its HTTP API with
curl), a defective phone through a test-only entry point, no device, a broken --query,
and usage errors.

The subprocess scenarios mostly wait (for quiet, for the device), so they run side by side
in threads (a module-scoped fixture); every process and wait is bounded.
"""
from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fsync_model.cli.main import main
from tests.dut.support import FSYNC, Agent, TestCommand, phone_argv, read_json

pytestmark = pytest.mark.skipif(shutil.which("curl") is None,
                                reason="curl not found: apt-get install curl")

#: generous for loopback subprocesses on a loaded machine; passing steps never wait for it
TIMING = ["--settle", "0.15", "--step-timeout", "5", "--wait", "15"]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    report: Path | None = None
    extra: dict[str, Outcome] = field(default_factory=dict)


def _listening(line: str) -> int:
    match = re.search(r"listening on udp:127\.0\.0\.1:(\d+)", line)
    assert match, line
    return int(match[1])


def _phone_dut(vendor: str, tmp: Path, *extra: str, defect: str | None = None,
               query: str | None = None) -> Outcome:
    """fsync test --dut phone, then the phone (reference or defective) registering at it."""
    report = tmp / f"report-{vendor}-{defect or 'ref'}"
    probe = Agent()  # not started: the phone's API port and the curl templates
    argv = ["--vendor", vendor, "--dut", "phone", "--listen", "udp:127.0.0.1:0",
            "--user", "1001", "--control", probe.control, "--query", query or probe.query,
            "--seed", "3", "--report", str(report), *TIMING, *extra]
    started = time.monotonic()
    command = TestCommand(argv)
    port = _listening(command.started())
    with Agent(phone_argv(vendor, port, defect=defect), api=probe.api):
        code, out, err = command.finish()
    outcome = Outcome(code, out, err, time.monotonic() - started, report)
    if defect is not None and code == 1:
        outcome.extra["replay"] = _replay(vendor, report, probe, defect)
    return outcome


def _replay(vendor: str, report: Path, probe: Agent, defect: str) -> Outcome:
    replay = next(report.glob("findings/1-*/replay.json"))
    argv = ["--vendor", vendor, "--dut", "phone", "--listen", "udp:127.0.0.1:0", "--user",
            "1001", "--control", probe.control, "--query", probe.query, "--replay",
            str(replay), *TIMING]
    started = time.monotonic()
    command = TestCommand(argv)
    port = _listening(command.started())
    with Agent(phone_argv(vendor, port, defect=defect), api=probe.api):
        code, out, err = command.finish()
    return Outcome(code, out, err, time.monotonic() - started)


def _server_dut(vendor: str, tmp: Path) -> Outcome:
    """fsync serve as the server under test, fsync test --dut server against it."""
    report = tmp / f"report-server-{vendor}"
    server = Agent([*FSYNC, "serve", "--vendor", vendor, "--listen", "udp:127.0.0.1:0",
                    "--seed", "1"])
    with server:
        server.wait_api()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.api}/health", timeout=5) as r:
            target = json.load(r)["listening"][0]
        started = time.monotonic()
        command = TestCommand(["--vendor", vendor, "--dut", "server", "--target", target,
                               "--user", "1001", "--control", server.server_control,
                               "--query", f"{server.query}/{{user}}", "--examples", "2",
                               "--seed", "4", "--report", str(report), *TIMING])
        code, out, err = command.finish()
    return Outcome(code, out, err, time.monotonic() - started, report)


def _no_device(tmp: Path) -> Outcome:
    started = time.monotonic()
    command = TestCommand(["--vendor", "broadsoft", "--dut", "phone", "--listen",
                           "udp:127.0.0.1:0", "--user", "1001", "--control",
                           "true {feature} {action}", "--query", "true", "--wait", "1",
                           "--report", str(tmp / "report-nodevice")])
    code, out, err = command.finish()
    return Outcome(code, out, err, time.monotonic() - started, tmp / "report-nodevice")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    tmp = tmp_path_factory.mktemp("fsync-test")
    jobs: dict[str, Callable[[], Outcome]] = {
        "broadsoft": lambda: _phone_dut("broadsoft", tmp, "--examples", "3"),
        "yeastar": lambda: _phone_dut("yeastar", tmp, "--examples", "2"),
        "server-broadsoft": lambda: _server_dut("broadsoft", tmp),
        "server-yeastar": lambda: _server_dut("yeastar", tmp),
        "defect": lambda: _phone_dut("broadsoft", tmp, "--examples", "0", "--max-failures",
                                     "1", defect="no-namespace"),
        "no-device": lambda: _no_device(tmp),
        "garbage": lambda: _phone_dut("broadsoft", tmp, query="echo '<html>oops</html>'"),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result(timeout=150) for name, future in futures.items()}


def _passed(outcome: Outcome) -> None:
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "result: PASS (exit 0): the device conforms" in outcome.stdout
    assert "Traceback" not in outcome.stderr
    assert outcome.report is not None
    report = read_json(outcome.report / "report.json")
    assert report["result"] == "pass" and report["exit_code"] == 0
    assert report["findings"] == [] and report["warnings"] == []
    assert report["counts"]["passed"] == len(report["cases"]) > 0
    suite = ET.parse(outcome.report / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert (outcome.report / "session.pcap").read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"


@pytest.mark.parametrize("name", ["broadsoft", "yeastar"])
def test_fsync_phone_as_the_device_conforms(runs: dict[str, Outcome], name: str) -> None:
    _passed(runs[name])
    assert "fsync test: " in runs[name].stderr  # where fsync listens, on stderr


@pytest.mark.parametrize("name", ["server-broadsoft", "server-yeastar"])
def test_fsync_serve_as_the_device_conforms(runs: dict[str, Outcome], name: str) -> None:
    _passed(runs[name])
    assert "--dut server" in runs[name].stdout


def test_a_defective_phone_fails_with_the_rule_and_its_evidence(
        runs: dict[str, Outcome]) -> None:
    outcome = runs["defect"]
    assert outcome.code == 1, outcome.stdout + outcome.stderr
    out = outcome.stdout
    assert "FAIL #1 AFE-NS-MISSING (broadsoft/dnd/phone-initiated, confirmed on replay)" in out
    assert "minimal sequence (1 step" in out and "1. phone: dnd on" in out
    assert "SetDoNotDisturb" in out  # the offending message itself
    assert "result: FAIL (exit 1)" in out
    report = outcome.report
    assert report is not None
    data = read_json(report / "report.json")
    finding = data["findings"][0]
    assert finding["rule"] == "AFE-NS-MISSING" and finding["confirmed"] is True
    assert finding["shrunk_length"] == 1 and finding["minimal_sequence"] == ["phone: dnd on"]
    folder = report / Path(finding["files"]["pcap"]).parent
    assert {p.name for p in folder.iterdir()} == {"minimal.pcap", "ladder.svg",
                                                  "messages.txt", "replay.json"}
    assert (folder / "ladder.svg").read_text().lstrip().startswith("<?xml")
    page = (report / "report.html").read_text()
    assert "<svg" in page and "AFE-NS-MISSING" in page
    assert f'href="{finding["files"]["pcap"]}"' in page
    junit = ET.parse(report / "junit.xml").getroot()
    failures = junit.findall(".//failure")
    assert failures and failures[0].get("type") == "AFE-NS-MISSING"
    assert "expected" in (failures[0].text or "")
    replay = outcome.extra["replay"]
    assert replay.code == 1, replay.stdout + replay.stderr
    assert "AFE-NS-MISSING" in replay.stdout


def test_no_device_is_inconclusive_within_wait(runs: dict[str, Outcome]) -> None:
    outcome = runs["no-device"]
    assert outcome.code == 3
    assert "INCONCLUSIVE: no device registered within 1 s" in outcome.stdout
    assert outcome.seconds < 10
    assert outcome.report is not None
    assert read_json(outcome.report / "report.json")["result"] == "inconclusive"


def test_a_query_printing_garbage_is_inconclusive(runs: dict[str, Outcome]) -> None:
    outcome = runs["garbage"]
    assert outcome.code == 3, outcome.stdout + outcome.stderr
    assert "--query command failed (did not print JSON" in outcome.stdout
    assert "<html>oops</html>" in outcome.stdout
    assert "result: INCONCLUSIVE (exit 3)" in outcome.stdout


BASE = ["test", "--vendor", "broadsoft", "--user", "1001", "--control",
        "echo {feature} {action}", "--query", "echo {}"]


@pytest.mark.parametrize(("argv", "words"), [
    ([*BASE, "--dut", "phone"], "--dut phone needs --listen"),
    ([*BASE, "--dut", "server"], "--dut server needs --target"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--target",
      "udp:127.0.0.1:5060"], "--target is for --dut server"),
    ([*BASE, "--dut", "phone", "--listen", "udp:192.0.2.1:5070"], "stays on loopback"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--control",
      "curl {number}"], "unknown placeholder(s) {number}"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--control", "press"],
     "add {feature} {action}"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--user", "a@b"],
     "give the line's user part"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--vendor", "brodsoft"],
     "did you mean broadsoft"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--replay", "/nonexistent"],
     "--replay /nonexistent: cannot read"),
    ([*BASE, "--dut", "robot"], "invalid choice: 'robot'"),
    ([*BASE, "--dut", "phone", "--listen", "udp:127.0.0.1:5070", "--wait", "-1"],
     "expected seconds > 0"),
])
def test_usage_errors_exit_2_with_a_hint(argv: list[str], words: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    assert code == 2
    assert words in capsys.readouterr().err


def test_help_names_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    text = capsys.readouterr().out
    for words in ("{feature}", "{action}", "{target}", "{rings}", "{user}", "--examples",
                  "--seed", "--wait", "--report", "junit.xml", "exit status: 0"):
        assert words in text
