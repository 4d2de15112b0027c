"""An in-memory network with a virtual clock and seeded faults, for tests and property runs.

Sans-IO endpoints attach at addresses (``mem:phone`` or any :class:`Address`); the network
drains what they send, decides each datagram's fate with one seeded ``random.Random`` (loss,
duplication, reordering, delay; per link if wanted) and delivers it at its virtual time.
Time jumps straight to the next delivery or endpoint deadline, so 32 seconds of SIP
retransmissions run in milliseconds, and the same seed gives the same run, event for event.

The test helpers follow aioquic's: :meth:`MemoryNetwork.transfer` delivers everything in
flight; :meth:`~MemoryNetwork.drop_next`, :meth:`~MemoryNetwork.duplicate_next` and
:meth:`~MemoryNetwork.hold_next`/:meth:`~MemoryNetwork.release` script exact faults.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple, TypeVar

from fsync_model.transport.address import (
    MEMORY_TRANSPORT,
    Address,
    AddressError,
    parse_address,
)
from fsync_model.transport.driver import Endpoint
from fsync_model.transport.tap import Tap

T = TypeVar("T")

#: What became of one copy of a datagram:
#: ``delivered`` on time; ``duplicate`` the extra copy of a duplicated datagram;
#: ``reordered`` held back by the reorder fault and delivered after the next datagram on its
#: link (or after ``reorder_hold`` seconds); ``released`` held by :meth:`hold_next`, then
#: released; ``lost`` to random loss; ``dropped`` by :meth:`drop_next`; ``undeliverable``
#: nobody attached at the destination.
Fate = Literal["delivered", "duplicate", "reordered", "released", "lost", "dropped",
               "undeliverable"]
#: Fates for which a copy reached an endpoint.
ARRIVED: frozenset[Fate] = frozenset({"delivered", "duplicate", "reordered", "released"})

AddressLike = Address | str


class LogEntry(NamedTuple):
    """One line of :attr:`MemoryNetwork.log`: when a copy's fate was sealed, and what it was.

    ``time`` is the delivery time for copies that arrived (or were undeliverable), the send
    time for ``lost`` and ``dropped`` ones.
    """

    time: float
    src: Address
    dst: Address
    data: bytes
    fate: Fate


class StepLimitExceeded(RuntimeError):
    """The network still had events after ``max_steps``: likely a livelock in an endpoint."""


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a probability in [0, 1], not {value!r}")


@dataclass(frozen=True)
class LinkConditions:
    """Fault rates and delay for datagrams on a link (or the whole network by default).

    Each datagram is lost with probability ``loss``; otherwise duplicated with probability
    ``duplicate`` and held back behind the next datagram with probability ``reorder``; each
    copy takes a delay drawn uniformly from ``delay = (low, high)`` seconds.
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        _check_rate("loss", self.loss)
        _check_rate("duplicate", self.duplicate)
        _check_rate("reorder", self.reorder)
        low, high = self.delay
        if not 0.0 <= low <= high:
            raise ValueError(
                f"delay is (low, high) seconds with 0 <= low <= high, not {self.delay}"
            )


@dataclass(eq=False)
class _Flight:
    """One copy of a datagram on its way."""

    due: float
    seq: int
    src: Address
    dst: Address
    data: bytes
    fate: Fate
    #: Send order of the datagram this is a copy of (copies share it).
    sent: int = 0
    cancelled: bool = False


@dataclass
class _Attachment:
    endpoint: Endpoint
    addresses: list[Address] = field(default_factory=list)
    bound: bool = False

    def ensure_bound(self) -> None:
        """Tell an endpoint with ``bind()`` (the agents) its addresses, once, before traffic."""
        if not self.bound:
            self.bound = True
            bind = getattr(self.endpoint, "bind", None)
            if callable(bind):
                bind(list(self.addresses))


