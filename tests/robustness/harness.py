"""What the robustness tests share: agents on the in-memory network, a raw probe that sends
bytes and records what comes back, the corpus of valid messages (taken from real flows), the
mutations Hypothesis draws, the oracle of what an answer must be, and the check that an agent
still serves a newcomer after the garbage.

The oracle is the parser itself: bytes that do not parse must be answered with the status the
:class:`~fsync_model.sip.errors.SipParseError` carries and its reason phrase when RFC 3261
8.2.6.2 allows an answer (a request whose Via, From, To, Call-ID and CSeq are readable), and
otherwise be dropped *and counted* in ``ua.stats``; a request that parses must get a final
response or be a counted drop; responses and ACKs are never answered.
"""
from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change
from fsync_model.profile import Profile, load_all
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.sip.useragent import UaStats, salvage_error_response
from fsync_model.testing.flows import flows_of, run_flow
from fsync_model.transport.address import Address
from fsync_model.transport.memory import MemoryNetwork

PROFILES = load_all()
SERVER_AT = Address("udp", "127.0.0.1", 5060)
PHONE_AT = Address("udp", "127.0.0.1", 5061)
PROBE_AT = Address("udp", "127.0.0.1", 6000)
#: virtual seconds that outlast every RFC 3261 timer (64*T1 = 32 s)
SETTLE = 40.0

# ---------------------------------------------------------------------------- the probe


@dataclass
class Probe:
    """A raw sans-IO endpoint: sends the bytes it is given, records what arrives."""

    received: list[bytes] = field(default_factory=list)
    outbox: list[tuple[bytes, Address]] = field(default_factory=list)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        self.received.append(data)

    def handle_timer(self, now: float) -> None:
        return None

    def get_timer(self) -> float | None:
        return None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.outbox = self.outbox, []
        return out

    def responses(self) -> list[Response]:
        """What came back that is a response (the agents may also send requests)."""
        out = []
        for data in self.received:
            try:
                message = parse_message(data)
            except SipParseError:
                continue
            if isinstance(message, Response):
                out.append(message)
        return out


def responses_from(net: MemoryNetwork, agent: Address, since: int = 0) -> list[Response]:
    """Every response ``agent`` put on the wire after log entry ``since``, wherever it went
    (over UDP a response follows the Via, which a damaged Via may point elsewhere)."""
    out = []
    for entry in net.log[since:]:
        if entry.src != agent or entry.fate == "duplicate":
            continue
        try:
            message = parse_message(entry.data)
        except SipParseError:
            continue
        if isinstance(message, Response):
            out.append(message)
    return out


# ---------------------------------------------------------------------------- agents
# Seeds differ from run_flow's (1, 2), which made the corpus: a corpus message must not hit
# a live transaction by its branch (it would be a retransmission, answered to its first source).


def server_on(net: MemoryNetwork, profile: Profile, *, seed: int = 11,
              at: Address = SERVER_AT) -> ReferenceServer:
    server = ReferenceServer(profile, rng=random.Random(seed), log_messages=False,
                             keep_messages=False)
    net.attach(server, at)
    return server


def phone_on(net: MemoryNetwork, profile: Profile, *, user: str = "1001", seed: int = 12,
             server: Address = SERVER_AT, at: Address | None = None,
             start: bool = True) -> ReferencePhone:
    phone = ReferencePhone(profile, user=user, server=server, rng=random.Random(seed),
                           sync=True, log_messages=False)
    net.attach(phone, at or Address("udp", "127.0.0.1", 0))
    if start:
        net.run_in_cycle(phone, lambda: phone.start(net.now))
        net.run(until=net.now + 5)
    return phone


def subscribed(phone: ReferencePhone) -> bool:
    return (phone.registered and phone.subscription is not None
            and phone.subscription.state == "Active")


