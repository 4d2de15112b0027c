"""``fsync demo``: every flow of every profile, reference phone <-> reference server, on loopback.

The main job of the README: it proves the model end to end over real sockets (UDP and TCP on
127.0.0.1), prints a table system x feature x direction x transport (pass/fail, messages,
time), and leaves a pcap (Wireshark opens it as SIP) and a ladder SVG of each flow in an
output folder. Exit 0 when every row passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from fsync_model.cli.common import add_spec_arg, load_profiles, resolve_vendor
from fsync_model.cli.main import EXIT_FAIL, EXIT_OK, UsageError
from fsync_model.profile import Profile
from fsync_model.testing.flows import FlowRun, FlowSpec, flows_of, run_flow_over_sockets

TRANSPORTS = ("udp", "tcp")


def register(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help="run every flow of every profile between the reference agents",
        description="Run every flow of every profile (or of --vendor) between the reference "
        "phone and the reference server over real sockets on 127.0.0.1, print a pass/fail "
        "table, and write a pcap and a ladder diagram of each flow into --out. Exits 1 if "
        "any flow fails.")
    parser.add_argument("--vendor", action="append", metavar="V",
                        help="only this profile (repeatable); default: all of spec/")
    parser.add_argument("--transport", default="udp,tcp", metavar="LIST",
                        help="comma-separated transports to run each flow over "
                             "(udp, tcp; default udp,tcp)")
    parser.add_argument("--out", default="fsync-demo", metavar="DIR",
                        help="folder for the pcaps, ladders and summary.json "
                             "(default ./fsync-demo)")
    parser.add_argument("--seed", type=int, default=1, help="seed for tags, branches, Call-IDs")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress display (it is off anyway when stderr is no terminal)")
    add_spec_arg(parser)
    parser.set_defaults(run=run)


def _transports(text: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in chosen if t not in TRANSPORTS]
    if bad or not chosen:
        raise UsageError(f"--transport {text!r}: use a comma-separated list of "
                         f"{', '.join(TRANSPORTS)}, e.g. --transport udp,tcp")
    return chosen


def _write_artifacts(run: FlowRun, out: Path) -> dict[str, str]:
    """The flow's pcap (set-up included) and ladder (the flow itself); paths written."""
    from fsync_model.diagrams.messages import ladder_from_messages
    from fsync_model.diagrams.svg import render_svg
    from fsync_model.transport.pcap import PcapWriter

    folder = out / run.spec.profile.id
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{run.spec.feature}-{run.spec.direction.initiated}-{run.transport}"
    pcap = folder / f"{stem}.pcap"
    with PcapWriter(pcap) as writer:
        for record in [*run.setup_messages, *run.messages]:
            writer.record(record.time, record.src, record.dst, record.data)
    written = {"pcap": str(pcap)}
    if run.messages:
        names = {}
        if run.phone_address is not None:
            names[str(run.phone_address)] = "phone 1001"
        if run.server_address is not None:
            names[str(run.server_address)] = f"server ({run.spec.profile.name})"
        ladder = ladder_from_messages(
            run.messages, title=f"{run.spec.profile.name}: {run.spec.feature} "
            f"{run.spec.direction.initiated} ({run.transport})",
            caption=f"{run.spec.change.describe()}; "
            f"{'passed' if run.passed else 'FAILED: ' + '; '.join(run.failures)}",
            lifeline_names=names)
        svg = folder / f"{stem}.svg"
        svg.write_text(render_svg(ladder), encoding="utf-8")
        written["ladder"] = str(svg)
    return written


async def _run_all(specs: list[FlowSpec], transports: list[str], seed: int, out: Path,
                   progress: bool) -> list[tuple[FlowRun, dict[str, str]]]:
    results: list[tuple[FlowRun, dict[str, str]]] = []
    total = len(specs) * len(transports)
    bar: Any = None
    task: Any = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       transient=True)
        bar.start()
        task = bar.add_task("flows", total=total)
    try:
        for spec in specs:
            for transport in transports:
                if bar is not None:
                    bar.update(task, description=f"{spec.name} {transport}")
                run = await run_flow_over_sockets(spec, transport=transport, seed=seed)
                results.append((run, _write_artifacts(run, out)))
                if bar is not None:
                    bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return results


def _table(results: list[tuple[FlowRun, dict[str, str]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fsync demo: reference phone <-> reference server", show_lines=False)
    for column in ("system", "feature", "direction", "transport", "result", "messages",
                   "time"):
        table.add_column(column, justify="right" if column in ("messages", "time") else "left")
    for run, _ in results:
        verdict = "[green]pass[/green]" if run.passed else "[red]FAIL[/red]"
        table.add_row(run.spec.profile.id, run.spec.feature, run.spec.direction.initiated,
                      run.transport, verdict, str(len(run.messages)),
                      f"{run.duration * 1000:.1f} ms")
    Console(width=100).print(table)


def run(args: argparse.Namespace) -> int:
    transports = _transports(args.transport)
    profiles: list[Profile]
    if args.vendor:
        profiles = [resolve_vendor(args, name) for name in args.vendor]
    else:
        profiles = list(load_profiles(args).values())
    specs = [spec for profile in profiles for spec in flows_of(profile)]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out}: {exc.strerror}") from exc
    progress = not args.no_progress and sys.stderr.isatty()
    started = time.monotonic()
    results = asyncio.run(_run_all(specs, transports, args.seed, out, progress))
    _table(results)
    failed = [run for run, _ in results if not run.passed]
    for run in failed:
        sys.stdout.write(f"FAIL {run.spec.name} ({run.transport}):\n")
        for failure in run.failures:
            sys.stdout.write(f"    {failure}\n")
    summary = [{
        "flow": run.spec.name, "system": run.spec.profile.id, "feature": run.spec.feature,
        "direction": run.spec.direction.initiated, "transport": run.transport,
        "passed": run.passed, "failures": run.failures, "messages": len(run.messages),
        "seconds": round(run.duration, 6), **files,
    } for run, files in results]
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed "
                     f"({len(specs)} flows x {len(transports)} transports, "
                     f"{time.monotonic() - started:.1f} s, seed {args.seed}); "
                     f"pcaps and ladders in {out}/\n")
    return EXIT_FAIL if failed else EXIT_OK
