"""SIP over UDP: one datagram is one message (RFC 3261 section 18.1 and 18.2).

An asyncio datagram endpoint bound to one local address. Datagrams holding nothing but CR/LF
(keep-alives some phones send over UDP) are dropped here, so the endpoint only ever sees
something that claims to be a SIP message.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from fsync_model.transport.address import Address, AddressError, check_loopback, parse_address
from fsync_model.transport.driver import Receiver, Transport
from fsync_model.transport.tap import Tap

logger = logging.getLogger(__name__)


def sockname_address(kind: str, sockname: Any) -> Address:
    """The :class:`Address` of a ``getsockname()``/``getpeername()`` result (v4 or v6)."""
    host, port = sockname[0], sockname[1]
    return Address(kind, str(host), int(port))


def checked_local_address(kind: str, local: Address | str, allow_non_loopback: bool) -> Address:
    """Parse ``local`` for a ``kind`` transport to bind, applying the loopback policy."""
    address = parse_address(local) if isinstance(local, str) else local
    if address.transport != kind:
        raise AddressError(f"a {kind} transport binds {kind}: addresses, not {address}")
    check_loopback(address, allow_non_loopback=allow_non_loopback)
    return address


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._owner._datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: SIP retransmits on its own timers.
        logger.info("%s: %s", self._owner.local_address, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._connection_lost()


class UdpTransport(Transport):
    """SIP over UDP on one bound socket; create with :meth:`create`."""

    kind = "udp"

    def __init__(
        self,
        local_address: Address,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(local_address, on_receive, taps=taps,
                         allow_non_loopback=allow_non_loopback, tap_clock=tap_clock)
        self._transport: asyncio.DatagramTransport | None = None
        self._closed_future: asyncio.Future[None] | None = None

    @classmethod
    async def create(
        cls,
        local: Address | str,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
    ) -> UdpTransport:
        """Bind ``local`` (port 0 picks a free port) and start receiving."""
        address = checked_local_address(cls.kind, local, allow_non_loopback)
        self = cls(address, on_receive, taps=taps, allow_non_loopback=allow_non_loopback,
                   tap_clock=tap_clock)
        loop = asyncio.get_running_loop()
        self._closed_future = loop.create_future()
        family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=address.sockaddr, family=family
        )
        self._transport = transport
        self.local_address = sockname_address(cls.kind, transport.get_extra_info("sockname"))
        return self

    def send(self, data: bytes, dst: Address) -> None:
        if not self._check_destination(dst) or self._transport is None:
            return
        self._transport.sendto(data, dst.sockaddr)
        self._record_sent(data, self.local_address, dst)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        if self._closed_future is not None:
            await self._closed_future

    def _datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self._closed:
            return
        if not data.strip(b"\r\n"):
            logger.debug("%s: keep-alive from %s", self.local_address, addr)
            return
        self._deliver(data, sockname_address(self.kind, addr), self.local_address)

    def _connection_lost(self) -> None:
        self._closed = True
        if self._closed_future is not None and not self._closed_future.done():
            self._closed_future.set_result(None)
