"""The generated suites against a device: ``pytest --fsync-dut phone|server`` runs a module of
``generated_tests/`` through the runner of ``fsync test`` against the reference phone (and
server) as a subprocess device, driven and read with curl. A conformant phone passes, a
phone with an injected defect fails with the rule it breaks, the tests only the in-memory
bench can run are skipped with the reason; a missing option is a usage error naming it.

The device runs mostly wait (for quiet, for the device), so they run side by side in threads
(a module-scoped fixture); every process is bounded.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.dut.support import FSYNC, PROCESS_LIMIT, REPO, Agent, free_port, phone_argv

pytest_plugins = ["pytester"]

#: one module of each direction; its 001 and 002 tests change a forward at the server
MODULE = "generated_tests/test_broadsoft_cfa_srv.py"
#: negative cases: nearly all tamper with messages; the server's policy rejection runs
NEGATIVE = "generated_tests/test_broadsoft_neg.py"
#: fast timing on loopback (a conformant device never waits for the step timeout)
TIMING = ["--fsync-settle", "0.15", "--fsync-step-timeout", "3", "--fsync-wait", "15"]
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs"]


@dataclass
class Run:
    code: int
    out: str


def _pytest(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*PYTEST, *argv], cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(process: subprocess.Popen[str]) -> Run:
    try:
        out, _ = process.communicate(timeout=PROCESS_LIMIT * 2)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"pytest --fsync-dut ran too long:\n{out}") from None
    return Run(process.returncode, out)


def _bound(port: int, process: subprocess.Popen[str], limit: float = 30.0) -> None:
    """Wait until something (fsync's server in ``process``) holds UDP ``port``."""
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError("fsync's server did not bind its --fsync-target")


def _phone(defect: str | None, *modules: str) -> Run:
    """pytest --fsync-dut phone, then the phone registering at its --fsync-target."""
    port = free_port()
    agent = Agent(phone_argv("broadsoft", port, defect=defect))  # not started yet
    process = _pytest([MODULE, *modules, "--fsync-dut", "phone", "--fsync-vendor", "broadsoft",
                       "--fsync-target", f"udp:127.0.0.1:{port}", "--fsync-control",
                       agent.control, "--fsync-query", agent.query, *TIMING])
    _bound(port, process)
    with agent:
        return _finish(process)


def _server() -> Run:
    """fsync serve as the server under test, pytest --fsync-dut server against it."""
    server = Agent([*FSYNC, "serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                    "--seed", "1"])
    with server:
        server.wait_api()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.api}/health", timeout=5) as r:
            target = json.load(r)["listening"][0]
        return _finish(_pytest([MODULE, "generated_tests/test_broadsoft_cfa_phn.py",
                                "--fsync-dut", "server", "--fsync-vendor", "broadsoft",
                                "--fsync-target", target, "--fsync-control",
                                server.server_control, "--fsync-query",
                                f"{server.query}/{{user}}", *TIMING]))


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    if shutil.which("curl") is None:
        pytest.skip("curl not found: apt-get install curl")
    jobs = {"phone": lambda: _phone(None, NEGATIVE),
            "defect": lambda: _phone("ignores-forward-number"),
            "server": _server}
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result(timeout=PROCESS_LIMIT * 3)
                for name, future in futures.items()}


def _outcomes(out: str) -> dict[str, int]:
    """pytest's counts: collected, and each outcome of its summary line."""
    counts = {"collected": int(m.group(1)) if (m := re.search(r"collected (\d+) items?", out))
              else -1}
    summary = out.rstrip().splitlines()[-1]
    for number, outcome in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed)",
                                      summary):
        counts[outcome] = int(number)
    return counts


def test_a_conformant_phone_passes_a_generated_module(runs: dict[str, Run]) -> None:
    run = runs["phone"]
    assert run.code == 0, run.out
    counts = _outcomes(run.out)
    # cfa_srv 001, 002 and the negative cases that only change things at either side and
    # the server's policy (e.g. the policy rejects the change: the phone reverts) run; every
    # other test is skipped with its reason, none fails
    assert counts.get("passed", 0) >= 3, run.out
    assert counts["passed"] + counts.get("skipped", 0) == counts["collected"], run.out
    assert "target: device (phone)" in run.out
    # the others tamper with messages, change the bench, or drive a value the server must
    # refuse: skipped, and said why
    assert "not against a device: a tamper rule in front of the phone (Answer)" in run.out
    assert "@fsync_setup(subscribe_expires) builds the in-memory bench another way" in run.out
    assert "a ring count outside the profile's range 1-10 (cfna on 3000 11)" in run.out


def test_a_defective_phone_fails_it_with_the_rule_it_breaks(runs: dict[str, Run]) -> None:
    run = runs["defect"]
    assert run.code == 1, run.out
    assert "2 failed, 2 skipped" in run.out, run.out
    assert "the device violated SYNC-DEVICE-STATE (confirmed on replay)" in run.out
    assert 'the device shows cfa {"on": true, "target": null}' in run.out
    assert "minimal sequence (finding #1):" in run.out


def test_a_server_under_test_runs_both_directions(runs: dict[str, Run]) -> None:
    """The phone-initiated module too: fsync's phone makes the change, the server under test
    must take it (its 003-008 tamper or wait: skipped)."""
    run = runs["server"]
    assert run.code == 0, run.out
    counts = _outcomes(run.out)
    assert counts.get("passed", 0) >= 4, run.out
    assert counts["passed"] + counts.get("skipped", 0) == counts["collected"], run.out
    assert "target: device (server)" in run.out


@pytest.mark.parametrize(("drop", "wanted"), [
    ("--fsync-target", "--fsync-dut phone needs --fsync-target: add --fsync-target "
                       "udp:127.0.0.1:5070"),
    ("--fsync-control", "--fsync-dut phone needs --fsync-control: add --fsync-control"),
    ("--fsync-query", "--fsync-dut phone needs --fsync-query: add --fsync-query"),
    ("--fsync-vendor", "--fsync-dut phone needs --fsync-vendor: add --fsync-vendor"),
])
def test_a_missing_option_is_a_usage_error_naming_it(pytester: pytest.Pytester, drop: str,
                                                     wanted: str) -> None:
    options = {"--fsync-vendor": "broadsoft", "--fsync-target": "udp:127.0.0.1:5070",
               "--fsync-control": "true {feature} {action}", "--fsync-query": "true"}
    del options[drop]
    pytester.makepyfile(test_x="def test_x(fsync_target):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--fsync-dut", "phone",
                                *[part for item in options.items() for part in item])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert wanted in result.stderr.str(), result.stderr.str()


def test_a_control_template_that_cannot_work_is_a_usage_error(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(fsync_target):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--fsync-dut", "server",
                                "--fsync-vendor", "broadsoft", "--fsync-target",
                                "udp:127.0.0.1:5060", "--fsync-control", "echo {action}",
                                "--fsync-query", "true")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--fsync-control: the command must say what to do: add {feature}" in (
        result.stderr.str())


def test_a_target_port_in_use_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x=(
        "import pytest\n\npytestmark = pytest.mark.fsync_profile('broadsoft')\n\n\n"
        "def test_x(fsync_target):\n    fsync_target.settle()\n"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = pytester.runpytest("-p", "no:cacheprovider", "--fsync-dut", "phone",
                                    "--fsync-vendor", "broadsoft", "--fsync-target",
                                    f"udp:127.0.0.1:{port}", "--fsync-control",
                                    "true {feature} {action}", "--fsync-query", "true",
                                    "--fsync-wait", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*cannot listen on udp:127.0.0.1:{port}*give --fsync-target "
                                 "a free port*"])
