"""Trivial sans-IO endpoints for the transport tests: they satisfy the Endpoint contract and
record what happened to them, nothing more (the real agents live in fsync_model.agents)."""
from __future__ import annotations

from dataclasses import dataclass, field

from fsync_model.transport.address import Address

#: RFC 3261 timers for a non-INVITE client transaction over UDP (section 17.1.2).
T1, T2 = 0.5, 4.0


def request(method: str = "OPTIONS", number: int = 1, body: bytes = b"") -> bytes:
    """A SIP-looking request with an exact Content-Length, numbered by CSeq."""
    head = (
        f"{method} sip:echo@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-test\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: <sip:echo@127.0.0.1>\r\n"
        "Call-ID: transport-test@127.0.0.1\r\n"
        f"CSeq: {number} {method}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def echo_of(message: bytes) -> bytes:
    """The echo endpoint's answer: the same headers and body behind a 200 status line."""
    return b"SIP/2.0 200 OK\r\n" + message.split(b"\r\n", 1)[1]


def cseq(message: bytes) -> int:
    for line in message.split(b"\r\n"):
        if line.startswith(b"CSeq:"):
            return int(line.split()[1])
    raise AssertionError(f"no CSeq in {message!r}")


@dataclass
class Received:
    data: bytes
    src: Address
    now: float


@dataclass
class RecordingEndpoint:
    """Sends what it is told to, records what arrives; optionally fires a one-shot timer."""

    received: list[Received] = field(default_factory=list)
    outbox: list[tuple[bytes, Address]] = field(default_factory=list)
    timer: float | None = None
    timer_fired: list[float] = field(default_factory=list)
    bound: list[list[Address]] = field(default_factory=list)

    def bind(self, local: list[Address]) -> None:
        self.bound.append(local)

    def send(self, data: bytes, dst: Address) -> None:
        self.outbox.append((data, dst))

    def send_requests(self, numbers: range | list[int], dst: Address) -> None:
        """Queue :func:`request` numbered ``numbers`` to ``dst``."""
        for number in numbers:
            self.send(request(number=number), dst)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        self.received.append(Received(data, src, now))

    def handle_timer(self, now: float) -> None:
        if self.timer is not None and now >= self.timer:
            self.timer = None
            self.timer_fired.append(now)

    def get_timer(self) -> float | None:
        return self.timer

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.outbox = self.outbox, []
        return out


@dataclass
class EchoEndpoint(RecordingEndpoint):
    """Answers every message with :func:`echo_of` it, to where it came from."""

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        super().receive_datagram(data, src, now)
        if not data.startswith(b"SIP/2.0 "):
            self.outbox.append((echo_of(data), src))


@dataclass
class RetransmittingClient(RecordingEndpoint):
    """A non-INVITE client transaction's timers (RFC 3261 section 17.1.2.2): retransmit on
    Timer E (T1 doubling up to T2) until an answer arrives or Timer F (64*T1) expires."""

    message: bytes = b""
    dst: Address | None = None
    sent_at: list[float] = field(default_factory=list)
    timed_out_at: float | None = None
    _interval: float = T1
    _next_send: float | None = None
    _give_up: float | None = None

    def start(self, message: bytes, dst: Address, now: float) -> None:
        self.message, self.dst = message, dst
        self._transmit(now)
        self._interval = T1
        self._next_send = now + T1
        self._give_up = now + 64 * T1

    def _transmit(self, now: float) -> None:
        assert self.dst is not None
        self.outbox.append((self.message, self.dst))
        self.sent_at.append(now)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        super().receive_datagram(data, src, now)
        self._next_send = self._give_up = None

    def handle_timer(self, now: float) -> None:
        if self._give_up is not None and now >= self._give_up:
            self.timed_out_at = now
            self._next_send = self._give_up = None
        elif self._next_send is not None and now >= self._next_send:
            self._transmit(now)
            self._interval = min(2 * self._interval, T2)
            self._next_send = now + self._interval

    def get_timer(self) -> float | None:
        deadlines = [t for t in (self._next_send, self._give_up) if t is not None]
        return min(deadlines) if deadlines else None
