#!/usr/bin/env python
"""Load benchmark: ``fsync serve`` against SIPp's own UAS, the same SIPp client driving both.

Each SIPp call is one feature-sync flow of one user (``-inf``: every call a different user),
over UDP on 127.0.0.1:

1. SUBSCRIBE ``as-feature-event``, no body          -> 200, full-state NOTIFY (multipart) -> 200
2. SUBSCRIBE in the dialog, SetDoNotDisturb body    -> 200, confirming NOTIFY            -> 200
3. SUBSCRIBE ``Expires: 0``                         -> 200, terminated NOTIFY            -> 200

that is 3 SUBSCRIBE and 3 NOTIFY transactions, 12 messages. The server is
``fsync serve --vendor broadsoft --quiet`` (the reference server challenges REGISTER only; a
SUBSCRIBE is answered at once: the scenario expects 200 and fails on a 401), then a SIPp UAS
scenario doing the same flow with canned bodies: the C++ reference. For each offered rate
(flows per second, each for ``--duration`` seconds, so ``rate * duration`` calls), both
servers are measured one after the other in the same run, and the figures are printed with
their ratio:

* completed flows/s: successful calls over the wall time from the first call to the end;
* failed flows (SIPp's failed calls: a timeout, an unexpected message);
* retransmissions (SIPp's count: requests and responses it had to send again);
* p50 / p99 of the flow's duration, first SUBSCRIBE to the last 200 received (SIPp
  response-time ``flow``, dumped per call with ``-trace_rtt``).

Nothing here asserts a time: these are figures to read. Every run is bounded: SIPp stops
after its calls (``-m``), a per-receive timeout fails a stuck call, and the whole run has a
time limit. ``--quick`` runs 50 flows/s for 2 s against both (the smoke test).

    python bench/bench_load.py                          # 200, 500, 1000, 2000 flows/s x 5 s
    python bench/bench_load.py --rates 2000 --duration 10
    python bench/bench_load.py --quick
    python bench/bench_load.py --profile --rates 1000   # plus where fsync serve's time goes
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NS = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
AFE = "application/x-as-feature-event+xml"

# ---------------------------------------------------------------------------- scenarios

_UAC_REQUEST = """<send retrans="500" {rtd}><![CDATA[
SUBSCRIBE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field0]@[remote_ip]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} SUBSCRIBE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Event: as-feature-event
Accept: application/x-as-feature-event+xml
Expires: {expires}
{body_headers}Content-Length: [len]

