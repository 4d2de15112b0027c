"""``fsync test``: test a real device (phone or server) against a profile. Wiring only: the
work is in ``fsync_model/dut``."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

from fsync_model.cli import common, runtime
from fsync_model.cli.main import EXIT_USAGE, UsageError
from fsync_model.transport.address import Address

DESCRIPTION = """\
Test a device against a vendor profile and report the rules it breaks.

--dut phone: fsync plays the profile's server at --listen and waits (--wait) for the phone
to register as --user (and subscribe, where the profile has as-feature-event). --dut server:
fsync plays the profile's phone and registers at --target.

fsync then runs every flow of the profile (a change on the server, a key press on the
phone), then --examples seeded random sequences (changes on both sides, policy rejections,
the subscription ended and renewed with the full state in either encoding, lost and
duplicated packets). After each step it waits for quiet and checks: every message from the
device against the strict RFC checker and the profile's body rules, each message against the
model's transition tables, one final answer per transaction, and the state the device shows
(--query) and fsync's own state against what the model expects. A failure is replayed before
it is reported (failed only if it fails again, flaky otherwise) and shrunk to the shortest
sequence that still fails.
"""

EPILOG = """\
--control is a shell command template run for each change the device must make (a key
press on a phone, a portal change on a server). Placeholders: {feature} (dnd, cfa, cfb,
cfna), {action} (on, off), {target} (forward-to number, empty when none), {rings} (empty
when none), {user}. Non-empty values are shell-quoted (plain words and numbers go in as
they are); empty ones are left out. --query prints the device's state as the state JSON:
  {"dnd": false, "cfa": {"on": true, "target": "2000"}, "cfb": {"on": false, "target":
  null}, "cfna": {"on": true, "target": "3000", "rings": 4}}
Both run with a timeout (--hook-timeout); a command that fails or prints something else
makes the test inconclusive, never a device failure (use curl -f, so that an HTTP error is
a failing command).

output: a summary on stdout (a progress bar on stderr when it is a terminal). With
--report DIR: report.html (self-contained: findings, ladders), report.json, junit.xml,
session.pcap, and per finding findings/<n>-<rule>/ with minimal.pcap, ladder.svg,
messages.txt and replay.json (run it again with --replay FILE).

exit status: 0 the device conforms, 1 it violated a rule (confirmed on replay), 2 usage or
set-up error, 3 inconclusive (no device within --wait, --control/--query failing,
timeouts, a failure that did not repeat).

examples:
  fsync test --vendor broadsoft --dut phone --listen udp:127.0.0.1:5070 --user 1001 \\
    --control 'curl -s -d "{feature} {action} {target} {rings}" 127.0.0.1:8081/command' \\
    --query 'curl -s 127.0.0.1:8081/state' --examples 20 --report out/
  fsync test --vendor yeastar --dut server --target udp:127.0.0.1:5060 --user 1001 \\
    --control 'curl -s -d "{user} {feature} {action} {target} {rings}" 127.0.0.1:8080/command' \\
    --query 'curl -s 127.0.0.1:8080/state/{user}'
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, e.g. 30 or 0.5, got {text!r}") \
            from None
    if not value > 0 or value > 86400:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, e.g. 20, got {text!r}") \
            from None
    if value < 0 or value > 100000:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="test a device (phone or server) against a profile",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_vendor_arg(parser)
    parser.add_argument("--dut", required=True, choices=("phone", "server"),
                        help="what the device under test is")
    parser.add_argument("--listen", metavar="ADDR",
                        help="--dut phone: where fsync's server listens, e.g. "
                             "udp:127.0.0.1:5070 (the phone's registrar); --dut server: "
                             "fsync's phone's local address (default: port 0)")
    parser.add_argument("--target", metavar="ADDR",
                        help="--dut server: the server under test, e.g. udp:127.0.0.1:5060")
    parser.add_argument("--user", required=True, metavar="USER",
                        help="the line's user (extension), e.g. 1001")
    parser.add_argument("--control", required=True, metavar="CMD",
                        help="shell command template that makes the device change a feature "
                             "({feature} {action} {target} {rings} {user})")
    parser.add_argument("--query", required=True, metavar="CMD",
                        help="shell command that prints the device's state JSON ({user})")
    parser.add_argument("--examples", type=_count, default=10, metavar="N",
                        help="property-based examples after the flows (default 10)")
    parser.add_argument("--seed", type=runtime._seed, metavar="S",
                        help="seed of the examples and of fsync's agent (default: random, "
                             "printed)")
    parser.add_argument("--wait", type=_positive, default=30.0, metavar="SECONDS",
                        help="how long to wait for the device to register (default 30)")
    parser.add_argument("--report", metavar="DIR",
                        help="write report.html, report.json, junit.xml, pcaps, ladders and "
                             "replay files into DIR")
    parser.add_argument("--password", default=None, metavar="P",
                        help="digest password of the line (default: fsync)")
    parser.add_argument("--settle", type=_positive, default=0.5, metavar="SECONDS",
                        help="quiet (no message) that ends a step (default 0.5)")
    parser.add_argument("--step-timeout", type=_positive, default=10.0, metavar="SECONDS",
                        help="longest wait for the outcome of one step (default 10)")
    parser.add_argument("--hook-timeout", type=_positive, default=10.0, metavar="SECONDS",
                        help="longest run of one --control or --query command (default 10)")
    parser.add_argument("--shrink-budget", type=_positive, default=60.0, metavar="SECONDS",
                        help="time spent shrinking each failure (default 60)")
    parser.add_argument("--max-failures", type=_count, default=3, metavar="N",
                        help="stop after N confirmed failures (default 3; 0: no limit)")
    parser.add_argument("--replay", metavar="FILE",
                        help="run only the sequence of a replay.json from an earlier report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return runtime.run_with_usage_errors("test", lambda: _run(args))


def _user(text: str) -> str:
    user = text.strip()
    if not user or any(c.isspace() or c in "<>@:;\"'{}$`\\" for c in user):
        raise UsageError(f"--user {text!r}: give the line's user part, e.g. --user 1001")
    return user


def _addresses(args: argparse.Namespace) -> tuple[Address | None, Address | None]:
    if args.dut == "phone":
        if args.target is not None:
            raise UsageError("--target is for --dut server; a phone under test registers at "
                             "fsync's --listen address, e.g. --listen udp:127.0.0.1:5070")
        if args.listen is None:
            raise UsageError("--dut phone needs --listen: where fsync's server waits for the "
                             "phone, e.g. --listen udp:127.0.0.1:5070")
        return runtime.socket_address(args.listen, "--listen"), None
    if args.target is None:
        raise UsageError("--dut server needs --target: the server under test, e.g. "
                         "--target udp:127.0.0.1:5060")
    target = runtime.socket_address(args.target, "--target")
    if target.port == 0:
        raise UsageError(f"--target {args.target}: give the server's port, e.g. "
                         f"--target {target.transport}:127.0.0.1:5060")
    listen = None
    if args.listen is not None:
        listen = runtime.socket_address(args.listen, "--listen")
        if listen.transport != target.transport or listen.is_ipv6 != target.is_ipv6:
            raise UsageError(f"--listen {args.listen} cannot reach --target {target}: use the "
                             "same transport and IP version")
    return listen, target


def _replay_cases(path: str, vendor: str, dut: str) -> list[Any]:
    from fsync_model.dut.steps import Case, StepError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"--replay {path}: cannot read: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"--replay {path}: not JSON ({error}); give a replay.json from a "
                         "report's findings/ folder") from None
    if not isinstance(data, dict):
        raise UsageError(f"--replay {path}: expected a replay.json object")
    for key, wanted in (("vendor", vendor), ("dut", dut)):
        if data.get(key) not in (None, wanted):
            raise UsageError(f"--replay {path}: recorded for {key} {data.get(key)!r}, not "
                             f"{wanted!r}")
    raw = data.get("cases") or ([data["case"]] if "case" in data else None)
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"--replay {path}: no 'case' in it")
    try:
        return [Case.from_json(c) for c in raw]
    except StepError as error:
        raise UsageError(f"--replay {path}: {error}") from None


