"""Plumbing of the interop tests: ``fsync serve``/``fsync phone``, SIPp and baresip as
subprocesses on 127.0.0.1, every one bounded by a timeout and killed in a ``finally``.

``fsync`` runs as ``python -m fsync_model.cli.main``; its stdout is one JSON object per line,
read in a thread and kept in order, so a test can wait for an event (``wait_for``) or send a
control line and get its result (``command``). Ports come from the ``listening`` line (port
0) on our side; SIPp gets a free port picked just before it starts. This module holds no
tests.
"""
from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
#: seconds any single wait may take before the test fails
WAIT = 10.0
#: seconds a subprocess gets to stop on SIGTERM before it is killed
STOP = 5.0
FSYNC = (sys.executable, "-m", "fsync_model.cli.main")
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}

Event = dict[str, Any]


def free_port(transport: str) -> int:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def is_bound(transport: str, port: int) -> bool:
    """True once something listens on ``port`` (Linux /proc: no probe traffic, which SIPp
    would take for a call)."""
    table = Path("/proc/net/tcp" if transport == "tcp" else "/proc/net/udp")
    wanted = "0A" if transport == "tcp" else "07"  # LISTEN / unconnected UDP
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == wanted:
            return True
    return False


def wait_bound(transport: str, port: int, process: subprocess.Popen[bytes],
               timeout: float = WAIT) -> None:
    if not Path("/proc/net/udp").exists():
        time.sleep(0.5)
        return
    end = time.monotonic() + timeout
    while not is_bound(transport, port):
        if process.poll() is not None:
            raise AssertionError(f"the peer exited ({process.returncode}) before binding "
                                 f"{transport} port {port}")
        if time.monotonic() > end:
            raise AssertionError(f"nothing bound {transport} port {port} in {timeout} s")
        time.sleep(0.01)


def stop_process(process: subprocess.Popen[Any], *, graceful: bool = True) -> int:
    """SIGTERM (when ``graceful``), then SIGKILL after ``STOP`` seconds; the exit code."""
    if process.poll() is None and graceful:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP)
    if process.poll() is None:
        process.kill()
        process.wait(STOP)
    return process.returncode


class LineReader:
    """Reads a subprocess's stdout line by line in a daemon thread."""

    def __init__(self, stream: IO[str], parse: Callable[[str], Event | None]) -> None:
        self.lines: list[Event] = []
        self.eof = False
        self._parse = parse
        self._stream = stream
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in self._stream:
            item = self._parse(raw.rstrip("\n"))
            if item is None:
                continue
            with self._cond:
                self.lines.append(item)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def wait_for(self, predicate: Callable[[Event], bool], what: str, *, since: int = 0,
                 timeout: float = WAIT) -> Event:
        end = time.monotonic() + timeout
        with self._cond:
            checked = since
            while True:
                for item in self.lines[checked:]:
                    if predicate(item):
                        return item
                checked = max(checked, len(self.lines))
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    why = "the process ended" if self.eof else f"{timeout:g} s passed"
                    raise AssertionError(f"{what}: not seen ({why})")
                self._cond.wait(left)

    def join(self, timeout: float = STOP) -> None:
        self._thread.join(timeout)


def _json_line(text: str) -> Event | None:
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return {"event": "not-json", "text": text}
    return obj if isinstance(obj, dict) else {"event": "not-json", "text": text}


