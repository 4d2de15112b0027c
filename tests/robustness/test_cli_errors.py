"""Wrong command-line values: exit 2, one line naming the option and what is allowed, no
traceback (a tester mistyping an option must not think fsync crashed)."""
from __future__ import annotations

import subprocess
import sys

import pytest

GOOD = ["--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0"]


@pytest.mark.parametrize(("args", "names", "allowed"), [
    (["--vendor", "broadsoft", "--listen", "udp:localhost:99999"], "--listen", "0..65535"),
    (["--vendor", "broadsoft", "--listen", "udp:127.0.0.1:99999"], "--listen", "0..65535"),
    (["--vendor", "broadsoft", "--listen", "udp:localhost:5070"], "--listen", "127.0.0.1"),
    (["--vendor", "broadsoft", "--listen", "sctp:127.0.0.1:5070"], "--listen", "udp"),
    (["--vendor", "broadsoft", "--listen", "mem:server"], "--listen", "udp:"),
    (["--vendor", "broadsoft", "--listen", "udp:10.1.2.3:5070"], "--listen", "loopback"),
    (["--vendor", "nope", "--listen", "udp:127.0.0.1:0"], "vendor", "broadsoft"),
    (["--vendor", "brodsoft", "--listen", "udp:127.0.0.1:0"], "vendor", "did you mean broadsoft"),
    ([*GOOD, "--policy", "maybe"], "--policy", "accept, reject, error"),
    ([*GOOD, "--policy", "error:200"], "--policy", "400..699"),
    ([*GOOD, "--policy", "accept:403"], "--policy", "only 'error' takes a status"),
    ([*GOOD, "--seed", "-1"], "--seed", ">= 0"),
    ([*GOOD, "--seed", "many"], "--seed", "whole number"),
    ([*GOOD, "--api", "10.0.0.1:8080"], "--api", "loopback"),
    ([*GOOD, "--api", "127.0.0.1:70000"], "--api", "0..65535"),
])
def test_serve_names_the_option_and_what_is_allowed(args: list[str], names: str,
                                                    allowed: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fsync_model.cli.main", "serve", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert names in done.stderr and allowed in done.stderr, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("fsync serve:"))
    assert names in line and allowed in line, "the option and what is allowed on one line"
