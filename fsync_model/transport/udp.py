"""SIP over UDP: one datagram is one message (RFC 3261 section 18.1 and 18.2).

A non-blocking socket bound to one local address, read by the asyncio loop. Each time the
socket is readable every datagram waiting is read (up to :data:`MAX_BATCH`) and handed on
as one batch, so a loaded server pays the loop's cost once per batch, not once per message
(asyncio's own datagram transport reads one datagram per loop turn). Where the kernel can
stamp datagrams (Linux), each carries the wall-clock time it arrived: how long it waited in
the socket buffer is what tells a server it is falling behind. Datagrams holding nothing
but CR/LF (keep-alives some phones send over UDP) are dropped here, so the endpoint only
ever sees something that claims to be a SIP message.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import platform
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from fsync_model.transport.address import Address, AddressError, check_loopback, parse_address
from fsync_model.transport.driver import Receiver, Transport
from fsync_model.transport.tap import Tap

logger = logging.getLogger(__name__)


#: Datagrams read per readable event at most (then the loop gets a turn).
MAX_BATCH = 64
#: The largest UDP payload.
MAX_DATAGRAM = 65_535
#: Receive buffer asked for (the kernel caps it at net.core.rmem_max): room for a burst.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Linux SO_TIMESTAMPNS (asm-generic value): the arrival time as a struct timespec.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
#: Addresses of peers seen, by (host, port), so that a datagram does not build one
#: (an Address checks its host with ipaddress: ~17 us); cleared when it grows past this.
_ADDRESS_CACHE_MAX = 4096


def _stamps_supported() -> bool:
    return sys.platform == "linux" and platform.machine() in (
        "x86_64", "aarch64", "arm64", "i386", "i686", "armv7l", "riscv64")


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
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed_future: asyncio.Future[None] | None = None
        #: datagrams the socket could not take at once (send buffer full), in order
        self._pending: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        self._peers: dict[tuple[Any, ...], Address] = {}
        self._ancillary = 0  # bytes of ancillary data asked for with each datagram
        self._reading = False

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
        sock = cls.bind_socket(local, allow_non_loopback=allow_non_loopback)
        try:
            return cls.adopt(sock, on_receive, taps=taps, allow_non_loopback=allow_non_loopback,
                             tap_clock=tap_clock)
        except BaseException:
            sock.close()
            raise

    @classmethod
    def bind_socket(cls, local: Address | str, *,
                    allow_non_loopback: bool = False) -> socket.socket:
        """A non-blocking UDP socket bound to ``local``, set up as :meth:`create` uses it
        (receive buffer, arrival times); no loop needed (``fsync serve --workers`` binds
        before it forks)."""
        address = checked_local_address(cls.kind, local, allow_non_loopback)
        family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(address.sockaddr)
            with contextlib.suppress(OSError):  # else the default buffer is kept
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            if _stamps_supported():
                # no arrival times where this fails (adopt asks the socket)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    @classmethod
    def adopt(
        cls,
        sock: socket.socket,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
        read: bool = True,
    ) -> UdpTransport:
        """Serve on ``sock``, a socket from :meth:`bind_socket` (in the running loop). The
        transport owns it from now on: :meth:`close` closes it. ``read`` False: send only
        (another process reads the socket)."""
        address = sockname_address(cls.kind, sock.getsockname())
        check_loopback(address, allow_non_loopback=allow_non_loopback)
        self = cls(address, on_receive, taps=taps, allow_non_loopback=allow_non_loopback,
                   tap_clock=tap_clock)
        loop = asyncio.get_running_loop()
        if _stamps_supported():
            try:
                stamped = sock.getsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS)
            except OSError:  # pragma: no cover - no arrival times then
                stamped = 0
            self._ancillary = socket.CMSG_SPACE(_TIMESPEC.size) if stamped else 0
        if read:
            loop.add_reader(sock.fileno(), self._read_ready)
        self._reading = read
        self._sock = sock
        self._loop = loop
        self._closed_future = loop.create_future()
        return self

    def send(self, data: bytes, dst: Address) -> None:
        if not self._check_destination(dst) or self._sock is None:
            return
        if self._pending:
            self._pending.append((data, dst.sockaddr))
        else:
            try:
                self._sock.sendto(data, dst.sockaddr)
            except (BlockingIOError, InterruptedError):
                self._pending.append((data, dst.sockaddr))
                assert self._loop is not None
                self._loop.add_writer(self._sock.fileno(), self._write_ready)
            except OSError as error:
                # ICMP port unreachable and the like: SIP retransmits on its own timers.
                logger.info("%s: %s", self.local_address, error)
                return
        self._record_sent(data, self.local_address, dst)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                if self._reading:
                    self._loop.remove_reader(sock.fileno())
                if self._pending:
                    self._loop.remove_writer(sock.fileno())
            self._pending.clear()
            sock.close()
        if self._closed_future is not None and not self._closed_future.done():
            self._closed_future.set_result(None)

    async def wait_closed(self) -> None:
        if self._closed_future is not None:
            await self._closed_future

    def _peer(self, addr: tuple[Any, ...]) -> Address:
        peer = self._peers.get(addr)
        if peer is None:
            if len(self._peers) >= _ADDRESS_CACHE_MAX:
                self._peers.clear()
            peer = self._peers[addr] = sockname_address(self.kind, addr)
        return peer

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None or self._closed:
            return
        batch: list[tuple[bytes, Address, float | None]] = []
        ancillary = self._ancillary
        for _ in range(MAX_BATCH):
            try:
                data, extra, _, addr = sock.recvmsg(MAX_DATAGRAM, ancillary)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                # an ICMP error reported on a later receive: SIP retransmits on its own
                logger.info("%s: %s", self.local_address, error)
                if error.errno in (errno.EBADF, errno.ENOTSOCK):  # pragma: no cover
                    break
                continue
            if data[:1] in (b"\r", b"\n") and not data.strip(b"\r\n"):
                logger.debug("%s: keep-alive from %s", self.local_address, addr)
                continue
            arrived: float | None = None
            for level, kind, value in extra:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                    arrived = seconds + nanoseconds * 1e-9
            batch.append((data, self._peer(addr), arrived))
        if batch:
            self._deliver_batch(batch, self.local_address)

    def _write_ready(self) -> None:
        sock = self._sock
        while sock is not None and self._pending:
            data, where = self._pending[0]
            try:
                sock.sendto(data, where)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                logger.info("%s: %s", self.local_address, error)
            self._pending.popleft()
        if sock is not None and self._loop is not None:
            self._loop.remove_writer(sock.fileno())
