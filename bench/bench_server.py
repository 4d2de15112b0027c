#!/usr/bin/env python
"""In-process CPU benchmark of the reference server: the load benchmark's flow, no sockets.

The server is built as ``fsync serve --vendor broadsoft`` builds it (its factory, its JSON
event log writing to /dev/null, ``--quiet`` or not) and fed the messages SIPp sends in
``bench_load.py``: per flow (one user), SUBSCRIBE -> 200 + full-state NOTIFY -> 200,
SUBSCRIBE with SetDoNotDisturb -> 200 + NOTIFY -> 200, SUBSCRIBE ``Expires: 0`` -> 200 +
terminated NOTIFY -> 200; 12 messages. Flows start ``1/--rate`` apart in virtual time, so
the transactions waiting out Timer J (32 s) pile up as they do under that load. Only the
server's calls are timed (process CPU time: steady on a shared box): ``receive_datagram``,
``datagrams_to_send``, ``get_timer`` and ``handle_timer``, as the driver calls them.

    python bench/bench_server.py                     # 3000 flows at 200/s, quiet and not
    python bench/bench_server.py --profile           # plus a cProfile of the server calls
    python bench/bench_server.py --quick             # 300 flows (smoke)

Instruction counts, steady whatever the box's load (only the quiet run's flows are
collected: start-up and profile loading are left out)::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \
        python bench/bench_server.py --callgrind --flows 300
    callgrind_annotate callgrind.out.<pid> | head     # the total, divided by --flows
"""
from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import os
import pstats
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fsync_model.cli.runtime import CHATTY_EVENTS, EventLog, settle_gc  # noqa: E402
from fsync_model.cli.serve_cmd import create_server  # noqa: E402
from fsync_model.profile import load_all  # noqa: E402
from fsync_model.transport.address import Address  # noqa: E402

NS = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
AFE = "application/x-as-feature-event+xml"
SET_DND = (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<SetDoNotDisturb xmlns="{NS}">\n'
           "  <device>{user}</device>\n  <doNotDisturbOn>true</doNotDisturbOn>\n"
           "</SetDoNotDisturb>")
SERVER = Address("udp", "127.0.0.1", 5060)
CLIENT = Address("udp", "127.0.0.1", 6000)
_TO = re.compile(rb"^To: ([^\r\n]*)", re.M)
_KEEP = (b"Via", b"From", b"To", b"Call-ID", b"CSeq")


def subscribe(n: int, cseq: int, to_tag: str, expires: int, body: str = "") -> bytes:
    """The SUBSCRIBE SIPp sends in bench_load.py's scenario, filled in."""
    user = 100000 + n
    extra = f"Content-Type: {AFE}\r\n" if body else ""
    raw = body.encode()
    return (f"SUBSCRIBE sip:{user}@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-4242-{n}-{cseq}\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag=4242SIPpTag00{n}\r\n"
            f"To: <sip:{user}@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: {n}-4242@127.0.0.1\r\nCSeq: {cseq} SUBSCRIBE\r\n"
            f"Contact: <sip:{user}@127.0.0.1:6000>\r\nMax-Forwards: 70\r\n"
            f"Event: as-feature-event\r\nAccept: {AFE}\r\nExpires: {expires}\r\n"
            f"{extra}Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def answer(notify: bytes) -> bytes:
    """SIPp's 200 to a NOTIFY: Via, From, To, Call-ID and CSeq copied."""
    head = notify.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head if h.split(b":", 1)[0] in _KEEP]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"


class Driver:
    """Calls the server as EndpointDriver does, timing only the server's own calls."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.cpu = 0.0
        self.now = 0.0
        self.messages = 0
        self.failures = 0
        #: CPU of the whole run: the server's calls, the client's work, and the garbage
        #: collections either triggers (the server's live objects make them long)
        self.whole = 0.0

    def _timed(self, fn: Callable[[], Any]) -> Any:
        start = time.process_time()
        try:
            return fn()
        finally:
            self.cpu += time.process_time() - start

    def advance(self, now: float) -> None:
        """Fire the server's timers due up to ``now``."""
        self.now = now
        while True:
            deadline = self._timed(self.server.get_timer)
            if deadline is None or deadline > now:
                return
            self._timed(lambda: self.server.handle_timer(now))
            self._timed(lambda: self.server.datagrams_to_send(now))

    def send(self, data: bytes) -> list[bytes]:
        """One datagram in; what the server sent back."""
        self.messages += 1
        now = self.now

        def cycle() -> list[bytes]:
            self.server.receive_datagram(data, CLIENT, now)
            out = self.server.datagrams_to_send(now)
            self.server.get_timer()
            return [d for d, _ in out]

        out: list[bytes] = self._timed(cycle)
        self.messages += len(out)
        return out


