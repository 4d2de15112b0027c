"""The same fuzz over real sockets on 127.0.0.1: the reference server behind an
EndpointDriver on UDP and on TCP, garbage from a raw socket, the parser's answer checked, the
driver's ``errors`` empty (nothing escaped the agent), and a fresh reference phone (its own
EndpointDriver) registering, subscribing and syncing a change with the same server after."""
from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.framing import StreamFramer
from fsync_model.sip.message import Response, parse_message
from fsync_model.sip.useragent import MAX_ANSWER_SIZE, salvage_error_response
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver
from tests.robustness.harness import (
    PROFILES,
    Expected,
    Messages,
    check_answer,
    corpus,
    expected_for,
    garbage,
    stats_copy,
    subscribed,
)

SOCKETS = settings(max_examples=25, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VENDOR = "broadsoft"


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.append(data)


def _responses(chunks: list[bytes], *, stream: bool) -> list[Response]:
    if stream:
        framer = StreamFramer()
        chunks, _ = framer.feed_until_error(b"".join(chunks))
    out = []
    for data in chunks:
        try:
            message = parse_message(data, stream=stream)
        except SipParseError:
            continue
        if isinstance(message, Response):
            out.append(message)
    return out


async def _quiet(received: list[bytes], *, quiet: float = 0.05, limit: float = 1.0) -> None:
    """Wait until nothing arrived for ``quiet`` seconds (at most ``limit``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    seen = -1
    while loop.time() < end:
        if len(received) == seen:
            return
        seen = len(received)
        await asyncio.sleep(quiet)


def _tcp_expected(data: bytes) -> Expected:
    """Over TCP the framer first: on a framing error the message begun is answered when it
    can be (400 without Content-Length, 413, 513) and the connection closes (tcp.py); an
    incomplete message waits for more; a whole one is answered as over UDP."""
    framer = StreamFramer()
    messages, error = framer.feed_until_error(data)
    if error is not None and not messages:
        if salvage_error_response(framer.buffered, error, "t") is None:
            return Expected(nothing=True)
        return Expected(status=error.status, reason=error.reason)
    if error is not None or len(messages) != 1 or framer.buffered:
        return Expected(nothing=True)
    return expected_for(messages[0], stream=True)


async def _send_udp(server_at: Address, data: bytes) -> list[bytes]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Collect, local_addr=("127.0.0.1", 0))
    try:
        transport.sendto(data, (server_at.host, server_at.port))
        await _quiet(proto.received)
        return proto.received
    finally:
        transport.close()


async def _send_tcp(server_at: Address, data: bytes) -> list[bytes]:
    reader, writer = await asyncio.open_connection(server_at.host, server_at.port)
    received: list[bytes] = []

    async def pump() -> None:
        while chunk := await reader.read(65536):
            received.append(chunk)

    task = asyncio.create_task(pump())
    try:
        writer.write(data)
        await writer.drain()
        await _quiet(received)
    finally:
        writer.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return received


async def _newcomer(server_at: Address, server: ReferenceServer) -> None:
    """A fresh phone over sockets: registers, subscribes, its change reaches the server."""
    phone = ReferencePhone(PROFILES[VENDOR], user="7001", server=server_at,
                           rng=random.Random(7), sync=True, log_messages=False)
    driver = await EndpointDriver.open(phone, [f"{server_at.transport}:127.0.0.1:0"])
    loop = asyncio.get_running_loop()
    try:
        driver.run_in_cycle(lambda: phone.start(loop.time()))
        for _ in range(400):
            if subscribed(phone):
                break
            await asyncio.sleep(0.01)
        assert subscribed(phone), "a fresh phone could not subscribe after the garbage"
        driver.run_in_cycle(lambda: phone.user_change(Change("dnd", True), loop.time()))
        for _ in range(400):
            if server.state("7001").dnd and phone.state.dnd:
                break
            await asyncio.sleep(0.01)
        assert server.state("7001").dnd and phone.state.dnd, "the change did not sync"
        assert driver.errors == []
    finally:
        driver.close()
        await driver.wait_closed()


async def _run(transport: str, messages: list[bytes]) -> None:
    server = ReferenceServer(PROFILES[VENDOR], rng=random.Random(11), log_messages=False,
                             keep_messages=False)
    driver = await EndpointDriver.open(server, [f"{transport}:127.0.0.1:0"])
    server_at = driver.local_addresses[0]
    try:
        for data in messages:
            before = stats_copy(server.ua.stats)
            if transport == "udp":
                if len(data) > MAX_ANSWER_SIZE:
                    continue  # more than one UDP datagram holds
                received = await _send_udp(server_at, data)
                expected = expected_for(data)
            else:
                received = await _send_tcp(server_at, data)
                expected = _tcp_expected(data)
            assert driver.errors == [], f"the server raised on {data[:200]!r}"
            responses = _responses(received, stream=transport == "tcp")
            if transport == "tcp" and expected.nothing:
                assert not [r for r in responses if r.status >= 200]
            else:
                check_answer(data, expected, responses, before, server.ua.stats)
        await _newcomer(server_at, server)
        assert driver.errors == []
    finally:
        driver.close()
        await driver.wait_closed()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@given(data=st.data())
@SOCKETS
def test_server_over_sockets_answers_garbage_and_keeps_serving(transport: str,
                                                               data: st.DataObject) -> None:
    to_server, to_phone = corpus(VENDOR)
    every = Messages(to_server + to_phone, f"{VENDOR} messages")
    messages = data.draw(st.lists(garbage(every), min_size=1, max_size=3), label="garbage")
    asyncio.run(asyncio.wait_for(_run(transport, messages), 30))


def _framing_broken(kind: str) -> bytes:
    """A whole SUBSCRIBE the server would take, broken the way ``kind`` says."""
    to_server, _ = corpus(VENDOR)
    whole = next(m for m in to_server if m.startswith(b"SUBSCRIBE "))
    head, _, body = whole.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n")
             if not line.lower().startswith((b"content-length:", b"l:"))]
    if kind == "no-length":
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
    if kind == "huge-body":
        return b"\r\n".join([*lines, b"Content-Length: 5000000"]) + b"\r\n\r\n" + body
    return b"\r\n".join([*lines, b"X-Padding: " + b"p" * 70_000])  # no end of header block


@pytest.mark.parametrize(("kind", "status"),
                         [("no-length", 400), ("huge-body", 413), ("huge-head", 513)])
def test_tcp_framing_error_is_answered_then_the_connection_closes(kind: str,
                                                                  status: int) -> None:
    """RFC 3261 18.3: a stream message must carry Content-Length. The message that lost
    the framing is answered with the framer's status and a reason naming the problem (it
    copies Via, From, To, Call-ID and CSeq), counted, and the connection is closed."""
    async def main() -> None:
        server = ReferenceServer(PROFILES[VENDOR], rng=random.Random(11), log_messages=False,
                                 keep_messages=False)
        driver = await EndpointDriver.open(server, ["tcp:127.0.0.1:0"])
        try:
            there = driver.local_addresses[0]
            reader, writer = await asyncio.open_connection(there.host, there.port)
            writer.write(_framing_broken(kind))
            await writer.drain()
            received = await asyncio.wait_for(reader.read(), 10)  # until the server closes
            writer.close()
            answers = _responses([received], stream=True)
            assert [r.status for r in answers] == [status]
            assert answers[0].reason and answers[0].reason != "Bad Request"
            assert server.ua.stats.malformed == server.ua.stats.malformed_answered == 1
            assert driver.errors == []
            await _newcomer(there, server)  # and the server keeps serving
        finally:
            driver.close()
            await driver.wait_closed()

    asyncio.run(main())
