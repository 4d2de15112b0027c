"""EndpointDriver: the feed / drain / send / re-arm cycle, the clock, routing by transport."""
from __future__ import annotations

import asyncio
import logging

import pytest

from fsync_model.transport.address import Address, parse_address
from fsync_model.transport.driver import Endpoint, EndpointDriver
from fsync_model.transport.udp import UdpTransport
from tests.transport.conftest import IPV6, run, until
from tests.transport.endpoints import EchoEndpoint, RecordingEndpoint, cseq, echo_of, request


def test_test_endpoints_satisfy_the_protocol() -> None:
    assert isinstance(RecordingEndpoint(), Endpoint)
    assert isinstance(EchoEndpoint(), Endpoint)


def test_timer_fires_at_its_deadline_with_the_injected_clock() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        endpoint = RecordingEndpoint()

        def clock() -> float:  # an origin far from loop.time(), as a test clock might have
            return loop.time() + 1000.0

        async with await EndpointDriver.open(endpoint, ["udp:127.0.0.1:0"],
                                             clock=clock) as driver:
            def arm() -> float:
                endpoint.timer = clock() + 0.05
                return endpoint.timer

            deadline = driver.run_in_cycle(arm)
            assert deadline > 1000.0
            await until(lambda: endpoint.timer_fired)
            assert endpoint.timer_fired[0] >= deadline
            assert endpoint.timer_fired[0] - deadline < 0.5
            assert endpoint.timer is None
            # Re-armed on each cycle: a later deadline set from outside also fires.
            driver.run_in_cycle(lambda: setattr(endpoint, "timer", clock() + 0.01))
            await until(lambda: len(endpoint.timer_fired) == 2)

    run(main())


def test_receive_time_comes_from_the_clock_and_replies_go_out_in_the_same_cycle() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        client, echo = RecordingEndpoint(), EchoEndpoint()
        async with await EndpointDriver.open(echo, ["udp:127.0.0.1:0"],
                                             clock=lambda: loop.time() + 50.0) as echo_driver, \
                await EndpointDriver.open(client, ["udp:127.0.0.1:0"]) as client_driver:
            there = echo_driver.local_addresses[0]
            sent_at = loop.time()
            client_driver.run_in_cycle(lambda: client.send(request(), there))
            await until(lambda: client.received)
            assert echo.received[0].now >= sent_at + 50.0
            assert echo.received[0].now < loop.time() + 50.0
            assert client.received[0].now <= loop.time()

    run(main())


