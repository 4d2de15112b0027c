"""SIP over TLS (RFC 3261 section 26.2): the TCP transport with an SSL context on each side.

Connection reuse, framing and keep-alives are exactly those of tcp.py. The caller supplies
the contexts: ``server_ssl`` (certificate and key) to listen, ``client_ssl`` (trusted CAs)
to open connections; outgoing connections check the peer's certificate against the
destination host (an IP literal is matched against the certificate's IP addresses).
"""
from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterable

from fsync_model.transport.address import Address
from fsync_model.transport.driver import Receiver
from fsync_model.transport.tap import Tap
from fsync_model.transport.tcp import TcpTransport
from fsync_model.transport.udp import checked_local_address

logger = logging.getLogger(__name__)


class TlsTransport(TcpTransport):
    """SIP over TLS: listens with ``server_ssl``, connects out with ``client_ssl``."""

    kind = "tls"

    @classmethod
    async def create(
        cls,
        local: Address | str,
        on_receive: Receiver | None = None,
        *,
        taps: Iterable[Tap] = (),
        allow_non_loopback: bool = False,
        tap_clock: Callable[[], float] = time.time,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> TlsTransport:
        """Listen on ``local`` with TLS; ``client_ssl`` is needed only to connect out."""
        if server_ssl is None:
            raise ValueError("a TLS transport needs server_ssl: an SSLContext with a certificate")
        self = cls(checked_local_address(cls.kind, local, allow_non_loopback), on_receive,
                   taps=taps, allow_non_loopback=allow_non_loopback, tap_clock=tap_clock,
                   server_ssl=server_ssl, client_ssl=client_ssl)
        await self._listen()
        return self

    def send(self, data: bytes, dst: Address) -> None:
        if self._client_ssl is None and dst not in self._connections:
            # Without a client context we can only answer over connections peers opened.
            logger.error("%s: no connection to %s and no client_ssl to open one; dropped",
                         self.local_address, dst)
            return
        super().send(data, dst)
