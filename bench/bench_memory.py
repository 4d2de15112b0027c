#!/usr/bin/env python
"""Memory benchmark: resident memory of one ``fsync serve`` holding many active subscriptions.

``fsync serve --vendor broadsoft --quiet`` listens on UDP on 127.0.0.1; SIPp subscribes
``--subscriptions`` different users (``-inf``) at ``--rate`` per second, each SUBSCRIBE
(Expires 3600) answered 200 with a full-state NOTIFY that SIPp answers 200; the subscription
then stays active on the server (SIPp's call ends, the dialog lives on). VmRSS is read from
/proc before the first SUBSCRIBE and after the last one; the figures are the total and the
growth per subscription. The target of the issue is under 60 MB in total for 10,000.

``--tracemalloc`` also runs the same subscriptions in-process (a ReferenceServer on the
in-memory network, no sockets) under tracemalloc and prints the source lines that hold the
most memory: where a subscription's bytes go.

    python bench/bench_memory.py                       # 10,000 subscriptions at 250/s
    python bench/bench_memory.py --subscriptions 2000 --quick-rate
    python bench/bench_memory.py --tracemalloc
"""
from __future__ import annotations

import argparse
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import (  # noqa: E402  (a script beside this one)
    FsyncServer,
    children,
    free_port,
    sipp_version,
    write_users,
)

SUBSCRIBE_ONLY = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fsync: subscribe and stay subscribed">
<send retrans="500"><![CDATA[
SUBSCRIBE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Event: as-feature-event
Accept: application/x-as-feature-event+xml
Expires: 3600
Content-Length: 0

]]></send>
<recv response="200"/>
<recv request="NOTIFY"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def vm_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and of its children (``fsync serve --workers``) together."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return (int(match.group(1)) if match else 0) + sum(vm_rss_kib(c) for c in children(pid))


def pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` and its children: pages a forked worker still
    shares with the lead count half to each, where VmRSS counts them twice."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return (int(match.group(1)) if match else 0) + sum(pss_kib(c) for c in children(pid))


def _stat(folder: Path, name: str) -> int:
    import csv

    files = sorted(folder.glob("*_.csv"))
    if not files:
        return 0
    with files[-1].open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    try:
        return int(rows[-1].get(name, "0") or 0) if rows else 0
    except ValueError:
        return 0


def measure_serve(sipp: str, count: int, rate: int, work: Path, settle: float = 40.0,
                  workers: int = 1) -> None:
    users = work / "users.csv"
    write_users(users, count)
    server = FsyncServer(work, workers=workers)
    try:
        time.sleep(0.5)
        pid = server.proc.pid
        base = vm_rss_kib(pid)
        folder = work / "sipp"
        folder.mkdir()
        scenario = folder / "subscribe.xml"
        scenario.write_text(SUBSCRIBE_ONLY)
        started = time.monotonic()
        done = subprocess.run(
            [sipp, f"{server.address[0]}:{server.address[1]}", "-sf", str(scenario),
             "-inf", str(users), "-i", "127.0.0.1", "-p", str(free_port()), "-t", "u1",
             "-r", str(rate), "-m", str(count), "-l", str(max(200, rate * 4)),
             "-recv_timeout", "10000", "-timeout", f"{int(count / rate + 60)}s",
             "-timeout_error", "-trace_stat", "-fd", "1", "-nostdin"],
            cwd=folder, capture_output=True, text=True, timeout=count / rate + 120,
            stdin=subprocess.DEVNULL)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # let the last answers settle
        busy = vm_rss_kib(pid)
        # a server transaction lives 64*T1 = 32 s after its answer (Timer J), holding the
        # request: measure again once the last ones are gone
        time.sleep(settle)
        after = vm_rss_kib(pid)
        pss = pss_kib(pid)
        ok, failed = _stat(folder, "SuccessfulCall(C)"), _stat(folder, "FailedCall(C)")
        alive = server.proc.poll() is None
    finally:
        errors = server.stop()
    per = (after - base) * 1024 / max(ok, 1)
    print(f"fsync serve (--quiet, UDP, --workers {workers}): {ok} subscriptions active "
          f"({failed} failed, SIPp exit "
          f"{done.returncode}) in {elapsed:.1f} s; server alive: {alive}")
    print(f"VmRSS right after the last SUBSCRIBE (transactions still in Timer J): "
          f"{busy / 1024:.1f} MiB")
    print(f"VmRSS: {base / 1024:.1f} MiB at start, {after / 1024:.1f} MiB with the "
          f"subscriptions: {(after - base) / 1024:.1f} MiB more, {per / 1024:.2f} KiB per "
          f"subscription; total {after / 1024:.1f} MiB {settle:g} s after the last one "
          f"(target < 60 MB: "
          f"{'met' if after * 1024 < 60e6 else 'NOT met'})")
    if workers > 1:
        print(f"PSS (shared pages split between the processes): {pss / 1024:.1f} MiB in all "
              f"(target < 60 MB: {'met' if pss * 1024 < 60e6 else 'NOT met'})")
    if "Traceback" in errors:
        print("fsync serve reported errors:", errors[-400:])


def measure_in_process(count: int, top: int = 15) -> None:
    """The same subscriptions against an in-process server, under tracemalloc."""
    from fsync_model.agents.server import ReferenceServer
    from fsync_model.profile import load_all
    from fsync_model.transport.address import Address
    from fsync_model.transport.memory import MemoryNetwork

    server_at = Address("udp", "127.0.0.1", 5060)
    client_at = Address("udp", "127.0.0.1", 6000)

    class Client:
        """Subscribes user after user and answers each NOTIFY (a SIPp in miniature)."""

        def __init__(self) -> None:
            self.out: list[tuple[bytes, Address]] = []
            self.notified = 0

        def subscribe(self, n: int) -> None:
            user = 100000 + n
            self.out.append(((
                f"SUBSCRIBE sip:{user}@127.0.0.1:5060 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKm{n}\r\n"
                f"From: <sip:{user}@127.0.0.1>;tag=t{n}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                f"Call-ID: {n}@mem\r\nCSeq: 1 SUBSCRIBE\r\n"
                f"Contact: <sip:{user}@127.0.0.1:6000>\r\nMax-Forwards: 70\r\n"
                "Event: as-feature-event\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
            ).encode(), server_at))

        def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
            if data.startswith(b"NOTIFY"):
                self.notified += 1
                head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                keep = [h for h in head if h.split(b":", 1)[0] in
                        (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
                self.out.append((b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep)
                                 + b"\r\nContent-Length: 0\r\n\r\n", server_at))

        def handle_timer(self, now: float) -> None:
            return None

        def get_timer(self) -> float | None:
            return None

        def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
            out, self.out = self.out, []
            return out

    from fsync_model.cli.runtime import CHATTY_EVENTS, EventLog
    from fsync_model.cli.serve_cmd import create_server

    net = MemoryNetwork(seed=1)
    tracemalloc.start(5)
    # built as fsync serve --quiet builds it: its factory, its event log (nothing printed)
    events = EventLog(None, hidden=CHATTY_EVENTS)
    server = create_server(load_all()["broadsoft"], rng=random.Random(1),
                           observer=lambda event: events.emit(event.to_json()), policy=None,
                           policy_status=None, password=None, quiet=True)
    assert isinstance(server, ReferenceServer)
    net.attach(server, server_at)
    client = Client()
    net.attach(client, client_at)
    net.run(until=1.0)
    before = tracemalloc.take_snapshot()
    for n in range(count):
        client.subscribe(n)
        net.run(until=net.now + 0.002)
    net.run(until=net.now + 40)  # past every transaction's Timer J/K
    net.log.clear()  # the in-memory network's own record of every datagram is not the server's
    after = tracemalloc.take_snapshot()
    assert server.notifier is not None
    active = len(server.notifier.subscriptions)
    stats = after.compare_to(before, "lineno")
    grown = sum(s.size_diff for s in stats)
    print(f"in-process (tracemalloc): {active} active subscriptions, {client.notified} "
          f"NOTIFYs answered; Python heap grew {grown / 2**20:.1f} MiB, "
          f"{grown / max(active, 1) / 1024:.2f} KiB per subscription; top lines:")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size_diff / 1024:9.1f} KiB {stat.count_diff:8d} blocks  {where}")
    tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=250, help="SUBSCRIBEs per second")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also run in-process under tracemalloc: where the bytes go")
    parser.add_argument("--workers", type=int, default=1,
                        help="fsync serve --workers N (memory summed over its processes)")
    parser.add_argument("--no-serve", action="store_true",
                        help="skip the fsync serve + SIPp measurement")
    args = parser.parse_args(argv)
    print("fsync memory benchmark: active as-feature-event subscriptions in one server")
    print(f"parameters: {args.subscriptions} subscriptions (Expires 3600, one user each) at "
          f"{args.rate}/s over UDP on 127.0.0.1, vendor broadsoft")
    sipp = shutil.which("sipp")
    print(f"versions: python {platform.python_version()} ({platform.python_implementation()})"
          f", {sipp_version(sipp) if sipp else 'no sipp'}")
    if not args.no_serve:
        if sipp is None:
            print("sipp not found: apt-get install sip-tester", file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="fsync-memory-"))
        try:
            measure_serve(sipp, args.subscriptions, args.rate, work, workers=args.workers)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.tracemalloc:
        measure_in_process(args.subscriptions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