@dataclass
class _Rule:
    """A scripted fault for the next ``remaining`` datagrams matching ``src``/``dst``."""

    action: Literal["drop", "duplicate", "hold"]
    remaining: int
    src: Address | None
    dst: Address | None

    def matches(self, src: Address, dst: Address) -> bool:
        return (self.src is None or self.src == src) and (self.dst is None or self.dst == dst)


def _address(value: AddressLike) -> Address:
    if isinstance(value, Address):
        return value
    return parse_address(value, default_transport=MEMORY_TRANSPORT if ":" not in value else None)


def _optional_address(value: AddressLike | None) -> Address | None:
    return None if value is None else _address(value)


class MemoryNetwork:
    """A deterministic, seeded, virtual-time network of sans-IO endpoints.

    ``loss``, ``duplicate``, ``reorder`` and ``delay`` are the default
    :class:`LinkConditions`; :meth:`set_link` overrides them per direction. ``start_time`` is
    the virtual time at the start; ``reorder_hold`` is the longest a reordered datagram
    waits for a datagram to overtake it. Every copy's fate goes to :attr:`log`; every copy
    that reaches the wire's far end is also given to the taps, at virtual time.
    """

    def __init__(
        self,
        seed: int,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: tuple[float, float] = (0.0, 0.0),
        *,
        start_time: float = 0.0,
        reorder_hold: float = 0.5,
        taps: Iterable[Tap] = (),
    ) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.default_conditions = LinkConditions(loss, duplicate, reorder, delay)
        if reorder_hold <= 0:
            raise ValueError(f"reorder_hold must be positive seconds, not {reorder_hold!r}")
        self.reorder_hold = reorder_hold
        self.now = start_time
        self.log: list[LogEntry] = []
        self.taps: list[Tap] = list(taps)
        self.steps = 0
        self._links: dict[tuple[Address, Address], LinkConditions] = {}
        self._attachments: list[_Attachment] = []
        self._by_address: dict[Address, _Attachment] = {}
        self._queue: list[tuple[float, int, _Flight]] = []
        self._seq = 0
        self._rules: list[_Rule] = []
        self._held: list[_Flight] = []
        # Per link, the datagrams the reorder fault is holding back, in send order.
        self._reordering: dict[tuple[Address, Address], list[_Flight]] = {}
        self._sent = 0

    # --- endpoints -----------------------------------------------------------------------

    def attach(self, endpoint: Endpoint, address: AddressLike) -> Address:
        """Attach ``endpoint`` at ``address`` (``"phone"`` means ``mem:phone``).

        An endpoint may be attached at several addresses (say udp and tcp); it sends from
        the one whose transport (then IP family) matches the destination. Port 0 on a socket
        address picks the first free port from 5060 up, deterministically. An endpoint with
        ``bind(local: list[Address])`` (the agents) is told all its addresses once, before
        its first traffic: attach every address before running.
        """
        where = _address(address)
        if where.transport != MEMORY_TRANSPORT and where.port == 0:
            port = 5060
            while where.with_port(port) in self._by_address:
                port += 1
            where = where.with_port(port)
        if where in self._by_address:
            raise AddressError(f"{where} is already attached; pick another address")
        attachment = next((a for a in self._attachments if a.endpoint is endpoint), None)
        if attachment is None:
            attachment = _Attachment(endpoint)
            self._attachments.append(attachment)
        attachment.addresses.append(where)
        self._by_address[where] = attachment
        return where

    def detach(self, address: AddressLike) -> None:
        """Remove the endpoint at ``address``; datagrams to it become undeliverable."""
        where = _address(address)
        attachment = self._by_address.pop(where)
        attachment.addresses.remove(where)
        if not attachment.addresses:
            self._attachments.remove(attachment)

    def endpoint_at(self, address: AddressLike) -> Endpoint:
        return self._by_address[_address(address)].endpoint

    def run_in_cycle(self, target: Endpoint | AddressLike, fn: Callable[[], T]) -> T:
        """Call ``fn()`` (a command on an endpoint), then put what the endpoint sends on the
        wire at the current time. ``target`` is the endpoint or one of its addresses."""
        attachment = self._attachment_of(target)
        attachment.ensure_bound()
        try:
            return fn()
        finally:
            self._flush(attachment)

    def inject(self, data: bytes, src: AddressLike, dst: AddressLike) -> None:
        """Put raw bytes on the wire from ``src`` (attached or not), subject to the faults."""
        self._send(_address(src), _address(dst), data)

    # --- link conditions and scripted faults ----------------------------------------------

    def conditions(self, src: AddressLike, dst: AddressLike) -> LinkConditions:
        """The conditions on the link from ``src`` to ``dst``."""
        return self._links.get((_address(src), _address(dst)), self.default_conditions)

    def set_link(
        self,
        src: AddressLike,
        dst: AddressLike,
        *,
        loss: float | None = None,
        duplicate: float | None = None,
        reorder: float | None = None,
        delay: tuple[float, float] | None = None,
        both_ways: bool = False,
    ) -> None:
        """Override the conditions from ``src`` to ``dst`` (and back with ``both_ways``);
        parameters left None keep the link's current value."""
        changes: dict[str, object] = {
            name: value
            for name, value in (("loss", loss), ("duplicate", duplicate),
                                ("reorder", reorder), ("delay", delay))
            if value is not None
        }
        links = [(_address(src), _address(dst))]
        if both_ways:
            links.append((links[0][1], links[0][0]))
        for link in links:
            current = self._links.get(link, self.default_conditions)
            self._links[link] = replace(current, **changes)  # type: ignore[arg-type]

    def clear_link(self, src: AddressLike, dst: AddressLike) -> None:
        """Back to the default conditions from ``src`` to ``dst``."""
        self._links.pop((_address(src), _address(dst)), None)

    def drop_next(self, n: int = 1, *, src: AddressLike | None = None,
                  dst: AddressLike | None = None) -> None:
        """Lose the next ``n`` datagrams sent (from ``src``, to ``dst`` if given)."""
        self._add_rule("drop", n, src, dst)

    def duplicate_next(self, n: int = 1, *, src: AddressLike | None = None,
                       dst: AddressLike | None = None) -> None:
        """Deliver the next ``n`` datagrams twice."""
        self._add_rule("duplicate", n, src, dst)

    def hold_next(self, n: int = 1, *, src: AddressLike | None = None,
                  dst: AddressLike | None = None) -> None:
        """Hold the next ``n`` datagrams until :meth:`release` (to reorder them by hand)."""
        self._add_rule("hold", n, src, dst)

    def clear_rules(self) -> int:
        """Forget the ``drop_next`` / ``duplicate_next`` / ``hold_next`` rules not used up
        yet (what is already held stays held until :meth:`release`). Returns how many."""
        count = len(self._rules)
        self._rules.clear()
        return count

    def release(self, *, reverse: bool = False) -> int:
        """Put every held datagram back on the wire now, in send order (or reversed), behind
        whatever is already due now. Returns how many."""
        held, self._held = self._held, []
        if reverse:
            held.reverse()
        for flight in held:
            flight.due = self.now
            self._schedule(flight)
        return len(held)

    @property
    def held(self) -> list[tuple[Address, Address, bytes]]:
        """The datagrams held by :meth:`hold_next`, as ``(src, dst, data)``."""
        return [(f.src, f.dst, f.data) for f in self._held]

    @property
    def in_flight(self) -> list[tuple[float, Address, Address, bytes]]:
        """Copies on their way, as ``(due, src, dst, data)`` in delivery order."""
        flights = sorted((due, seq, f) for due, seq, f in self._queue if not f.cancelled)
        return [(due, f.src, f.dst, f.data) for due, _, f in flights]

    def add_tap(self, tap: Tap) -> None:
        self.taps.append(tap)

    # --- running ---------------------------------------------------------------------------

    def step(self, until: float | None = None) -> bool:
        """Run the next event (a delivery, or an endpoint's deadline) no later than
        ``until``, advancing time to it. False when there is none."""
        self._flush_all()
        event = self._next_event()
        if event is None or (until is not None and event[0] > until):
            return False
        due, flight, attachment = event
        self.now = max(self.now, due)
        if flight is not None:
            heapq.heappop(self._queue)
            self._deliver(flight)
        elif attachment is not None:
            attachment.endpoint.handle_timer(self.now)
        self.steps += 1
        self._flush_all()
        return True

    def run(self, until: float | None = None, max_steps: int = 100_000) -> int:
        """Run events up to virtual time ``until`` (then set the clock to it), or until
        there are none left at all when ``until`` is None. Returns the number of steps;
        raises :class:`StepLimitExceeded` if events remain after ``max_steps``."""
        steps = 0
        while steps < max_steps and self.step(until):
            steps += 1
        if steps >= max_steps and self._has_event(until):
            raise StepLimitExceeded(
                f"still busy after {max_steps} steps at t={self.now:.3f} (seed {self.seed})"
            )
        if until is not None and until > self.now:
            self.now = until
        return steps

    def run_until_quiet(self, max_time: float = 3600.0, max_steps: int = 100_000) -> bool:
        """Run until nothing is in flight and no endpoint has a deadline, for at most
        ``max_time`` virtual seconds. True if the network went quiet; False if it was still
        busy at the limit (the clock is then at ``now + max_time``; when quiet it stays at
        the last event)."""
        horizon = self.now + max_time
        steps = 0
        while self.step(until=horizon):
            steps += 1
            if steps >= max_steps and self._has_event(horizon):
                raise StepLimitExceeded(
                    f"still busy after {max_steps} steps at t={self.now:.3f} (seed {self.seed})"
                )
        if self._next_event() is None:
            return True
        self.now = max(self.now, horizon)
        return False

    def transfer(self, max_steps: int = 100_000) -> int:
        """Deliver everything in flight, and whatever that provokes, until nothing is in
        flight; deadlines falling before a delivery fire on the way. Returns how many
        copies were delivered. Held datagrams stay held."""
        delivered = 0
        steps = 0
        self._flush_all()
        while self._next_flight() is not None:
            if steps >= max_steps:
                raise StepLimitExceeded(
                    f"still transferring after {max_steps} steps at t={self.now:.3f} "
                    f"(seed {self.seed})"
                )
            before = len(self.log)
            self.step()
            delivered += sum(1 for entry in self.log[before:] if entry.fate in ARRIVED)
            steps += 1
        return delivered

    # --- internals -------------------------------------------------------------------------

    def _attachment_of(self, target: Endpoint | AddressLike) -> _Attachment:
        if isinstance(target, Address | str):
            return self._by_address[_address(target)]
        for attachment in self._attachments:
            if attachment.endpoint is target:
                return attachment
        raise KeyError(f"{target!r} is not attached to this network")

    def _add_rule(self, action: Literal["drop", "duplicate", "hold"], n: int,
                  src: AddressLike | None, dst: AddressLike | None) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        self._rules.append(_Rule(action, n, _optional_address(src), _optional_address(dst)))

    def _take_rule(self, src: Address, dst: Address) -> _Rule | None:
        for rule in self._rules:
            if rule.matches(src, dst):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    def _source_for(self, attachment: _Attachment, dst: Address) -> Address:
        same_kind = [a for a in attachment.addresses if a.transport == dst.transport]
        for address in same_kind:
            if address.is_ipv6 == dst.is_ipv6:
                return address
        return (same_kind or attachment.addresses)[0]

    def _flush_all(self) -> None:
        for attachment in list(self._attachments):
            self._flush(attachment)

    def _flush(self, attachment: _Attachment) -> None:
        attachment.ensure_bound()
        for data, dst in attachment.endpoint.datagrams_to_send(self.now):
            self._send(self._source_for(attachment, dst), dst, data)

    def _send(self, src: Address, dst: Address, data: bytes) -> None:
        self._sent += 1
        rule = self._take_rule(src, dst)
        if rule is not None and rule.action == "drop":
            self.log.append(LogEntry(self.now, src, dst, data, "dropped"))
            return
        if rule is not None and rule.action == "hold":
            flight = self._flight(self.now, src, dst, data, "released")
            flight.sent = self._sent
            self._held.append(flight)
            return
        conditions = self._links.get((src, dst), self.default_conditions)
        chance = self.random.random
        if conditions.loss and chance() < conditions.loss:
            self.log.append(LogEntry(self.now, src, dst, data, "lost"))
            return
        forced_duplicate = rule is not None and rule.action == "duplicate"
        copies = 1
        if forced_duplicate or (conditions.duplicate and chance() < conditions.duplicate):
            copies = 2
        for copy in range(copies):
            low, high = conditions.delay
            due = self.now + (self.random.uniform(low, high) if high > low else low)
            fate: Fate = "delivered" if copy == 0 else "duplicate"
            if copy == 0 and conditions.reorder and chance() < conditions.reorder:
                # Held back until a datagram sent after it arrives on the same link.
                flight = self._flight(due + self.reorder_hold, src, dst, data, "reordered")
                self._reordering.setdefault((src, dst), []).append(flight)
            else:
                flight = self._flight(due, src, dst, data, fate)
            flight.sent = self._sent
            self._schedule(flight)

    def _flight(self, due: float, src: Address, dst: Address, data: bytes,
                fate: Fate) -> _Flight:
        self._seq += 1
        return _Flight(due, self._seq, src, dst, data, fate)

    def _schedule(self, flight: _Flight) -> None:
        self._seq += 1
        flight.seq = self._seq
        heapq.heappush(self._queue, (flight.due, flight.seq, flight))

    def _deliver(self, flight: _Flight) -> None:
        link = (flight.src, flight.dst)
        waiting = self._reordering.get(link, [])
        if flight in waiting:
            waiting.remove(flight)  # its hold ran out with nothing overtaking it
        attachment = self._by_address.get(flight.dst)
        fate: Fate = flight.fate if attachment is not None else "undeliverable"
        self.log.append(LogEntry(self.now, flight.src, flight.dst, flight.data, fate))
        for tap in self.taps:
            tap.record(self.now, flight.src, flight.dst, flight.data)
        if attachment is not None:
            attachment.endpoint.receive_datagram(flight.data, flight.src, self.now)
        if flight.fate != "reordered":
            # This datagram overtook those held back before it: deliver them right after.
            overtaken = [held for held in waiting if held.sent < flight.sent]
            for held in overtaken:
                waiting.remove(held)
                held.cancelled = True
                self._schedule(replace(held, due=self.now, cancelled=False))
        if not waiting:
            self._reordering.pop(link, None)

    def _next_flight(self) -> _Flight | None:
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][2] if self._queue else None

    def _next_event(self) -> tuple[float, _Flight | None, _Attachment | None] | None:
        """The earliest event: a delivery wins a tie with a deadline; among deadlines the
        endpoint attached first wins. Deadlines in the past run now."""
        flight = self._next_flight()
        best: tuple[float, _Flight | None, _Attachment | None] | None = (
            (flight.due, flight, None) if flight is not None else None
        )
        for attachment in self._attachments:
            deadline = attachment.endpoint.get_timer()
            if deadline is None:
                continue
            deadline = max(deadline, self.now)
            if best is None or deadline < best[0]:
                best = (deadline, None, attachment)
        return best

    def _has_event(self, until: float | None) -> bool:
        event = self._next_event()
        return event is not None and (until is None or event[0] <= until)
