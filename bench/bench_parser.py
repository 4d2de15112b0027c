#!/usr/bin/env python
"""Parser benchmark: fsync's message layer next to sipmessage and dpkt.sip, in one run.

For every message of ``bench/corpus/*.sip`` each parser does the same work a feature-sync
agent does per message: parse the bytes; read the top Via branch, the From tag, the To tag,
the CSeq number and method, the Event package and the Content-Type media type; serialize the
message back to bytes. The three parsers run side by side on each message (interleaved), so
that machine noise hits them alike.

* ``fsync``: :func:`fsync_model.sip.message.parse_message` and the typed accessors.
* ``sipmessage``: ``sipmessage.Message.parse`` and its typed accessors (pure Python, regex
  based, structured). It has no Event accessor: the raw header is cut at ``;``.
* ``dpkt``: ``dpkt.sip.Request`` / ``Response`` (a shallow parser: a dict of lower-cased
  header names). Branch and tags come from the header strings with a few ``str`` operations;
  compact forms (``v``, ``f``...) are looked up too, since dpkt does not expand them.

The accessed values of the three are compared on every message (``MISMATCH`` lines say where
they disagree), and each serializer is checked for a byte-exact round trip. Timing is the
best of ``--repeat`` runs of ``--number`` iterations (``timeit``; the garbage collector is
off while timing, as ``timeit`` does by default). Nothing here asserts a time: the numbers
are for reading. ``--quick`` runs a few iterations only (the smoke test uses it);
``--profile`` adds a cProfile of fsync's path; ``--cpu`` times with process CPU time
instead of wall time, which is steadier on a shared machine.

    python bench/bench_parser.py            # full run
    python bench/bench_parser.py --quick    # seconds, for CI
    python bench/bench_parser.py --profile  # plus where fsync's time goes
    python bench/bench_parser.py --cpu      # CPU time: steadier when the box is busy
"""
from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import io
import platform
import pstats
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

#: What every parser reads from a message: (branch, from tag, to tag, CSeq number,
#: CSeq method, Event package, Content-Type media type).
Access = tuple[str | None, str | None, str | None, int, str, str | None, str | None]
Runner = Callable[[bytes], tuple[Access, bytes]]


# --------------------------------------------------------------------------- the three paths


def fsync_runner() -> Runner:
    from fsync_model.sip.message import parse_message

    def run(data: bytes) -> tuple[Access, bytes]:
        msg = parse_message(data)
        cseq = msg.cseq
        event = msg.event
        access: Access = (msg.branch, msg.from_tag, msg.to_tag, cseq.seq, cseq.method,
                          event.value if event is not None else None, msg.content_type)
        return access, msg.serialize()

    return run


def sipmessage_runner() -> Runner:
    from sipmessage import Message

    def run(data: bytes) -> tuple[Access, bytes]:
        msg = Message.parse(data)
        cseq = msg.cseq
        event = msg.headers.get("Event")
        content_type = msg.content_type
        access: Access = (
            msg.via[0].parameters.get("branch"),
            msg.from_address.parameters.get("tag"),
            msg.to_address.parameters.get("tag"),
            cseq.sequence,
            cseq.method,
            event.split(";", 1)[0].strip() if event is not None else None,
            content_type.mime_type.lower() if content_type is not None else None,
        )
        return access, bytes(msg)

    return run


def dpkt_runner() -> Runner:
    import dpkt.sip  # type: ignore[import-untyped]

    def first(headers: dict[str, Any], name: str, compact: str) -> str | None:
        value = headers.get(name)
        if value is None:
            value = headers.get(compact)
        if isinstance(value, list):
            return str(value[0])
        return value

    def param(value: str | None, key: str) -> str | None:
        if value is None:
            return None
        start = value.find(key)
        if start < 0:
            return None
        start += len(key)
        end = value.find(";", start)
        return (value[start:] if end < 0 else value[start:end]).strip()

    def run(data: bytes) -> tuple[Access, bytes]:
        msg: Any = dpkt.sip.Response(data) if data.startswith(b"SIP/") else dpkt.sip.Request(data)
        headers = msg.headers
        via = first(headers, "via", "v")
        top_via = via.split(",", 1)[0] if via is not None else None
        number, method = (first(headers, "cseq", "cseq") or "").split()
        event = first(headers, "event", "o")
        content_type = first(headers, "content-type", "c")
        access: Access = (
            param(top_via, ";branch="),
            param(first(headers, "from", "f"), ";tag="),
            param(first(headers, "to", "t"), ";tag="),
            int(number),
            method,
            event.split(";", 1)[0].strip() if event is not None else None,
            content_type.split(";", 1)[0].strip().lower() if content_type is not None else None,
        )
        return access, bytes(msg)

    return run


RUNNERS: dict[str, Callable[[], Runner]] = {
    "fsync": fsync_runner,
    "sipmessage": sipmessage_runner,
    "dpkt": dpkt_runner,
}


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    name: str
    micros: dict[str, float | None]  # parser -> best microseconds per message, None = failed
    errors: dict[str, str]
    access: dict[str, Access]
    round_trip: dict[str, bool]