{body}]]></send>
<recv response="200" {rrs}/>
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
"""

SET_DND = (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<SetDoNotDisturb xmlns="{NS}">\n'
           "  <device>[field0]</device>\n  <doNotDisturbOn>true</doNotDisturbOn>\n"
           "</SetDoNotDisturb>")


def uac_scenario() -> str:
    steps = [
        _UAC_REQUEST.format(rtd='start_rtd="flow"', to_tag="", cseq=1, expires=3600,
                            body_headers="", body="", rrs='rrs="true"'),
        _UAC_REQUEST.format(rtd="", to_tag="[peer_tag_param]", cseq=2, expires=3600,
                            body_headers=f"Content-Type: {AFE}\n", body=SET_DND, rrs=""),
        _UAC_REQUEST.format(rtd="", to_tag="[peer_tag_param]", cseq=3, expires=0,
                            body_headers="", body="", rrs=""),
    ]
    # the flow ends when the terminated NOTIFY is answered: measure up to it
    steps[-1] = steps[-1].replace('<recv request="NOTIFY"/>',
                                  '<recv request="NOTIFY" rtd="flow"/>')
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
            '<scenario name="fsync feature-sync flow (client)">\n' + "".join(steps)
            + "</scenario>\n")


def _event(root: str, inner: str) -> str:
    """A NOTIFY document of the SIPp server (the user is taken from the SUBSCRIBE)."""
    return (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<{root} xmlns="{NS}">\n'
            f"  <device>[$user]</device>\n{inner}</{root}>")


def _full_state() -> str:
    parts = []
    for kind, rings in (("forwardImmediate", ""), ("forwardBusy", ""), ("forwardNoAns", "1")):
        parts.append(_event("ForwardingEvent", f"  <forwardingType>{kind}</forwardingType>\n"
                            "  <forwardStatus>false</forwardStatus>\n  <forwardTo></forwardTo>\n"
                            f"  <ringCount>{rings}</ringCount>\n"))
    parts.append(_event("DoNotDisturbEvent", "  <doNotDisturbOn>false</doNotDisturbOn>\n"))
    body = "".join(f"--fsync-full-state\nContent-Type: {AFE}\n\n{p}\n" for p in parts)
    return body + "--fsync-full-state--\n"


_UAS_STEP = """<recv request="SUBSCRIBE" {rrs}>
<action><ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="peer"/>
<ereg regexp="sip:([^@]*)@" search_in="hdr" header="From:" check_it="true" assign_to="u,user"/>
</action></recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]{tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:server@[local_ip]:[local_port]>
Expires: {expires}
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[$user]@[local_ip]>;tag=[pid]SIPpTag01[call_number]
To: [$peer]
Call-ID: [call_id]
CSeq: {cseq} NOTIFY
Contact: <sip:server@[local_ip]:[local_port]>
Max-Forwards: 70
Event: as-feature-event
Subscription-State: {state}
Content-Type: {ctype}
Content-Length: [len]

{body}]]></send>
<recv response="200"/>
"""


def uas_scenario() -> str:
    dnd_on = _event("DoNotDisturbEvent", "  <doNotDisturbOn>true</doNotDisturbOn>\n")
    steps = [
        _UAS_STEP.format(rrs='rrs="true"', tag=";tag=[pid]SIPpTag01[call_number]",
                         expires=3600, cseq=1, state="active;expires=3600",
                         ctype="multipart/mixed;boundary=fsync-full-state",
                         body=_full_state()),
        _UAS_STEP.format(rrs="", tag="", expires=3600, cseq=2, state="active;expires=3600",
                         ctype=AFE, body=dnd_on),
        _UAS_STEP.format(rrs="", tag="", expires=0, cseq=3,
                         state="terminated;reason=timeout", ctype=AFE, body=dnd_on),
    ]
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
            '<scenario name="fsync feature-sync flow (SIPp server)">\n' + "".join(steps)
            + '<Reference variables="u"/>\n</scenario>\n')


# ---------------------------------------------------------------------------- running


@dataclass
class Result:
    server: str
    rate: int
    calls: int
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    p50: float | None
    p99: float | None
    note: str = ""
    #: CPU seconds the server used (its processes together) during the calls, if known
    cpu: float | None = None

    @property
    def completed_rate(self) -> float:
        return self.successful / self.elapsed if self.elapsed > 0 else 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sipp_version(sipp: str) -> str:
    done = subprocess.run([sipp, "-v"], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)
    for line in (done.stdout + done.stderr).splitlines():
        if "SIPp v" in line:
            return line.strip()
    return "unknown"


def _stat_row(folder: Path) -> dict[str, str]:
    """The last line of SIPp's -trace_stat CSV (cumulative counters)."""
    files = sorted(folder.glob("*_.csv"))
    if not files:
        return {}
    with files[-1].open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return rows[-1] if rows else {}


def _rtts(folder: Path) -> list[float]:
    out: list[float] = []
    for path in folder.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2:
                try:
                    out.append(float(fields[1]))
                except ValueError:
                    continue
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


#: Socket buffers of the SIPp client (``-buff_size``; SIPp's default is 64 KiB): a server
#: that answers a burst of requests read together sends a burst back, and a full receive
#: buffer drops datagrams on loopback (RcvbufErrors) that SIPp then takes for a failed
#: call (a NOTIFY ahead of its lost 200). The load generator must not be the bottleneck;
#: the same buffer is used against both servers. The kernel caps it at net.core.rmem_max.
CLIENT_BUFFER = 4 * 1024 * 1024


