"""Interop with SIPp over real sockets on 127.0.0.1: our sans-IO UserAgent (with the RFC 6665
notifier or subscriber) driven by the EndpointDriver over UDP and TCP, SIPp on the other side.

SIPp's exit code 0 means every call of its scenario succeeded; the scenarios check what we
send (``ereg`` with ``check_it``), and the tests check what our side saw. Every run is bounded
(``-m 1``, ``-timeout 10s -timeout_error``, and an asyncio timeout around the whole exchange);
ports are 0 on our side and a fresh free one for SIPp, so runs can go in parallel.
"""
from __future__ import annotations

import asyncio
import random
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fsync_model.sip.subscription import (
    Notifier,
    NotifyReceived,
    RetryPolicy,
    Subscriber,
    SubscribeReceived,
    SubscriptionAccepted,
    SubscriptionEnded,
    SubscriptionTerminated,
)
from fsync_model.sip.transaction import TransactionKey
from fsync_model.sip.useragent import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    UaEvent,
    UserAgent,
)
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver
from tests.conftest import require_peer

pytestmark = pytest.mark.peer

PACKAGE = "as-feature-event"
BODY_TYPE = "application/x-as-feature-event+xml"
DND_ON = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\r\n'
          b'<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/'
          b'csta/ed3"><device>1001</device><doNotDisturbOn>true</doNotDisturbOn>'
          b'</DoNotDisturbEvent>')
SDP = (b"v=0\r\no=fsync 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
TRANSPORTS = ["udp", "tcp"]
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}

# ---------------------------------------------------------------------------- scenarios

SIPP_SUBSCRIBER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fsync interop: SIPp subscribes, fsync notifies">
<send retrans="500"><![CDATA[
SUBSCRIBE sip:1001@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:1001@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 7 SUBSCRIBE
Contact: <sip:1001@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: as-feature-event
Accept: application/x-as-feature-event+xml
Expires: 3600
Content-Length: 0

]]></send>
<recv response="200" optional="true" next="ok"/>
<recv response="202"/>
<label id="ok"/>
<recv request="NOTIFY" crlf="true">
<action>
<ereg regexp="active;expires=[0-9]+" search_in="hdr" header="Subscription-State:"
      check_it="true" assign_to="state1"/>
<ereg regexp="doNotDisturbOn&gt;true" search_in="body" check_it="true" assign_to="body1"/>
</action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
SUBSCRIBE sip:1001@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:1001@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 8 SUBSCRIBE
Contact: <sip:1001@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: as-feature-event
Expires: 0
Content-Length: 0

]]></send>
<recv response="200"/>
<recv request="NOTIFY" crlf="true">
<action>
<ereg regexp="terminated" search_in="hdr" header="Subscription-State:"
      check_it="true" assign_to="state2"/>
</action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<Reference variables="state1,body1,state2"/>
</scenario>
"""

SIPP_NOTIFIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fsync interop: fsync subscribes, SIPp notifies">
<recv request="SUBSCRIBE" crlf="true">
<action>
<ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote"/>
<ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="me"/>
<ereg regexp="as-feature-event" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="target"/>
</action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:server@[local_ip]:[local_port];transport=[transport]>
Expires: 3600
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
NOTIFY [$target] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$me];tag=[pid]SIPpTag01[call_number]
To: [$remote]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:server@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: as-feature-event
Subscription-State: active;expires=3600
Content-Type: application/x-as-feature-event+xml
Content-Length: [len]

<?xml version="1.0" encoding="ISO-8859-1"?>
<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1001</device><doNotDisturbOn>true</doNotDisturbOn></DoNotDisturbEvent>
]]></send>
<recv response="200"/>
<recv request="SUBSCRIBE" crlf="true">
<action>
<ereg regexp="^[ ]*0[ ]*$" search_in="hdr" header="Expires:" check_it="true" assign_to="zero"/>
</action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:server@[local_ip]:[local_port];transport=[transport]>
Expires: 0
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
NOTIFY [$target] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$me];tag=[pid]SIPpTag01[call_number]
To: [$remote]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Contact: <sip:server@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: as-feature-event
Subscription-State: terminated;reason=timeout
Content-Length: 0

]]></send>
<recv response="200"/>
<Reference variables="remote,me,ev,target,zero"/>
</scenario>
"""

