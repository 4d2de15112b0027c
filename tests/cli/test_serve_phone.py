"""``fsync serve`` and ``fsync phone`` as lab scripts use them: subprocesses, stdin, stdout.

The agents here are the fakes of test_serve_phone_support (the plumbing is under test); every
subprocess runs on port 0 and every wait is bounded.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time

import pytest

from fsync_model.cli import runtime
from fsync_model.cli.main import UsageError, main
from fsync_model.cli.serve_cmd import parse_policy
from tests.cli.test_serve_phone_support import AgentProcess, http_request, run_cli

SERVE = ["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0"]


def _phone(server: str, *extra: str) -> list[str]:
    return ["phone", "--vendor", "broadsoft", "--server", server, "--user", "1001", *extra]


# -- help and usage errors ------------------------------------------------------------------

def test_serve_help_says_eof_does_not_stop() -> None:
    result = run_cli(["serve", "--help"])
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "EOF on stdin does NOT stop the server" in text
    assert "--exit-on-eof" in text
    assert "GET /events?since=N" in text
    assert '"what": "listening"' in text


def test_phone_help_lists_its_control_lines() -> None:
    result = run_cli(["phone", "--help"])
    assert result.returncode == 0
    for needle in ("--server", "--user", "--sync", "sync on|off", "EOF on stdin does NOT stop"):
        assert needle in result.stdout


@pytest.mark.parametrize(("args", "hint"), [
    (["serve", "--vendor", "nosuch", "--listen", "udp:127.0.0.1:0"],
     "known: 3cx, broadsoft, fortinet"),
    (["serve", "--vendor", "broadsft", "--listen", "udp:127.0.0.1:0"],
     "did you mean broadsoft?"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:localhost"],
     "e.g. udp:127.0.0.1"),
    (["serve", "--vendor", "broadsoft", "--listen", "127.0.0.1:5070"],
     "TRANSPORT:HOST:PORT"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:99999"], "0..65535"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:10.1.2.3:5070"], "loopback"),
    (["serve", "--vendor", "broadsoft", "--listen", "tls:127.0.0.1:5061"], "use udp: or tcp:"),
    (["serve", "--vendor", "broadsoft", "--listen", "mem:phone"], "udp: or tcp:"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:5070",
      "--listen", "udp:127.0.0.1:5070"], "the same address twice"),
    ([*SERVE, "--policy", "maybe"], "--policy error:403"),
    ([*SERVE, "--policy", "accept:403"], "only 'error' takes a status"),
    ([*SERVE, "--policy", "error:200"], "400..699"),
    ([*SERVE, "--api", "0.0.0.0:8080"], "loopback"),
    ([*SERVE, "--api", "localhost:8080"], "not an IP address"),
    ([*SERVE, "--api", "8080"], "--api 127.0.0.1:8080"),
    ([*SERVE, "--pcap", "/nonexistent-dir/x.pcap"], "cannot write"),
    (_phone("udp:localhost:5070"), "--server udp:localhost:5070"),
    (_phone("udp:127.0.0.1:5070", "--listen", "tcp:127.0.0.1:0"), "same transport"),
    (_phone("udp:127.0.0.1:5070", "--listen", "udp:[::1]:0"), "--listen udp:127.0.0.1:0"),
    (["phone", "--vendor", "broadsoft", "--server", "udp:127.0.0.1:5070", "--user", "a b"],
     "--user 1001"),
    (["phone", "--vendor", "nosuch", "--server", "udp:127.0.0.1:5070", "--user", "1001"],
     "known: 3cx"),
])
def test_usage_errors_exit_2_with_a_hint(args: list[str], hint: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """In process (fast): every one fails before a socket or an agent exists."""
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert hint in err
    assert err.startswith(f"fsync {args[0]}: ")
    assert out == ""


@pytest.mark.parametrize(("args", "hint"), [
    (["serve", "--vendor", "nosuch", "--listen", "udp:127.0.0.1:0"], "known: 3cx, broadsoft"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:localhost"], "e.g. udp:127.0.0.1"),
    (["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0", "--policy", "maybe"],
     "--policy error:403"),
    (["phone", "--vendor", "broadsoft", "--server", "udp:localhost:5070", "--user", "1001"],
     "give an IP address"),
])
def test_usage_errors_in_a_subprocess(args: list[str], hint: str) -> None:
    """The real command line: exit code 2, the hint, no traceback, nothing on stdout."""
    result = run_cli(args, fake=False)
    assert result.returncode == 2, result.stderr
    assert hint in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [
    ["serve", "--vendor", "x"],                               # --listen missing
    ["serve", "--vendor", "x", "--listen", "udp:127.0.0.1:0", "--seed", "many"],
    ["phone", "--vendor", "x", "--server", "udp:127.0.0.1:5070"],  # --user missing
    ["phone", "--vendor", "x", "--server", "udp:127.0.0.1:5070", "--user", "1", "--sync", "y"],
])
def test_argparse_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_busy_port_is_a_setup_error() -> None:
    with AgentProcess(SERVE) as first:
        address = first.listening()[0]
        result = run_cli(["serve", "--vendor", "broadsoft", "--listen", address])
        assert result.returncode == 2
        assert f"cannot listen on {address}" in result.stderr
        assert "Traceback" not in result.stderr


# -- the server on stdin --------------------------------------------------------------------

def test_serve_control_lines_print_json_results() -> None:
    with AgentProcess([*SERVE, "--listen", "tcp:127.0.0.1:0"]) as server:
        udp, tcp = server.listening(2)
        assert udp.startswith("udp:127.0.0.1:") and not udp.endswith(":0")
        assert tcp.startswith("tcp:127.0.0.1:") and not tcp.endswith(":0")

        server.send("1001 cfna on 3000 4")
        changed = server.expect("state", user="1001", cause="admin")
        assert changed["state"]["cfna"] == {"on": True, "target": "3000", "rings": 4}
        ok = server.expect("ok", line="1001 cfna on 3000 4")
        assert ok["user"] == "1001" and ok["state"]["cfna"]["on"] is True
        assert isinstance(ok["t"], float)

        server.send("1001 dnd maybe")
        error = server.expect("error")
        assert error["line"] == "1001 dnd maybe"
        assert "expected 'on' or 'off'" in error["message"]

        server.send("# a comment, then a blank line")
        server.send("")
        server.send("1001 state")
        state = server.expect("state", line="1001 state")
        assert state["user"] == "1001"
        assert state["state"]["dnd"] is False and state["state"]["cfna"]["rings"] == 4
        server.send("state")
        assert server.expect("states")["users"]["1001"]["cfna"]["target"] == "3000"
        server.send("* policy error 486")
        assert server.expect("ok", line="* policy error 486")["status"] == 486
        server.send("help")
        assert "<user> dnd on|off" in server.expect("help")["usage"]
        # The comment and the blank line printed nothing.
        assert not [o for o in server.seen if o.get("line", "x").startswith("#")]

        rc, took = server.signal(signal.SIGTERM)
        assert rc == 0
        assert took < 1.0
        assert server.expect("info", what="stopped")["reason"] == "SIGTERM"


def test_agent_refusals_and_bugs_are_error_lines_and_the_server_carries_on() -> None:
    with AgentProcess(SERVE) as server:
        server.listening()
        server.send("refuse dnd on")
        assert "does not take changes" in server.expect("error")["message"]
        server.send("boom dnd on")
        assert "internal error" in server.expect("error", line="boom dnd on")["message"]
        server.send("1001 dnd on")
        server.expect("ok", line="1001 dnd on")
        rc, _ = server.signal(signal.SIGINT)
        assert rc == 0
        assert "fake agent bug" in "".join(server.stderr)  # logged with its traceback


def test_eof_on_stdin_does_not_stop_the_server() -> None:
    with AgentProcess([*SERVE, "--api", "127.0.0.1:0"]) as server:
        server.listening()
        port = server.api_port()
        server.send("1001 dnd on")
        server.expect("ok")
        server.close_stdin()
        time.sleep(0.3)
        assert server.proc.poll() is None
        status, body, _ = http_request(port, "POST", "/command", "1001 dnd off")
        assert status == 200 and body["state"]["dnd"] is False
        assert server.signal(signal.SIGTERM)[0] == 0


def test_exit_on_eof_stops_after_the_last_line() -> None:
    result = run_cli([*SERVE, "--exit-on-eof"], stdin="1001 cfa on 2000\n1001 state\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["event"] for o in lines] == ["info", "state", "ok", "state", "info"]
    assert lines[-1] == {**lines[-1], "what": "stopped", "reason": "eof"}
    assert lines[3]["state"]["cfa"] == {"on": True, "target": "2000"}


def test_exit_on_eof_with_stdin_from_dev_null() -> None:
    result = run_cli([*SERVE, "--exit-on-eof"])
    assert result.returncode == 0
    assert json.loads(result.stdout.splitlines()[-1])["what"] == "stopped"


# -- phone and server: see test_serve_phone_agents.py (the real agents) ------------------

# -- the runtime's parts, in process ---------------------------------------------------------

def test_event_log_buffer_and_since() -> None:
    out = io.StringIO()
    log = runtime.EventLog(out, capacity=3, hidden=frozenset({"message"}))
    for n in range(5):
        log.emit({"event": "message" if n == 1 else "info", "n": n})
    assert [json.loads(line)["n"] for line in out.getvalue().splitlines()] == [0, 2, 3, 4]
    page = log.since(0)
    assert [e["seq"] for e in page["events"]] == [3, 4, 5]
    assert page["last"] == 5 and page["missed"] == 2
    assert log.since(4) == {"events": [{"seq": 5, "event": "info", "n": 4}], "last": 5,
                            "missed": 0}
    assert log.since(9)["events"] == []


def test_event_log_survives_a_closed_stdout() -> None:
    out = io.StringIO()
    log = runtime.EventLog(out)
    out.close()
    log.emit({"event": "info"})
    assert log.since(0)["last"] == 1


class CountingOut(io.StringIO):
    """A stdout that counts its flushes (each one a write system call on a real stdout)."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_event_log_flushes_once_per_loop_round() -> None:
    out = CountingOut()
    log = runtime.EventLog(out)
    seen: list[tuple[int, int]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        log.attach(loop)

        def batch() -> None:  # an agent handling a batch of datagrams: three lines
            for n in range(3):
                log.emit({"event": "info", "n": n})
            seen.append((len(out.getvalue().splitlines()), out.flushes))

        loop.call_soon(batch)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append((len(out.getvalue().splitlines()), out.flushes))
        log.emit({"event": "info", "n": 3})
        log.attach(None)  # the loop ends: what is written is pushed out
        seen.append((len(out.getvalue().splitlines()), out.flushes))

    asyncio.run(main())
    assert seen == [(3, 0), (3, 1), (4, 2)]
    log.emit({"event": "info", "n": 4})  # no loop: at once, as before
    assert out.flushes == 3


def test_loop_factory_is_asyncio_unless_uvloop_is_asked_for(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(runtime.LOOP_ENV, raising=False)
    assert runtime.loop_factory() is None
    monkeypatch.setenv(runtime.LOOP_ENV, "libev")
    assert runtime.loop_factory() is None
    assert "expected asyncio or uvloop" in caplog.text
    monkeypatch.setenv(runtime.LOOP_ENV, "uvloop")
    try:
        import uvloop
    except ImportError:
        assert runtime.loop_factory() is None
        assert "not installed" in caplog.text
    else:
        assert runtime.loop_factory() is uvloop.new_event_loop


def test_line_reader_hands_lines_to_the_loop_and_skips_overlong_ones() -> None:
    async def main() -> tuple[list[str], bool]:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        lines: list[str] = []
        done = asyncio.Event()
        runtime.LineReader(read_fd, loop, lines.append, done.set, max_line=100,
                           on_overlong=lambda start: lines.append(f"LONG {start[:3]}")).start()
        os.write(write_fd, b"one\r\n" + b"x" * 300 + b"\ntwo\nthr")
        os.write(write_fd, b"y" * 150)
        os.write(write_fd, b"y" * 150 + b"\n")
        os.write(write_fd, "ee \xe9\n".encode("latin-1") + b"last")
        os.close(write_fd)
        await asyncio.wait_for(done.wait(), 5)
        os.close(read_fd)
        return lines, done.is_set()

    lines, eof = asyncio.run(main())
    assert lines == ["one", "LONG xxx", "two", "LONG thr", "ee \ufffd", "last"]
    assert eof


def test_address_and_policy_parsers() -> None:
    assert runtime.api_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert runtime.api_address("[::1]:8080") == ("::1", 8080)
    for bad in ("127.0.0.1", "127.0.0.1:99999", "[::1]", "192.168.1.1:80", "x:80"):
        with pytest.raises(UsageError):
            runtime.api_address(bad)
    assert str(runtime.socket_address("tcp:[::1]:5070", "--listen")) == "tcp:[::1]:5070"
    assert parse_policy("reject") == ("reject", None)
    assert parse_policy("error:403") == ("error", 403)
    assert parse_policy("error") == ("error", None)
