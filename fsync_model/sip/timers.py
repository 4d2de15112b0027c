"""SIP timer values (RFC 3261 section 17 and table 4) as plain numbers, and deadline bookkeeping.

Nothing here reads a clock: a timer is an absolute deadline in the caller's time base, handed
out by ``get_timer()`` and fired by ``handle_timer(now)`` (the aioquic pattern), so a test can
run 32 s of retransmissions in a millisecond by passing ``now``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

#: Transports where the transport itself retransmits: RFC 3261 section 17 sets the timers
#: that only exist to absorb UDP loss (E, G, K, J, I, D) to zero on these.
RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "sctp", "ws", "wss"})


def is_reliable(transport: str) -> bool:
    """True for connection-oriented transports (``tcp``, ``tls``...); ``udp``/``mem`` are not."""
    return transport.lower() in RELIABLE_TRANSPORTS


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2 and T4 of RFC 3261 table 4; every other timer is derived from them.

    ``trying_delay`` is how long an INVITE server transaction waits for the TU before it sends
    100 Trying itself (section 17.2.1: "unless it knows that the TU will generate a
    provisional or final response within 200 ms").
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    trying_delay: float = 0.2

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L, M and RFC 6665 Timer N."""
        return 64 * self.t1

    def timer_d(self, reliable: bool) -> float:
        """Client INVITE, Completed: absorb retransmitted final responses (>= 32 s on UDP)."""
        return 0.0 if reliable else max(32.0, self.timeout)

    def timer_k(self, reliable: bool) -> float:
        """Client non-INVITE, Completed: absorb retransmitted final responses."""
        return 0.0 if reliable else self.t4

    def timer_i(self, reliable: bool) -> float:
        """Server INVITE, Confirmed: absorb retransmitted ACKs."""
        return 0.0 if reliable else self.t4

    def timer_j(self, reliable: bool) -> float:
        """Server non-INVITE, Completed: answer retransmitted requests."""
        return 0.0 if reliable else self.timeout


class Deadlines:
    """Named deadlines of one state machine (``{"E": 1.5, "F": 32.0}``).

    Fired in deadline order; a handler may cancel others (Timer F firing ends Timer E).
    """

    __slots__ = ("_at",)

    def __init__(self) -> None:
        self._at: dict[str, float] = {}

    def set(self, name: str, deadline: float) -> None:
        self._at[name] = deadline

    def cancel(self, *names: str) -> None:
        for name in names:
            self._at.pop(name, None)

    def clear(self) -> None:
        self._at.clear()

    def get(self, name: str) -> float | None:
        return self._at.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._at

    def earliest(self) -> float | None:
        return min(self._at.values()) if self._at else None

    def due(self, now: float) -> Iterator[str]:
        """Names of the timers due at ``now``, earliest first, each popped as it is yielded.

        A timer cancelled by the handler of an earlier one is not yielded.
        """
        for name, _ in sorted(self._at.items(), key=lambda item: (item[1], item[0])):
            deadline = self._at.get(name)
            if deadline is None or deadline > now:
                continue
            del self._at[name]
            yield name

    def __repr__(self) -> str:
        return f"Deadlines({self._at!r})"
