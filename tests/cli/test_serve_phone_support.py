"""Helpers for the serve/phone/HTTP API tests: fake agents and a bounded subprocess wrapper.

The fakes implement ``ServerAgentAPI`` / ``PhoneAgentAPI`` with a toy protocol (REGISTER,
then MESSAGE bodies carrying control lines such as ``dnd on``), enough to exercise the CLI
plumbing (driver, stdin, JSON lines, HTTP API, signals) without the real agents. The
subprocess runs them through ``fake_main``, which patches the command modules' factories.
This module holds no tests.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from fsync_model.agents.control import SetFeature, parse_phone_line
from fsync_model.agents.events import Info, MessageLogged, Observer, Problem, StateChanged
from fsync_model.agents.state import Change, FeatureState
from fsync_model.sip.message import Request, Response, build_request, parse_message
from fsync_model.transport.address import Address

REPO = Path(__file__).resolve().parents[2]
#: Seconds any single wait on a subprocess may take before the test fails.
WAIT = 10.0

def _user_of(request: Request) -> str:
    match = re.search(r"sip:([^@>;]+)@", request.headers.get("from") or "")
    return match[1] if match else "?"


class _FakeAgent:
    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.local: list[Address] = []
        self.out: list[tuple[bytes, Address]] = []
        self._n = 0

    def bind(self, local: list[Address]) -> None:
        self.local = list(local)

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.out = self.out, []
        for data, dst in out:
            self.observer(MessageLogged(now, "out", str(self.local[0]), str(dst),
                                        data.split(b"\r\n", 1)[0].decode()))
        return out

    def _send_request(self, method: str, user: str, dst: Address, body: str = "") -> None:
        self._n += 1
        me = self.local[0]
        request = build_request(method, f"sip:{user}@{dst.host}", [
            ("Via", f"SIP/2.0/{me.transport.upper()} {me.host}:{me.port};branch=z9hG4bK{self._n}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{me.host}>;tag=f{self._n}"),
            ("To", f"<sip:{user}@{dst.host}>"),
            ("Call-ID", f"fake-{self._n}"),
            ("CSeq", f"{self._n} {method}"),
        ], body.encode(), "text/plain" if body else None)
        self.out.append((request.serialize(), dst))

    def _receive(self, data: bytes, src: Address, now: float) -> Request | Response:
        message = parse_message(data)
        self.observer(MessageLogged(now, "in", str(src), str(self.local[0]),
                                    message.start_line))
        return message


class FakeServer(_FakeAgent):
    """Answers REGISTER 200; applies MESSAGE bodies per policy; admin changes send MESSAGE."""

    def __init__(self, profile: Any, *, rng: random.Random, observer: Observer,
                 policy: str | None = None, policy_status: int | None = None,
                 password: str | None = None, quiet: bool = False) -> None:
        super().__init__(observer)
        self.profile = profile
        self.rng = rng
        self.policies: dict[str | None, tuple[str, int | None]] = {
            None: (policy or "accept", policy_status)}
        self.states: dict[str, FeatureState] = {}
        self.contacts: dict[str, Address] = {}

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        message = self._receive(data, src, now)
        if not isinstance(message, Request):
            return
        user = _user_of(message)
        if message.method == "REGISTER":
            self.contacts[user] = src
            self.states.setdefault(user, FeatureState())
            self.observer(Info(now, "registered", {"user": user}))
            self.out.append((message.response(200, to_tag="s").serialize(), src))
            return
        policy, status = self.policies.get(user, self.policies[None])
        if policy == "error":
            self.out.append((message.response(status or 403, to_tag="s").serialize(), src))
            return
        command = parse_phone_line(message.body.decode())
        if isinstance(command, SetFeature) and policy == "accept":
            self._apply(user, command.change, now, "phone")
        self.out.append((message.response(200, to_tag="s").serialize(), src))

    def _apply(self, user: str, change: Change, now: float, cause: str) -> None:
        state = self.states.get(user, FeatureState()).applied(change)
        self.states[user] = state
        self.observer(StateChanged(now, user, state, cause))

    def admin_change(self, user: str, change: Change, now: float) -> None:
        if user == "boom":
            raise RuntimeError("fake agent bug")
        if user == "refuse":
            raise ValueError("user 'refuse' does not take changes")
        self._apply(user, change, now, "admin")
        if user in self.contacts:
            self._send_request("MESSAGE", user, self.contacts[user], change.describe())

    def state(self, user: str) -> FeatureState:
        return self.states.get(user, FeatureState())

    def users(self) -> list[str]:
        return sorted(self.states)

    def set_policy(self, user: str | None, policy: str, status: int | None = None) -> None:
        self.policies[user] = (policy, status)


class FakePhone(_FakeAgent):
    """Registers; with sync, sends key presses as MESSAGE and confirms on 200."""

    def __init__(self, profile: Any, *, user: str, server: Address, rng: random.Random,
                 observer: Observer, sync: bool | None = None,
                 password: str | None = None) -> None:
        super().__init__(observer)
        self.user = user
        self.server = server
        self.sync = bool(sync)
        self._state = FeatureState()
        self._pending: FeatureState | None = None
        self._deadline: float | None = None

    @property
    def state(self) -> FeatureState:
        return self._state

    @property
    def indicator(self) -> FeatureState:
        return self._pending if self._pending is not None else self._state

    def start(self, now: float) -> None:
        self._send_request("REGISTER", self.user, self.server)
        self._deadline = now + 3.0

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        self._deadline = None
        self.observer(Problem(now, "fake.timeout", "no answer from the server"))

    def set_sync(self, on: bool, now: float) -> None:
        self.sync = on

    def user_change(self, change: Change, now: float) -> None:
        if not self.sync:
            self._state = self._state.applied(change)
            self.observer(StateChanged(now, self.user, self._state, "key"))
            return
        self._pending = self.indicator.applied(change)
        self.observer(StateChanged(now, self.user, self._pending, "key", confirmed=False))
        self._send_request("MESSAGE", self.user, self.server, change.describe())

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        message = self._receive(data, src, now)
        if isinstance(message, Response):
            self._deadline = None
            method = message.cseq.method
            if method == "REGISTER" and message.is_success:
                self.observer(Info(now, "registered", {"user": self.user}))
            elif method == "MESSAGE" and self._pending is not None:
                if message.is_success:
                    self._state = self._pending
                    self.observer(StateChanged(now, self.user, self._state, "server"))
                else:
                    self.observer(Problem(now, "fake.rejected", f"{message.status}"))
                self._pending = None
            return
        command = parse_phone_line(message.body.decode())
        if isinstance(command, SetFeature):
            self._state = self._state.applied(command.change)
            self.observer(StateChanged(now, self.user, self._state, "server"))
        self.out.append((message.response(200, to_tag="p").serialize(), src))


def install_fakes() -> None:
    """Point the commands at the fakes (the vendor profiles are the real ones)."""
    from fsync_model.cli import phone_cmd, serve_cmd

    serve_cmd.create_server = FakeServer
    phone_cmd.create_phone = FakePhone


def fake_main(argv: Sequence[str]) -> int:
    install_fakes()
    from fsync_model.cli.main import main

    return main(list(argv))


_BOOT = ("import sys; from tests.cli.test_serve_phone_support import fake_main; "
         "raise SystemExit(fake_main(sys.argv[1:]))")


def command_line(args: Sequence[str], *, fake: bool = True) -> list[str]:
    """``fsync ARGS`` with the fake agents (default) or the real ones."""
    if fake:
        return [sys.executable, "-c", _BOOT, *args]
    return [sys.executable, "-m", "fsync_model.cli.main", *args]


def run_cli(args: Sequence[str], *, fake: bool = True, stdin: str = "",
            timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (usage errors, --help, --exit-on-eof runs)."""
    return subprocess.run(command_line(args, fake=fake), input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, check=False)


