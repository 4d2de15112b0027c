"""MemoryNetwork: virtual time, seeded faults at their set rates, scripted faults, determinism."""
from __future__ import annotations

import time
from functools import partial

import pytest

from fsync_model.transport.address import Address, AddressError, parse_address
from fsync_model.transport.memory import (
    ARRIVED,
    LinkConditions,
    LogEntry,
    MemoryNetwork,
    StepLimitExceeded,
)
from fsync_model.transport.tap import ListTap
from tests.transport.endpoints import (
    EchoEndpoint,
    RecordingEndpoint,
    RetransmittingClient,
    cseq,
    echo_of,
    request,
)

ALICE = parse_address("mem:alice")
ECHO = parse_address("mem:echo")


def pair(net: MemoryNetwork) -> tuple[RecordingEndpoint, EchoEndpoint]:
    client, echo = RecordingEndpoint(), EchoEndpoint()
    net.attach(client, ALICE)
    net.attach(echo, "echo")  # a bare name means mem:echo
    return client, echo


def fates(net: MemoryNetwork) -> list[str]:
    return [entry.fate for entry in net.log]


def test_round_trip_log_and_bind() -> None:
    tap = ListTap()
    net = MemoryNetwork(seed=1, taps=[tap])
    client, echo = pair(net)
    net.run_in_cycle(client, lambda: client.send(request(), ECHO))
    assert net.transfer() == 2
    assert client.received[0].data == echo_of(request())
    assert client.received[0].src == ECHO
    assert echo.received[0].src == ALICE
    assert net.log == [
        LogEntry(0.0, ALICE, ECHO, request(), "delivered"),
        LogEntry(0.0, ECHO, ALICE, echo_of(request()), "delivered"),
    ]
    assert [(r.src, r.dst, r.data) for r in tap.records] == [
        (e.src, e.dst, e.data) for e in net.log
    ]
    # Each endpoint learnt its addresses once, before its first traffic.
    assert client.bound == [[ALICE]] and echo.bound == [[ECHO]]


def test_32_seconds_of_retransmissions_in_virtual_time() -> None:
    net = MemoryNetwork(seed=7)
    client, server = RetransmittingClient(), EchoEndpoint()
    net.attach(client, ALICE)
    net.attach(server, ECHO)
    net.set_link(ALICE, ECHO, loss=1.0)
    started = time.perf_counter()
    net.run_in_cycle(client, lambda: client.start(request(), ECHO, net.now))
    assert net.run_until_quiet(max_time=100.0) is True
    elapsed = time.perf_counter() - started
    # RFC 3261 17.1.2.2: Timer E from T1=0.5 doubling to T2=4, Timer F at 64*T1.
    assert client.sent_at == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert client.timed_out_at == 32.0
    assert net.now == 32.0
    assert fates(net) == ["lost"] * 11
    assert server.received == []
    assert elapsed < 1.0


def test_retransmission_gets_through_after_drop_next() -> None:
    net = MemoryNetwork(seed=7, delay=(0.01, 0.01))
    client, server = RetransmittingClient(), EchoEndpoint()
    net.attach(client, ALICE)
    net.attach(server, ECHO)
    net.drop_next(2, src=ALICE)
    net.run_in_cycle(client, lambda: client.start(request(), ECHO, net.now))
    assert net.run_until_quiet(max_time=100.0)
    assert client.sent_at == [0.0, 0.5, 1.5]
    assert client.timed_out_at is None
    assert [r.now for r in client.received] == [pytest.approx(1.52)]
    assert fates(net) == ["dropped", "dropped", "delivered", "delivered"]


def scenario(seed: int) -> tuple[list[LogEntry], list[tuple[float, bytes]]]:
    """Fifty requests, one every 10 ms, through every kind of fault, echoed back."""
    tap = ListTap()
    net = MemoryNetwork(seed, loss=0.2, duplicate=0.2, reorder=0.2, delay=(0.001, 0.05),
                        taps=[tap])
    client, _ = pair(net)
    for number in range(50):
        net.run_in_cycle(client, partial(client.send, request(number=number), ECHO))
        net.run(until=net.now + 0.01)
    net.run_until_quiet(max_time=10.0)
    return net.log, [(r.time, r.data) for r in tap.records]


