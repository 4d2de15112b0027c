"""Run one flow of the guide between the reference phone and server, and judge it.

A *flow* is one (system, feature, direction) of a profile: "BroadSoft, DND, phone-initiated".
:func:`flows_of` lists them from the profile (never from a hand-kept list); :func:`run_flow`
sets the two reference agents up (register, subscribe where the profile does), makes the
change at the side the direction names, lets the traffic settle, and returns a
:class:`FlowRun`: the messages of the flow itself, the steps the trackers took, the states
of both sides and a verdict. The verdict is the model's: the flow's tracker must reach the
table's goal along the table's happy path on both sides, the states must agree as the
mechanism promises, and neither agent may report an error.

The in-memory network makes a run deterministic and fast (virtual time); the socket
variant (:func:`run_flow_over_sockets`) runs the same flow over real UDP or TCP on loopback.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fsync_model.agents.events import AgentEvent, Problem
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureName, FeatureState
from fsync_model.model import MachineKey, Party, Step, happy_path, inputs_of, machines_for
from fsync_model.profile import Direction, Feature, Mechanism, Profile
from fsync_model.sip.useragent import MessageRecord
from fsync_model.transport.address import Address
from fsync_model.transport.memory import MemoryNetwork

USER = "1001"

#: the change each flow makes: a value away from the default, with a number and rings
DEFAULT_CHANGES: dict[str, Change] = {
    "dnd": Change("dnd", True),
    "cfa": Change("cfa", True, "2000"),
    "cfb": Change("cfb", True, "2001"),
    "cfna": Change("cfna", True, "3000", 4),
}


@dataclass(frozen=True)
class FlowSpec:
    """One flow: a profile's feature in one direction, and the change that drives it."""

    profile: Profile
    feature: FeatureName
    direction: Direction
    change: Change
    mechanism: Mechanism

    @property
    def key(self) -> MachineKey:
        return MachineKey.flow(self.profile.id, Feature(self.feature), self.direction)

    @property
    def name(self) -> str:
        return str(self.key)


def flows_of(profile: Profile) -> list[FlowSpec]:
    """Every flow the profile declares, features in guide order, server-initiated first."""
    out = []
    for spec in profile.features:
        for direction in (Direction.SERVER, Direction.PHONE):
            mechanism = spec.mechanism(direction)
            if mechanism is None:
                continue
            name: FeatureName = spec.feature.value
            out.append(FlowSpec(profile, name, direction, DEFAULT_CHANGES[name], mechanism))
    return out


@dataclass
class FlowRun:
    """What happened when a flow ran, and whether the model says it passed."""

    spec: FlowSpec
    transport: str
    #: the flow's own messages (after set-up), as the phone saw them
    messages: list[MessageRecord]
    #: registration and subscription before the change
    setup_messages: list[MessageRecord]
    phone_steps: list[Step]
    server_steps: list[Step]
    phone_state: FeatureState
    server_state: FeatureState
    problems: list[Problem]
    duration: float
    failures: list[str] = field(default_factory=list)
    phone_address: Address | None = None
    server_address: Address | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def carries_rings(spec: FlowSpec) -> bool:
    """Whether the mechanism can carry a no-answer ring count from phone to server."""
    if spec.mechanism is not Mechanism.FEATURE_CODE:
        return True
    codes = spec.profile.codes
    return codes is not None and codes.has_timer(Feature.CFNA)


def _agree(a: FeatureState, b: FeatureState, feature: FeatureName, rings: bool) -> bool:
    if feature != "cfna" or rings:
        return a.agrees(b, feature)
    return a.cfna.on == b.cfna.on and (not a.cfna.on or a.cfna.target == b.cfna.target)


def judge(run: FlowRun) -> list[str]:
    """The model's verdict on a run: a list of failures, empty when it passed.

    Both sides' trackers of the flow must end in the table's goal (every step they took was
    checked against the table as it happened, so the path is one the table allows: a digest
    challenge on the way is fine); the states must agree as the mechanism promises; neither
    agent may have reported an error."""
    spec = run.spec
    failures: list[str] = []
    goal = machines_for(spec.profile)[spec.key].goal
    for side, steps in (("phone", run.phone_steps), ("server", run.server_steps)):
        mine = [s for s in steps if s.machine == spec.key]
        if not mine:
            failures.append(f"{side}: the flow's machine never moved")
        elif mine[-1].dest != goal:
            failures.append(f"{side}: ended in {mine[-1].dest}, expected {goal}")
    feature = spec.feature
    expected = FeatureState().applied(spec.change)
    if spec.mechanism is Mechanism.UACSTA:
        if run.phone_state != FeatureState():
            failures.append("uaCSTA INFO changed the phone's state (it must not)")
        if not run.server_state.agrees(expected, feature):
            failures.append("the server did not apply the change")
    else:
        rings = carries_rings(spec)
        for side, state in (("phone", run.phone_state), ("server", run.server_state)):
            if not _agree(state, expected, feature, rings):
                failures.append(f"{side} state {state.to_json()[feature]} != expected "
                                f"{expected.to_json()[feature]}")
    failures.extend(f"{p.rule}: {p.message}" for p in run.problems if p.severity == "error")
    return failures


def expected_inputs(spec: FlowSpec) -> list[str]:
    """The table's shortest way to the goal: the ladder the guide describes."""
    return [i.value for i in inputs_of(happy_path(machines_for(spec.profile)[spec.key]))]