def run_client(sipp: str, target: tuple[str, int], rate: int, duration: float, work: Path,
               users: Path, label: str, server_pid: int | None = None) -> Result:
    calls = max(1, int(rate * duration))
    folder = work / f"{label}-{rate}"
    folder.mkdir()
    scenario = folder / "uac.xml"
    scenario.write_text(uac_scenario())
    limit = max(200, rate * 4)  # concurrent calls allowed before SIPp holds back
    command = [
        sipp, f"{target[0]}:{target[1]}", "-sf", str(scenario), "-inf", str(users),
        "-i", "127.0.0.1", "-p", str(free_port()), "-t", "u1",
        "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(limit),
        "-recv_timeout", "8000", "-timeout", f"{int(duration + 40)}s", "-timeout_error",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
        "-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err",
        "-buff_size", str(CLIENT_BUFFER),
        "-nostdin",
    ]
    cpu_before = process_cpu(server_pid) if server_pid is not None else None
    start = time.monotonic()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                          timeout=duration + 90, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    cpu_after = process_cpu(server_pid) if server_pid is not None else None
    cpu = (cpu_after - cpu_before
           if cpu_before is not None and cpu_after is not None else None)
    row = _stat_row(folder)
    rtts = _rtts(folder)

    def num(name: str) -> int:
        try:
            return int(row.get(name, "0") or 0)
        except ValueError:
            return 0

    successful = num("SuccessfulCall(C)")
    failed = num("FailedCall(C)")
    note = "" if row else f"no SIPp statistics (exit {done.returncode}): {done.stderr[-300:]}"
    # the flows' own span: first call started to last call ended (SIPp exits right after)
    return Result(label, rate, calls, successful, failed, num("Retransmissions(C)"),
                  elapsed, _percentile(rtts, 50), _percentile(rtts, 99), note, cpu)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (``fsync serve --workers``), from /proc."""
    try:
        return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` and its children still running, from
    /proc (None where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total + sum(process_cpu(child) or 0.0 for child in children(pid))


class FsyncServer:
    """``fsync serve --vendor broadsoft --quiet`` on a free UDP port (port 0), in
    ``workers`` processes."""

    def __init__(self, work: Path, profile: bool = False, workers: int = 1) -> None:
        command = [sys.executable]
        self.profile_out = work / "fsync-serve.prof" if profile else None
        if self.profile_out is not None:
            command += ["-m", "cProfile", "-o", str(self.profile_out)]
        command += ["-m", "fsync_model.cli.main", "serve", "--vendor", "broadsoft",
                    "--listen", "udp:127.0.0.1:0", "--quiet", "--seed", "1",
                    "--workers", str(workers)]
        self.label = "fsync" if workers == 1 else f"fsync-w{workers}"
        self.stdout_path = work / "fsync-serve.jsonl"
        self.stdout = self.stdout_path.open("w+b")
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout, stderr=subprocess.PIPE)
        self.address = self._listening()

    def _listening(self) -> tuple[str, int]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_bytes().splitlines():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("what") == "listening":
                    host_port = obj["address"].split(":", 1)[1]
                    host, port = host_port.rsplit(":", 1)
                    return host, int(port)
            if self.proc.poll() is not None:
                raise RuntimeError(f"fsync serve exited: {self.proc.stderr.read()!r}"
                                   if self.proc.stderr else "fsync serve exited")
            time.sleep(0.05)
        raise RuntimeError("fsync serve printed no listening line in 30 s")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stdout.close()
        return err.decode("utf-8", "replace") if err else ""

    def stdout_lines(self) -> int:
        return len(self.stdout_path.read_bytes().splitlines())


class SippServer:
    """The C++ reference: a SIPp UAS doing the same flow."""

    def __init__(self, sipp: str, work: Path, calls: int) -> None:
        folder = work / f"sipp-uas-{time.monotonic_ns()}"
        folder.mkdir()
        scenario = folder / "uas.xml"
        scenario.write_text(uas_scenario())
        self.port = free_port()
        self.address = ("127.0.0.1", self.port)
        self.proc = subprocess.Popen(
            [sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.port), "-t", "u1",
             "-m", str(calls), "-max_recv_loops", "10000", "-max_sched_loops", "10000",
             "-nostdin", "-trace_err"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_users(path: Path, count: int) -> None:
    lines = ["SEQUENTIAL"] + [f"{100000 + i};" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")


def fmt_ms(value: float | None) -> str:
    return f"{value:8.1f}" if value is not None else "       -"


def cpu_per_flow(r: Result) -> float | None:
    """The server's CPU milliseconds per completed flow."""
    return r.cpu * 1000 / r.successful if r.cpu is not None and r.successful else None


