"""UDP, TCP and TLS adapters on loopback: round trips between two EndpointDrivers, connection
reuse, stream framing from a raw peer, framing errors, keep-alives, the loopback policy."""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl

import pytest

from fsync_model.sip.framing import StreamFramer
from fsync_model.transport.address import Address, AddressError, parse_address
from fsync_model.transport.driver import EndpointDriver
from fsync_model.transport.tap import ListTap
from fsync_model.transport.tcp import TcpTransport
from fsync_model.transport.tls import TlsTransport
from fsync_model.transport.udp import UdpTransport
from tests.transport.conftest import LOOPBACK_HOSTS, TlsContexts, run, until
from tests.transport.endpoints import EchoEndpoint, RecordingEndpoint, cseq, echo_of, request

BODY = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\r\n'
        b'<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">'
        b"<device>alice</device><doNotDisturbOn>true</doNotDisturbOn></DoNotDisturbEvent>")


async def open_driver(endpoint: RecordingEndpoint, kind: str, host: str,
                      tls: TlsContexts | None, **options: object) -> EndpointDriver:
    contexts: dict[str, ssl.SSLContext] = {}
    if kind == "tls":
        assert tls is not None
        contexts = {"server_ssl": tls.server, "client_ssl": tls.client}
    return await EndpointDriver.open(
        endpoint, [Address(kind, host, 0)], **contexts, **options  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
@pytest.mark.parametrize("kind", ["udp", "tcp", "tls"])
def test_round_trip(kind: str, host: str, request_fixture: pytest.FixtureRequest) -> None:
    tls = request_fixture.getfixturevalue("tls_contexts") if kind == "tls" else None

    async def main() -> None:
        tap = ListTap()
        client, echo = RecordingEndpoint(), EchoEndpoint()
        async with await open_driver(echo, kind, host, tls) as echo_driver, \
                await open_driver(client, kind, host, tls, taps=[tap]) as client_driver:
            there = echo_driver.local_addresses[0]
            assert there.transport == kind and there.host == host and there.port != 0
            assert echo.bound == [[there]]
            message = request("NOTIFY", body=BODY)
            client_driver.run_in_cycle(lambda: client.send(message, there))
            await until(lambda: client.received)
            assert client.received[0].data == echo_of(message)
            assert client.received[0].src == there
            seen_from = echo.received[0].src
            assert (seen_from.transport, seen_from.host) == (kind, host)
            if kind == "udp":
                assert seen_from == client_driver.local_addresses[0]
            # The client's tap saw the request leave and the answer come back.
            assert [(r.src, r.dst, r.data) for r in tap.records] == [
                (seen_from, there, message),
                (there, seen_from, echo_of(message)),
            ]
            assert client_driver.errors == echo_driver.errors == []

    run(main())


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request


@pytest.mark.parametrize("kind", ["tcp", "tls"])
def test_connection_reused_both_ways(kind: str, request_fixture: pytest.FixtureRequest) -> None:
    tls = request_fixture.getfixturevalue("tls_contexts") if kind == "tls" else None

    async def main() -> None:
        client, echo = RecordingEndpoint(), EchoEndpoint()
        async with await open_driver(echo, kind, "127.0.0.1", tls) as echo_driver, \
                await open_driver(client, kind, "127.0.0.1", tls) as client_driver:
            there = echo_driver.local_addresses[0]
            # Three sends before the connection is even up: queued, then one connection.
            client_driver.run_in_cycle(lambda: client.send_requests([1, 2, 3], there))
            await until(lambda: len(client.received) == 3)
            assert [cseq(r.data) for r in client.received] == [1, 2, 3]
            sources = {r.src for r in echo.received}
            assert len(sources) == 1
            client_transport = client_driver.transports[0]
            echo_transport = echo_driver.transports[0]
            assert isinstance(client_transport, TcpTransport)
            assert isinstance(echo_transport, TcpTransport)
            assert client_transport.connections == [there]
            assert echo_transport.connections == list(sources)
            # The server reaches the client over the connection the client opened.
            echo_driver.run_in_cycle(lambda: echo.send(request(number=9), sources.pop()))
            await until(lambda: len(client.received) == 4)
            assert client.received[3].src == there and cseq(client.received[3].data) == 9
            assert len(client_transport.connections) == len(echo_transport.connections) == 1

    run(main())


def test_raw_tcp_peer_stream_framing_and_keepalive() -> None:
    async def main() -> None:
        echo = EchoEndpoint()
        async with await EndpointDriver.open(echo, ["tcp:127.0.0.1:0"]) as driver:
            there = driver.local_addresses[0]
            reader, writer = await asyncio.open_connection(*there.sockaddr)
            one, two, three = (request(number=n, body=BODY) for n in (1, 2, 3))
            writer.write(one + b"\r\n\r\n" + two)  # two messages and a ping in one segment
            # RFC 5626 3.5.1: the ping is answered with a single CRLF pong, before the echoes
            # (the pong is written as the segment is framed, the echoes after the cycle).
            assert await reader.readexactly(2) == b"\r\n"
            for i in range(len(three)):  # the third trickles in byte by byte
                writer.write(three[i : i + 1])
                await writer.drain()
                if i % 50 == 0:
                    await asyncio.sleep(0)
            framer, answers = StreamFramer(), list[bytes]()
            while len(answers) < 3:
                answers += framer.feed(await reader.read(4096))
            assert answers == [echo_of(one), echo_of(two), echo_of(three)]
            assert [r.data for r in echo.received] == [one, two, three]
            writer.close()
            await writer.wait_closed()

    run(main())


def test_unanswerable_framing_error_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        echo = EchoEndpoint()
        async with await EndpointDriver.open(echo, ["tcp:127.0.0.1:0"]) as driver:
            reader, writer = await asyncio.open_connection(*driver.local_addresses[0].sockaddr)
            writer.write(request(number=1) + b"OPTIONS sip:x SIP/2.0\r\nCSeq: 2 OPTIONS\r\n\r\n")
            received = await reader.read()  # until the server closes
            assert received == echo_of(request(number=1))  # the good one, then nothing
            assert [cseq(r.data) for r in echo.received] == [1]
            writer.close()
            await until(lambda: not driver.transports[0].connections)  # type: ignore[attr-defined]

    with caplog.at_level(logging.WARNING, logger="fsync_model.transport.tcp"):
        run(main())
    assert "Missing Content-Length on stream transport" in caplog.text


def test_udp_keepalives_are_not_messages() -> None:
    async def main() -> None:
        echo = EchoEndpoint()
        async with await EndpointDriver.open(echo, ["udp:127.0.0.1:0"]) as driver:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.bind(("127.0.0.1", 0))
                raw.setblocking(False)
                there = driver.local_addresses[0].sockaddr
                raw.sendto(b"\r\n\r\n", there)
                raw.sendto(b"\r\n", there)
                raw.sendto(request(), there)
                loop = asyncio.get_running_loop()
                answer = await asyncio.wait_for(loop.sock_recv(raw, 65536), 5)
                assert answer == echo_of(request())
                assert [r.data for r in echo.received] == [request()]

    run(main())


def test_connect_failure_is_logged_and_the_transport_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        closed = await TcpTransport.create("tcp:127.0.0.1:0")
        nobody = closed.local_address
        closed.close()
        await closed.wait_closed()
        client, echo = RecordingEndpoint(), EchoEndpoint()
        async with await EndpointDriver.open(echo, ["tcp:127.0.0.1:0"]) as echo_driver, \
                await EndpointDriver.open(client, ["tcp:127.0.0.1:0"]) as client_driver:
            client_driver.run_in_cycle(lambda: client.send(request(number=1), nobody))
            transport = client_driver.transports[0]
            assert isinstance(transport, TcpTransport)
            await until(lambda: not transport.connections)
            there = echo_driver.local_addresses[0]
            client_driver.run_in_cycle(lambda: client.send(request(number=2), there))
            await until(lambda: client.received)
            assert [cseq(r.data) for r in echo.received] == [2]
            assert client_driver.errors == []

    with caplog.at_level(logging.WARNING, logger="fsync_model.transport.tcp"):
        run(main())
    assert "cannot connect to" in caplog.text and "1 message(s) dropped" in caplog.text


def test_tls_refuses_an_untrusted_server(tls_contexts: TlsContexts,
                                         caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        untrusting = ssl.create_default_context()  # system CAs only: our cert is unknown
        echo, client = EchoEndpoint(), RecordingEndpoint()
        server = await TlsTransport.create("tls:127.0.0.1:0", server_ssl=tls_contexts.server)
        plain = await TlsTransport.create("tls:127.0.0.1:0", server_ssl=tls_contexts.server,
                                          client_ssl=untrusting)
        async with EndpointDriver(echo, [server]), EndpointDriver(client, [plain]) as driver:
            driver.run_in_cycle(lambda: client.send(request(), server.local_address))
            await until(lambda: "cannot connect" in caplog.text)
            assert echo.received == [] and client.received == []

    with caplog.at_level(logging.WARNING, logger="fsync_model.transport.tcp"):
        run(main())
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_binding_off_loopback_is_refused() -> None:
    async def main() -> None:
        for cls in (UdpTransport, TcpTransport):
            with pytest.raises(AddressError, match="not a loopback address"):
                await cls.create(Address(cls.kind, "0.0.0.0", 0))
        with pytest.raises(AddressError, match="not a loopback address"):
            await EndpointDriver.open(RecordingEndpoint(), ["udp:127.0.0.1:0", "tcp:[::]:0"])

    run(main())


def test_sending_off_loopback_is_refused() -> None:
    async def main() -> None:
        client = RecordingEndpoint()
        async with await EndpointDriver.open(client, ["udp:127.0.0.1:0",
                                                      "tcp:127.0.0.1:0"]) as driver:
            lan_udp = parse_address("udp:192.0.2.10:5060")  # TEST-NET-1, never routed
            lan_tcp = parse_address("tcp:192.0.2.10:5060")
            driver.run_in_cycle(lambda: client.send(b"x", lan_udp))
            driver.run_in_cycle(lambda: client.send(b"y", lan_tcp))
            assert driver.undeliverable == [(b"x", lan_udp), (b"y", lan_tcp)]
            tcp = driver.transports[1]
            assert isinstance(tcp, TcpTransport) and tcp.connections == []

    run(main())


def test_tls_without_client_context_only_answers_on_existing_connections(
    tls_contexts: TlsContexts, caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        client, echo = RecordingEndpoint(), EchoEndpoint()
        server_only = await TlsTransport.create("tls:127.0.0.1:0", server_ssl=tls_contexts.server)
        async with EndpointDriver(echo, [server_only]) as echo_driver, \
                await open_driver(client, "tls", "127.0.0.1", tls_contexts) as client_driver:
            there = echo_driver.local_addresses[0]
            client_driver.run_in_cycle(lambda: client.send(request(), there))
            await until(lambda: client.received)  # the answer rode the client's connection
            stranger = client_driver.local_addresses[0]
            echo_driver.run_in_cycle(lambda: echo.send(request(number=2), stranger))
            assert server_only.connections == [echo.received[0].src]

    with caplog.at_level(logging.ERROR, logger="fsync_model.transport.tls"):
        run(main())
    assert "no client_ssl to open one" in caplog.text
