"""The RFC's answer to each kind of bad input, one case at a time, from the reference server
(a broken phone) and the reference phone (a broken server): the status, a reason phrase that
names the problem, the Problem event with the rule id for bodies, nothing left behind, and
the agent still serving afterwards."""
from __future__ import annotations

import itertools
import re

import pytest

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.profile import Action, Feature, uri_user
from fsync_model.sip.message import Response
from fsync_model.transport.memory import MemoryNetwork
from tests.robustness.harness import (
    PHONE_AT,
    PROBE_AT,
    PROFILES,
    SERVER_AT,
    SETTLE,
    Probe,
    newcomer_syncs,
    phone_on,
    rewrite_dialog,
    server_on,
)

NS = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
AFE_TYPE = "application/x-as-feature-event+xml"
_branches = itertools.count(1)


def subscribe(*, event: str = "as-feature-event", body: bytes = b"",
              ctype: str | None = AFE_TYPE, to_tag: str | None = None, call_id: str = "",
              cseq: int = 1, extra: str = "", version: str = "SIP/2.0",
              contact: bool = True) -> bytes:
    """A SUBSCRIBE from the probe as a phone would send it (each with a fresh branch)."""
    n = next(_branches)
    lines = [
        f"SUBSCRIBE sip:1001@127.0.0.1:5060 {version}",
        f"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKprobe{n};rport",
        "Max-Forwards: 70",
        "From: <sip:1001@127.0.0.1>;tag=probe",
        "To: <sip:1001@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id or f'probe-{n}'}@127.0.0.1",
        f"CSeq: {cseq} SUBSCRIBE",
        *(["Contact: <sip:1001@127.0.0.1:6000>"] if contact else []),
        f"Event: {event}",
        "Expires: 3600",
        f"Accept: {AFE_TYPE}",
    ]
    if body and ctype is not None:
        lines.append(f"Content-Type: {ctype}")
    head = "\r\n".join(lines) + extra + f"\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def set_dnd(value: str = "true", *, device: str = "1001", ns: str | None = NS,
            prolog: str = "") -> bytes:
    xmlns = f' xmlns="{ns}"' if ns is not None else ""
    return (f'<?xml version="1.0" encoding="ISO-8859-1"?>{prolog}<SetDoNotDisturb{xmlns}>'
            f"<device>{device}</device><doNotDisturbOn>{value}</doNotDisturbOn>"
            "</SetDoNotDisturb>").encode("latin-1")


def set_forwarding(kind: str = "forwardImmediate", activate: str = "true",
                   dn: str = "2000") -> bytes:
    return (f'<?xml version="1.0" encoding="ISO-8859-1"?><SetForwarding xmlns="{NS}">'
            f"<device>1001</device><activateForward>{activate}</activateForward>"
            f"<forwardingType>{kind}</forwardingType><forwardDN>{dn}</forwardDN>"
            "<ringCount></ringCount></SetForwarding>").encode("latin-1")


class Bench:
    """A reference server (broadsoft unless told) on a fresh network with a probe."""

    def __init__(self, vendor: str = "broadsoft") -> None:
        self.profile = PROFILES[vendor]
        self.net = MemoryNetwork(seed=5)
        self.server: ReferenceServer = server_on(self.net, self.profile)
        self.probe = Probe()
        self.net.attach(self.probe, PROBE_AT)

    def send(self, data: bytes) -> list[Response]:
        self.probe.received.clear()
        self.net.inject(data, PROBE_AT, SERVER_AT)
        self.net.run(until=self.net.now + SETTLE)
        return [r for r in self.probe.responses() if r.status >= 200]

    def answer(self, data: bytes) -> Response:
        """The one final answer (its retransmissions, e.g. of an INVITE's, counted once)."""
        finals = list({r.serialize(): r for r in self.send(data)}.values())
        assert len(finals) == 1, [r.start_line for r in finals]
        return finals[0]


