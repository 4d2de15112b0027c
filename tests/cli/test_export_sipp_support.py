"""Running exported SIPp scenarios against the reference agents on 127.0.0.1 over UDP.

Role phone: the reference server runs in-process (EndpointDriver); SIPp is the client. For a
server-initiated flow the server makes the change (``admin_change``) once the set-up is done
(the subscription Active, or the uaCSTA session Monitoring).
Role server: SIPp waits; the reference phone runs in-process, registers (and subscribes) to
SIPp, and makes its change (``user_change``) once registered / subscribed.

Every run is bounded: SIPp ``-m N -timeout 10s -timeout_error`` and an asyncio timeout around
the whole exchange. The fsync side's messages are tapped, so tests can replay them through
``fsync check``'s model too.
"""
from __future__ import annotations

import asyncio
import random
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fsync_model.agents.events import AgentEvent, FlowStepped, Problem
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.generate.sipp import SippScenario, csv_name, injection_csv
from fsync_model.profile import Direction, Mechanism, Profile
from fsync_model.trace.records import CapturedMessage
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver
from fsync_model.transport.tap import ListTap
from tests.conftest import require_peer

USER = "1001"
#: seconds one SIPp process may take, all told (its own -timeout is 10 s)
SIPP_DEADLINE = 25.0


@dataclass
class SippResult:
    """What one scenario run did: SIPp's exit codes and output, and the fsync side."""

    name: str
    codes: list[int] = field(default_factory=list)
    output: str = ""
    problems: list[Problem] = field(default_factory=list)
    messages: list[CapturedMessage] = field(default_factory=list)
    driver_errors: list[BaseException] = field(default_factory=list)
    triggered: bool = False
    #: the reference agent's state of the line at the end
    state: FeatureState | None = None

    @property
    def ok(self) -> bool:
        return bool(self.codes) and all(code == 0 for code in self.codes)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _bound(port: int) -> bool:
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}"):
            return True
    return False


async def _wait_bound(port: int, timeout: float = 5.0) -> None:
    if not Path("/proc/net/udp").exists():
        await asyncio.sleep(0.3)
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not _bound(port):
        if loop.time() > end:
            raise AssertionError(f"SIPp never bound udp port {port}")
        await asyncio.sleep(0.01)