def test_routes_by_transport_kind_and_ip_family() -> None:
    async def main() -> None:
        hosts = ["127.0.0.1", "::1"] if IPV6 else ["127.0.0.1"]
        echoes = {host: EchoEndpoint() for host in hosts}
        client = RecordingEndpoint()
        echo_drivers = [
            await EndpointDriver.open(echoes[host], [f"udp:{bracket(host)}:0",
                                                     f"tcp:{bracket(host)}:0"])
            for host in hosts
        ]
        client_driver = await EndpointDriver.open(
            client, [f"{kind}:{bracket(host)}:0" for host in hosts for kind in ("udp", "tcp")]
        )
        try:
            targets = [a for d in echo_drivers for a in d.local_addresses]
            for i, target in enumerate(targets):
                client.send(request(number=i), target)
            client_driver.flush()
            await until(lambda: len(client.received) == len(targets))
            for i, target in enumerate(targets):
                got = [r for r in echoes[target.host].received if cseq(r.data) == i]
                assert len(got) == 1
                # The answer came from the transport of the same kind and family.
                assert (got[0].src.transport, got[0].src.host) == (target.transport, target.host)
            assert client_driver.undeliverable == []
        finally:
            for driver in [client_driver, *echo_drivers]:
                driver.close()
                await driver.wait_closed()

    run(main())


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def test_no_transport_for_the_kind_is_undeliverable(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        client = RecordingEndpoint()
        async with await EndpointDriver.open(client, ["udp:127.0.0.1:0"]) as driver:
            tcp = parse_address("tcp:127.0.0.1:5060")
            driver.run_in_cycle(lambda: client.send(b"x", tcp))
            assert driver.undeliverable == [(b"x", tcp)]

    with caplog.at_level(logging.ERROR):
        run(main())
    assert "no tcp transport to send to tcp:127.0.0.1:5060" in caplog.text


def test_endpoint_exceptions_are_kept_and_the_driver_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(EchoEndpoint):
        def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
            if cseq(data) == 1:
                raise RuntimeError("bug in the endpoint")
            super().receive_datagram(data, src, now)

    async def main() -> None:
        client, flaky = RecordingEndpoint(), Flaky()
        async with await EndpointDriver.open(flaky, ["udp:127.0.0.1:0"]) as flaky_driver, \
                await EndpointDriver.open(client, ["udp:127.0.0.1:0"]) as client_driver:
            there = flaky_driver.local_addresses[0]
            client_driver.run_in_cycle(lambda: client.send_requests([1, 2], there))
            await until(lambda: client.received)
            assert [r.data for r in client.received] == [echo_of(request(number=2))]
            assert [str(e) for e in flaky_driver.errors] == ["bug in the endpoint"]

    with caplog.at_level(logging.ERROR):
        run(main())
    assert "raised in receive_datagram" in caplog.text


def test_run_in_cycle_returns_the_value_and_propagates_exceptions() -> None:
    async def main() -> None:
        endpoint, sink = RecordingEndpoint(), RecordingEndpoint()
        async with await EndpointDriver.open(sink, ["udp:127.0.0.1:0"]) as sink_driver, \
                await EndpointDriver.open(endpoint, ["udp:127.0.0.1:0"]) as driver:
            there = sink_driver.local_addresses[0]

            def command() -> int:
                endpoint.send(request(number=5), there)
                raise ValueError("user typed nonsense")

            with pytest.raises(ValueError, match="nonsense"):
                driver.run_in_cycle(command)
            # The flush still happened: what the command queued went out.
            await until(lambda: sink.received)
            assert driver.run_in_cycle(lambda: 42) == 42

    run(main())


def test_bind_is_told_the_real_ports_and_close_stops_everything() -> None:
    async def main() -> None:
        endpoint = RecordingEndpoint()
        transport = await UdpTransport.create("udp:127.0.0.1:0")
        driver = EndpointDriver(endpoint, [transport])
        assert endpoint.bound == [[transport.local_address]]
        assert transport.local_address.port != 0
        driver.run_in_cycle(lambda: setattr(endpoint, "timer", driver.clock() + 0.02))
        driver.close()
        await driver.wait_closed()
        assert transport.closed
        await asyncio.sleep(0.05)
        assert endpoint.timer_fired == []
        driver.run_in_cycle(lambda: endpoint.send(b"x", transport.local_address))
        assert endpoint.outbox == [(b"x", transport.local_address)]  # closed: not drained

    run(main())


def test_datagrams_waiting_together_are_read_in_one_batch_in_order_with_their_delay() -> None:
    """UDP reads every datagram waiting (not one per loop turn), feeds them in order, and
    tells an endpoint with ``note_receive_delay`` how long each waited in the socket buffer
    (where the kernel stamps arrivals)."""
    import socket
    import time

    from fsync_model.transport.udp import _stamps_supported

    class Timed(RecordingEndpoint):
        def __init__(self) -> None:
            super().__init__()
            self.delays: list[float] = []
            self.flushes = 0

        def note_receive_delay(self, delay: float) -> None:
            self.delays.append(delay)

        def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
            self.flushes += 1
            return super().datagrams_to_send(now)

    async def main() -> None:
        endpoint = Timed()
        async with await EndpointDriver.open(endpoint, ["udp:127.0.0.1:0"]) as driver:
            there = driver.local_addresses[0]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                # the kernel turns arrival stamps on a moment after a socket asks for them
                sender.sendto(request(number=0), there.sockaddr)
                await until(lambda: len(endpoint.received) == 1)
                await asyncio.sleep(0.2)
                endpoint.received.clear()
                endpoint.delays.clear()
                before = endpoint.flushes
                for number in range(1, 21):  # all sent before the loop gets to read
                    sender.sendto(request(number=number), there.sockaddr)
                sender.sendto(b"\r\n\r\n", there.sockaddr)  # a keep-alive: not a message
                time.sleep(0.05)  # the loop is blocked: they wait in the socket buffer
                await until(lambda: len(endpoint.received) == 20)
            assert [cseq(r.data) for r in endpoint.received] == list(range(1, 21))
            assert endpoint.flushes - before < 20, "one cycle per batch, not per datagram"
            if _stamps_supported():
                assert len(endpoint.delays) == 20
                assert all(0.0 <= d < 5.0 for d in endpoint.delays)
                assert max(endpoint.delays) >= 0.04, "the 50 ms spent waiting was seen"

    run(main())
