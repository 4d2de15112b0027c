"""The test bench: the reference phone and server on one in-memory network, with a tamper
layer in front of each agent, and the few calls every fsync test makes.

`Bench` is what the Hypothesis machines, the replay files and the generated suites drive:
``act`` (a call on an agent inside the network's cycle), ``advance`` (virtual time),
``settle`` (heal the network and let every timer run), ``check`` (the oracles). A `Tamper`
sits between the network and one agent and does what a faulty peer or a lossy path would
do to chosen messages, matched by method: answer a request instead of the agent
(`Answer`), send a provisional first (`Provisional`), drop messages for a while
(`Swallow`), hold one back until others have passed (`HoldBack`), or damage a body
(`Mangle`). Random loss, duplication, reordering and delay stay with
:class:`~fsync_model.transport.memory.MemoryNetwork`.

Every rule and every bench call is plain data or a plain call, so a shrunk failure can be
written out as a readable pytest file (``replay.py``) and a generated test stays a few lines.
"""
from __future__ import annotations

import dataclasses
import functools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fsync_model.agents.control import RefusedCommand
from fsync_model.agents.events import Problem
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.model import MachineKey, Step
from fsync_model.profile import PolicyMode, Profile, Setting, load_all
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Message, Request, Response, parse_message
from fsync_model.testing import oracles
from fsync_model.transport.address import Address
from fsync_model.transport.memory import ARRIVED, MemoryNetwork

#: the line's user on every bench (as in ``testing.flows``)
USER = "1001"
#: virtual seconds the network runs after each act: every exchange on an undisturbed
#: network completes at once (no link delay), so this only matters with delay faults
GAP = 0.2
#: beyond every RFC 3261 timer (64*T1 = 32 s), the confirm timeout and the retry delays
SETTLE_MARGIN = 100.0

Side = Literal["phone", "server"]


# ============================================================================ matching


@dataclass(frozen=True)
class Match:
    """Which messages a tamper rule applies to.

    ``method`` names a request method; with ``response`` set (``"1xx"``, ``"2xx"``, ...,
    or ``"final"``) the rule applies to responses to that method instead. ``body`` keeps
    only requests with (True) or without (False) a body: a SUBSCRIBE with a body is a set
    request. ``expires_zero`` keeps only requests with (True) or without (False)
    ``Expires: 0``: an unsubscribe or a de-registration.
    """

    method: str
    response: str | None = None
    body: bool | None = None
    expires_zero: bool | None = None

    def matches(self, msg: Message) -> bool:
        try:
            if isinstance(msg, Request):
                if self.response is not None or msg.method != self.method:
                    return False
                if self.body is not None and bool(msg.body) != self.body:
                    return False
                return self.expires_zero is None or (msg.expires == 0) == self.expires_zero
            if self.response is None or msg.method != self.method:
                return False
            if self.response == "final":
                return not msg.is_provisional
            return self.response == f"{msg.status // 100}xx"
        except SipParseError:
            return False

    def describe(self) -> str:
        what = self.method
        if self.body is not None:
            what += " with a body" if self.body else " without a body"
        if self.expires_zero is not None:
            what += " with Expires: 0" if self.expires_zero else ""
        if self.response is not None:
            return f"{self.response} answer to {what}"
        return what


def _transaction(msg: Message) -> tuple[str, str]:
    """The transaction a message belongs to: top Via branch and CSeq method."""
    try:
        return (msg.branch or "", msg.cseq.method)
    except SipParseError:
        return ("", "")


# ============================================================================ rules


@dataclass(frozen=True)
class Answer:
    """Answer requests matching ``match`` with ``status`` instead of the agent (which never
    sees them): a registrar that is down, a server without the package (489), a phone
    that refuses a NOTIFY. The first ``skip`` matching transactions pass; the next
    ``count`` are answered; retransmissions of an answered one get the same answer."""

    match: Match
    status: int
    skip: int = 0
    count: int = 1

    def describe(self) -> str:
        skip = f" (after {self.skip} pass)" if self.skip else ""
        many = f" {self.count} times" if self.count != 1 else ""
        return f"{self.match.describe()} answered {self.status}{many}{skip}"