def command_line(args: argparse.Namespace, seed: int) -> list[str]:
    """The options of this run as a command line (for the report and replay commands)."""
    out = ["test", "--vendor", args.vendor, "--dut", args.dut]
    for option in ("spec", "listen", "target", "user", "control", "query"):
        value = getattr(args, option, None)
        if value is not None:
            out += [f"--{option}", str(value)]
    out += ["--examples", str(args.examples), "--seed", str(seed), "--wait", f"{args.wait:g}"]
    for option in ("settle", "step_timeout", "hook_timeout"):
        out += [f"--{option.replace('_', '-')}", f"{getattr(args, option):g}"]
    if args.report is not None:
        out += ["--report", args.report]
    return out


def _run(args: argparse.Namespace) -> int:
    from fsync_model.dut.hooks import ShellDevice, TemplateError
    from fsync_model.dut.progress import progress_for
    from fsync_model.dut.report import summary_text, write_report
    from fsync_model.dut.runner import ListenError, RunConfig, run_session
    from fsync_model.dut.session import Timing

    listen, target = _addresses(args)
    user = _user(args.user)
    try:
        device = ShellDevice.from_options(args.control, args.query, timeout=args.hook_timeout)
    except TemplateError as error:
        raise UsageError(str(error)) from None
    profile = common.resolve_vendor(args)
    cases = _replay_cases(args.replay, profile.id, args.dut) if args.replay else None
    report_dir = Path(args.report) if args.report else None
    if report_dir is not None:
        try:
            report_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--report {args.report}: cannot create: "
                             f"{error.strerror or error}") from None
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    timing = Timing(wait=args.wait, settle=args.settle, step_timeout=args.step_timeout,
                    hook_timeout=args.hook_timeout)

    async def ready(addresses: list[Address]) -> None:
        where = ", ".join(str(a) for a in addresses)
        if args.dut == "phone":
            sys.stderr.write(f"fsync test: {profile.id} server listening on {where}; waiting "
                             f"up to {args.wait:g} s for the phone to register as {user} "
                             f"(seed {seed})\n")
        else:
            sys.stderr.write(f"fsync test: {profile.id} phone on {where} registering at "
                             f"{target} as {user} (seed {seed})\n")
        sys.stderr.flush()

    config = RunConfig(profile, args.dut, user, device, listen, target,
                       password=args.password or "fsync", examples=args.examples, seed=seed,
                       timing=timing, shrink_budget=args.shrink_budget,
                       max_failures=args.max_failures or 10**9, cases=cases,
                       vendor=profile.id, command=command_line(args, seed), on_ready=ready)
    try:
        result = asyncio.run(run_session(config, progress_for()))
    except ListenError as error:
        raise UsageError(f"{error}; pick a free port (--listen)") from None
    if report_dir is not None:
        try:
            write_report(result, report_dir)
        except OSError as error:
            sys.stdout.write(summary_text(result))
            sys.stderr.write(f"fsync test: --report {args.report}: cannot write: "
                             f"{error.strerror or error}\n")
            return EXIT_USAGE
    sys.stdout.write(summary_text(result, report_dir=str(report_dir) if report_dir else None))
    sys.stdout.flush()
    return result.exit_code