def test_same_seed_same_run() -> None:
    first, second = scenario(42), scenario(42)
    assert first == second
    assert {entry.fate for entry in first[0]} >= {"delivered", "duplicate", "reordered", "lost"}
    assert scenario(43) != first


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_loss_happens_at_the_set_rate(rate: float) -> None:
    n = 4000
    net = MemoryNetwork(seed=3, loss=rate)
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    net.run_in_cycle(client, lambda: client.send_requests(range(n), ECHO))
    net.transfer()
    lost = fates(net).count("lost")
    sigma = (n * rate * (1 - rate)) ** 0.5
    assert abs(lost - n * rate) < 4 * sigma
    assert len(sink.received) == n - lost


def test_duplication_happens_at_the_set_rate() -> None:
    n, rate = 4000, 0.2
    net = MemoryNetwork(seed=4, duplicate=rate)
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    net.run_in_cycle(client, lambda: client.send_requests(range(n), ECHO))
    net.transfer()
    duplicates = fates(net).count("duplicate")
    assert abs(duplicates - n * rate) < 4 * (n * rate * (1 - rate)) ** 0.5
    assert len(sink.received) == n + duplicates
    assert sorted({cseq(r.data) for r in sink.received}) == list(range(n))


def test_reordering_happens_at_the_set_rate() -> None:
    n, rate = 2000, 0.15
    net = MemoryNetwork(seed=5, reorder=rate)
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    for i in range(n):  # one every millisecond, well inside the reorder hold
        net.run_in_cycle(client, partial(client.send, request(number=i), ECHO))
        net.run(until=net.now + 0.001)
    net.run_until_quiet()
    reordered = fates(net).count("reordered")
    assert abs(reordered - n * rate) < 4 * (n * rate * (1 - rate)) ** 0.5
    # The receiver really sees them late: each one arrives after a datagram sent later.
    arrived = [cseq(r.data) for r in sink.received]
    assert sorted(arrived) == list(range(n))
    late = sum(1 for i, number in enumerate(arrived) if number < max(arrived[: i + 1]))
    assert late == reordered


def test_reordered_datagram_waits_at_most_reorder_hold() -> None:
    net = MemoryNetwork(seed=0, reorder=1.0, reorder_hold=0.25)
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    net.run_in_cycle(client, lambda: client.send(request(), ECHO))
    net.run_until_quiet()
    assert [(e.time, e.fate) for e in net.log] == [(0.25, "reordered")]


def test_delay_is_drawn_within_bounds() -> None:
    net = MemoryNetwork(seed=6, delay=(0.02, 0.08))
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    net.run_in_cycle(client, lambda: client.send_requests(range(200), ECHO))
    net.transfer()
    times = [r.now for r in sink.received]
    assert all(0.02 <= t <= 0.08 for t in times)
    assert max(times) - min(times) > 0.05
    assert times == sorted(times)
    assert net.now == max(times)


def test_hold_and_release_reverses_order() -> None:
    net = MemoryNetwork(seed=0)
    client, sink = RecordingEndpoint(), RecordingEndpoint()
    net.attach(client, ALICE)
    net.attach(sink, ECHO)
    net.hold_next(2, dst=ECHO)
    net.run_in_cycle(client, lambda: client.send_requests([1, 2, 3], ECHO))
    assert net.transfer() == 1
    assert [data for _, _, data in net.held] == [request(number=1), request(number=2)]
    assert net.release(reverse=True) == 2
    assert net.held == []
    net.transfer()
    assert [cseq(r.data) for r in sink.received] == [3, 2, 1]
    assert fates(net) == ["delivered", "released", "released"]


def test_duplicate_next() -> None:
    net = MemoryNetwork(seed=0)
    client, echo = pair(net)
    net.duplicate_next(src=ALICE)
    net.run_in_cycle(client, lambda: client.send(request(), ECHO))
    assert net.transfer() == 4  # two copies there, and an echo of each back
    assert fates(net) == ["delivered", "duplicate", "delivered", "delivered"]
    assert len(echo.received) == 2


def test_per_link_override_is_one_way_unless_both_ways() -> None:
    net = MemoryNetwork(seed=0)
    client, _ = pair(net)
    net.set_link(ECHO, ALICE, loss=1.0)
    assert net.conditions(ECHO, ALICE) == LinkConditions(loss=1.0)
    assert net.conditions(ALICE, ECHO) == LinkConditions()
    net.run_in_cycle(client, lambda: client.send(request(), ECHO))
    net.transfer()
    assert fates(net) == ["delivered", "lost"]
    net.clear_link(ECHO, ALICE)
    net.set_link(ALICE, ECHO, delay=(0.5, 0.5), both_ways=True)
    net.run_in_cycle(client, lambda: client.send(request(number=2), ECHO))
    net.transfer()
    assert client.received[-1].now == pytest.approx(net.now) and net.now == pytest.approx(1.0)