# ---------------------------------------------------------------------------- message level


@pytest.mark.parametrize(("name", "data", "status", "reason"), [
    ("wrong version", subscribe(version="SIP/3.0"), 505, "Version Not Supported"),
    ("bad version", subscribe(version="SIP/2.0x"), 400, "Bad SIP version"),
    ("oversize", subscribe(extra="\r\nSubject: " + "x" * 70_000), 513, "Message Too Large"),
    ("Content-Length past the end",
     subscribe().replace(b"Content-Length: 0", b"Content-Length: 50"), 400, "Content-Length"),
    ("Content-Length not a number",
     subscribe().replace(b"Content-Length: 0", b"Content-Length: many"), 400, "Content-Length"),
    ("NUL in Call-ID", subscribe().replace(b"Call-ID: ", b"Call-ID: \x00"), 400, "Call-ID"),
    ("CSeq twice", subscribe(extra="\r\nCSeq: 2 SUBSCRIBE"), 400, "CSeq appears 2 times"),
    ("From twice", subscribe(extra="\r\nFrom: <sip:x@y>;tag=b"), 400, "From appears 2 times"),
    ("Event twice", subscribe(extra="\r\nEvent: presence"), 400, "Event appears 2 times"),
    ("Expires twice", subscribe(extra="\r\nExpires: 5"), 400, "Expires appears 2 times"),
    ("CSeq method mismatch", subscribe().replace(b"1 SUBSCRIBE", b"1 NOTIFY"), 400, "CSeq"),
    ("Expires not a number", subscribe().replace(b"Expires: 3600", b"Expires: soon"), 400,
     "Expires"),
    ("Expires too large",
     subscribe().replace(b"Expires: 3600", b"Expires: 99999999999999"), 400, "Expires"),
    ("no Contact", subscribe(contact=False), 400, "Contact"),
    ("bad Contact", subscribe().replace(b"<sip:1001@127.0.0.1:6000>", b"<>"), 400, "Contact"),
    ("unknown dialog", subscribe(to_tag="nosuch"), 481, "Does Not Exist"),
    ("unknown package", subscribe(event="presence"), 489, "Bad Event"),
    ("unknown package with a set body", subscribe(event="presence", body=set_dnd()), 489,
     "Bad Event"),
    ("set request of another type", subscribe(body=set_dnd(), ctype="text/plain"), 415,
     "text/plain"),
    ("set request without Content-Type", subscribe(body=set_dnd(), ctype=None), 415,
     "without Content-Type"),
])
def test_server_answers_bad_requests(name: str, data: bytes, status: int, reason: str) -> None:
    bench = Bench()
    answer = bench.answer(data)
    assert answer.status == status, answer.start_line
    assert reason in answer.reason, answer.start_line
    if status == 415:
        assert answer.headers.get("Accept") == AFE_TYPE, "RFC 3261 21.4.13: 415 lists Accept"
    assert bench.server.state("1001").dnd is False, "a refused request changed the state"
    newcomer_syncs(bench.net, bench.server, bench.profile)


def test_server_drops_and_counts_what_cannot_be_answered() -> None:
    bench = Bench()
    junk = [b"\x00\x01\x02", b"SIP/2.0 200 OK\r\n\r\n", b"HELLO\r\n\r\n",
            subscribe().replace(b"Via: ", b"Vya: "),
            subscribe().replace(b"Via: SIP/2.0", b"Via: SIP/2.0\rX" + b"x" * 70_000)]
    for data in junk:
        assert bench.send(data) == []
    stats = bench.server.ua.stats
    assert stats.received == len(junk)
    assert stats.malformed + stats.stray_responses == len(junk)
    assert stats.malformed_answered == 0
    newcomer_syncs(bench.net, bench.server, bench.profile)