def run_flow(driver: Driver, n: int) -> bool:
    """One user's flow; False when the server did not answer as SIPp expects."""
    to_tag = ""
    for cseq, expires, body in ((1, 3600, ""), (2, 3600, SET_DND.format(user=100000 + n)),
                                (3, 0, "")):
        out = driver.send(subscribe(n, cseq, to_tag, expires, body))
        if len(out) != 2 or not out[0].startswith(b"SIP/2.0 200") or not out[1].startswith(
                b"NOTIFY"):
            return False
        if not to_tag:
            match = _TO.search(out[0])
            if match is None or b";tag=" not in match.group(1):
                return False
            to_tag = ";tag=" + match.group(1).split(b";tag=", 1)[1].split(b";")[0].decode()
        if driver.send(answer(out[1])):
            return False
    return True


#: where the event log prints (fsync serve's stdout)
DEVNULL = open(os.devnull, "w")  # noqa: SIM115  (open for the whole run)


def build(quiet: bool) -> Any:
    events = EventLog(DEVNULL, hidden=CHATTY_EVENTS if quiet else frozenset())
    options: dict[str, Any] = {}
    if "quiet" in inspect.signature(create_server).parameters:
        options["quiet"] = quiet
    server = create_server(load_all()["broadsoft"], rng=random.Random(1),
                           observer=lambda event: events.emit(event.to_json()), policy=None,
                           policy_status=None, password=None, **options)
    server.bind([SERVER])
    settle_gc()  # as the runtime does once the agent is bound
    return server


def measure(flows: int, rate: float, quiet: bool, profile: bool,
            sort: str = "tottime") -> tuple[float, int, int, float]:
    server = build(quiet)
    driver = Driver(server)
    profiler = cProfile.Profile() if profile else None
    failures = 0
    if profiler is not None:
        profiler.enable()
    start = time.process_time()
    for n in range(flows):
        driver.advance(n / rate)
        if not run_flow(driver, n):
            failures += 1
    driver.advance(flows / rate + 40)  # past every Timer J
    driver.whole = time.process_time() - start
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(sort).print_stats(40)
        print(out.getvalue())
    return driver.cpu, driver.messages, failures, driver.whole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="flows per second of virtual time (sets how many transactions "
                             "wait in Timer J at once)")
    parser.add_argument("--quick", action="store_true", help="300 flows")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one quiet run (the timings then include its overhead)")
    parser.add_argument("--only", choices=["quiet", "verbose"])
    parser.add_argument("--callgrind", action="store_true",
                        help="one quiet run inside sys.call_tracing, for valgrind's "
                             "--toggle-collect=sys_call_tracing (see the docstring)")
    args = parser.parse_args(argv)
    flows = 300 if args.quick else args.flows
    if args.callgrind:
        server = build(True)
        driver = Driver(server)

        def flows_run() -> None:
            for n in range(flows):
                driver.advance(n / args.rate)
                run_flow(driver, n)
            driver.advance(flows / args.rate + 40)

        sys.call_tracing(flows_run, ())
        print(f"{flows} flows run inside sys.call_tracing")
        return 0
    print(f"fsync server in process: {flows} flows of 12 messages at {args.rate:g} flows/s "
          f"(virtual time), vendor broadsoft, server built as fsync serve builds it; "
          f"process CPU time of the server's calls, best of {args.repeat}")
    modes = [m for m in ("quiet", "verbose") if args.only in (None, m)]
    for mode in modes:
        best: tuple[float, int, int, float] | None = None
        for _ in range(args.repeat):
            result = measure(flows, args.rate, mode == "quiet", False)
            if best is None or result[0] < best[0]:
                best = result
        assert best is not None
        cpu, messages, failures, whole = best
        print(f"{'--quiet' if mode == 'quiet' else 'not quiet':10} {cpu / flows * 1e3:7.3f} ms "
              f"per flow, {cpu / messages * 1e6:6.1f} us per message, "
              f"{flows / cpu:7.0f} flows/s of CPU; whole run (client and GC too) "
              f"{whole / flows * 1e3:.3f} ms per flow; {failures} failed flows")
    if args.profile:
        measure(flows, args.rate, True, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