def test_undeliverable_is_logged_and_tapped() -> None:
    tap = ListTap()
    net = MemoryNetwork(seed=0, taps=[tap])
    client = RecordingEndpoint()
    net.attach(client, ALICE)
    nobody = parse_address("mem:nobody")
    net.run_in_cycle(client, lambda: client.send(request(), nobody))
    net.transfer()
    assert fates(net) == ["undeliverable"]
    assert [r.dst for r in tap.records] == [nobody]


def test_inject_raw_bytes_from_anywhere() -> None:
    net = MemoryNetwork(seed=0)
    sink = RecordingEndpoint()
    net.attach(sink, ECHO)
    net.inject(b"garbage\r\n\r\n", "udp:127.0.0.1:9999", ECHO)
    net.transfer()
    assert sink.received[0].data == b"garbage\r\n\r\n"
    assert sink.received[0].src == Address("udp", "127.0.0.1", 9999)


def test_timers_fire_at_their_deadline_and_run_until_sets_the_clock() -> None:
    net = MemoryNetwork(seed=0, start_time=100.0)
    endpoint = RecordingEndpoint(timer=105.0)
    net.attach(endpoint, ALICE)
    assert net.run(until=103.0) == 0
    assert net.now == 103.0 and endpoint.timer_fired == []
    assert net.run(until=110.0) == 1
    assert endpoint.timer_fired == [105.0]
    assert net.now == 110.0
    assert net.run_until_quiet() is True


def test_run_until_quiet_reports_a_busy_network() -> None:
    class Ticker(RecordingEndpoint):
        def handle_timer(self, now: float) -> None:
            self.timer_fired.append(now)
            self.timer = now + 1.0

    net = MemoryNetwork(seed=0)
    ticker = Ticker(timer=1.0)
    net.attach(ticker, ALICE)
    assert net.run_until_quiet(max_time=10.0) is False
    assert net.now == 10.0
    assert ticker.timer_fired == [float(t) for t in range(1, 11)]


def test_livelock_raises_instead_of_hanging() -> None:
    class Stuck(RecordingEndpoint):
        def get_timer(self) -> float | None:
            return 0.0  # never moves on

    net = MemoryNetwork(seed=0)
    net.attach(Stuck(), ALICE)
    with pytest.raises(StepLimitExceeded, match="seed 0"):
        net.run(until=1.0, max_steps=50)
    with pytest.raises(StepLimitExceeded):
        net.run_until_quiet(max_steps=50)


def test_several_addresses_per_endpoint_and_port_zero() -> None:
    net = MemoryNetwork(seed=0)
    phone, server = RecordingEndpoint(), RecordingEndpoint()
    assert net.attach(phone, "udp:127.0.0.1:0") == parse_address("udp:127.0.0.1:5060")
    assert net.attach(phone, "tcp:[::1]:0") == parse_address("tcp:[::1]:5060")
    assert net.attach(server, "tcp:[::1]:0") == parse_address("tcp:[::1]:5061")
    with pytest.raises(AddressError, match="already attached"):
        net.attach(server, "tcp:[::1]:5060")
    net.run_in_cycle(phone, lambda: phone.send(request(), parse_address("tcp:[::1]:5061")))
    net.transfer()
    assert server.received[0].src == parse_address("tcp:[::1]:5060")
    assert phone.bound == [[parse_address("udp:127.0.0.1:5060"),
                            parse_address("tcp:[::1]:5060")]]
    net.detach("tcp:[::1]:5061")
    net.run_in_cycle("udp:127.0.0.1:5060", lambda: phone.send(request(), parse_address(
        "tcp:[::1]:5061")))
    net.transfer()
    assert fates(net)[-1] == "undeliverable"


def test_transfer_counts_only_arrivals() -> None:
    net = MemoryNetwork(seed=0)
    client, _ = pair(net)
    net.drop_next(1, src=ALICE)
    net.run_in_cycle(client, lambda: client.send_requests([1, 2], ECHO))
    assert net.transfer() == 2
    assert sum(1 for e in net.log if e.fate in ARRIVED) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"loss": 1.5}, {"duplicate": -0.1}, {"reorder": 2.0}, {"delay": (0.2, 0.1)},
     {"delay": (-1.0, 0.0)}],
)
def test_bad_conditions_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MemoryNetwork(0, **kwargs)  # type: ignore[arg-type]