class FsyncAgent:
    """``fsync serve`` or ``fsync phone`` in a subprocess, talked to through stdin/stdout."""

    def __init__(self, args: Sequence[str], log_dir: Path, name: str) -> None:
        self.name = name
        self.args = list(args)
        self._stderr = (log_dir / f"{name}.stderr").open("w")
        self.stderr_path = log_dir / f"{name}.stderr"
        self.process = subprocess.Popen(
            [*FSYNC, *args], cwd=log_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, bufsize=1)
        assert self.process.stdout is not None
        self.out = LineReader(self.process.stdout, _json_line)
        self.returncode: int | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, args: Sequence[str], log_dir: Path, name: str) -> Iterator[FsyncAgent]:
        agent = cls(args, log_dir, name)
        try:
            yield agent
        finally:
            agent.stop()

    # -- reading -------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        return list(self.out.lines)

    def mark(self) -> int:
        return self.out.mark()

    def wait_for(self, predicate: Callable[[Event], bool], what: str, *, since: int = 0,
                 timeout: float = WAIT) -> Event:
        try:
            return self.out.wait_for(predicate, what, since=since, timeout=timeout)
        except AssertionError as error:
            raise AssertionError(f"fsync {self.name}: {error}\n{self.transcript()}") from None

    def listening(self, transport: str) -> tuple[str, int]:
        event = self.wait_for(lambda e: e.get("event") == "info" and e.get("what") == "listening"
                              and str(e.get("address", "")).startswith(f"{transport}:"),
                              f"the {transport} listening line")
        _, host, port = str(event["address"]).rsplit(":", 2)
        return host.strip("[]"), int(port)

    def command(self, line: str, timeout: float = WAIT) -> Event:
        """Write one control line; its result object (``ok``, ``state``, ``error``...)."""
        since = self.mark()
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.wait_for(lambda e: e.get("line") == line and e.get("event") != "not-json",
                             f"the result of {line!r}", since=since, timeout=timeout)

    def problems(self, *severities: str) -> list[Event]:
        wanted = set(severities or ("error", "warning", "info"))
        return [e for e in self.events if e.get("event") == "problem"
                and e.get("severity") in wanted]

    def messages(self, direction: str, start: str) -> list[Event]:
        return [e for e in self.events if e.get("event") == "message"
                and e.get("dir") == direction and str(e.get("summary", "")).startswith(start)]

    def transcript(self, last: int = 60) -> str:
        """The last events (no model steps) and stderr, for an assertion message."""
        shown = [e for e in self.events if e.get("event") != "step"][-last:]
        lines = [json.dumps(e)[:300] for e in shown]
        with contextlib.suppress(OSError):
            self._stderr.flush()
            lines.append("--- stderr:\n" + self.stderr_path.read_text()[-3000:])
        return f"--- fsync {self.name} {' '.join(self.args)}\n" + "\n".join(lines)

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM, killed if it lingers; the exit code (0 = the agent never raised)."""
        if self.returncode is None:
            try:
                self.returncode = stop_process(self.process)
            finally:
                self.out.join()
                for stream in (self.process.stdin, self.process.stdout):
                    with contextlib.suppress(OSError, ValueError):
                        if stream is not None:
                            stream.close()
                self._stderr.close()
        return self.returncode


class Sipp:
    """One SIPp run in ``cwd`` (its trace files land there), bounded by ``-timeout``."""

    def __init__(self, sipp: str, scenario: Path, cwd: Path, *, transport: str, port: int,
                 remote: str | None = None, calls: int = 1, timeout: int = 15) -> None:
        self.cwd = cwd
        self.scenario = scenario
        self.port = port
        self.transport = transport
        self._timeout = timeout
        self.output = cwd / f"sipp-{scenario.stem}.out"
        self.args = [sipp, *([remote] if remote else []), "-sf", str(scenario),
                     "-i", "127.0.0.1", "-p", str(port), "-t", SIPP_TRANSPORT[transport],
                     "-m", str(calls), "-timeout", f"{timeout}s", "-timeout_error",
                     "-nostdin", "-trace_msg", "-trace_err", "-max_retrans", "5"]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(self.args, cwd=cwd, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT)

    def wait_bound(self) -> None:
        wait_bound(self.transport, self.port, self.process)

    def wait(self) -> int:
        """SIPp's exit code (0 = every call of the scenario succeeded)."""
        try:
            return self.process.wait(self._timeout + 5)
        except subprocess.TimeoutExpired:
            stop_process(self.process, graceful=False)
            raise AssertionError(f"SIPp outlived its own -timeout\n{self.report()}") from None

    def stop(self) -> None:
        stop_process(self.process, graceful=False)

    def _logs(self, pattern: str) -> str:
        return "".join(p.read_text(errors="replace")
                       for p in sorted(self.cwd.glob(f"{self.scenario.stem}_*_{pattern}.log")))

    def messages(self) -> str:
        return self._logs("messages")

    def report(self) -> str:
        """SIPp's error log, the end of its message trace and its screen, for a failure."""
        screen = self.output.read_text(errors="replace") if self.output.exists() else ""
        return (f"--- sipp {' '.join(self.args[1:])}\n--- errors:\n{self._logs('errors')}\n"
                f"--- last messages:\n{self.messages()[-4000:]}\n--- screen:\n{screen[-1500:]}")


@contextlib.contextmanager
def sipp_run(*args: Any, **kwargs: Any) -> Iterator[Sipp]:
    run = Sipp(*args, **kwargs)
    try:
        yield run
    finally:
        run.stop()


class Baresip:
    """baresip driven line by line on stdin (the ``stdio`` UI module, which works on a pipe
    though it says it cannot set up the terminal), one account, no registration."""

    def __init__(self, baresip: str, config_dir: Path, *, user: str, server: tuple[str, int],
                 password: str, bound: int = 30) -> None:
        host, port = server
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "config").write_text("\n".join([
            "module_path /usr/lib/baresip/modules",
            "sip_listen 127.0.0.1:0",
            "audio_player ausine,nil",
            "audio_source ausine,nil",
            "module stdio.so",
            "module g711.so",
            "module ausine.so",
            "module_app account.so",
            "module_app menu.so",
            "",
        ]))
        (config_dir / "accounts").write_text(
            f"<sip:{user}@{host}:{port};transport=udp>;auth_pass={password};regint=0;"
            f'outbound="sip:{host}:{port}"\n')
        self.log_path = config_dir / "baresip.out"
        self.process = subprocess.Popen(
            [baresip, "-f", str(config_dir), "-t", str(bound)], cwd=config_dir,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, errors="replace")
        assert self.process.stdout is not None
        self.out = LineReader(self.process.stdout, lambda text: {"text": text})

    def wait_ready(self) -> None:
        self.out.wait_for(lambda e: "baresip is ready" in e["text"], "baresip is ready")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def dial(self, uri: str) -> None:
        self.send(f"/dial {uri}")

    def text(self) -> str:
        return "\n".join(e["text"] for e in self.out.lines)

    def quit(self) -> int:
        """``/quit``, then SIGTERM/SIGKILL if it lingers; the exit code."""
        with contextlib.suppress(OSError, ValueError):
            self.send("/quit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP)
        code = stop_process(self.process)
        self.out.join()
        self.log_path.write_text(self.text())
        return code