@dataclass(frozen=True)
class Provisional:
    """Send ``status`` (a 1xx) ``repeat`` times for requests matching ``match``, then pass
    them on: a proxy or PBX that rings before it answers. The first ``skip`` matching
    transactions pass untouched, the next ``count`` ring."""

    match: Match
    status: int = 180
    skip: int = 0
    count: int = 1
    repeat: int = 1

    def describe(self) -> str:
        skip = f" (after {self.skip} pass)" if self.skip else ""
        times = f" {self.repeat} times" if self.repeat != 1 else ""
        return f"{self.status}{times} before the answer to {self.match.describe()}{skip}"


@dataclass(frozen=True)
class Swallow:
    """Drop messages matching ``match`` (retransmissions included) for ``seconds`` from
    the first one dropped; the first ``skip`` matching transactions pass."""

    match: Match
    seconds: float = 40.0
    skip: int = 0

    def describe(self) -> str:
        skip = f" (after {self.skip} pass)" if self.skip else ""
        return f"{self.match.describe()} lost for {self.seconds:g} s{skip}"


@dataclass(frozen=True)
class HoldBack:
    """Hold the first message matching ``match`` (dropping its copies) until ``after``
    messages matching ``until`` have reached the agent, then deliver it: a NOTIFY that
    overtakes the 2xx it follows (RFC 6665 4.1.2.4)."""

    match: Match
    until: Match
    after: int = 1
    skip: int = 0

    def describe(self) -> str:
        return (f"{self.match.describe()} held back until {self.after} "
                f"{self.until.describe()} passed")


#: what `Mangle` can do to a body (a known defect of protocol section 1 each)
DEFECTS: dict[str, str] = {
    "no-namespace": "the xmlns attribute removed (protocol 1: a missing namespace)",
    "bool-literal": "true/false written True/False (strict servers reject them)",
    "bad-forwarding-type": "forwardingType forwardAlways (not one of the three)",
    "ring-count-range": "ringCount 99, outside every profile's range",
    "garbage": "not XML at all",
}


@dataclass(frozen=True)
class Mangle:
    """Damage the body of the next ``count`` messages matching ``match`` with ``defect``
    (a key of `DEFECTS`) before the agent reads them."""

    match: Match
    defect: str
    count: int = 1

    def __post_init__(self) -> None:
        if self.defect not in DEFECTS:
            raise ValueError(f"unknown defect {self.defect!r}; one of {', '.join(DEFECTS)}")

    def describe(self) -> str:
        return f"{self.match.describe()} body damaged: {DEFECTS[self.defect]}"


TamperRule = Answer | Provisional | Swallow | HoldBack | Mangle


def mangle_body(body: bytes, defect: str) -> bytes:
    """``body`` with ``defect`` applied (unchanged when it has nothing to damage)."""
    if defect == "no-namespace":
        return re.sub(rb'\s+xmlns="[^"]*"', b"", body)
    if defect == "bool-literal":
        return body.replace(b">true<", b">True<").replace(b">false<", b">False<")
    if defect == "bad-forwarding-type":
        return re.sub(rb">forward(Immediate|Busy|NoAns)<", b">forwardAlways<", body)
    if defect == "ring-count-range":
        changed = re.sub(rb"<ringCount>[^<]*</ringCount>", b"<ringCount>99</ringCount>", body)
        if changed == body:
            changed = body.replace(b"</forwardTo>", b"</forwardTo><ringCount>99</ringCount>")
        return changed
    return b"<<< not xml >>>"


