"""Helpers for the ``fsync test`` tests: an in-process phone as the device, free ports,
a bounded ``fsync phone`` / ``fsync serve`` subprocess with its HTTP API. No tests here.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.dut.runner import RunConfig, run_session
from fsync_model.dut.session import Timing
from fsync_model.dut.verdicts import SessionResult
from fsync_model.profile import Profile, load_all
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver

REPO = Path(__file__).resolve().parents[2]
FSYNC = [sys.executable, "-m", "fsync_model.cli.main"]
#: fast timing for loopback agents (the reference phone answers in milliseconds)
FAST = Timing(wait=10.0, settle=0.1, step_timeout=1.0, hook_timeout=5.0,
              settle_after_drop=0.8)
UDP_ANY = Address("udp", "127.0.0.1", 0)
#: longest any subprocess of these tests may live
PROCESS_LIMIT = 60.0


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def profile(name: str) -> Profile:
    return load_all()[name]


class InProcessPhone:
    """A (possibly defective) reference phone in this event loop, as a ``Device``."""

    def __init__(self, cls: type[ReferencePhone], profile: Profile, *, user: str = "1001",
                 seed: int = 2, lag: float = 0.0) -> None:
        self.lag = lag
        self._seen: list[tuple[float, FeatureState]] = []
        self.cls = cls
        self.profile = profile
        self.user = user
        self.seed = seed
        self.phone: ReferencePhone | None = None
        self.driver: EndpointDriver | None = None

    def describe(self) -> str:
        return f"in-process {self.cls.__name__}"

    async def start(self, server: list[Address]) -> None:
        loop = asyncio.get_running_loop()
        self.phone = self.cls(self.profile, user=self.user, server=server[0],
                              rng=random.Random(self.seed), sync=True, log_messages=False,
                              keep_messages=False)
        self.driver = await EndpointDriver.open(self.phone, [f"{server[0].transport}:127.0.0.1:0"])
        phone = self.phone
        self.driver.run_in_cycle(lambda: phone.start(loop.time()))

    async def control(self, change: Change, user: str) -> None:
        assert self.driver is not None and self.phone is not None
        loop = asyncio.get_running_loop()
        phone, driver = self.phone, self.driver
        if self.lag:  # the key press takes effect later (the command returned at once)
            loop.call_later(self.lag, lambda: driver.run_in_cycle(
                lambda: phone.user_change(change, loop.time())))
            return
        driver.run_in_cycle(lambda: phone.user_change(change, loop.time()))

    async def query(self, user: str) -> FeatureState:
        assert self.phone is not None
        if not self.lag:
            return self.phone.state
        # the display shows what the state was ``lag`` seconds ago
        now = asyncio.get_running_loop().time()
        self._seen.append((now, self.phone.state))
        old = [state for t, state in self._seen if t <= now - self.lag]
        return old[-1] if old else self._seen[0][1]

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()


async def session_with(cls: type[ReferencePhone], vendor: str = "broadsoft", *,
                       examples: int = 0, seed: int = 1, timing: Timing = FAST,
                       listen: Address = UDP_ANY, lag: float = 0.0,
                       **options: Any) -> SessionResult:
    """``fsync test --dut phone`` against an in-process phone of class ``cls`` (``lag``:
    its key presses take effect, and its display follows, that many seconds late)."""
    prof = profile(vendor)
    device = InProcessPhone(cls, prof, lag=lag)
    config = RunConfig(prof, "phone", "1001", device, listen, examples=examples, seed=seed,
                       timing=timing, vendor=vendor, on_ready=device.start, **options)
    try:
        return await asyncio.wait_for(run_session(config), PROCESS_LIMIT)
    finally:
        device.close()


class InProcessServer:
    """A (possibly defective) reference server in this event loop, as a ``Device``."""

    def __init__(self, cls: type[ReferenceServer], profile: Profile, seed: int = 5) -> None:
        self.server = cls(profile, rng=random.Random(seed), log_messages=False,
                          keep_messages=False, keep_steps=False)
        self.driver: EndpointDriver | None = None

    def describe(self) -> str:
        return f"in-process {type(self.server).__name__}"

    async def start(self) -> Address:
        self.driver = await EndpointDriver.open(self.server, ["udp:127.0.0.1:0"])
        return self.driver.local_addresses[0]

    async def control(self, change: Change, user: str) -> None:
        assert self.driver is not None
        loop = asyncio.get_running_loop()
        server = self.server
        self.driver.run_in_cycle(lambda: server.admin_change(user, change, loop.time()))

    async def query(self, user: str) -> FeatureState:
        return self.server.state(user)

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()


async def server_session_with(cls: type[ReferenceServer], vendor: str = "broadsoft", *,
                              examples: int = 0, seed: int = 1, timing: Timing = FAST,
                              **options: Any) -> SessionResult:
    """``fsync test --dut server`` against an in-process server of class ``cls``."""
    prof = profile(vendor)
    device = InProcessServer(cls, prof)
    target = await device.start()
    config = RunConfig(prof, "server", "1001", device, None, target, examples=examples,
                       seed=seed, timing=timing, vendor=vendor, **options)
    try:
        return await asyncio.wait_for(run_session(config), PROCESS_LIMIT)
    finally:
        device.close()


def run_in_process(cls: type[ReferencePhone], vendor: str = "broadsoft",
                   **options: Any) -> SessionResult:
    return asyncio.run(session_with(cls, vendor, **options))


Scenario = tuple[type[ReferencePhone] | type[ReferenceServer], str, dict[str, Any]]


def run_many(scenarios: dict[str, Scenario]) -> dict[str, SessionResult]:
    """Several in-process sessions at once in one event loop (each on its own ports): the
    runs mostly wait for quiet, so together they take about as long as the longest. A
    server class makes a ``--dut server`` session, a phone class a ``--dut phone`` one."""
    def one(cls: type[ReferencePhone] | type[ReferenceServer], vendor: str,
            options: dict[str, Any]) -> Awaitable[SessionResult]:
        if issubclass(cls, ReferenceServer):
            return server_session_with(cls, vendor, **options)
        return session_with(cls, vendor, **options)

    async def main() -> dict[str, SessionResult]:
        names = list(scenarios)
        results = await asyncio.gather(*(one(*scenarios[n]) for n in names))
        return dict(zip(names, results, strict=True))

    return asyncio.run(main())


class Agent:
    """``fsync phone`` or ``fsync serve`` as a subprocess with its HTTP API on a free port;
    stopped with SIGTERM (then killed) on exit."""

    def __init__(self, argv: Sequence[str] = (), *, api: int | None = None) -> None:
        self.api = api if api is not None else free_port(socket.SOCK_STREAM)
        self.argv = [*argv, "--api", f"127.0.0.1:{self.api}", "--quiet"]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Agent:
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        cwd=REPO, start_new_session=True)
        return self

    def wait_api(self, limit: float = 10.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.api), timeout=0.2):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.argv[:4]}: API not up within {limit} s")

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        if process.stderr is not None:
            process.stderr.close()

    @property
    def control(self) -> str:
        return (f'curl -s -m 5 -d "{{feature}} {{action}} {{target}} {{rings}}" '
                f"http://127.0.0.1:{self.api}/command")

    @property
    def server_control(self) -> str:
        return (f'curl -s -m 5 -d "{{user}} {{feature}} {{action}} {{target}} {{rings}}" '
                f"http://127.0.0.1:{self.api}/command")

    @property
    def query(self) -> str:
        return f"curl -s -m 5 http://127.0.0.1:{self.api}/state"


def phone_argv(vendor: str, port: int, *, defect: str | None = None) -> list[str]:
    """``fsync phone`` (or the test-only defective one) registering at fsync's --listen."""
    base = [sys.executable, "-m", "tests.dut.phone_main"] if defect else [*FSYNC]
    extra = ["--defect", defect] if defect else []
    return [*base, *extra, "phone", "--vendor", vendor, "--server", f"udp:127.0.0.1:{port}",
            "--user", "1001", "--sync", "on", "--seed", "2"]


class TestCommand:
    """``fsync test`` as a subprocess; ``started`` once it says where it listens."""

    __test__ = False  # not a pytest test class

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = [*FSYNC, "test", *argv]
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        cwd=REPO, start_new_session=True, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._first = threading.Event()
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.process.stdout, self.out),
                                              (self.process.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)
            if sink is self.err:
                self._first.set()
        if sink is self.err:
            self._first.set()

    def started(self, limit: float = 20.0) -> str:
        """Wait for its first stderr line (where it listens) and return it."""
        if not self._first.wait(limit) or not self.err:
            raise AssertionError(f"fsync test said nothing within {limit} s")
        return self.err[0]

    def finish(self, limit: float = PROCESS_LIMIT) -> tuple[int, str, str]:
        try:
            code = self.process.wait(limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
            raise AssertionError(f"fsync test ran longer than {limit} s:\n"
                                 f"{''.join(self.out)}\n{''.join(self.err)}") from None
        for reader in self._readers:
            reader.join(5)
        return code, "".join(self.out), "".join(self.err)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