class AgentProcess:
    """``fsync serve``/``fsync phone`` in a subprocess: JSON lines in a queue, bounded waits."""

    def __init__(self, args: Sequence[str], *, fake: bool = True) -> None:
        self.args = list(args)
        self.proc = subprocess.Popen(
            command_line(args, fake=fake), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=REPO, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # closed under us: the test is over
            for raw in self.proc.stdout:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    obj = {"event": "NOT-JSON", "raw": raw}
                self.lines.put(obj)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for raw in self.proc.stderr:
                self.stderr.append(raw)

    def expect(self, predicate: Callable[[dict[str, Any]], bool] | str,
               timeout: float = WAIT, **fields: Any) -> dict[str, Any]:
        """The next JSON line matching ``predicate`` (an event name or a function) and
        ``fields``; earlier lines are kept in :attr:`seen`. Fails on a non-JSON line."""
        if isinstance(predicate, str):
            name = predicate

            def predicate(obj: dict[str, Any]) -> bool:
                return obj.get("event") == name

        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for a line with {fields}; seen "
                                     f"{self.seen[-10:]}; stderr {''.join(self.stderr)[-2000:]}")
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if obj is None:
                self.lines.put(None)
                raise AssertionError(f"stdout closed while waiting for {fields}; seen "
                                     f"{self.seen[-10:]}; stderr {''.join(self.stderr)[-2000:]}")
            assert obj.get("event") != "NOT-JSON", f"not a JSON line on stdout: {obj}"
            self.seen.append(obj)
            if predicate(obj) and all(obj.get(k) == v for k, v in fields.items()):
                return obj

    def listening(self, count: int = 1) -> list[str]:
        return [self.expect("info", what="listening")["address"] for _ in range(count)]

    def api_port(self) -> int:
        return int(self.expect("info", what="api")["address"].rsplit(":", 1)[1])

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def signal(self, sig: int = signal.SIGTERM, timeout: float = WAIT) -> tuple[int, float]:
        """Send ``sig``; (exit code, seconds it took to exit)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        took = time.monotonic() - start
        for thread in self._threads:  # the process is gone: let them read to EOF, so
            thread.join(timeout=WAIT)  # what it printed last is in seen and stderr
        return rc, took

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        for thread in self._threads:  # they end at EOF, now that the process is gone
            thread.join(timeout=WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


@contextlib.contextmanager
def agent_process(args: Sequence[str], *, fake: bool = True) -> Iterator[AgentProcess]:
    with AgentProcess(args, fake=fake) as process:
        yield process


def http_request(port: int, method: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, Any],
                                                                   http.client.HTTPResponse]:
    """One request; (status, JSON body, response)."""
    connection = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        data = body.encode() if isinstance(body, str) else body
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {}), response
    finally:
        if conn is None:
            connection.close()