def print_result(r: Result) -> None:
    print(f"{r.server:8} {r.rate:7d} {r.calls:7d} {r.completed_rate:10.1f} {r.failed:7d} "
          f"{r.retransmissions:8d} {fmt_ms(r.p50)} {fmt_ms(r.p99)} "
          f"{fmt_ms(cpu_per_flow(r))}  {r.note}", flush=True)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="200,500,1000,2000",
                        help="offered flows per second, comma-separated")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of calls per rate (calls = rate x duration)")
    parser.add_argument("--quick", action="store_true", help="50 flows/s for 2 s (smoke)")
    parser.add_argument("--only", choices=["fsync", "sipp"], help="measure one server only")
    parser.add_argument("--profile", action="store_true",
                        help="run fsync serve under cProfile and print where time goes")
    parser.add_argument("--keep", metavar="DIR", help="keep SIPp's files in DIR")
    parser.add_argument("--workers", default=None,
                        help="fsync serve --workers values to measure, comma-separated "
                             "(default: 1 and 2 where there are 2 cores or more, else 1)")
    args = parser.parse_args(argv)
    rates = [50] if args.quick else [int(r) for r in args.rates.split(",") if r.strip()]
    if args.workers is None:
        counts = [1, 2] if (os.cpu_count() or 1) >= 2 and not args.quick else [1]
    else:
        counts = [int(w) for w in args.workers.split(",") if w.strip()]
    duration = 2.0 if args.quick else args.duration
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found: apt-get install sip-tester", file=sys.stderr)
        return 2
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fsync-load-"))
    work.mkdir(parents=True, exist_ok=True)
    users = work / "users.csv"
    write_users(users, max(rates) * int(duration) + 10)
    print("fsync load benchmark: subscribe / set (DND) / unsubscribe flows over UDP on "
          "127.0.0.1, SIPp as the client")
    print(f"parameters: rates {rates} flows/s, {duration:g} s each, 12 messages per flow, "
          f"vendor broadsoft, fsync serve --quiet --workers {'/'.join(map(str, counts))} "
          "(fsync-wN: N processes)")
    print(f"versions: python {platform.python_version()} ({platform.python_implementation()}),"
          f" {sipp_version(sipp)}, cpus {os.cpu_count()}, load average before the run "
          f"{os.getloadavg()[0]:.2f} (other work on the box skews both servers)")
    print(f"{'server':8} {'offered':>7} {'calls':>7} {'flows/s':>10} {'failed':>7} "
          f"{'retrans':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>8}  (cpu: the server's "
          "CPU per completed flow, all its processes)")
    results: dict[tuple[str, int], Result] = {}
    started = time.monotonic()
    try:
        for rate in rates:
            for count in counts if args.only != "sipp" else ():
                server = FsyncServer(work, profile=args.profile, workers=count)
                try:
                    result = run_client(sipp, server.address, rate, duration, work, users,
                                        server.label, server.proc.pid)
                finally:
                    errors = server.stop()
                if "raised" in errors or "Traceback" in errors:
                    result.note += " fsync serve reported errors: " + errors[-300:]
                results[(server.label, rate)] = result
                print_result(result)
                if server.profile_out is not None and server.profile_out.exists():
                    print_profile(server.profile_out)
            if args.only != "fsync":
                uas = SippServer(sipp, work, max(1, int(rate * duration)))
                try:
                    result = run_client(sipp, uas.address, rate, duration, work, users, "sipp",
                                        uas.proc.pid)
                finally:
                    uas.stop()
                results[("sipp", rate)] = result
                print_result(result)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for rate in rates:
        theirs = results.get(("sipp", rate))
        for count in counts:
            label = "fsync" if count == 1 else f"fsync-w{count}"
            ours = results.get((label, rate))
            if ours is None or theirs is None:
                continue
            completed = ratio(ours.completed_rate, theirs.completed_rate)
            print(f"ratio {label}/sipp at {rate} flows/s: completed {completed}"
                  f", p50 {ratio(ours.p50, theirs.p50)}, p99 {ratio(ours.p99, theirs.p99)}"
                  f", cpu per flow {ratio(cpu_per_flow(ours), cpu_per_flow(theirs))}; failed "
                  f"{ours.failed} vs {theirs.failed}")
    print(f"total time {time.monotonic() - started:.1f} s")
    return 0


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    print(f"-- where fsync serve's time went (cProfile, top {top} by own time) --")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
