"""Transport addresses: ``udp:127.0.0.1:5060``, ``tcp:[::1]:5070``, ``tls:...``, ``mem:name``.

One frozen, hashable :class:`Address` names where an endpoint listens or where a datagram
goes, for real sockets and for the in-memory network alike. This module also holds the
loopback policy: fsync binds and sends on loopback only unless told otherwise.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

#: Socket transports and their default SIP port (RFC 3261 section 19.1.2, RFC 3263).
SOCKET_TRANSPORTS: Final = {"udp": 5060, "tcp": 5060, "tls": 5061}
#: The in-memory network: a name, no port.
MEMORY_TRANSPORT: Final = "mem"
TRANSPORTS: Final = (*SOCKET_TRANSPORTS, MEMORY_TRANSPORT)
#: Transports that carry a byte stream and so need framing (RFC 3261 section 18.3).
STREAM_TRANSPORTS: Final = frozenset({"tcp", "tls"})

_EXAMPLES: Final = {
    "udp": "udp:127.0.0.1:5070",
    "tcp": "tcp:127.0.0.1:5070",
    "tls": "tls:127.0.0.1:5061",
    "mem": "mem:phone",
}
# A host name (RFC 1123 labels); IP literals are recognised separately.
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
_MEMORY_NAME = re.compile(r"[^\s]+")


class AddressError(ValueError):
    """An address that cannot be used; the message says what to type instead."""


def _usage(transport: str | None) -> str:
    if transport in SOCKET_TRANSPORTS:
        return f"expected {transport}:HOST:PORT, e.g. {_EXAMPLES[transport]}"
    if transport == MEMORY_TRANSPORT:
        return f"expected mem:NAME, e.g. {_EXAMPLES['mem']}"
    return (
        "expected TRANSPORT:HOST:PORT with TRANSPORT one of udp, tcp, tls "
        "(e.g. udp:127.0.0.1:5070, tcp:[::1]:5070) or mem:NAME (e.g. mem:phone)"
    )


def _normalise_host(host: str, transport: str) -> str:
    """The canonical spelling of ``host`` (compressed IPv6, lower case), or AddressError."""
    if not host:
        raise AddressError(f"empty host; {_usage(transport)}")
    if host.startswith("[") and host.endswith("]"):
        raise AddressError(
            f"host {host!r} has brackets: give the bare IPv6 address to Address(), "
            f"brackets only in the text form, e.g. {transport}:[::1]:5070"
        )
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if ":" in host:
        raise AddressError(f"{host!r} is not a valid IPv6 address; e.g. {transport}:[::1]:5070")
    if not _HOSTNAME.fullmatch(host):
        raise AddressError(f"{host!r} is not an IP address or host name; {_usage(transport)}")
    return host.lower()


@dataclass(frozen=True)
class Address:
    """Where to listen or send: ``transport`` (udp, tcp, tls, mem), ``host``, ``port``.

    IPv6 hosts are stored bare (``::1``) and written in brackets in the text form. For
    ``mem`` the host is the endpoint's name and the port is always 0. For the socket
    transports port 0 means "pick a free one" when binding. The constructor checks and
    normalises its fields (``0:0::1`` becomes ``::1``), so equal addresses compare and hash
    equal, which is what keys connection reuse.
    """

    transport: str
    host: str
    port: int = 0

    def __post_init__(self) -> None:
        transport = self.transport.lower()
        if transport not in TRANSPORTS:
            raise AddressError(f"unknown transport {self.transport!r}; {_usage(None)}")
        if transport == MEMORY_TRANSPORT:
            if not _MEMORY_NAME.fullmatch(self.host):
                raise AddressError(f"bad memory endpoint name {self.host!r}; {_usage('mem')}")
            if self.port != 0:
                raise AddressError(f"mem addresses have no port; {_usage('mem')}")
            host = self.host
        else:
            host = _normalise_host(self.host, transport)
            if isinstance(self.port, bool) or not isinstance(self.port, int) or not (
                0 <= self.port <= 65535
            ):
                raise AddressError(f"port {self.port!r} not in 0..65535; {_usage(transport)}")
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "host", host)

    def __str__(self) -> str:
        if self.transport == MEMORY_TRANSPORT:
            return f"mem:{self.host}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"

    @property
    def is_stream(self) -> bool:
        """True for TCP and TLS, whose messages need framing by Content-Length."""
        return self.transport in STREAM_TRANSPORTS

    @property
    def is_ipv6(self) -> bool:
        """True when the host is an IPv6 literal."""
        return self.transport != MEMORY_TRANSPORT and ":" in self.host

    @property
    def sockaddr(self) -> tuple[str, int]:
        """``(host, port)`` as the socket and asyncio APIs take it."""
        return (self.host, self.port)

    def with_port(self, port: int) -> Address:
        """The same address on another port (e.g. the real one after binding port 0)."""
        return Address(self.transport, self.host, port)

    def with_transport(self, transport: str) -> Address:
        """The same host and port over another transport."""
        return Address(transport, self.host, self.port)


def parse_address(text: str, default_transport: str | None = None) -> Address:
    """Parse the text form of an address.

    Accepts ``udp:127.0.0.1:5060``, ``tcp:[::1]:5070``, ``tls:host:5061``, ``mem:name``.
    A missing port means the SIP default (5060, 5061 for TLS). With ``default_transport``,
    a bare ``127.0.0.1:5060`` or ``[::1]:5060`` is accepted too. Raises :class:`AddressError`
    with an example of what to type.
    """
    original = text
    text = text.strip()
    transport, sep, rest = text.partition(":")
    if sep and transport.lower() in TRANSPORTS:
        transport = transport.lower()
    elif default_transport is not None:
        transport, rest = default_transport.lower(), text
        if transport not in TRANSPORTS:
            raise AddressError(f"unknown default transport {default_transport!r}; {_usage(None)}")
    else:
        known = transport.lower() if sep else None
        raise AddressError(
            f"cannot read address {original!r}: "
            + (f"unknown transport {transport!r}; " if known else "no transport; ")
            + _usage(None)
        )
    if transport == MEMORY_TRANSPORT:
        return Address(MEMORY_TRANSPORT, rest, 0)
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise AddressError(
                f"cannot read address {original!r}: missing ']'; {_usage(transport)}"
            )
        if after and not after.startswith(":"):
            raise AddressError(f"cannot read address {original!r}: {_usage(transport)}")
        port_text = after[1:] if after else None
        if ":" not in host:
            raise AddressError(
                f"cannot read address {original!r}: brackets are for IPv6 only; "
                f"{_usage(transport)}"
            )
    elif rest.count(":") > 1:
        raise AddressError(
            f"cannot read address {original!r}: write IPv6 hosts in brackets, "
            f"e.g. {transport}:[::1]:5070"
        )
    else:
        host, colon, port_text_or_empty = rest.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        port = SOCKET_TRANSPORTS[transport]
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5:
        port = int(port_text)
    else:
        raise AddressError(
            f"cannot read address {original!r}: port {port_text!r} is not a number "
            f"in 0..65535; {_usage(transport)}"
        )
    try:
        return Address(transport, host, port)
    except AddressError as error:
        raise AddressError(f"cannot read address {original!r}: {error}") from None


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address (127.0.0.0/8, ::1, IPv4-mapped 127/8, or
    the name ``localhost``, which RFC 6761 section 6.3 reserves for loopback)."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_loopback(address: Address, *, allow_non_loopback: bool = False,
                   action: str = "bind to") -> None:
    """Refuse a socket address off loopback unless ``allow_non_loopback`` is set.

    fsync talks to devices under test; by default it stays on the machine so that a test
    run can never spray SIP at a lab LAN by accident. ``mem`` addresses always pass.
    """
    if address.transport == MEMORY_TRANSPORT or allow_non_loopback:
        return
    if not is_loopback(address.host):
        loopback = "[::1]" if address.is_ipv6 else "127.0.0.1"
        raise AddressError(
            f"refusing to {action} {address}: {address.host} is not a loopback address; "
            f"use e.g. {address.transport}:{loopback}:{address.port}, or pass "
            "allow_non_loopback=True to reach real devices on a lab network"
        )
