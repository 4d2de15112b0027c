#!/usr/bin/env python
"""Property-run benchmark: how fast the stateful runs go, and how fast they find and shrink a
defect.

1. **In memory**: the Hypothesis machine of each profile (``testing/machine.py``,
   ``machine_class``, every fault family, the reference agents) run as ``explore`` runs it,
   with a fixed seed. A step is one rule the machine applies (a stimulus: a change at either
   side, time passing, a fault armed, a settle...); the oracles run after each. Reported per
   profile: steps/s, examples/s and messages/s, by wall and by process CPU time.
2. **Over UDP**: no Hypothesis machine runs over sockets (its stimuli include virtual time:
   ``Advance(130)`` is instant in memory and 130 s on a wire). The closest honest equivalent
   is ``fsync test``'s property examples (``dut/steps.py example_cases``: seeded random
   sequences of changes at either side, policy rejections, re-subscriptions, lost and
   duplicated packets) run by its runner (``dut/runner.py``) against the reference phone on
   127.0.0.1: in this process (``tests/dut/support.InProcessPhone``, the phone's own event
   loop and sockets, no hooks), and as a subprocess (``fsync phone`` with its HTTP API, driven
   and read through curl, as a real device is). A step there is one change waited out to
   quiet (``--settle``), the device's state read, the oracles run; each example starts with a
   reset to the default state. Reported: steps/s, examples/s, messages/s (fsync's side of the
   wire), and the in-memory/UDP ratio of steps/s.
3. **Injected defects**: the broken agents of ``tests/testing/broken_agents.py`` under the
   in-memory machine (as ``tests/testing/test_broken_agents.py`` hunts them) and the defective
   phones of ``tests/dut/defective_phones.py`` under the UDP runner (property examples only,
   no flows first). Per defect and seed: examples and seconds to the first failure, the
   length of the first failing example, seconds to the shrunk failure and the shrunk length
   (steps); the table shows the median over the seeds.

Figures to read, not tests: the only test is a smoke run of ``--quick``
(``tests/robustness/test_bench_smoke.py``).

    python bench/bench_property.py                  # every profile, 3 seeds, ~5 min
    python bench/bench_property.py --quick          # broadsoft, one seed (the smoke test), ~1 min
    python bench/bench_property.py --json out.json  # also the rows as JSON
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hypothesis  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

import fsync_model  # noqa: E402
from fsync_model.agents.phone import ReferencePhone  # noqa: E402
from fsync_model.agents.server import ReferenceServer  # noqa: E402
from fsync_model.dut.hooks import ShellDevice  # noqa: E402
from fsync_model.dut.runner import RunConfig, run_session  # noqa: E402
from fsync_model.dut.session import Timing  # noqa: E402
from fsync_model.dut.steps import example_cases  # noqa: E402
from fsync_model.dut.verdicts import CaseResult, SessionResult  # noqa: E402
from fsync_model.profile import Profile  # noqa: E402
from fsync_model.testing.fixtures import Bench, profiles  # noqa: E402
from fsync_model.testing.machine import (  # noqa: E402
    SyncFailure,
    SyncMachine,
    fsync_settings,
    machine_class,
)
from fsync_model.testing.stimuli import Stimulus  # noqa: E402
from fsync_model.transport.address import Address  # noqa: E402
from tests.dut.defective_phones import DEFECTS  # noqa: E402
from tests.dut.support import Agent, InProcessPhone, phone_argv  # noqa: E402
from tests.testing.test_broken_agents import CASES as BROKEN_CASES  # noqa: E402

#: the broken agents and where tests/testing/test_broken_agents.py hunts them
BROKEN: list[tuple[str, str, type[ReferenceServer] | type[ReferencePhone]]] = [
    (profile, role, cls) for profile, role, cls, _, _ in BROKEN_CASES]
#: the UDP runner's timing: tests/dut's loopback timing (a step that converges ends after
#: ``settle`` of quiet; the step timeout only bounds a failing one)
UDP_TIMING = Timing(wait=15.0, settle=0.1, step_timeout=1.0, hook_timeout=5.0,
                    settle_after_drop=0.8)
#: the subprocess phone behind curl gets more time per step (tests/cli/test_test_cmd.py)
SUBPROCESS_TIMING = replace(UDP_TIMING, step_timeout=3.0)
UDP_ANY = Address("udp", "127.0.0.1", 0)


# ============================================================================ in memory


@dataclass
class Counts:
    """What a Hypothesis run did: stimuli, finished examples, messages, the first failure."""

    steps: int = 0
    examples: int = 0
    failing_runs: int = 0
    messages: int = 0
    first_failure: float | None = None
    first_examples: int | None = None
    first_length: int | None = None
    started: float = field(default_factory=time.perf_counter)


def _counted(profile: Profile, counts: Counts, *, faults: bool,
             server_class: type[ReferenceServer] = ReferenceServer,
             phone_class: type[ReferencePhone] = ReferencePhone) -> type[SyncMachine]:
    """The profile's machine, counting what it does (the counting is two additions per
    call: nothing next to the agents' work)."""

    def teardown_hook(bench: Bench) -> None:
        counts.examples += 1
        counts.messages += len(bench.sent)

    base = machine_class(profile, faults=faults, on_teardown=teardown_hook,
                         server_class=server_class, phone_class=phone_class)

    def do(self: SyncMachine, stimulus: Stimulus) -> None:
        counts.steps += 1
        base.do(self, stimulus)

    def fail(self: SyncMachine, violations: Any, cause: BaseException | None = None) -> None:
        counts.failing_runs += 1
        if counts.first_failure is None:
            counts.first_failure = time.perf_counter() - counts.started
            counts.first_examples = counts.examples + counts.failing_runs
            counts.first_length = len(self.steps)
        base.fail(self, violations, cause)

    return type(base.__name__, (base,), {"do": do, "fail": fail})