_REASONS = {180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            407: "Proxy Authentication Required", 415: "Unsupported Media Type",
            480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
            486: "Busy Here", 488: "Not Acceptable Here", 489: "Bad Event",
            500: "Server Internal Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class TamperEvent:
    """What a tamper did to one message: ``answered``, ``provisional``, ``swallowed``,
    ``held``, ``released`` or ``mangled``; ``data`` is the message as it arrived."""

    time: float
    side: Side
    action: str
    rule: str
    data: bytes


@dataclass
class _Armed:
    rule: TamperRule
    seen: set[tuple[str, str]] = field(default_factory=set)
    passed: set[tuple[str, str]] = field(default_factory=set)
    handled: dict[tuple[str, str], bytes] = field(default_factory=dict)
    window_end: float | None = None
    held: tuple[bytes, Address] | None = None
    released: bool = False
    until_count: int = 0


class _Applies(Protocol):
    def apply(self, bench: Bench) -> None: ...


class _Agent(Protocol):
    """What a tamper needs of the agent behind it (both reference agents fit)."""

    def bind(self, local: list[Address]) -> None: ...
    def receive_datagram(self, data: bytes, src: Address, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...


class Tamper:
    """A sans-IO endpoint wrapping one agent: rules first, then the agent (see the module
    docstring). With no rule armed it is transparent."""

    def __init__(self, agent: _Agent, side: Side, *, seed: int = 0,
                 realm: str = "fsync", contact_user: str = "tamper",
                 on_send: Callable[[float, Address, Address, bytes], None] | None = None
                 ) -> None:
        self.agent = agent
        self.on_send = on_send
        self.side = side
        self.rules: list[_Armed] = []
        self.events: list[TamperEvent] = []
        self.local: Address | None = None
        self._outbox: list[tuple[bytes, Address]] = []
        #: request transactions the agent has received: rules leave their copies alone, as
        #: a faulty peer still answers one transaction one way
        self._delivered: set[tuple[str, str]] = set()
        #: requests answered in the agent's place: copies get the same answer, disarmed or not
        self._answered: dict[tuple[str, str], bytes] = {}
        self._rng = random.Random(seed)
        self._realm = realm
        self._contact_user = contact_user

    # -- rules ------------------------------------------------------------------------

    def arm(self, rule: TamperRule) -> None:
        self.rules.append(_Armed(rule))

    def disarm(self, now: float) -> None:
        """Drop every rule; a message still held back is delivered now."""
        rules, self.rules = self.rules, []
        for armed in rules:
            if armed.held is not None and not armed.released:
                armed.released = True
                data, src = armed.held
                self._log(now, "released", armed.rule, data)
                self.agent.receive_datagram(data, src, now)

    # -- the Endpoint contract --------------------------------------------------------

    def bind(self, local: list[Address]) -> None:
        self.local = local[0] if local else None
        self.agent.bind(local)

    def handle_timer(self, now: float) -> None:
        self.agent.handle_timer(now)

    def get_timer(self) -> float | None:
        return self.agent.get_timer()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._outbox = self._outbox, []
        out += self.agent.datagrams_to_send(now)
        if self.on_send is not None and self.local is not None:
            for data, dst in out:
                self.on_send(now, self.local, dst, data)
        return out

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        try:
            msg: Message | None = parse_message(data)
        except SipParseError:
            msg = None
        if isinstance(msg, Request) and _transaction(msg) in self._answered:
            self._outbox.append((self._answered[_transaction(msg)], src))
            return
        arrived = data
        if msg is not None and not (isinstance(msg, Request)
                                    and _transaction(msg) in self._delivered):
            for armed in list(self.rules):
                result = self._apply(armed, msg, data, src, now, arrived)
                if result is None:
                    return
                if result is not data:
                    data = result
                    msg = parse_message(data)
        if isinstance(msg, Request):
            self._delivered.add(_transaction(msg))
        self.agent.receive_datagram(data, src, now)
        if msg is not None:
            self._count_until(msg, now)

    # -- internals --------------------------------------------------------------------

    def _log(self, now: float, action: str, rule: TamperRule, data: bytes) -> None:
        self.events.append(TamperEvent(now, self.side, action, rule.describe(), data))

    def _new(self, armed: _Armed, key: tuple[str, str], skip: int) -> bool | None:
        """For a matching message of transaction ``key``: True to act on it, False to let
        it pass (skipped), None when it is a copy of one already acted on."""
        if key in armed.handled:
            return None
        if key in armed.passed:
            return False
        if len(armed.passed) < skip:
            armed.passed.add(key)
            return False
        return True

    def _apply(self, armed: _Armed, msg: Message, data: bytes, src: Address,
               now: float, arrived: bytes) -> bytes | None:
        """The data to pass on (``data`` itself when untouched), or None when consumed.
        ``arrived`` is the datagram as the network delivered it (before an earlier rule
        mangled it): events name what arrived, so the oracles can tell it was dropped."""
        rule = armed.rule
        if not rule.match.matches(msg):
            return data
        key = _transaction(msg)
        if isinstance(rule, Answer | Provisional):
            if not isinstance(msg, Request):
                return data
            fresh = self._new(armed, key, rule.skip)
            if fresh is None:
                if isinstance(rule, Answer):
                    self._outbox.append((armed.handled[key], src))
                    return None
                return data
            if not fresh or len(armed.handled) >= rule.count:
                return data
            if isinstance(rule, Answer):
                reply = self._forge(msg, rule.status).serialize()
                armed.handled[key] = reply
                self._answered[key] = reply
                self._outbox.append((reply, src))
                self._log(now, "answered", rule, arrived)
                return None
            reply = self._forge(msg, rule.status).serialize()
            armed.handled[key] = reply
            self._outbox.extend([(reply, src)] * rule.repeat)
            self._log(now, "provisional", rule, data)
            return data
        if isinstance(rule, Swallow):
            if armed.window_end is not None:
                if now <= armed.window_end:
                    self._log(now, "swallowed", rule, arrived)
                    return None
                return data
            fresh = self._new(armed, key, rule.skip)
            if not fresh:
                return data
            armed.window_end = now + rule.seconds
            armed.handled[key] = b""
            self._log(now, "swallowed", rule, arrived)
            return None
        if isinstance(rule, HoldBack):
            if armed.released:
                return data
            if armed.held is not None:
                self._log(now, "swallowed", rule, arrived)
                return None
            fresh = self._new(armed, key, rule.skip)
            if not fresh:
                return data
            armed.held = (data, src)
            armed.handled[key] = b""
            self._log(now, "held", rule, arrived)
            return None
        # Mangle
        if key in armed.handled:
            return armed.handled[key]
        if len(armed.handled) >= rule.count:
            return data
        mangled = _with_body(msg, mangle_body(msg.body, rule.defect))
        armed.handled[key] = mangled
        self._log(now, "mangled", rule, data)
        return mangled

    def _count_until(self, msg: Message, now: float) -> None:
        for armed in self.rules:
            rule = armed.rule
            if (not isinstance(rule, HoldBack) or armed.held is None or armed.released
                    or not rule.until.matches(msg)):
                continue
            armed.until_count += 1
            if armed.until_count >= rule.after:
                armed.released = True
                data, src = armed.held
                self._log(now, "released", rule, data)
                self.agent.receive_datagram(data, src, now)

    def _forge(self, request: Request, status: int) -> Response:
        """A correct response to ``request`` (the strict checker finds nothing in it)."""
        headers: list[tuple[str, str]] = []
        host = self.local.host if self.local is not None else "127.0.0.1"
        port = self.local.port if self.local is not None else 5060
        contact = f"<sip:{self._contact_user}@{host}:{port}>"
        if status in (401, 407):
            name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            # to credentials: the same nonce again, i.e. "these credentials are wrong"
            # (a fresh nonce would mean "stale, try again", and a UA does)
            sent = re.search(r'nonce="([^"]*)"', request.headers.get(
                "Authorization" if status == 401 else "Proxy-Authorization") or "")
            nonce = sent.group(1) if sent else f"{self._rng.getrandbits(64):016x}"
            headers.append((name, f'Digest realm="{self._realm}", nonce="{nonce}", '
                                  'algorithm=MD5, qop="auth"'))
        elif status == 489:
            headers.append(("Allow-Events", request.event.value if request.event else
                            "as-feature-event"))
        elif 200 <= status < 300:
            expires = request.expires
            if request.method in ("REGISTER", "SUBSCRIBE"):
                value = str(expires if expires is not None else 3600)
                headers.append(("Expires", value))
                if request.method == "REGISTER" and request.contacts:
                    headers.append(("Contact", f"{request.headers.get('contact')};"
                                               f"expires={value}"))
            if request.method in ("SUBSCRIBE", "INVITE", "NOTIFY", "INFO"):
                headers.append(("Contact", contact))
        elif 100 < status < 200 and request.method == "INVITE":
            headers.append(("Contact", contact))
        tag = None if status == 100 else f"t{self._rng.getrandbits(32):08x}"
        return request.response(status, _REASONS.get(status), to_tag=tag, headers=headers)


def _with_body(msg: Message, body: bytes) -> bytes:
    headers = msg.headers.replaced("Content-Length", str(len(body)))
    if isinstance(msg, Request):
        return msg.replace(headers=headers, body=body).serialize()
    assert isinstance(msg, Response)
    return msg.replace(headers=headers, body=body).serialize()


# ============================================================================ the target


class Target(Protocol):
    """What a generated test calls: the reference agents (`Bench`) by default; a device
    adapter with ``--fsync-dut`` (``dut.target.DeviceTarget``). Stimuli first, then
    checks."""

    def start(self) -> None: ...
    def user_change(self, change: Change) -> None: ...
    def admin_change(self, change: Change) -> None: ...
    def set_sync(self, on: bool) -> None: ...
    def unregister(self) -> None: ...
    def register(self) -> None: ...
    def set_policy(self, policy: str, status: int | None = None) -> None: ...
    def arm(self, side: Side, rule: TamperRule) -> None: ...
    def network(self, fault: _Applies) -> None: ...
    def advance(self, seconds: float) -> None: ...
    def heal(self) -> None: ...
    def settle(self) -> None: ...
    def check(self, *, final: bool = False) -> None: ...
    def expect_flow(self, key: str, end: str, *, path: Sequence[str] | None = None,
                    sides: Sequence[Side] = ("phone", "server")) -> None: ...
    def expect_reached(self, key: str, source: str, input: str) -> None: ...
    def expect_state(self, side: Side, expected: Change) -> None: ...
    def expect_problem(self, rule: str) -> None: ...


# ============================================================================ the bench


@functools.lru_cache(maxsize=1)
def profiles() -> dict[str, Profile]:
    """Every profile of the spec folder, loaded once per process."""
    return load_all()


def _profile(profile: Profile | str) -> Profile:
    return profiles()[profile] if isinstance(profile, str) else profile


def with_subscribe_expires(profile: Profile, expires: int) -> Profile:
    """``profile`` whose phone asks for ``expires`` seconds per subscription (a short
    expiry makes refreshes and expiry happen within a test)."""
    if profile.afe is None:
        return profile
    afe = profile.afe
    subscribe = dataclasses.replace(afe.subscribe,
                                    expires=Setting(expires, note="short expiry for tests"))
    return dataclasses.replace(profile, afe=dataclasses.replace(afe, subscribe=subscribe))


class Bench:
    """The reference phone (user 1001) and server of one profile on a seeded in-memory
    network, each behind a `Tamper`; ``check`` runs the oracles of ``oracles.py``.

    ``server_class`` / ``phone_class`` put another agent (a deliberately broken subclass,
    say) in a role. ``subscribe_expires`` shortens the phone's subscriptions. Deterministic
    for a seed.
    """

    def __init__(
        self,
        profile: Profile | str,
        *,
        seed: int = 1,
        sync: bool = True,
        subscribe_expires: int | None = None,
        policy: str | None = None,
        server_class: type[ReferenceServer] = ReferenceServer,
        phone_class: type[ReferencePhone] = ReferencePhone,
        gap: float = GAP,
        known: Sequence[oracles.KnownIssue] = oracles.REFERENCE_AGENT_ISSUES,
        known_states: Sequence[str] = tuple(oracles.KNOWN_STATE_ISSUES),
    ) -> None:
        self.profile = _profile(profile)
        #: defects of the reference agents reported as known rather than failing
        self.known = tuple(known)
        self.known_states = tuple(known_states)
        self.seed = seed
        self.gap = gap
        self.subscribe_expires = subscribe_expires
        self.net = MemoryNetwork(seed=seed)
        self.server = server_class(self.profile, rng=random.Random(seed), policy=policy,
                                   local=Address("udp", "127.0.0.1", 5060),
                                   log_messages=False)
        realm = self.profile.registration.realm
        #: every datagram in the order it was sent (the network's log is in arrival order)
        self.sent: list[tuple[float, Address, Address, bytes]] = []
        self.server_tamper = Tamper(self.server, "server", seed=seed + 2,
                                    realm=realm.value if realm else "fsync",
                                    contact_user="server", on_send=self._sent)
        self.server_at = self.net.attach(self.server_tamper, self.server.ua.local)
        phone_profile = (with_subscribe_expires(self.profile, subscribe_expires)
                         if subscribe_expires else self.profile)
        self.phone = phone_class(phone_profile, user=USER, server=self.server_at,
                                 rng=random.Random(seed + 1), sync=sync, log_messages=False)
        self.phone_tamper = Tamper(self.phone, "phone", seed=seed + 3, contact_user=USER,
                                   on_send=self._sent)
        self.phone_at = self.net.attach(self.phone_tamper, Address("udp", "127.0.0.1", 0))
        self.oracle = oracles.WireOracle(self.profile, phone=[str(self.phone_at)],
                                         server=[str(self.server_at)])
        self.ledger = oracles.Ledger(self.profile)
        self._listen()
        #: when the first fault of each kind was applied (``network``, ``tamper``,
        #: ``mangle-phone``, ``mangle-server``): problems after it may be its doing
        self.faults: dict[str, float] = {}
        self._fed = 0
        #: (position in ``sent``, line synced?) each time the phone's line changed
        self._line_events: list[tuple[int, bool]] = [(0, self.phone.sync_active)]
        self._line_cursor = 0
        #: (position in the network log, side or None, text): what the test did, for ladders
        self.marks: list[tuple[int, Side | None, str]] = []
        #: (time, change, message): administrators' changes the server refused
        self.refused: list[tuple[float, Change, str]] = []

    def _sent(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        self.sent.append((now, src, dst, data))

    def _listen(self) -> None:
        """Note every user change, admin change and policy in the ledger, however the
        agents are called (a replay calls them directly)."""
        phone, server, ledger = self.phone, self.server, self.ledger
        user_change, admin_change, set_policy = (phone.user_change, server.admin_change,
                                                 server.set_policy)
        set_sync, unregister = phone.set_sync, phone.unregister

        def dropping(call: Callable[[], None]) -> None:
            """``call()``, then note the changes the phone gave up meanwhile."""
            seen = len(phone.dropped)
            call()
            for change in phone.dropped[seen:]:
                ledger.drop(change)

        def sync(on: bool, now: float) -> None:
            dropping(lambda: set_sync(on, now))

        def offline(now: float) -> None:
            dropping(lambda: unregister(now))

        def user(change: Change, now: float) -> None:
            # offline (unregistered), a change is the phone's alone, as with sync off
            ledger.user(change, active=phone.sync_active and phone.online, time=now)
            afe = self.profile.afe
            if afe is not None and change.rings is not None and change.rings not in (
                    afe.ring_count):
                # the user typed a ring count the server must refuse: its finding is the
                # expected detection, not a failure
                self.faults.setdefault("range-server", now)
            if afe is None and change.rings is not None and change.rings < 1:
                self.faults.setdefault("range-phone", now)
            dropping(lambda: user_change(change, now))

        def admin(user: str, change: Change, now: float) -> None:
            try:
                admin_change(user, change, now)
            except RefusedCommand as refusal:
                # the portal refused it (a ring count out of range): nothing happened
                self.refused.append((now, change, str(refusal)))
                return
            if user == USER:
                ledger.admin(change, time=now)

        def policy(user: str | None, policy: str, status: int | None = None) -> None:
            if user in (None, USER):
                ledger.policy(PolicyMode(policy), time=self.net.now)
            set_policy(user, policy, status)

        phone.user_change = user  # type: ignore[method-assign]
        phone.set_sync = sync  # type: ignore[method-assign]
        phone.unregister = offline  # type: ignore[method-assign]
        server.admin_change = admin  # type: ignore[method-assign]
        server.set_policy = policy  # type: ignore[method-assign]

    # -- driving ----------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.net.now

    def agent(self, side: Side) -> ReferencePhone | ReferenceServer:
        return self.phone if side == "phone" else self.server

    def tamper(self, side: Side) -> Tamper:
        return self.phone_tamper if side == "phone" else self.server_tamper

    def start(self) -> None:
        """The phone starts: applies its line setting, registers, subscribes."""
        self.act(self.phone, self.phone.start)

    def act(self, agent: ReferencePhone | ReferenceServer, call: Callable[[float], None]) -> None:
        """``call(now)`` on ``agent`` inside the network's cycle (what it sends goes on the
        wire at once), then let the network run for the gap."""
        tamper = self.phone_tamper if agent is self.phone else self.server_tamper
        mark = len(self.sent)
        self.net.run_in_cycle(tamper, lambda: call(self.net.now))
        if self.phone.sync_active != self._line_events[-1][1]:
            self._line_events.append((mark, self.phone.sync_active))
        self.run(self.gap)

    def run(self, seconds: float | None = None) -> None:
        """Let the network run ``seconds`` of virtual time (default: the gap)."""
        self.net.run(until=self.net.now + (self.gap if seconds is None else seconds))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (timers fire: refreshes, retries)."""
        self.run(seconds)

    def user_change(self, change: Change) -> None:
        """The user changes a feature at the phone."""
        self.act(self.phone, lambda now: self.phone.user_change(change, now))

    def admin_change(self, change: Change) -> None:
        """An administrator changes a feature of user 1001 on the server."""
        self.act(self.server, lambda now: self.server.admin_change(USER, change, now))

    def set_sync(self, on: bool) -> None:
        self.act(self.phone, lambda now: self.phone.set_sync(on, now))

    def unregister(self) -> None:
        """The phone's line goes offline: it unsubscribes and removes its binding."""
        self.act(self.phone, self.phone.unregister)

    def register(self) -> None:
        """The phone's line comes back online after `unregister`: it registers again."""
        self.act(self.phone, self.phone.register)

    def set_policy(self, policy: str, status: int | None = None) -> None:
        """The server's policy for every user: accept, reject or error (``status``)."""
        self.server.set_policy(None, policy, status)

    def mark(self, side: Side | None, text: str) -> None:
        """Note what the test is about to do, for the ladder of the run."""
        self.marks.append((len(self.net.log), side, text))

    def network(self, fault: _Applies) -> None:
        """Apply a network stimulus (``LinkFaults``, ``DropNext``, ``HoldNext``...)."""
        fault.apply(self)

    def arm(self, side: Side, rule: TamperRule) -> None:
        """Arm a tamper rule in front of ``side``."""
        kind = f"mangle-{side}" if isinstance(rule, Mangle) else "tamper"
        self.faults.setdefault(kind, self.now)
        self.tamper(side).arm(rule)

    def network_fault(self) -> None:
        """Note that a network fault (loss, duplication, reordering, delay) was set."""
        self.faults.setdefault("network", self.now)

    def heal(self) -> None:
        """Every fault off: tamper rules disarmed (held messages delivered), links back to
        perfect, ``drop_next`` / ``duplicate_next`` / ``hold_next`` rules not used up yet
        forgotten, datagrams held by ``hold_next`` released."""
        for tamper in (self.phone_tamper, self.server_tamper):
            self.net.run_in_cycle(tamper, lambda t=tamper: t.disarm(self.net.now))  # type: ignore[misc]
        for src, dst in ((self.phone_at, self.server_at), (self.server_at, self.phone_at)):
            self.net.clear_link(src, dst)
        self.net.clear_rules()
        self.net.release()

    def settle(self) -> None:
        """Heal the network and let every exchange and timer run out: long enough for a
        transaction to time out, a retry to happen and, with as-feature-event, for one
        subscription refresh (which resends the full state)."""
        self.heal()
        horizon = SETTLE_MARGIN
        if self.profile.afe is not None:
            expires = self.subscribe_expires or self.profile.afe.subscribe.expires.value
            horizon += expires
        self.run(horizon)

    # -- observing --------------------------------------------------------------------

    @property
    def steps(self) -> list[Step]:
        """Every model step both agents took, phone first."""
        return [*self.phone.steps, *self.server.steps]

    def machine_steps(self, key: MachineKey | str, side: Side) -> list[Step]:
        wanted = MachineKey.parse(key) if isinstance(key, str) else key
        return [s for s in self.agent(side).steps if s.machine == wanted]

    @property
    def problems(self) -> list[tuple[Side, Problem]]:
        return [*(("phone", p) for p in self.phone.problems),
                *(("server", p) for p in self.server.problems)]

    @property
    def known_hits(self) -> list[tuple[str, Problem]]:
        """Known issues of the reference agents this run ran into: (issue id, problem)."""
        hits = []
        for side, problem in self.problems:
            issue = oracles.known_issue(side, problem, self.known)
            if issue is not None:
                hits.append((issue.id, problem))
        return hits

    @property
    def tamper_events(self) -> list[TamperEvent]:
        return sorted(self.phone_tamper.events + self.server_tamper.events,
                      key=lambda e: e.time)

    def _feed(self) -> None:
        """Give the oracle what was sent since the last call, in send order, with the
        line's setting changes in their place."""
        events = self._line_events
        for index in range(self._fed, len(self.sent)):
            time, src, dst, data = self.sent[index]
            while self._line_cursor < len(events) and events[self._line_cursor][0] <= index:
                self.oracle.line(time, events[self._line_cursor][1])
                self._line_cursor += 1
            self.oracle.feed(time, str(src), str(dst), data)
        self._fed = len(self.sent)

    def violations(self, *, final: bool = False) -> list[oracles.Violation]:
        """What the oracles say so far; ``final`` adds the checks that need quiet traffic
        (call it right after :meth:`settle`): every request answered, phone and server
        agree, the subscription is up again."""
        self._feed()
        found = list(self.oracle.violations())
        found += oracles.check_problems(self.problems, self.faults, self.known)
        found += oracles.check_ignored_changes(self.profile, self.phone, self.ledger,
                                               self.known_states)
        if final:
            dropped = {e.data for e in self.tamper_events if e.action in ("swallowed", "held")}
            arrived = {e.data for e in self.net.log if e.fate in ARRIVED}
            found += self.oracle.unanswered(arrived - dropped)
            found += oracles.check_convergence(self.profile, self.phone, self.server, USER,
                                               self.ledger, self.known_states)
        return found

    def check(self, *, final: bool = False) -> None:
        """Raise `OracleFailure` when any oracle is violated (see :meth:`violations`)."""
        found = self.violations(final=final)
        if found:
            raise oracles.OracleFailure(found)

    # -- expectations for the generated suites ----------------------------------------

    def ended(self, key: MachineKey | str, side: Side) -> str | None:
        """The state the last run of machine ``key`` on ``side`` ended in (None: never
        moved)."""
        steps = self.machine_steps(key, side)
        return steps[-1].dest if steps else None

    def reached(self, key: MachineKey | str, source: str, input: str) -> bool:
        """Whether either agent took the row (``source``, ``input``) of machine ``key``."""
        wanted = MachineKey.parse(key) if isinstance(key, str) else key
        return any(s.machine == wanted and s.source == source and s.input.value == input
                   for s in self.steps)

    def expect_flow(self, key: str, end: str, *, path: Sequence[str] | None = None,
                    sides: Sequence[Side] = ("phone", "server")) -> None:
        """Both agents' last run of ``key`` ended in ``end`` (and, given ``path``, took
        exactly those inputs, the peer's unseen local events included)."""
        for side in sides:
            steps = self.machine_steps(key, side)
            assert steps, f"{side}: {key} never moved"
            assert steps[-1].dest == end, (
                f"{side}: {key} ended in {steps[-1].dest}, expected {end}")
            if path is not None:
                start = max(i for i, s in enumerate(steps)
                            if s.source == steps[0].source and s.input.value == path[0])
                taken = [s.input.value for s in steps[start:]]
                assert taken == list(path), f"{side}: {key} took {taken}, expected {path}"

    def expect_reached(self, key: str, source: str, input: str) -> None:
        """The row (``source``, ``input``) of ``key`` was taken by one of the agents."""
        assert self.reached(key, source, input), (
            f"{key}: the row {source} --{input}--> was never taken")

    def expect_state(self, side: Side, expected: Change) -> None:
        """``side``'s confirmed value of the feature ``expected`` changes is what it sets
        (the server's no-answer ring count only where the mechanism carries it)."""
        feature = expected.feature
        state = self.phone.state if side == "phone" else self.server.state(USER)
        wanted = FeatureState().applied(expected)
        rings = side == "phone" or oracles.carries_rings(self.profile, feature)
        if side == "server":
            state = oracles.effective(self.profile, state)
        assert oracles.agree(state, wanted, feature, rings), (
            f"{side}: {feature} is {state.to_json()[feature]}, expected "
            f"{wanted.to_json()[feature]}")

    def expect_known(self, issue: str) -> None:
        """The run ran into the known reference-agent issue ``issue`` (a case that reaches
        a table row only through it says so)."""
        hits = sorted({i for i, _ in self.known_hits})
        assert issue in hits, f"expected known issue {issue}; hit: {hits or 'none'}"

    def expect_problem(self, rule: str) -> None:
        """An agent reported ``rule`` (a negative case must be detected, not just
        survived)."""
        rules = sorted({p.rule for _, p in self.problems})
        assert rule in rules, f"expected problem {rule}; reported: {rules or 'none'}"