def load_corpus() -> list[tuple[str, bytes]]:
    files = sorted(CORPUS.glob("*.sip"))
    if not files:
        raise SystemExit(f"no corpus in {CORPUS}")
    return [(path.stem, path.read_bytes()) for path in files]


def measure(corpus: list[tuple[str, bytes]], runners: dict[str, Runner], number: int,
            repeat: int, clock: Callable[[], float] = time.perf_counter) -> list[Result]:
    results = []
    for name, data in corpus:
        result = Result(name, {}, {}, {}, {})
        for parser, run in runners.items():
            try:
                access, out = run(data)  # warm-up, and the values to compare
            except Exception as error:  # a parser that cannot read a message is a result
                result.micros[parser] = None
                result.errors[parser] = f"{type(error).__name__}: {error}"
                continue
            result.access[parser] = access
            result.round_trip[parser] = out == data
            timer = timeit.Timer(lambda run=run, data=data: run(data),  # type: ignore[misc]
                                 timer=clock)
            best = min(timer.repeat(repeat=repeat, number=number))
            result.micros[parser] = best / number * 1e6
        results.append(result)
    return results


# --------------------------------------------------------------------------- reporting


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:6.2f}" if a is not None and b else "   n/a"


def cell(value: float | None) -> str:
    return f"{value:9.1f}" if value is not None else "     fail"


def report(results: list[Result], parsers: list[str], number: int, repeat: int,
           clock_name: str) -> None:
    import fsync_model

    print(f"Python {platform.python_version()} ({platform.python_implementation()}) "
          f"on {platform.machine()} {platform.system()}")
    print(f"fsync from {Path(fsync_model.__file__).parent}; "
          f"sipmessage {version_of('sipmessage')}; dpkt {version_of('dpkt')}")
    print(f"{len(results)} messages; best of {repeat} x {number} iterations per message and "
          f"parser (parse + 7 accesses + serialize), {clock_name} time")
    print()
    header = f"{'message':<30}" + "".join(f"{p + ' us':>14}" for p in parsers)
    header += f"{'fsync/sipmessage':>18}{'fsync/dpkt':>12}"
    print(header)
    print("-" * len(header))
    for r in results:
        line = f"{r.name:<30}" + "".join(f"{cell(r.micros.get(p)):>14}" for p in parsers)
        line += f"{ratio(r.micros.get('fsync'), r.micros.get('sipmessage')):>18}"
        line += f"{ratio(r.micros.get('fsync'), r.micros.get('dpkt')):>12}"
        print(line)
    print("-" * len(header))
    common = [r for r in results if all(r.micros.get(p) is not None for p in parsers)]
    means = {p: sum(r.micros[p] or 0.0 for r in common) / len(common) for p in parsers} \
        if common else {}
    if means:
        line = f"{'mean (' + str(len(common)) + ' msgs all read)':<30}"
        line += "".join(f"{cell(means[p]):>14}" for p in parsers)
        line += f"{ratio(means.get('fsync'), means.get('sipmessage')):>18}"
        line += f"{ratio(means.get('fsync'), means.get('dpkt')):>12}"
        print(line)
    print()
    if means:
        for other in parsers[1:]:
            print(f"fsync/{other}: {means['fsync'] / means[other]:.2f} "
                  f"(fsync {means['fsync']:.1f} us, {other} {means[other]:.1f} us per message)")
    for p in parsers:
        exact = sum(1 for r in results if r.round_trip.get(p))
        print(f"byte-exact round trip, {p}: {exact}/{len(results)}")
    for r in results:
        for p, error in r.errors.items():
            print(f"FAILED {p} on {r.name}: {error}")
        reference = r.access.get("fsync")
        for p, access in r.access.items():
            if reference is not None and access != reference:
                print(f"MISMATCH {p} on {r.name}: {access} != fsync {reference}")


def profile_fsync(corpus: list[tuple[str, bytes]], rounds: int, limit: int) -> str:
    run = fsync_runner()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        for _, data in corpus:
            run(data)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few iterations (smoke test)")
    parser.add_argument("--number", type=int, default=None, help="iterations per timing run")
    parser.add_argument("--repeat", type=int, default=None, help="timing runs (best is kept)")
    parser.add_argument("--profile", action="store_true", help="cProfile fsync's path too")
    parser.add_argument("--cpu", action="store_true",
                        help="time with process CPU time instead of wall time (steadier on a "
                        "shared, loaded machine)")
    parser.add_argument("--only", choices=sorted(RUNNERS), action="append",
                        help="parsers to run (fsync always runs)")
    args = parser.parse_args(argv)
    number = args.number or (20 if args.quick else 1000)
    repeat = args.repeat or (1 if args.quick else 5)
    wanted = ["fsync", *[p for p in RUNNERS if p != "fsync" and (not args.only or p in args.only)]]
    runners = {p: RUNNERS[p]() for p in wanted}
    corpus = load_corpus()
    clock = time.process_time if args.cpu else time.perf_counter
    results = measure(corpus, runners, number, repeat, clock)
    report(results, wanted, number, repeat, "CPU" if args.cpu else "wall")
    if args.profile:
        print()
        print(profile_fsync(corpus, rounds=50 if args.quick else 500, limit=30))
    return 0


if __name__ == "__main__":
    sys.exit(main())
