"""Faults on the deterministic in-memory network (seeded, virtual time): loss, duplication
and reordering, an older NOTIFY arriving after a newer one, a server restart, short
subscriptions, 481 to a refresh, 489 from a server without the package, a server that never
answers. Each test runs hours of virtual time in well under a second."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import pytest

from fsync_model.agents.events import AgentEvent, StateChanged
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import FEATURES, Change
from fsync_model.sip.message import Request, parse_message
from fsync_model.transport.address import Address
from fsync_model.transport.memory import MemoryNetwork
from tests.robustness.harness import (
    PHONE_AT,
    PROFILES,
    SERVER_AT,
    SETTLE,
    phone_on,
    responses_from,
    server_on,
    subscribed,
)

BROADSOFT = PROFILES["broadsoft"]
RETRY_489 = float(BROADSOFT.afe.subscribe.retry_after_489.value) if BROADSOFT.afe else 60.0


def _agree(phone: ReferencePhone, server: ReferenceServer, user: str = "1001") -> bool:
    return all(phone.state.agrees(server.state(user), f) for f in FEATURES)


def _requests(net: MemoryNetwork, src: Address, method: str) -> list[tuple[float, Request]]:
    """Each request ``src`` sent (retransmissions once: same branch), with its send time."""
    seen: dict[str | None, tuple[float, Request]] = {}
    for entry in net.log:
        if entry.src != src or not entry.data.startswith(method.encode() + b" "):
            continue
        request = parse_message(entry.data)
        assert isinstance(request, Request)
        seen.setdefault(request.top_via.branch, (entry.time, request))
    return sorted(seen.values(), key=lambda item: item[0])


def _until(net: MemoryNetwork, done: object, limit: float, step: float = 1.0) -> None:
    end = net.now + limit
    while net.now < end and not done():  # type: ignore[operator]
        net.run(until=net.now + step)


# ---------------------------------------------------------------------------- loss & co


@dataclass
class Count:
    events: list[AgentEvent] = field(default_factory=list)

    def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)

    def applied(self, cause: str) -> int:
        return sum(1 for e in self.events if isinstance(e, StateChanged) and e.cause == cause)


@pytest.mark.parametrize("seed", range(1, 7))
@pytest.mark.parametrize(("loss", "duplicate", "reorder"), [
    (0.25, 0.0, 0.0), (0.0, 0.6, 0.0), (0.0, 0.0, 0.5), (0.15, 0.3, 0.3)],
    ids=["loss", "duplication", "reordering", "all"])
def test_flows_converge_over_a_faulty_network(seed: int, loss: float, duplicate: float,
                                              reorder: float) -> None:
    """RFC 3261 timers retransmit what is lost, duplicates are absorbed by the transaction
    layer (each change applied once), reordering never leaves an older state behind."""
    net = MemoryNetwork(seed=seed, loss=loss, duplicate=duplicate, reorder=reorder,
                        delay=(0.005, 0.05))
    seen = Count()
    server = ReferenceServer(BROADSOFT, rng=random.Random(seed), observer=seen,
                             log_messages=False, keep_messages=False)
    net.attach(server, SERVER_AT)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT, start=False)
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    _until(net, lambda: subscribed(phone), 600)
    assert subscribed(phone)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    _until(net, lambda: server.state("1001").dnd and phone.indicator == phone.state, 300)
    for target in ("2000", "3000", "4000"):
        net.run_in_cycle(server, lambda t=target: server.admin_change(  # type: ignore[misc]
            "1001", Change("cfa", True, t), net.now))
    net.run(until=net.now + 120)
    assert server.state("1001").dnd and server.state("1001").cfa.target == "4000"
    assert _agree(phone, server), (phone.state, server.state("1001"))
    assert seen.applied("set-request") == 1, "a duplicated set request was applied twice"
    if loss:
        retransmitted = len(net.log) - len({(e.src, e.data) for e in net.log})
        assert retransmitted > 0 and any(e.fate == "lost" for e in net.log)
    if duplicate:
        assert any(e.fate == "duplicate" for e in net.log)


@pytest.mark.parametrize("hold_for", [5.0, 45.0], ids=["within-timer-J", "after-timer-J"])
def test_an_older_notify_never_overrides_a_newer_state(hold_for: float) -> None:
    """Two server changes in quick succession, the first NOTIFY held back on the wire: the
    retransmission gets through, then the second NOTIFY, then the held copy arrives late
    (absorbed as a retransmission within Timer J, refused for its old CSeq after). The
    phone ends with the newer value."""
    net = MemoryNetwork(seed=3)
    server = server_on(net, BROADSOFT)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)
    assert subscribed(phone)
    net.hold_next(1, src=SERVER_AT, dst=PHONE_AT)
    net.run_in_cycle(server, lambda: server.admin_change("1001", Change("cfa", True, "2000"),
                                                         net.now))
    net.run_in_cycle(server, lambda: server.admin_change("1001", Change("cfa", True, "3000"),
                                                         net.now))
    assert len(net.held) == 1 and b"<forwardTo>2000<" in net.held[0][2]
    net.run(until=net.now + hold_for)
    assert phone.state.cfa.target == "3000"
    assert net.release() == 1
    net.run(until=net.now + SETTLE)
    assert phone.state.cfa.on and phone.state.cfa.target == "3000", phone.state
    assert server.state("1001").cfa.target == "3000"


@pytest.mark.parametrize("seed", range(10))
def test_reordered_notifies_end_with_the_newest_state(seed: int) -> None:
    net = MemoryNetwork(seed=seed)
    server = server_on(net, BROADSOFT)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)
    net.set_link(SERVER_AT, PHONE_AT, reorder=0.7, delay=(0.0, 0.3))
    for i in range(5):
        net.run_in_cycle(server, lambda i=i: server.admin_change(  # type: ignore[misc]
            "1001", Change("dnd", i % 2 == 0), net.now))
    net.run(until=net.now + 2 * SETTLE)
    assert phone.state.dnd is True and server.state("1001").dnd is True


# ---------------------------------------------------------------------------- restart


def test_server_restart_resubscribes_resyncs_and_reregisters() -> None:
    """A new server at the same address, state lost: the phone's refresh gets 481, it
    subscribes anew and takes the full state (the server's, not its own), re-registers,
    and syncs again."""
    net = MemoryNetwork(seed=4)
    old = server_on(net, BROADSOFT)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + SETTLE)
    assert old.state("1001").dnd and phone.state.dnd
    first_call_id = phone.sub_id.call_id if phone.sub_id else None
    net.detach(SERVER_AT)
    new = ReferenceServer(BROADSOFT, rng=random.Random(99), log_messages=False,
                          keep_messages=False)
    net.attach(new, SERVER_AT)
    since = len(net.log)
    net.run(until=net.now + 3700)  # past the refreshes at 90 % of 3600 s
    assert 481 in [r.status for r in responses_from(net, SERVER_AT, since)]
    assert subscribed(phone) and phone.sub_id is not None
    assert phone.sub_id.call_id != first_call_id, "a new subscription (new dialog)"
    assert phone.state.dnd is False, "the full state of the new server was not taken"
    assert "1001" in new.registrations, "the phone did not re-register"
    net.run_in_cycle(new, lambda: new.admin_change("1001", Change("cfb", True, "2001"),
                                                   net.now))
    net.run(until=net.now + SETTLE)
    assert phone.state.cfb.on and _agree(phone, new)


# ---------------------------------------------------------------------------- expiry


def test_short_subscription_is_refreshed_before_it_expires() -> None:
    net = MemoryNetwork(seed=5)
    server = server_on(net, BROADSOFT)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT, start=False)
    assert phone.subscriber is not None
    phone.subscriber.expires = 120
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    assert subscribed(phone)
    sub_id = phone.sub_id
    net.run(until=net.now + 1000)
    subscribes = [(t, r) for t, r in _requests(net, PHONE_AT, "SUBSCRIBE")
                  if r.call_id == (sub_id.call_id if sub_id else "")]
    times = [t for t, _ in subscribes]
    assert len(times) >= 8, times
    assert all(r.expires == 120 for _, r in subscribes)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(100 <= gap < 120 for gap in gaps), gaps  # refreshed at 90 %, never late
    assert phone.sub_id == sub_id and subscribed(phone), "the subscription never lapsed"
    assert server.notifier is not None and len(server.notifier.subscriptions) == 1
    net.run_in_cycle(server, lambda: server.admin_change("1001", Change("dnd", True), net.now))
    net.run(until=net.now + SETTLE)
    assert phone.state.dnd


def test_489_from_a_server_without_the_package_is_retried_with_back_off() -> None:
    """A Yeastar-profile server (feature codes, no as-feature-event) answering a BroadSoft
    phone: 489 Bad Event, and the phone retries every retry_after_489 seconds, no sooner."""
    net = MemoryNetwork(seed=6)
    server = server_on(net, PROFILES["yeastar"])
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)
    assert phone.registered
    net.run(until=net.now + 5 * RETRY_489 + 10)
    statuses = {r.status for r in responses_from(net, SERVER_AT) if r.cseq.method == "SUBSCRIBE"}
    assert statuses == {489}, statuses
    times = [t for t, _ in _requests(net, PHONE_AT, "SUBSCRIBE")]
    assert 5 <= len(times) <= 6, times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= RETRY_489 for gap in gaps), gaps
    assert not subscribed(phone) and phone.registered
    assert server.ua.stats.malformed == 0


class _DropSubscribes:
    """Wraps a server: SUBSCRIBEs vanish while ``on`` (a server that never answers them)."""

    def __init__(self, inner: ReferenceServer) -> None:
        self.inner = inner
        self.on = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        if self.on and data.startswith(b"SUBSCRIBE "):
            return
        self.inner.receive_datagram(data, src, now)


def test_a_server_that_never_answers_is_retried_after_timeouts() -> None:
    net = MemoryNetwork(seed=8)
    server = ReferenceServer(BROADSOFT, rng=random.Random(8), log_messages=False)
    deaf = _DropSubscribes(server)
    net.attach(deaf, SERVER_AT)  # type: ignore[arg-type]
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)
    assert phone.registered
    net.run(until=net.now + 400)
    times = [t for t, _ in _requests(net, PHONE_AT, "SUBSCRIBE")]
    # each SUBSCRIBE times out after 64*T1 = 32 s, the next one RETRY_489 later
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3 and all(gap >= 32 + RETRY_489 - 1 for gap in gaps), gaps
    assert not subscribed(phone)
    deaf.on = False
    _until(net, lambda: subscribed(phone), 200)
    assert subscribed(phone)
    net.run_in_cycle(deaf, lambda: server.admin_change("1001", Change("dnd", True), net.now))
    net.run(until=net.now + SETTLE)
    assert phone.state.dnd


def test_a_registrar_that_never_answers_is_retried() -> None:
    net = MemoryNetwork(seed=9)
    phone = phone_on(net, BROADSOFT, at=PHONE_AT)  # nobody at SERVER_AT
    net.run(until=net.now + 300)
    times = [t for t, _ in _requests(net, PHONE_AT, "REGISTER")]
    retry = float(BROADSOFT.registration.retry_after.value)  # type: ignore[union-attr]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3 and all(gap >= 32 + retry - 1 for gap in gaps), gaps
    assert any(p.rule == "REGISTER-FAILED" for p in phone.problems)
    server = server_on(net, BROADSOFT)
    _until(net, lambda: subscribed(phone), 200)
    assert subscribed(phone) and "1001" in server.registrations