def write_files(scenario: SippScenario, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in scenario.files:
        (folder / item.name).write_text(item.text)
    (folder / csv_name(scenario.flow)).write_text(injection_csv(scenario.flow))


async def _start_sipp(folder: Path, scenario: SippScenario, index: int, port: int,
                      remote: Address | None) -> asyncio.subprocess.Process:
    sipp = require_peer("sipp")
    run = scenario.runs[index]
    target = [f"{remote.host}:{remote.port}"] if run.client and remote is not None else []
    return await asyncio.create_subprocess_exec(
        sipp, *target, "-sf", run.scenario, "-inf", csv_name(scenario.flow), "-i", "127.0.0.1",
        "-p", str(port), "-m", str(run.calls), "-timeout", "10s", "-timeout_error", "-nostdin",
        "-trace_err", "-trace_msg", "-max_retrans", "5",
        cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def _finish(process: asyncio.subprocess.Process, result: SippResult) -> None:
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SIPP_DEADLINE)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    result.codes.append(process.returncode if process.returncode is not None else -1)
    result.output += output.decode(errors="replace")[-3000:]


def sipp_errors(folder: Path) -> str:
    return "".join(p.read_text(errors="replace")[-3000:] for p in sorted(
        folder.glob("*_errors.log")))


def _when(machine: str, dest: str, action: Callable[[], None],
          result: SippResult) -> Callable[[AgentEvent], None]:
    """An observer that runs ``action`` (soon, outside the agent) the first time ``machine``
    enters ``dest``, and keeps the agent's problems."""
    loop = asyncio.get_running_loop()

    def observe(event: AgentEvent) -> None:
        if isinstance(event, Problem):
            result.problems.append(event)
        if (not result.triggered and isinstance(event, FlowStepped)
                and event.machine == machine and event.dest == dest):
            result.triggered = True
            loop.call_soon(action)
    return observe


class NotifyFirst:
    """The reference server as a UDP race shows it: in each batch it sends, its NOTIFYs go
    out before its answers (RFC 6665 4.1.2.4 allows the NOTIFY to overtake the 2xx)."""

    def __init__(self, server: ReferenceServer) -> None:
        self.server = server

    def bind(self, local: list[Address]) -> None:
        self.server.bind(local)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        self.server.receive_datagram(data, src, now)

    def handle_timer(self, now: float) -> None:
        self.server.handle_timer(now)

    def get_timer(self) -> float | None:
        return self.server.get_timer()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out = self.server.datagrams_to_send(now)
        return sorted(out, key=lambda item: not item[0].startswith(b"NOTIFY "))


def _captured(tap: ListTap) -> list[CapturedMessage]:
    return [CapturedMessage(n + 1, r.time, r.src, r.dst, r.data)
            for n, r in enumerate(tap.records)]


async def run_as_phone(profile: Profile, scenario: SippScenario, folder: Path,
                       change: Change | None = None, *, notify_first: bool = False,
                       before: Callable[[Address], Awaitable[None]] | None = None,
                       ) -> SippResult:
    """SIPp plays the phone against the reference server (which makes ``change``, by
    default the flow's, in a server-initiated flow)."""
    result = SippResult(f"{scenario.flow.name} as phone")
    spec = scenario.flow
    made = change or spec.change
    tap = ListTap()
    holder: dict[str, EndpointDriver] = {}
    server_box: list[ReferenceServer] = []

    def act() -> None:
        server = server_box[0]
        holder["driver"].run_in_cycle(
            lambda: server.admin_change(USER, made, asyncio.get_running_loop().time()))

    if spec.direction is Direction.SERVER and spec.mechanism is Mechanism.UACSTA:
        machine, dest = f"{profile.id}/uacsta-session", "Monitoring"
    elif spec.direction is Direction.SERVER:
        machine, dest = f"{profile.id}/subscription", "Active"
    else:
        machine, dest = "-", "-"
    server = ReferenceServer(profile, rng=random.Random(1), local=Address("udp", "127.0.0.1", 0),
                             observer=_when(machine, dest, act, result), log_messages=False)
    server_box.append(server)
    endpoint: ReferenceServer | NotifyFirst = NotifyFirst(server) if notify_first else server
    driver = await EndpointDriver.open(endpoint, ["udp:127.0.0.1:0"], taps=[tap])
    holder["driver"] = driver
    try:
        if before is not None:
            await before(driver.local_addresses[0])
        port = free_udp_port()
        for index in range(len(scenario.runs)):
            process = await _start_sipp(folder, scenario, index, port,
                                        driver.local_addresses[0])
            await _finish(process, result)
            if result.codes[-1] != 0:
                break
    finally:
        driver.close()
        await driver.wait_closed()
        result.driver_errors = list(driver.errors)
        result.messages = _captured(tap)
        result.state = server.state(USER)
    return result


async def run_as_server(profile: Profile, scenario: SippScenario, folder: Path,
                        change: Change | None = None) -> SippResult:
    """SIPp plays the server; the reference phone registers (and subscribes) to it, and
    makes ``change`` (by default the flow's) in a phone-initiated flow."""
    result = SippResult(f"{scenario.flow.name} as server")
    spec = scenario.flow
    made = change or spec.change
    tap = ListTap()
    holder: dict[str, EndpointDriver] = {}
    phone_box: list[ReferencePhone] = []

    def act() -> None:
        phone = phone_box[0]
        holder["driver"].run_in_cycle(
            lambda: phone.user_change(made, asyncio.get_running_loop().time()))

    if spec.direction is Direction.PHONE and profile.afe is not None and (
            spec.mechanism is Mechanism.AS_FEATURE_EVENT):
        machine, dest = f"{profile.id}/subscription", "Active"
    elif spec.direction is Direction.PHONE:
        machine, dest = f"{profile.id}/registration", "Registered"
    else:
        machine, dest = "-", "-"
    port = free_udp_port()
    process = await _start_sipp(folder, scenario, 0, port, None)
    try:
        await _wait_bound(port)
        phone = ReferencePhone(profile, user=USER, server=Address("udp", "127.0.0.1", port),
                               rng=random.Random(2), sync=True,
                               local=Address("udp", "127.0.0.1", 0),
                               observer=_when(machine, dest, act, result),
                               log_messages=False)
        phone_box.append(phone)
        driver = await EndpointDriver.open(phone, ["udp:127.0.0.1:0"], taps=[tap])
        holder["driver"] = driver
        try:
            driver.run_in_cycle(lambda: phone.start(asyncio.get_running_loop().time()))
            await _finish(process, result)
            await asyncio.sleep(0.05)  # our last answers out
        finally:
            driver.close()
            await driver.wait_closed()
            result.driver_errors = list(driver.errors)
            result.messages = _captured(tap)
            result.state = phone.state
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return result


async def run_scenario(profile: Profile, scenario: SippScenario, folder: Path,
                       change: Change | None = None, *, notify_first: bool = False,
                       before: Callable[[Address], Awaitable[None]] | None = None,
                       ) -> SippResult:
    """Write ``scenario`` into ``folder`` and run it against the reference agent of the
    other role. ``before`` is awaited with the reference server's address before SIPp
    starts (role phone: e.g. to start a capture)."""
    write_files(scenario, folder)
    if scenario.role == "phone":
        job = run_as_phone(profile, scenario, folder, change, notify_first=notify_first,
                           before=before)
    else:
        job = run_as_server(profile, scenario, folder, change)
    result = await asyncio.wait_for(job, SIPP_DEADLINE * 2)
    if not result.ok:
        result.output += sipp_errors(folder)
    return result


async def run_many(profile: Profile, scenarios: list[SippScenario], root: Path,
                   parallel: int = 8) -> list[SippResult]:
    """Run ``scenarios`` with at most ``parallel`` SIPp processes at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(n: int, scenario: SippScenario) -> SippResult:
        async with gate:
            return await run_scenario(profile, scenario, root / f"{n:02d}-{scenario.name}")
    return list(await asyncio.gather(*(one(n, s) for n, s in enumerate(scenarios))))
