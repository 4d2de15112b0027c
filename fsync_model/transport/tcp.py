"""SIP over TCP: a listening socket plus reused connections, framed by Content-Length.

Connections are kept in one table keyed by the peer's address: a message to a peer goes over
the connection already open to it (incoming or outgoing, RFC 3261 section 18.2.2 sends
responses back over the connection the request came on), and a new connection is opened
only when there is none. Each connection cuts its byte stream with a
:class:`~fsync_model.sip.framing.StreamFramer`; on a framing error the bytes of the message
begun go to the stream error handler (the endpoint answers a request it can: 400 without
Content-Length, 413, 513), then the connection closes, because the stream has lost its
place. RFC 5626 double-CRLF pings are answered with a single-CRLF pong. TLS (tls.py) reuses
all of this.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from typing import cast

from fsync_model.sip.framing import StreamFramer
from fsync_model.transport.address import Address
from fsync_model.transport.driver import Receiver, Transport
from fsync_model.transport.tap import Tap
from fsync_model.transport.udp import checked_local_address, sockname_address

logger = logging.getLogger(__name__)

_PONG = b"\r\n"


class _StreamConnection(asyncio.Protocol):
    """One TCP/TLS connection: frames what comes in, writes (or queues) what goes out."""

    def __init__(self, owner: TcpTransport, peer: Address | None) -> None:
        self._owner = owner
        #: The key in the owner's table: where we connected to, or the peer's address.
        self.peer = peer
        self.local: Address | None = None
        self._transport: asyncio.Transport | None = None
        # Messages sent before the connection is up (outgoing connections only).
        self._queue: list[bytes] = []
        self._framer = StreamFramer()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        kind = self._owner.kind
        self.local = sockname_address(kind, transport.get_extra_info("sockname"))
        if self.peer is None:
            self.peer = sockname_address(kind, transport.get_extra_info("peername"))
        self._owner._connection_made(self)

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.local is not None
        pings = self._framer.pings
        messages, error = self._framer.feed_until_error(data)
        if self._framer.pings > pings and self._transport is not None and error is None:
            self._transport.write(_PONG * (self._framer.pings - pings))
        for message in messages:
            if self.closed:
                break
            self._owner._deliver(message, self.peer, self.local)
        if error is not None:
            # With the framing lost there is no telling where the next message starts
            # (RFC 3261 section 18.3): answer the message begun if it can be, then close
            # (asyncio writes out what is buffered before it closes).
            logger.warning("%s: framing error from %s, closing connection: %s",
                           self.local, self.peer, error)
            if not self.closed:
                self._owner._framing_error(self._framer.buffered, error, self.peer, self.local)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            logger.info("%s: connection to %s lost: %s", self.local, self.peer, exc)
        self.closed = True
        self._owner._connection_lost(self)

    def send(self, data: bytes) -> None:
        if self._transport is None:
            self._queue.append(data)
            return
        self._transport.write(data)
        assert self.local is not None and self.peer is not None
        self._owner._record_sent(data, self.local, self.peer)

    def flush_queue(self) -> None:
        queued, self._queue = self._queue, []
        for data in queued:
            self.send(data)

    def drop_queue(self) -> int:
        dropped = len(self._queue)
        self._queue = []
        return dropped

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class TcpTransport(Transport):
    """SIP over TCP: listens on one address, reuses connections per peer."""

    kind = "tcp"

    def __init__(
        self,
        local_address: Address,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(local_address, on_receive, taps=taps,
                         allow_non_loopback=allow_non_loopback, tap_clock=tap_clock)
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._server: asyncio.Server | None = None
        self._connections: dict[Address, _StreamConnection] = {}
        self._every_connection: set[_StreamConnection] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    @classmethod
    async def create(
        cls,
        local: Address | str,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
    ) -> TcpTransport:
        """Listen on ``local`` (port 0 picks a free port)."""
        self = cls(checked_local_address(cls.kind, local, allow_non_loopback), on_receive,
                   taps=taps, allow_non_loopback=allow_non_loopback, tap_clock=tap_clock)
        await self._listen()
        return self

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.local_address.sockaddr
        self._server = await loop.create_server(
            lambda: _StreamConnection(self, None), host, port, ssl=self._server_ssl
        )
        self.local_address = sockname_address(self.kind, self._server.sockets[0].getsockname())

    @property
    def connections(self) -> list[Address]:
        """The peers with an open (or opening) connection, in no particular order."""
        return list(self._connections)

    def send(self, data: bytes, dst: Address) -> None:
        if not self._check_destination(dst):
            return
        connection = self._connections.get(dst)
        if connection is None or connection.closed:
            connection = _StreamConnection(self, dst)
            self._connections[dst] = connection
            task = asyncio.get_running_loop().create_task(self._connect(connection, dst))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)
        connection.send(data)

    async def _connect(self, connection: _StreamConnection, dst: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Bind the outgoing side to our own host: the loopback policy then holds for
            # connections too, and the source address in captures is predictable.
            await loop.create_connection(
                lambda: connection, dst.host, dst.port, ssl=self._client_ssl,
                server_hostname=dst.host if self._client_ssl is not None else None,
                local_addr=(self.local_address.host, 0),
            )
        except OSError as error:  # refused, unreachable, TLS handshake (SSLError)
            dropped = connection.drop_queue()
            logger.warning("%s: cannot connect to %s (%s); %d message(s) dropped",
                           self.local_address, dst, error, dropped)
            connection.closed = True
            if self._connections.get(dst) is connection:
                del self._connections[dst]
            self._report_error(dst, f"cannot connect: {error.strerror or error}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._connecting):
            task.cancel()
        for connection in list(self._every_connection):
            connection.close()
        for connection in list(self._connections.values()):
            connection.drop_queue()
        self._connections.clear()

    async def wait_closed(self) -> None:
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        # Let the connections' connection_lost callbacks run.
        for _ in range(3):
            if not self._every_connection:
                break
            await asyncio.sleep(0)

    def _connection_made(self, connection: _StreamConnection) -> None:
        assert connection.peer is not None
        if self._closed:
            connection.close()
            return
        self._every_connection.add(connection)
        existing = self._connections.get(connection.peer)
        if existing is None or existing.closed:
            self._connections[connection.peer] = connection
        connection.flush_queue()

    def _connection_lost(self, connection: _StreamConnection) -> None:
        self._every_connection.discard(connection)
        if connection.peer is not None and self._connections.get(connection.peer) is connection:
            del self._connections[connection.peer]