def newcomer_syncs(net: MemoryNetwork, server: ReferenceServer, profile: Profile,
                   user: str = "7001", seed: int = 70) -> None:
    """The agent keeps serving others: a fresh phone registers, subscribes, its change
    reaches the server and the server's change reaches it."""
    phone = phone_on(net, profile, user=user, seed=seed)
    assert phone.registered, "a fresh phone could not register after the garbage"
    if profile.afe is not None:
        assert subscribed(phone), "a fresh phone could not subscribe after the garbage"
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + SETTLE)
    assert server.state(user).dnd, "the fresh phone's change did not reach the server"
    assert phone.state.dnd
    if profile.afe is not None:
        net.run_in_cycle(server, lambda: server.admin_change(user, Change("cfa", True, "2000"),
                                                             net.now))
        net.run(until=net.now + SETTLE)
        assert phone.state.cfa.on and phone.state.cfa.target == "2000", \
            "the server's change did not reach the fresh phone"


# ---------------------------------------------------------------------------- the corpus


@functools.cache
def corpus(vendor: str) -> tuple[Messages, Messages]:
    """Valid messages of every flow of ``vendor``: (phone -> server, server -> phone)."""
    to_server: list[bytes] = []
    to_phone: list[bytes] = []
    for spec in flows_of(PROFILES[vendor]):
        run = run_flow(spec)
        for record in run.setup_messages + run.messages:
            (to_server if record.direction == "out" else to_phone).append(record.data)
    return (Messages(tuple(dict.fromkeys(to_server)), f"{vendor} phone->server messages"),
            Messages(tuple(dict.fromkeys(to_phone)), f"{vendor} server->phone messages"))


# ---------------------------------------------------------------------------- mutations

_JUNK_VALUES = [b"", b"0", b"-1", b"4294967296", b"99999999999999999999", b"<>", b"<sip:>",
                b"sip:", b";;", b"terminated", b"active, 3600", b"active;expires=x",
                b"application/foo", b"multipart/mixed;boundary=", b"presence", b"\x00",
                b"\xff\xfe", b"\xc3\x28", b"\"unterminated", b"a" * 300]
_BAD_BYTES = [b"\x00", b"\xff", b"\xc3\x28", b"\xe2\x82", b"\r", b"\n", b"\r\n", b"\r\n ",
              b"\t", b";", b",", b"<", b">", b'"', b"%", b"%zz", b":"]


def _lines(data: bytes) -> list[bytes]:
    return data.partition(b"\r\n\r\n")[0].split(b"\r\n")


def _with_head(data: bytes, lines: list[bytes]) -> bytes:
    _, sep, body = data.partition(b"\r\n\r\n")
    return b"\r\n".join(lines) + (sep or b"\r\n\r\n") + body


