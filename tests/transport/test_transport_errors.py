"""A refused TCP connection reaches the endpoint at once (RFC 3261 8.1.3.1), not at Timer F."""
from __future__ import annotations

import asyncio
import random
import socket

from fsync_model.agents.phone import ReferencePhone
from fsync_model.profile import load_all
from fsync_model.sip.useragent import TransportFailure
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_fails_the_register_at_once() -> None:
    async def scenario() -> list[str]:
        profile = load_all()["broadsoft"]
        server = Address("tcp", "127.0.0.1", _closed_port())
        phone = ReferencePhone(profile, user="1001", server=server, rng=random.Random(1),
                               sync=True)
        seen: list[object] = []
        original = phone.handle_ua_event

        def spy(event: object, now: float) -> None:
            seen.append(event)
            original(event, now)  # type: ignore[arg-type]

        phone.handle_ua_event = spy  # type: ignore[method-assign]
        driver = await EndpointDriver.open(phone, ["tcp:127.0.0.1:0"])
        loop = asyncio.get_running_loop()
        try:
            driver.run_in_cycle(lambda: phone.start(loop.time()))
            for _ in range(200):
                if any(isinstance(e, TransportFailure) for e in seen):
                    break
                await asyncio.sleep(0.01)
        finally:
            driver.close()
            await driver.wait_closed()
        assert not driver.errors
        return [p.rule for p in phone.problems]

    rules = asyncio.run(scenario())
    assert "REGISTER-FAILED" in rules, rules