def test_non_utf8_digest_credentials_are_challenged_not_a_crash() -> None:
    """Regression: hashing credentials holding bytes that are not UTF-8 raised
    UnicodeEncodeError out of the server (seen by the fuzz test)."""
    bench = Bench()
    register = (b"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
                b"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKreg1;rport\r\n"
                b"Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r\r\n"
                b"To: <sip:1001@127.0.0.1>\r\nCall-ID: reg@127.0.0.1\r\nCSeq: 2 REGISTER\r\n"
                b"Contact: <sip:1001@127.0.0.1:6000>\r\nExpires: 3600\r\n"
                b'Authorization: Digest username="1001", realm="broadsoft.fsync.\xe9", '
                b'nonce="n", uri="sip:127.0.0.1:5060", qop=auth, nc=00000001, cnonce="c", '
                b'response="811a8394cf5a47\xc3(8211d5a7e1c7beb3"\r\nContent-Length: 0\r\n\r\n')
    assert bench.answer(register).status == 401
    assert "1001" not in bench.server.registrations
    newcomer_syncs(bench.net, bench.server, bench.profile)


@pytest.mark.parametrize("vendor", ["huawei-ims", "zte-ims"])  # codes not challenged
def test_code_call_with_unreadable_contact_is_answered_400(vendor: str) -> None:
    """Regression: the PBX made the dialog of a code INVITE from a Contact that does not
    parse, and the SipParseError escaped the server."""
    bench = Bench(vendor)
    assert bench.profile.codes is not None
    code = uri_user(bench.profile.codes.code_for(Feature.CFA, Action.ACTIVATE, "2000", None))
    invite = (f"INVITE sip:{code}@127.0.0.1:5060 SIP/2.0\r\n"
              "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKinv1;rport\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=i\r\n"
              f"To: <sip:{code}@127.0.0.1>\r\nCall-ID: inv@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
              "Contact: <sip:1001@1\r\nContent-Length: 0\r\n\r\n").encode()
    answer = bench.answer(invite)
    assert answer.status == 400 and "Contact" in answer.reason, answer.start_line
    assert any(p.rule == "SIP-UNREADABLE" for p in bench.server.problems)
    newcomer_syncs(bench.net, bench.server, bench.profile)


def test_a_refused_set_request_is_not_applied_to_a_later_subscribe() -> None:
    """Regression: a set request screened before the notifier refused it (489 here) stayed
    pending, and a later body-less SUBSCRIBE with the same Call-ID and CSeq applied it."""
    bench = Bench()
    assert bench.answer(subscribe(event="presence", body=set_dnd(), call_id="same")).status \
        == 489
    assert bench.answer(subscribe(to_tag="gone", body=set_dnd(), call_id="same2")).status \
        == 481
    assert bench.answer(subscribe(call_id="same")).status == 200
    assert bench.server.state("1001").dnd is False, "a refused set request was applied later"


# ---------------------------------------------------------------------------- XML set requests