@st.composite
def mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """One mutation of ``data``: the kinds of damage a broken phone or server does."""
    if len(data) < 2:
        return data + b"\r\n"
    kind = draw(st.sampled_from(["flip", "truncate", "duplicate", "huge", "length", "insert",
                                 "delete", "value", "version", "body"]))
    lines = _lines(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "truncate":
        return data[:draw(st.integers(1, len(data) - 1))]
    if kind == "duplicate" and len(lines) > 1:
        line = lines[draw(st.integers(1, len(lines) - 1))]
        if draw(st.booleans()) and b":" in line:  # same header, another value
            line = line.split(b":", 1)[0] + b": " + draw(st.sampled_from(_JUNK_VALUES))
        lines.insert(draw(st.integers(1, len(lines))), line)
        return _with_head(data, lines)
    if kind == "huge":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] += draw(st.sampled_from([b"x", b"9", b";p=v", b" "])) * draw(
            st.sampled_from([200, 5_000, 70_000]))
        return _with_head(data, lines)
    if kind == "length":
        wrong = draw(st.sampled_from([b"0", b"1", b"-5", b"99999", b"abc", b"1 2", b""]))
        return re.sub(rb"(?im)^(Content-Length|l)[ \t]*:[^\r\n]*",
                      lambda m: m.group(1) + b": " + wrong, data, count=1)
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from(_BAD_BYTES)) + data[at:]
    if kind == "delete" and len(lines) > 1:
        del lines[draw(st.integers(1, len(lines) - 1))]
        return _with_head(data, lines)
    if kind == "value" and len(lines) > 1:
        i = draw(st.integers(1, len(lines) - 1))
        name = lines[i].split(b":", 1)[0]
        value = draw(st.one_of(st.sampled_from(_JUNK_VALUES), st.binary(max_size=40)))
        lines[i] = name + b": " + value
        return _with_head(data, lines)
    if kind == "version":
        return data.replace(b"SIP/2.0", draw(st.sampled_from(
            [b"SIP/3.0", b"SIP/2.1", b"sip/2.0", b"SIP/2.0 ", b"SIP/20", b"HTTP/1.1"])), 1)
    head, sep, body = data.partition(b"\r\n\r\n")
    new_body = draw(st.sampled_from([
        body[: len(body) // 2], body.replace(b"true", b"True"), body.replace(b"xmlns", b"xmlnz"),
        b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", b"\xff\xfe<\x00a",
        b"<a>" * 2000, body + body]))
    return head + sep + new_body


class Messages(tuple[bytes, ...]):
    """A corpus with a short repr (Hypothesis prints the strategies of a failing test)."""

    name = "messages"

    def __new__(cls, messages: tuple[bytes, ...] | list[bytes], name: str) -> Messages:
        self = super().__new__(cls, messages)
        self.name = name
        return self

    def __repr__(self) -> str:
        return f"<{len(self)} {self.name}>"


@st.composite
def garbage(draw: st.DrawFn, messages: Messages) -> bytes:
    """A valid message of ``messages`` damaged by one to three mutations."""
    data = draw(st.sampled_from(range(len(messages))).map(messages.__getitem__))
    for _ in range(draw(st.integers(1, 3))):
        data = draw(mutation(data))
    return data


# ---------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class Expected:
    """What one message sent to an agent must produce."""

    #: the exact status (and reason) when the parser refuses it and it can be answered
    status: int | None = None
    reason: str | None = None
    #: a final response of any status (a request that parses)
    any_final: bool = False
    #: nothing (a response, an ACK, or bytes too broken to answer)
    nothing: bool = False
    #: ... and counted in ``ua.stats`` as a malformed message dropped unanswered
    counted: bool = False


def expected_for(data: bytes, *, stream: bool = False) -> Expected:
    try:
        message = parse_message(data, stream=stream)
    except SipParseError as error:
        if salvage_error_response(data, error, "t") is None:
            return Expected(nothing=True, counted=True)
        return Expected(status=error.status, reason=error.reason)
    if isinstance(message, Request) and message.method != "ACK":
        return Expected(any_final=True)
    return Expected(nothing=True)


def check_answer(data: bytes, expected: Expected, answers: list[Response],
                 stats_before: UaStats, stats: UaStats) -> None:
    """Assert that ``answers`` (responses to ``data``) are what RFC 3261 wants."""
    finals = [r for r in answers if r.status >= 200]
    dropped = (stats.malformed - stats.malformed_answered) - (
        stats_before.malformed - stats_before.malformed_answered)
    for response in finals:
        if response.status == 400:
            assert response.reason and response.reason != "Bad Request", \
                f"400 without a reason naming the problem for {data[:200]!r}"
    if expected.status is not None:
        assert [r.status for r in finals][:1] == [expected.status], (
            f"expected {expected.status} {expected.reason} for {data[:300]!r}, got "
            f"{[r.start_line for r in finals]}")
        assert finals[0].reason == expected.reason
    elif expected.any_final:
        assert finals or dropped == 1, (
            f"a request that parses got no final response and was not counted as dropped: "
            f"{data[:300]!r}")
    else:
        assert not finals, f"answered {finals[0].start_line!r} to {data[:300]!r}"
        if expected.counted:
            assert dropped == 1, f"a silent drop not counted in ua.stats: {data[:300]!r}"


def stats_copy(stats: UaStats) -> UaStats:
    return UaStats(**{name: getattr(stats, name) for name in UaStats.__dataclass_fields__})


def rewrite_dialog(data: bytes, call_id: str, local_tag: str, remote_tag: str) -> bytes:
    """Point a server-to-phone request at the phone's live dialog (Call-ID, tags)."""
    data = re.sub(rb"(?m)^Call-ID: [^\r\n]*", b"Call-ID: " + call_id.encode(), data, count=1)
    data = re.sub(rb"(?m)^(To: [^\r\n]*;tag=)[^\r\n;]*", rb"\g<1>" + local_tag.encode(), data,
                  count=1)
    return re.sub(rb"(?m)^(From: [^\r\n]*;tag=)[^\r\n;]*", rb"\g<1>" + remote_tag.encode(), data,
                  count=1)


Build = Callable[[], bytes]