class _Pair:
    """The two agents of a run and what they report."""

    def __init__(self, spec: FlowSpec, seed: int, server: Address,
                 record: Callable[[AgentEvent], None] | None = None) -> None:
        self.events: list[AgentEvent] = []

        def observe(event: AgentEvent) -> None:
            self.events.append(event)
            if record is not None:
                record(event)

        self.server = ReferenceServer(spec.profile, rng=random.Random(seed), observer=observe,
                                      local=server, log_messages=False)
        self.phone = ReferencePhone(spec.profile, user=USER, server=server,
                                    rng=random.Random(seed + 1), observer=observe, sync=True,
                                    local=Address(server.transport, server.host, 0),
                                    log_messages=False)

    def result(self, spec: FlowSpec, transport: str, setup: int, duration: float) -> FlowRun:
        run = FlowRun(
            spec, transport, self.phone.messages[setup:], self.phone.messages[:setup],
            list(self.phone.steps), list(self.server.steps), self.phone.state,
            self.server.state(USER), [e for e in self.events if isinstance(e, Problem)],
            duration, phone_address=self.phone.ua.local, server_address=self.server.ua.local)
        run.failures = judge(run)
        return run

    def act(self, spec: FlowSpec, now: float) -> None:
        if spec.direction is Direction.PHONE:
            self.phone.user_change(spec.change, now)
        else:
            self.server.admin_change(USER, spec.change, now)


#: virtual seconds allowed for set-up and for the flow: beyond any RFC 3261 timer (64*T1)
SETTLE = 40.0


def run_flow(spec: FlowSpec, *, seed: int = 1, network: MemoryNetwork | None = None,
             transport: str = "udp") -> FlowRun:
    """Run ``spec`` on an in-memory network (deterministic for a seed)."""
    net = network or MemoryNetwork(seed=seed)
    pair = _Pair(spec, seed, Address(transport, "127.0.0.1", 5060))
    net.attach(pair.server, pair.server.ua.local)
    net.attach(pair.phone, Address(transport, "127.0.0.1", 0))
    net.run_in_cycle(pair.phone, lambda: pair.phone.start(net.now))
    net.run(until=net.now + SETTLE)
    setup = len(pair.phone.messages)
    start = net.now
    actor = pair.phone if spec.direction is Direction.PHONE else pair.server
    net.run_in_cycle(actor, lambda: pair.act(spec, net.now))
    net.run(until=net.now + SETTLE)
    flow_messages = pair.phone.messages[setup:]
    duration = (flow_messages[-1].time - start) if flow_messages else 0.0
    return pair.result(spec, f"mem/{transport}", setup, duration)


async def run_flow_over_sockets(spec: FlowSpec, *, transport: str = "udp", seed: int = 1,
                                quiet: float = 0.05, timeout: float = 10.0) -> FlowRun:
    """Run ``spec`` over real sockets on 127.0.0.1 (ports picked by the OS)."""
    from fsync_model.transport.driver import EndpointDriver

    pair = _Pair(spec, seed, Address(transport, "127.0.0.1", 0))
    server_driver = await EndpointDriver.open(pair.server, [f"{transport}:127.0.0.1:0"])
    server_address = server_driver.local_addresses[0]
    pair.phone.server = server_address
    phone_driver = await EndpointDriver.open(pair.phone, [f"{transport}:127.0.0.1:0"])
    loop = asyncio.get_running_loop()
    try:
        phone_driver.run_in_cycle(lambda: pair.phone.start(loop.time()))
        await _settle(pair, quiet, timeout, ready=lambda: _ready(pair, spec))
        setup = len(pair.phone.messages)
        start = loop.time()
        driver = phone_driver if spec.direction is Direction.PHONE else server_driver
        driver.run_in_cycle(lambda: pair.act(spec, loop.time()))
        await _settle(pair, quiet, timeout, ready=lambda: _flow_done(pair, spec))
        flow_messages = pair.phone.messages[setup:]
        duration = (flow_messages[-1].time - start) if flow_messages else 0.0
        errors = phone_driver.errors + server_driver.errors
        run = pair.result(spec, transport, setup, duration)
        run.failures.extend(f"agent raised {e!r}" for e in errors)
        return run
    finally:
        phone_driver.close()
        server_driver.close()
        await phone_driver.wait_closed()
        await server_driver.wait_closed()


def _ready(pair: _Pair, spec: FlowSpec) -> bool:
    if not pair.phone.registered:
        return False
    if spec.profile.afe is not None:
        return pair.phone.subscription is not None and pair.phone.subscription.state == "Active"
    return True


def _flow_done(pair: _Pair, spec: FlowSpec) -> bool:
    done = [s for s in pair.phone.steps if s.machine == spec.key]
    served = [s for s in pair.server.steps if s.machine == spec.key]
    finals = machines_for(spec.profile)[spec.key].finals
    return bool(done and served and done[-1].dest in finals and served[-1].dest in finals)


async def _settle(pair: _Pair, quiet: float, timeout: float,
                  ready: Callable[[], bool]) -> None:
    """Wait until ``ready()`` and no message for ``quiet`` seconds, or ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        last = max((m.time for m in pair.phone.messages[-1:] + pair.server.messages[-1:]),
                   default=0.0)
        if ready() and loop.time() - last >= quiet:
            return
        await asyncio.sleep(0.005)


def party_steps(run: FlowRun, party: Party) -> list[Step]:
    return run.phone_steps if party is Party.PHONE else run.server_steps