#: SIPp's built-in ``uas`` with the ACK made mandatory and a short final timewait.
SIPP_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fsync interop: fsync calls, SIPp answers">
<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 4002 RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
<recv request="ACK" crlf="true"/>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<timewait milliseconds="100"/>
</scenario>
"""

# ---------------------------------------------------------------------------- harness

Handler = Callable[[UaEvent, float], None]


def free_port(transport: str) -> int:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def is_bound(transport: str, port: int) -> bool:
    """True once something listens on 127.0.0.1:``port`` (Linux /proc; no probe traffic
    that SIPp would see as a call)."""
    table = Path("/proc/net/tcp" if transport == "tcp" else "/proc/net/udp")
    wanted_state = "0A" if transport == "tcp" else "07"  # LISTEN / unconnected UDP
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if local.endswith(f":{port:04X}") and state == wanted_state:
            return True
    return False


async def wait_bound(transport: str, port: int, timeout: float = 5.0) -> None:
    if not Path("/proc/net/udp").exists():
        await asyncio.sleep(0.5)
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not is_bound(transport, port):
        if loop.time() > end:
            raise AssertionError(f"SIPp never bound {transport} port {port}")
        await asyncio.sleep(0.01)


class Harness:
    """Our UA on real sockets: the driver runs it; a poll loop hands its events to a handler
    inside ``run_in_cycle`` so that whatever the handler sends is flushed at once."""

    def __init__(self, ua: UserAgent, driver: EndpointDriver) -> None:
        self.ua = ua
        self.driver = driver
        self.seen: list[UaEvent] = []
        self.done = asyncio.Event()

    @classmethod
    async def open(cls, transport: str, seed: int = 7) -> Harness:
        ua = UserAgent(Address(transport, "127.0.0.1", 0), random.Random(seed), user="fsync")
        driver = await EndpointDriver.open(ua, [f"{transport}:127.0.0.1:0"])
        return cls(ua, driver)

    @property
    def now(self) -> float:
        return self.driver.clock()

    def call(self, fn: Callable[[], object]) -> object:
        return self.driver.run_in_cycle(fn)

    async def pump(self, handler: Handler) -> None:
        while not self.done.is_set():
            for event in self.ua.events():
                self.seen.append(event)
                self.driver.run_in_cycle(lambda e=event: handler(e, self.now))  # type: ignore[misc]
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        self.driver.close()
        await self.driver.wait_closed()
        assert self.driver.errors == []


async def run_sipp(cwd: Path, args: list[str], harness: Harness, handler: Handler,
                   ) -> tuple[int, str]:
    """Run SIPp to completion while our side answers; returns (exit code, its output)."""
    sipp = require_peer("sipp")
    process = await asyncio.create_subprocess_exec(
        sipp, *args, "-i", "127.0.0.1", "-m", "1", "-timeout", "10s", "-timeout_error",
        "-nostdin", "-trace_msg", "-trace_err", "-max_retrans", "5",
        cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    pump = asyncio.get_running_loop().create_task(harness.pump(handler))
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 20.0)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        # let the last answers out (our 200 to SIPp's final NOTIFY is already flushed)
        await asyncio.sleep(0.05)
        harness.done.set()
        await pump
    return process.returncode or 0, output.decode(errors="replace")


def sipp_log(cwd: Path, scenario: str) -> str:
    logs = sorted(cwd.glob(f"{scenario}_*_messages.log"))
    return "".join(p.read_text(errors="replace") for p in logs)


def sipp_errors(cwd: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(cwd.glob("*_errors.log")))


def of(kind: type[UaEvent], seen: list[UaEvent]) -> list[UaEvent]:
    return [e for e in seen if isinstance(e, kind)]


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_subscribes_fsync_notifies(tmp_path: Path, transport: str) -> None:
    require_peer("sipp")
    scenario = tmp_path / "subscriber.xml"
    scenario.write_text(SIPP_SUBSCRIBER)

    async def main() -> tuple[int, str, Harness]:
        harness = await Harness.open(transport)
        notifier = Notifier(harness.ua, [PACKAGE])

        def handler(event: UaEvent, now: float) -> None:
            if isinstance(event, SubscribeReceived) and event.initial:
                notifier.notify(event.subscription, now, body=DND_ON, content_type=BODY_TYPE)
            elif isinstance(event, SubscriptionEnded):
                harness.done.set()

        local = harness.ua.local
        try:
            rc, output = await run_sipp(tmp_path, [
                f"{local.host}:{local.port}", "-sf", str(scenario),
                "-p", str(free_port(transport)), "-t", SIPP_TRANSPORT[transport]],
                harness, handler)
        finally:
            await harness.close()
        return rc, output, harness

    rc, output, harness = asyncio.run(main())
    assert rc == 0, output + sipp_errors(tmp_path)
    initial = of(SubscribeReceived, harness.seen)
    assert len(initial) == 1
    assert isinstance(initial[0], SubscribeReceived) and initial[0].request.cseq.seq == 7
    ended = of(SubscriptionEnded, harness.seen)
    assert [e.reason for e in ended if isinstance(e, SubscriptionEnded)] == ["unsubscribed"]
    log = sipp_log(tmp_path, "subscriber")
    assert "Subscription-State: active;expires=3600" in log
    assert "Subscription-State: terminated;reason=timeout" in log
    assert len(harness.ua.dialogs) == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fsync_subscribes_sipp_notifies(tmp_path: Path, transport: str) -> None:
    require_peer("sipp")
    scenario = tmp_path / "notifier.xml"
    scenario.write_text(SIPP_NOTIFIER)
    sipp_port = free_port(transport)

    async def main() -> tuple[int, str, Harness]:
        harness = await Harness.open(transport)
        subscriber = Subscriber(harness.ua, PACKAGE, accept=[BODY_TYPE], expires=3600)

        def handler(event: UaEvent, now: float) -> None:
            if isinstance(event, NotifyReceived) and event.state.state == "active":
                subscriber.unsubscribe(event.subscription, now)
            elif isinstance(event, SubscriptionTerminated):
                harness.done.set()

        sipp_addr = Address(transport, "127.0.0.1", sipp_port)
        sipp_task = asyncio.get_running_loop().create_task(run_sipp(tmp_path, [
            "-sf", str(scenario), "-p", str(sipp_port), "-t", SIPP_TRANSPORT[transport]],
            harness, handler))
        try:
            await wait_bound(transport, sipp_port)
            harness.call(lambda: subscriber.subscribe(
                f"sip:1001@127.0.0.1:{sipp_port}", sipp_addr, harness.now))
            rc, output = await sipp_task
        finally:
            await harness.close()
        return rc, output, harness

    rc, output, harness = asyncio.run(main())
    assert rc == 0, output + sipp_errors(tmp_path)
    accepted = of(SubscriptionAccepted, harness.seen)
    assert [e.response.status for e in accepted if isinstance(e, SubscriptionAccepted)] == [
        200, 200]
    notifies = [e for e in of(NotifyReceived, harness.seen) if isinstance(e, NotifyReceived)]
    assert [n.state.state for n in notifies] == ["active", "terminated"]
    assert b"<doNotDisturbOn>true</doNotDisturbOn>" in notifies[0].request.body
    terminated = of(SubscriptionTerminated, harness.seen)
    assert len(terminated) == 1
    assert isinstance(terminated[0], SubscriptionTerminated)
    assert terminated[0].retry is RetryPolicy.NEVER
    assert len(harness.ua.dialogs) == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_calls_fsync_answers(tmp_path: Path, transport: str) -> None:
    require_peer("sipp")

    async def main() -> tuple[int, str, Harness]:
        harness = await Harness.open(transport)
        ua = harness.ua

        def handler(event: UaEvent, now: float) -> None:
            if isinstance(event, RequestReceived) and event.request.method == "INVITE":
                ua.reply(event.transaction, 180, now)
                ua.reply(event.transaction, 200, now, contact=True, body=SDP,
                         content_type="application/sdp")
                ua.create_uas_dialog(event.transaction)
            elif isinstance(event, RequestReceived) and event.request.method == "BYE":
                ua.reply(event.transaction, 200, now)
                if event.dialog is not None:
                    ua.dialogs.remove(event.dialog)
                harness.done.set()

        local = ua.local
        try:
            rc, output = await run_sipp(tmp_path, [
                f"{local.host}:{local.port}", "-sn", "uac", "-s", "*74", "-d", "50",
                "-p", str(free_port(transport)), "-t", SIPP_TRANSPORT[transport]],
                harness, handler)
        finally:
            await harness.close()
        return rc, output, harness

    rc, output, harness = asyncio.run(main())
    assert rc == 0, output + sipp_errors(tmp_path)
    methods = [e.request.method for e in harness.seen if isinstance(e, RequestReceived)]
    assert methods == ["INVITE", "BYE"]
    acks = [e for e in harness.seen if isinstance(e, AckReceived)]
    assert len(acks) == 1 and acks[0].dialog is not None
    bye = [e for e in harness.seen if isinstance(e, RequestReceived)][1]
    assert bye.dialog == acks[0].dialog
    log = sipp_log(tmp_path, "uac")
    assert "SIP/2.0 180 Ringing" in log and "SIP/2.0 200 OK" in log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fsync_calls_sipp_answers(tmp_path: Path, transport: str) -> None:
    require_peer("sipp")
    scenario = tmp_path / "uas.xml"
    scenario.write_text(SIPP_UAS)
    sipp_port = free_port(transport)

    async def main() -> tuple[int, str, Harness]:
        harness = await Harness.open(transport)
        ua = harness.ua
        keys: dict[str, TransactionKey] = {}

        def handler(event: UaEvent, now: float) -> None:
            if not isinstance(event, ResponseReceived) or event.response.status < 200:
                return
            if event.transaction == keys.get("invite") and event.response.is_success:
                dialog = ua.create_uac_dialog(event.response)
                ua.ack(event.response, now, dialog=dialog)
                keys["bye"] = ua.send_in_dialog(dialog, "BYE", now)
            elif event.transaction == keys.get("bye"):
                harness.done.set()

        sipp_addr = Address(transport, "127.0.0.1", sipp_port)
        sipp_task = asyncio.get_running_loop().create_task(run_sipp(tmp_path, [
            "-sf", str(scenario), "-p", str(sipp_port), "-t", SIPP_TRANSPORT[transport]],
            harness, handler))

        def invite() -> None:
            request = ua.build_request("INVITE", f"sip:*74@127.0.0.1:{sipp_port}", body=SDP,
                                       content_type="application/sdp")
            keys["invite"] = ua.send_request(request, sipp_addr, harness.now)

        try:
            await wait_bound(transport, sipp_port)
            harness.call(invite)
            rc, output = await sipp_task
        finally:
            await harness.close()
        return rc, output, harness

    rc, output, harness = asyncio.run(main())
    assert rc == 0, output + sipp_errors(tmp_path)
    statuses = [(e.request.method, e.response.status) for e in harness.seen
                if isinstance(e, ResponseReceived)]
    assert statuses[-2:] == [("INVITE", 200), ("BYE", 200)]
    assert ("INVITE", 180) in statuses
    log = sipp_log(tmp_path, "uas")
    assert "ACK sip:" in log and "BYE sip:" in log