@pytest.mark.parametrize(("name", "body", "status", "rule", "reason"), [
    ("entity expansion", set_dnd(device="&b;", prolog=(
        '<!DOCTYPE SetDoNotDisturb [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>')),
     415, "XML-DTD-REFUSED", "DTD"),
    ("external entity", set_dnd(device="&e;", prolog=(
        '<!DOCTYPE SetDoNotDisturb [<!ENTITY e SYSTEM "file:///etc/passwd">]>')),
     415, "XML-DTD-REFUSED", "DTD"),
    ("external DTD", set_dnd(prolog='<!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd">'),
     415, "XML-DTD-REFUSED", "DTD"),
    ("not XML", b"<SetDoNotDisturb", 415, "XML-MALFORMED", "not well-formed"),
    ("oversized document", set_dnd(device="1" * 70_000), 513, None, "Message Too Large"),
    ("missing namespace", set_dnd(ns=None), 400, "AFE-NS-MISSING", "namespace"),
    ("wrong namespace", set_dnd(ns="urn:example:not-csta"), 400, "AFE-NS-WRONG", "namespace"),
    ("True for true", set_dnd("True"), 400, "AFE-BOOL-LITERAL", "'True'"),
    ("1 for true", set_dnd("1"), 400, "AFE-BOOL-LITERAL", "'1'"),
    ("not a boolean", set_dnd("maybe"), 400, "AFE-BOOL-INVALID", "maybe"),
    ("empty device", set_dnd(device=""), 400, "AFE-DEVICE-EMPTY", "device"),
    ("unknown forwardingType", set_forwarding("forwardSometimes"), 400, "AFE-FWDTYPE-UNKNOWN",
     "forwardSometimes"),
    ("forward on without a number", set_forwarding(dn=""), 400, "AFE-FORWARDDN-EMPTY",
     "forwardDN"),
])
def test_server_refuses_bad_set_request_bodies(name: str, body: bytes, status: int,
                                               rule: str | None, reason: str) -> None:
    """Each bad body of a set request: a specific 4xx/5xx with a reason naming it, a Problem
    with the rule id, nothing applied (the broadsoft profile answers unparsable XML 415,
    after one real server)."""
    bench = Bench()
    answer = bench.answer(subscribe(body=body))
    assert answer.status == status, answer.start_line
    assert reason in answer.reason, answer.start_line
    if rule is not None:
        assert rule in [p.rule for p in bench.server.problems]
    assert bench.server.state("1001") == bench.server.state("nobody"), "the state changed"
    newcomer_syncs(bench.net, bench.server, bench.profile)


# ---------------------------------------------------------------------------- the phone


@pytest.fixture
def live_phone() -> tuple[MemoryNetwork, ReferencePhone, Probe, bytes]:
    """A phone subscribed to a server, a probe, and a NOTIFY aimed at the phone's dialog."""
    profile = PROFILES["broadsoft"]
    net = MemoryNetwork(seed=6)
    server_on(net, profile)
    phone = phone_on(net, profile, at=PHONE_AT)
    probe = Probe()
    net.attach(probe, PROBE_AT)
    assert phone.subscriber is not None and phone.sub_id is not None
    sub = phone.subscriber.get(phone.sub_id)
    assert sub is not None and sub.dialog is not None
    d = sub.dialog
    notify = (f"NOTIFY sip:1001@127.0.0.1:5061 SIP/2.0\r\n"
              "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKnotify{n};rport\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=x\r\n"
              "To: <sip:1001@127.0.0.1>;tag=y\r\nCall-ID: z\r\nCSeq: 40 NOTIFY\r\n"
              "Contact: <sip:server@127.0.0.1:5060>\r\nEvent: as-feature-event\r\n"
              "Subscription-State: active;expires=3000\r\n"
              f"Content-Type: {AFE_TYPE}\r\nContent-Length: LEN\r\n\r\n").encode()
    notify = rewrite_dialog(notify, d.id.call_id, d.local_tag, d.remote_tag or "")
    return net, phone, probe, notify


def _notify(template: bytes, body: bytes, n: int, **replace: bytes) -> bytes:
    data = template.replace(b"{n}", str(n).encode()).replace(b"LEN", str(len(body)).encode())
    for old, new in replace.items():
        data = re.sub(old.encode(), new, data)
    return data + body


DND_EVENT = (f'<?xml version="1.0" encoding="ISO-8859-1"?><DoNotDisturbEvent xmlns="{NS}">'
             "<device>1001</device><doNotDisturbOn>true</doNotDisturbOn>"
             "</DoNotDisturbEvent>").encode()