def hypothesis_run(cls: type[SyncMachine], seed: int, examples: int, steps: int
                   ) -> SyncFailure | None:
    machine = hypothesis.seed(seed)(cls)
    run_settings = fsync_settings(max_examples=examples, stateful_step_count=steps,
                                  derandomize=False, database=None)
    try:
        run_state_machine_as_test(machine, settings=run_settings)
    except SyncFailure as failure:
        return failure
    return None


@dataclass
class MemoryRow:
    profile: str
    seed: int
    examples: int
    steps: int
    messages: int
    wall: float
    cpu: float
    failure: str | None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall

    @property
    def steps_per_cpu_s(self) -> float:
        return self.steps / self.cpu


def warm_up(profile: Profile) -> None:
    """Two short examples, not measured: the first run of a profile builds its tables and
    fills the caches (4x slower than the next one)."""
    hypothesis_run(_counted(profile, Counts(), faults=True), 0, 2, 5)


def measure_memory(profile: Profile, seed: int, examples: int, steps: int) -> MemoryRow:
    counts = Counts()
    cls = _counted(profile, counts, faults=True)
    cpu0 = time.process_time()
    counts.started = time.perf_counter()
    failure = hypothesis_run(cls, seed, examples, steps)
    wall = time.perf_counter() - counts.started
    cpu = time.process_time() - cpu0
    found = f"{', '.join(failure.oracles)}" if failure is not None else None
    return MemoryRow(profile.id, seed, counts.examples + counts.failing_runs, counts.steps,
                     counts.messages, wall, cpu, found)


@dataclass
class DefectRow:
    defect: str
    where: str
    seed: int
    found: bool
    first_examples: int | None
    first_seconds: float | None
    first_length: int | None
    shrunk_seconds: float | None
    shrunk_length: int | None
    rule: str | None
    runs_after_first: int | None = None


def hunt_broken(profile: Profile, role: str, cls: type[Any], seed: int, examples: int,
                steps: int, faults: bool) -> DefectRow:
    counts = Counts()
    kwargs = {"server_class": cls} if role == "server" else {"phone_class": cls}
    machine = _counted(profile, counts, faults=faults, **kwargs)
    counts.started = time.perf_counter()
    failure = hypothesis_run(machine, seed, examples, steps)
    total = time.perf_counter() - counts.started
    where = f"{profile.id} {role}, in memory"
    if failure is None:
        return DefectRow(cls.__name__, where, seed, False, None, None, None, None, None, None)
    return DefectRow(cls.__name__, where, seed, True, counts.first_examples,
                     counts.first_failure, counts.first_length, total, len(failure.steps),
                     ", ".join(failure.oracles),
                     counts.examples + counts.failing_runs - (counts.first_examples or 0))


# ============================================================================ over UDP


