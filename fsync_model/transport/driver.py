"""Run a sans-IO SIP endpoint over real asyncio transports.

This module holds the two contracts the transport layer sits between: :class:`Endpoint`
(what agents implement: bytes and deadlines in, bytes out, no clock, no sockets) and
:class:`Transport` (what the UDP, TCP and TLS adapters implement). :class:`EndpointDriver`
joins them and runs the one cycle of docs/architecture.md at every entry point: feed, drain
``datagrams_to_send(now)``, send, re-arm the timer from ``get_timer()``.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from fsync_model.sip.errors import SipParseError
from fsync_model.transport.address import Address, AddressError, check_loopback, parse_address
from fsync_model.transport.tap import Tap, notify_taps

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: What a transport calls for each message it receives: ``(data, src)``.
Receiver = Callable[[bytes, Address], None]
#: Messages received together, each ``(data, src, arrived)``: ``arrived`` is the wall-clock
#: time (``time.time()``) the kernel got it, when the transport knows it, else None.
Batch = Sequence[tuple[bytes, Address, float | None]]
#: What a transport hands a batch of messages to.
BatchReceiver = Callable[[Batch], None]
#: What a stream transport calls when it loses its framing: ``(data, error, src)``.
StreamErrorHandler = Callable[[bytes, SipParseError, Address], None]


@runtime_checkable
class Endpoint(Protocol):
    """The sans-IO endpoint contract (docs/architecture.md): agents implement it.

    ``data`` is exactly one SIP message; ``now`` is seconds from an arbitrary origin and the
    endpoint never reads a clock itself.
    """

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None:
        """The earliest deadline, in the same seconds as ``now``, or None."""
        ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...


class Transport(ABC):
    """An asyncio transport that moves whole SIP messages to and from :class:`Address` es.

    ``local_address`` is the bound address (the real port after binding port 0). Each
    received message is tapped and handed to the receiver as ``(data, src)``; each sent
    message is tapped as it is written. Errors on the wire (refused connections, framing
    errors, unreachable hosts) are logged, never raised to the caller of :meth:`send`: SIP
    recovers from lost messages by its own timers.
    """

    #: The address transport this class handles ("udp", "tcp", "tls").
    kind: ClassVar[str]

    def __init__(
        self,
        local_address: Address,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
    ) -> None:
        self.local_address = local_address
        self.allow_non_loopback = allow_non_loopback
        self.taps: list[Tap] = list(taps)
        self._on_receive = on_receive
        self._on_batch: BatchReceiver | None = None
        self._on_error: Callable[[Address, str], None] | None = None
        self._on_stream_error: StreamErrorHandler | None = None
        #: destination hosts already found to be loopback (checked once, not per message)
        self._loopback_ok: set[str] = set()
        self._tap_clock = tap_clock
        self._closed = False

    def set_receiver(self, on_receive: Receiver | None) -> None:
        """Deliver received messages to ``on_receive`` from now on (None: drop them)."""
        self._on_receive = on_receive

    def set_batch_receiver(self, on_batch: BatchReceiver | None) -> None:
        """Hand messages that arrive together (a transport that reads several at once) to
        ``on_batch`` in one call, instead of one ``on_receive`` call each."""
        self._on_batch = on_batch

    def set_error_handler(self, on_error: Callable[[Address, str], None] | None) -> None:
        """Tell ``on_error(dst, reason)`` when messages to ``dst`` could not be sent (a
        refused connection): RFC 3261 8.1.3.1 treats that like a 503 at once, instead of
        waiting for Timer F."""
        self._on_error = on_error

    def set_stream_error_handler(self, on_stream_error: StreamErrorHandler | None) -> None:
        """Tell ``on_stream_error(data, error, src)`` when a stream loses its framing:
        ``data`` is the message begun (its header block, when complete), so the receiver
        can answer it (400 without Content-Length, 413, 513) before the connection closes."""
        self._on_stream_error = on_stream_error

    def _framing_error(self, data: bytes, error: SipParseError, src: Address,
                       dst: Address) -> None:
        """Tap the unframable bytes (so a capture shows what was refused) and hand them to
        the stream error handler."""
        if self.taps and data:
            notify_taps(self.taps, self._tap_clock(), src, dst, data)
        if self._on_stream_error is not None:
            self._on_stream_error(data, error, src)

    def _report_error(self, dst: Address, reason: str) -> None:
        if self._on_error is not None:
            self._on_error(dst, reason)

    def add_tap(self, tap: Tap) -> None:
        self.taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        self.taps.remove(tap)

    @property
    def closed(self) -> bool:
        return self._closed

    @abstractmethod
    def send(self, data: bytes, dst: Address) -> None:
        """Send one SIP message to ``dst``; returns at once.

        Raises :class:`AddressError` when ``dst`` is of another transport kind or off
        loopback without ``allow_non_loopback`` (a caller's mistake); trouble on the wire is
        logged instead.
        """

    @abstractmethod
    def close(self) -> None:
        """Stop listening and close every socket; later sends are dropped with a log line."""

    async def wait_closed(self) -> None:
        """Wait until the sockets are really closed (after :meth:`close`)."""
        await asyncio.sleep(0)

    def _check_destination(self, dst: Address) -> bool:
        """True if ``dst`` may be sent to; logs why not otherwise."""
        if self._closed:
            logger.warning("%s: closed, dropping message to %s", self.local_address, dst)
            return False
        if dst.transport != self.kind:
            raise AddressError(f"{self.kind} transport cannot send to {dst}")
        if dst.host not in self._loopback_ok:
            check_loopback(dst, allow_non_loopback=self.allow_non_loopback, action="send to")
            if len(self._loopback_ok) < 1024:
                self._loopback_ok.add(dst.host)
        return True

    def _record_sent(self, data: bytes, src: Address, dst: Address) -> None:
        if self.taps:
            notify_taps(self.taps, self._tap_clock(), src, dst, data)

    def _deliver(self, data: bytes, src: Address, dst: Address) -> None:
        """Tap a received message and hand it to the receiver."""
        if self.taps:
            notify_taps(self.taps, self._tap_clock(), src, dst, data)
        if self._on_receive is None:
            logger.debug("%s: no receiver, dropping message from %s", self.local_address, src)
            return
        self._on_receive(data, src)

    def _deliver_batch(self, batch: Batch, dst: Address) -> None:
        """Tap messages received together and hand them to the batch receiver (or each
        to the receiver)."""
        if self._on_batch is None:
            for data, src, _ in batch:
                self._deliver(data, src, dst)
            return
        if self.taps:
            now = self._tap_clock()
            for data, src, _ in batch:
                notify_taps(self.taps, now, src, dst, data)
        self._on_batch(batch)


class EndpointDriver:
    """Runs an :class:`Endpoint` over one or more :class:`Transport` s in an asyncio loop.

    Every entry point (a received message, the timer, :meth:`run_in_cycle`) runs the same
    cycle: call the endpoint, drain ``datagrams_to_send(now)``, send each through the
    transport of the destination's kind (the one of the same IP family when there are
    several), re-arm the loop timer from ``get_timer()``. ``now`` comes from ``clock``
    (default ``loop.time()``). The driver owns its transports: :meth:`close` closes them.
    An endpoint with a ``bind(local: list[Address])`` method (the agents) is told the bound
    addresses once, at construction, before any traffic.

    An exception escaping the endpoint is a bug in the endpoint: it is logged, kept in
    :attr:`errors` (tests assert it stays empty) and the driver carries on.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        transports: Sequence[Transport],
        *,
        clock: Callable[[], float] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.transports = list(transports)
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self.clock: Callable[[], float] = clock if clock is not None else self._loop.time
        self.errors: list[BaseException] = []
        #: Messages the endpoint addressed to a transport kind the driver does not have.
        self.undeliverable: list[tuple[bytes, Address]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._closed = False
        #: the endpoint's ``note_receive_delay(seconds)``, if it has one: how long each
        #: message waited in the socket buffer before the endpoint got it
        hook = getattr(endpoint, "note_receive_delay", None)
        self._note_delay: Callable[[float], None] | None = hook if callable(hook) else None
        for transport in self.transports:
            transport.set_receiver(self._on_receive)
            transport.set_batch_receiver(self.receive_batch)
            transport.set_error_handler(self._on_transport_error)
            transport.set_stream_error_handler(self._on_stream_error)
        # Agents learn the addresses really bound (port 0 resolved) before any traffic.
        bind = getattr(endpoint, "bind", None)
        if callable(bind):
            bind(self.local_addresses)
        self.flush()

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        addresses: Iterable[Address | str],
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> EndpointDriver:
        """Bind a transport at each address (``udp:127.0.0.1:0``...) and drive ``endpoint``.

        ``tls:`` addresses need ``server_ssl`` (and ``client_ssl`` to open connections).
        """
        # Imported here: the adapters import this module for Transport.
        from fsync_model.transport.tcp import TcpTransport
        from fsync_model.transport.tls import TlsTransport
        from fsync_model.transport.udp import UdpTransport

        taps = list(taps)
        transports: list[Transport] = []
        try:
            for item in addresses:
                address = parse_address(item) if isinstance(item, str) else item
                transport: Transport
                if address.transport == "udp":
                    transport = await UdpTransport.create(
                        address, taps=taps, allow_non_loopback=allow_non_loopback
                    )
                elif address.transport == "tcp":
                    transport = await TcpTransport.create(
                        address, taps=taps, allow_non_loopback=allow_non_loopback
                    )
                elif address.transport == "tls":
                    if server_ssl is None:
                        raise AddressError(f"{address} needs a server TLS context (server_ssl)")
                    transport = await TlsTransport.create(
                        address, server_ssl=server_ssl, client_ssl=client_ssl, taps=taps,
                        allow_non_loopback=allow_non_loopback,
                    )
                else:
                    raise AddressError(
                        f"{address}: the driver runs socket transports (udp, tcp, tls); "
                        "use MemoryNetwork for mem: addresses"
                    )
                transports.append(transport)
        except BaseException:
            for transport in transports:
                transport.close()
            raise
        return cls(endpoint, transports, clock=clock)

    @property
    def local_addresses(self) -> list[Address]:
        return [transport.local_address for transport in self.transports]

    def transport_for(self, dst: Address) -> Transport | None:
        """The transport that sends to ``dst``: same kind, preferring the same IP family."""
        if len(self.transports) == 1:  # the usual server: one socket
            only = self.transports[0]
            return only if only.kind == dst.transport and not only.closed else None
        candidates = [t for t in self.transports if t.kind == dst.transport and not t.closed]
        for transport in candidates:
            if transport.local_address.is_ipv6 == dst.is_ipv6:
                return transport
        return candidates[0] if candidates else None

    def run_in_cycle(self, fn: Callable[[], T]) -> T:
        """Call ``fn()`` (e.g. a user command on the endpoint), then flush and re-arm.

        Exceptions from ``fn`` propagate to the caller (after the flush).
        """
        try:
            return fn()
        finally:
            self.flush()

    def flush(self) -> None:
        """Drain the endpoint's datagrams, send them, and re-arm the timer."""
        if self._closed:
            return
        try:
            outgoing = self.endpoint.datagrams_to_send(self.clock())
        except Exception as error:
            self._endpoint_failed("datagrams_to_send", error)
            outgoing = []
        for data, dst in outgoing:
            transport = self.transport_for(dst)
            if transport is None:
                logger.error("no %s transport to send to %s; message dropped", dst.transport, dst)
                self.undeliverable.append((data, dst))
                continue
            try:
                transport.send(data, dst)
            except AddressError as error:
                logger.error("cannot send to %s: %s", dst, error)
                self.undeliverable.append((data, dst))
        self._arm_timer()

    def close(self) -> None:
        """Stop the timer and close every transport."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for transport in self.transports:
            transport.close()

    async def wait_closed(self) -> None:
        for transport in self.transports:
            await transport.wait_closed()

    async def __aenter__(self) -> EndpointDriver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _on_stream_error(self, data: bytes, error: SipParseError, src: Address) -> None:
        """Hand bytes a stream could not frame to endpoints that answer them
        (``receive_malformed``), and send the answer before the transport closes."""
        hook = getattr(self.endpoint, "receive_malformed", None)
        if hook is None or self._closed:
            return
        try:
            hook(data, error, src, self.clock())
        except Exception as failure:  # a bug in the endpoint: keep it, carry on
            self._endpoint_failed("receive_malformed", failure)
        self.flush()

    def _on_transport_error(self, dst: Address, reason: str) -> None:
        """Hand a send failure to endpoints that take one (``transport_error``)."""
        hook = getattr(self.endpoint, "transport_error", None)
        if hook is None or self._closed:
            return
        try:
            hook(dst, reason, self.clock())
        except Exception as error:  # a bug in the endpoint: keep it, carry on
            logger.exception("endpoint failed on a transport error")
            self.errors.append(error)
        self.flush()

    def _on_receive(self, data: bytes, src: Address) -> None:
        if self._closed:
            return
        try:
            self.endpoint.receive_datagram(data, src, self.clock())
        except Exception as error:
            self._endpoint_failed("receive_datagram", error)
        self.flush()

    def receive_batch(self, batch: Batch, endpoint: Endpoint | None = None) -> None:
        """Messages read together: each to ``endpoint`` (default: the driven one) in order,
        with its arrival time (or None), then one flush. ``fsync serve --workers``
        hands the datagrams another process read for its agent this way, past its router."""
        if endpoint is None:
            endpoint, note = self.endpoint, self._note_delay
        else:
            note = getattr(endpoint, "note_receive_delay", None)
        for data, src, arrived in batch:
            if self._closed:
                return
            try:
                if note is not None and arrived is not None:
                    note(max(0.0, time.time() - arrived))
                endpoint.receive_datagram(data, src, self.clock())
            except Exception as error:
                self._endpoint_failed("receive_datagram", error)
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed or self._deadline is None:
            return
        now = self.clock()
        if now < self._deadline:
            # The loop may fire a hair early (its clock resolution); never hand the
            # endpoint a time before its own deadline.
            self._arm_timer()
            return
        try:
            self.endpoint.handle_timer(now)
        except Exception as error:
            self._endpoint_failed("handle_timer", error)
        self.flush()

    def _arm_timer(self) -> None:
        try:
            deadline = self.endpoint.get_timer()
        except Exception as error:
            self._endpoint_failed("get_timer", error)
            deadline = None
        if deadline == self._deadline and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = self._loop.call_later(delay, self._on_timer)

    def _endpoint_failed(self, where: str, error: Exception) -> None:
        logger.error("endpoint %s raised in %s", type(self.endpoint).__name__, where,
                     exc_info=error)
        self.errors.append(error)