@pytest.mark.parametrize(("name", "body", "replace", "status", "reason"), [
    ("good", DND_EVENT, {}, 200, "OK"),
    ("unknown body type", DND_EVENT, {"Content-Type: [^\r]*": b"Content-Type: text/plain"},
     415, "text/plain"),
    ("True for true", DND_EVENT.replace(b">true<", b">True<"), {}, 400, "'True'"),
    ("broken XML", DND_EVENT[:-8], {}, 400, "not well-formed"),
    ("entity", DND_EVENT.replace(b"<DoNotDisturbEvent", b'<!DOCTYPE a [<!ENTITY e "x">]>'
                                 b"<DoNotDisturbEvent"), {}, 400, "DTD"),
    ("no namespace", DND_EVENT.replace(f' xmlns="{NS}"'.encode(), b""), {}, 400, "namespace"),
    ("malformed Subscription-State", DND_EVENT,
     {"Subscription-State: [^\r]*": b"Subscription-State: active, 3000"}, 400,
     "Subscription-State"),
    ("unknown package in the dialog", DND_EVENT, {"Event: [^\r]*": b"Event: presence"}, 481,
     "Does Not Exist"),
    ("unknown dialog", DND_EVENT, {"Call-ID: [^\r]*": b"Call-ID: nosuch"}, 481,
     "Does Not Exist"),
    ("wrong version", DND_EVENT, {"SIP/2.0\r\nVia": b"SIP/3.0\r\nVia"}, 505,
     "Version Not Supported"),
])
def test_phone_answers_bad_notifies(live_phone: tuple[MemoryNetwork, ReferencePhone, Probe,
                                                      bytes], name: str, body: bytes,
                                    replace: dict[str, bytes], status: int,
                                    reason: str) -> None:
    net, phone, probe, template = live_phone
    net.inject(_notify(template, body, 1, **replace), PROBE_AT, PHONE_AT)
    net.run(until=net.now + SETTLE)
    finals = [r for r in probe.responses() if r.status >= 200]
    assert [r.status for r in finals] == [status], [r.start_line for r in finals]
    assert reason in finals[0].reason
    if status == 415:
        assert finals[0].headers.get("Accept") == AFE_TYPE
    assert phone.state.dnd is (status == 200), "a refused NOTIFY changed the phone's state"


def test_phone_answers_an_unparsable_invite_and_keeps_its_state() -> None:
    """Regression (3CX uaCSTA): an INVITE whose Contact does not parse raised out of the
    phone when it made the dialog."""
    profile = PROFILES["3cx"]
    net = MemoryNetwork(seed=7)
    server_on(net, profile)
    phone = phone_on(net, profile, at=PHONE_AT)
    probe = Probe()
    net.attach(probe, PROBE_AT)
    invite = (b"INVITE sip:1001@127.0.0.1:5061 SIP/2.0\r\n"
              b"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKuacsta;rport\r\n"
              b"Max-Forwards: 70\r\nFrom: <sip:server@127.0.0.1>;tag=s\r\n"
              b"To: <sip:1001@127.0.0.1:5061>\r\nCall-ID: uacsta@127.0.0.1\r\n"
              b"CSeq: 1 INVITE\r\nContact: <>\r\nContent-Length: 0\r\n\r\n")
    net.inject(invite, PROBE_AT, PHONE_AT)
    net.run(until=net.now + SETTLE)
    # one answer, retransmitted until the ACK that the probe never sends
    finals = list({r.serialize(): r for r in probe.responses() if r.status >= 200}.values())
    assert [r.status for r in finals] == [400] and "Contact" in finals[0].reason
    assert phone.registered


def test_server_rejects_nothing_from_a_good_phone_after_the_garbage() -> None:
    """All of the above against one server in a row: it still serves a newcomer."""
    bench = Bench()
    for data in [subscribe(version="SIP/3.0"), subscribe(extra="\r\nCSeq: 2 SUBSCRIBE"),
                 subscribe(body=set_dnd("True")), subscribe(body=set_dnd(), ctype="text/xml"),
                 subscribe(to_tag="x"), subscribe(event="presence"), b"\xff" * 100]:
        bench.send(data)
    newcomer_syncs(bench.net, bench.server, bench.profile)