class Clock:
    """A ``fsync test`` progress that notes when things happen (no output)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.started_wall = 0.0
        self.first_failure: float | None = None
        self.cases_before_first = 0
        self.done: list[tuple[float, CaseResult]] = []
        self.first_case: str | None = None

    def start(self, total: int) -> None:
        self.started = time.perf_counter()
        self.started_wall = time.time()

    def status(self, text: str) -> None:
        if self.first_failure is None and text.endswith("replaying to confirm"):
            self.first_failure = time.perf_counter()
            self.cases_before_first = sum(1 for _, c in self.done if c.case.kind != "setup")
            self.first_case = text.split(":", 1)[0]

    def case_done(self, result: CaseResult) -> None:
        self.done.append((time.perf_counter(), result))

    def close(self) -> None:
        return None


@dataclass
class UdpRow:
    what: str
    profile: str
    seed: int
    examples: int
    steps: int
    messages: int
    wall: float
    outcome: str

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall if self.wall else 0.0


def _steps_run(result: SessionResult) -> int:
    return sum(len(c.case.steps) * max(c.runs, 1) for c in result.cases
               if c.verdict in ("passed", "failed", "flaky") and c.case.kind != "setup")


async def _in_process(profile: Profile, phone_class: type[ReferencePhone], seed: int,
                      examples: int, clock: Clock, **options: Any) -> SessionResult:
    device = InProcessPhone(phone_class, profile)
    config = RunConfig(profile, "phone", "1001", device, UDP_ANY, seed=seed, timing=UDP_TIMING,
                       vendor=profile.id, on_ready=device.start,
                       cases=example_cases(profile, "phone", examples, seed), **options)
    try:
        return await asyncio.wait_for(run_session(config, clock), 600)
    finally:
        device.close()


def _udp_row(what: str, profile: Profile, seed: int, examples: int, clock: Clock,
             result: SessionResult) -> UdpRow:
    assert clock.started is not None, result.setup_error
    end = clock.done[-1][0] if clock.done else time.perf_counter()
    # fsync's side of the wire during the examples (the registration before them left out)
    wall = end - clock.started
    messages = sum(1 for r in result.records if r.time >= clock.started_wall)
    return UdpRow(what, profile.id, seed, examples, _steps_run(result), messages, wall,
                  result.outcome)


def measure_udp_in_process(profile: Profile, seed: int, examples: int) -> UdpRow:
    clock = Clock()
    result = asyncio.run(_in_process(profile, ReferencePhone, seed, examples, clock))
    return _udp_row("fsync test examples, in-process phone", profile, seed, examples, clock,
                    result)


def measure_udp_subprocess(profile: Profile, seed: int, examples: int) -> UdpRow | None:
    if shutil.which("curl") is None:
        return None
    clock = Clock()
    probe = Agent()  # the phone's API port and its curl templates; started once fsync listens
    device = ShellDevice.from_options(probe.control, probe.query, timeout=5.0)
    agents: list[Agent] = []

    async def ready(addresses: list[Address]) -> None:
        agent = Agent(phone_argv(profile.id, addresses[0].port), api=probe.api)
        agents.append(agent.__enter__())

    config = RunConfig(profile, "phone", "1001", device, UDP_ANY, seed=seed,
                       timing=SUBPROCESS_TIMING, vendor=profile.id, on_ready=ready,
                       cases=example_cases(profile, "phone", examples, seed))
    try:
        result = asyncio.run(asyncio.wait_for(run_session(config, clock), 600))
    finally:
        for agent in agents:
            agent.__exit__(None, None, None)
    return _udp_row("fsync test examples, fsync phone subprocess + curl", profile, seed,
                    examples, clock, result)


def hunt_defective(name: str, seed: int, examples: int) -> DefectRow:
    profile = profiles()["broadsoft"]
    clock = Clock()
    result = asyncio.run(_in_process(profile, DEFECTS[name], seed, examples, clock,
                                     max_failures=1, shrink_budget=30.0))
    where = "broadsoft phone, UDP"
    assert clock.started is not None, result.setup_error
    failed = [(t, c) for t, c in clock.done if c.verdict == "failed"]
    if not failed:
        return DefectRow(name, where, seed, False, None, None, None, None, None, None)
    shrunk_at, case = failed[0]
    finding = case.finding
    if case.case.kind == "setup":
        # seen while the phone registered and subscribed, confirmed by a new subscription:
        # no example ran, nothing to shrink
        return DefectRow(name, where, seed, True, 0, 0.0, 0, shrunk_at - clock.started, 0,
                         finding.rule if finding else None, case.runs - 1)
    assert clock.first_failure is not None
    first_length = len(case.case.steps)
    return DefectRow(name, where, seed, True, clock.cases_before_first + 1,
                     clock.first_failure - clock.started, first_length,
                     shrunk_at - clock.started,
                     len(finding.minimal.steps) if finding else None,
                     finding.rule if finding else None, case.runs - 1)


# ============================================================================ output


def _median(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _fmt(value: float | int | None, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and spec == "d"):
        return str(int(value))
    return format(value, spec)


def _timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = action()
    sys.stderr.write(f"  {label}: {time.perf_counter() - started:.1f} s\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="broadsoft only, one seed, few examples (the smoke test)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seeds (Hypothesis @seed, fsync test --seed); medians over them")
    parser.add_argument("--profiles", nargs="+", default=None,
                        help="profiles of the in-memory run (default: all)")
    parser.add_argument("--examples", type=int, default=50,
                        help="Hypothesis examples per profile (default 50)")
    parser.add_argument("--steps", type=int, default=20,
                        help="most steps per Hypothesis example (default 20, as fsync-ci)")
    parser.add_argument("--udp-examples", type=int, default=10,
                        help="fsync test examples over UDP (default 10)")
    parser.add_argument("--hunt-examples", type=int, default=200,
                        help="most Hypothesis examples when hunting a broken agent "
                             "(default 200, as tests/testing/test_broken_agents.py)")
    parser.add_argument("--hunt-udp-examples", type=int, default=20,
                        help="most fsync test examples when hunting a defective phone")
    parser.add_argument("--faults", action="store_true",
                        help="hunt the broken agents with every fault family on (default "
                             "off, as the tests)")
    parser.add_argument("--no-subprocess", action="store_true",
                        help="skip the fsync phone subprocess run")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    known = profiles()
    if args.quick:
        names = ["broadsoft"]
        seeds = args.seeds[:1]
        examples, udp_examples, hunt_udp = 10, 3, 12
    else:
        names = args.profiles or list(known)
        seeds = args.seeds
        examples, udp_examples, hunt_udp = args.examples, args.udp_examples, \
            args.hunt_udp_examples
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("fsync property benchmark: stateful steps in memory and over UDP, time to find and "
          "shrink injected defects")
    print(f"versions: fsync {fsync_model.__version__}, hypothesis {hypothesis.__version__}, "
          f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"cpus {os.cpu_count()}, load average before the run {load:.2f}")
    print(f"parameters: seeds {seeds}; in memory {examples} examples x up to {args.steps} "
          f"steps per profile, every fault family; over UDP {udp_examples} fsync test examples "
          f"(settle {UDP_TIMING.settle:g} s, step timeout "
          f"{UDP_TIMING.step_timeout:g} s in process, {SUBPROCESS_TIMING.step_timeout:g} s "
          f"subprocess); hunts: up to {args.hunt_examples} Hypothesis "
          f"examples (faults {'on' if args.faults else 'off'}), up to {hunt_udp} fsync test "
          "examples")
    begun = time.perf_counter()
    out: dict[str, Any] = {"seeds": seeds, "memory": [], "udp": [], "defects": []}

    # -- 1. in memory
    print("\n1. in memory: the Hypothesis machine of each profile (reference agents)")
    print(f"{'profile':20} {'examples':>8} {'steps':>7} {'messages':>8} {'steps/s':>9} "
          f"{'steps/cpu-s':>11} {'examples/s':>10} {'messages/s':>10}  failure")
    memory: dict[str, list[MemoryRow]] = {}
    for name in names:
        warm_up(known[name])
        rows = [_timed(f"{name} seed {s}", partial(measure_memory, known[name], s, examples,
                                                   args.steps))
                for s in seeds]
        memory[name] = rows
        out["memory"] += [asdict(r) for r in rows]
        steps = sum(r.steps for r in rows)
        wall = sum(r.wall for r in rows)
        cpu = sum(r.cpu for r in rows)
        n_examples = sum(r.examples for r in rows)
        messages = sum(r.messages for r in rows)
        failures = sorted({r.failure for r in rows if r.failure})
        print(f"{name:20} {n_examples:8d} {steps:7d} {messages:8d} {steps / wall:9.0f} "
              f"{steps / cpu:11.0f} {n_examples / wall:10.1f} {messages / wall:10.0f}  "
              f"{'; '.join(failures) or 'none'}")
    all_rows = [r for rows in memory.values() for r in rows]
    total_steps = sum(r.steps for r in all_rows)
    total_wall = sum(r.wall for r in all_rows)
    print(f"{'all':20} {sum(r.examples for r in all_rows):8d} {total_steps:7d} "
          f"{sum(r.messages for r in all_rows):8d} {total_steps / total_wall:9.0f} "
          f"{total_steps / sum(r.cpu for r in all_rows):11.0f} "
          f"{sum(r.examples for r in all_rows) / total_wall:10.1f} "
          f"{sum(r.messages for r in all_rows) / total_wall:10.0f}")

    # -- 2. over UDP
    print("\n2. over UDP on 127.0.0.1: fsync test's property examples against the reference "
          "phone (broadsoft)")
    print(f"{'run':52} {'examples':>8} {'steps':>6} {'messages':>8} {'seconds':>8} "
          f"{'steps/s':>8} {'examples/s':>10} {'messages/s':>10}  outcome")
    udp_rows: list[UdpRow] = []
    for s in seeds:
        udp_rows.append(_timed(f"udp in-process seed {s}", partial(
            measure_udp_in_process, known["broadsoft"], s, udp_examples)))
        if not args.no_subprocess:
            row = _timed(f"udp subprocess seed {s}", partial(
                measure_udp_subprocess, known["broadsoft"], s, udp_examples))
            if row is not None:
                udp_rows.append(row)
    by_kind: dict[str, list[UdpRow]] = {}
    for row in udp_rows:
        by_kind.setdefault(row.what, []).append(row)
        out["udp"].append({**asdict(row), "steps_per_s": row.steps_per_s})
    for what, rows in by_kind.items():
        wall = sum(r.wall for r in rows)
        steps = sum(r.steps for r in rows)
        n = sum(r.examples for r in rows)
        outcomes = sorted({r.outcome for r in rows})
        print(f"{what:52} {n:8d} {steps:6d} {sum(r.messages for r in rows):8d} {wall:8.1f} "
              f"{steps / wall:8.1f} {n / wall:10.2f} "
              f"{sum(r.messages for r in rows) / wall:10.1f}  {', '.join(outcomes)}")
    memory_rate = (sum(r.steps for r in memory.get("broadsoft", all_rows))
                   / sum(r.wall for r in memory.get("broadsoft", all_rows)))
    for what, rows in by_kind.items():
        rate = sum(r.steps for r in rows) / sum(r.wall for r in rows)
        print(f"ratio in-memory/UDP steps/s (broadsoft): {memory_rate / rate:.0f} "
              f"({memory_rate:.0f} vs {rate:.1f} steps/s; {what})")
        out.setdefault("ratios", {})[what] = memory_rate / rate

    # -- 3. defects
    print("\n3. injected defects: to the first failure and to the shrunk failure (median over "
          f"{len(seeds)} seed(s))")
    print(f"{'defect':24} {'where':30} {'found':>5} {'runs to 1st':>11} {'s to 1st':>8} "
          f"{'1st len':>7} {'s to shrunk':>11} {'shrunk len':>10} {'runs after':>11}  rule")
    for profile_id, role, cls in BROKEN:
        warm_up(known[profile_id])
        rows = [_timed(f"{cls.__name__} seed {s}", partial(
            hunt_broken, known[profile_id], role, cls, s, args.hunt_examples, args.steps,
            args.faults)) for s in seeds]
        _defect_line(rows, out)
    for name in DEFECTS:
        rows = [_timed(f"{name} seed {s}", partial(hunt_defective, name, s, hunt_udp))
                for s in seeds]
        _defect_line(rows, out)
    print(f"\ntotal time {time.perf_counter() - begun:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


def _defect_line(rows: list[DefectRow], out: dict[str, Any]) -> None:
    out["defects"] += [asdict(r) for r in rows]
    first = rows[0]
    found = sum(r.found for r in rows)
    rules = sorted({r.rule for r in rows if r.rule})
    print(f"{first.defect:24} {first.where:30} {found:>2}/{len(rows):<2} "
          f"{_fmt(_median([r.first_examples for r in rows]), 'g'):>11} "
          f"{_fmt(_median([r.first_seconds for r in rows])):>8} "
          f"{_fmt(_median([r.first_length for r in rows]), 'g'):>7} "
          f"{_fmt(_median([r.shrunk_seconds for r in rows])):>11} "
          f"{_fmt(_median([r.shrunk_length for r in rows]), 'g'):>10} "
          f"{_fmt(_median([r.runs_after_first for r in rows]), 'g'):>11}  "
          f"{'; '.join(rules) or '-'}")


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
