"""How much of every machine the runs reached: states, transitions, transition pairs.

Runs are the agents' recorded steps (``agent.steps``), folded onto the tables with
:class:`~fsync_model.model.Coverage`. An agent's steps interleave its trackers, so
:func:`split_runs` first cuts them into one run per tracker (per machine, a new run where a
step does not continue the previous one). The spec's tables (the policy the profile
declares) are the requirement; the tables of the other server policies (reject, error:
``Reverted`` and the early ``Failed``) are reported next to them.

Some rows cannot be reached with the reference agents, whatever the network or a faulty
peer does: each is listed in `EXCLUDED` with the reason (a gap in an agent or a table, to
be raised with its owner). Everything else must be reached by the property runs plus the
generated suite; :meth:`CoverageCollector.unexplained` lists what is not.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fsync_model.model import (
    Coverage,
    FlowKind,
    MachineKey,
    Step,
    Transition,
    TransitionTable,
    machines_for,
)
from fsync_model.profile import PolicyMode, Profile


def split_runs(steps: Sequence[Step]) -> list[list[Step]]:
    """One list per tracker run: steps of one machine, in order, each continuing from the
    previous one's destination."""
    open_runs: dict[MachineKey, list[list[Step]]] = {}
    order: list[list[Step]] = []
    for step in steps:
        runs = open_runs.setdefault(step.machine, [])
        for run in reversed(runs):
            if run[-1].dest == step.source:
                run.append(step)
                break
        else:
            run = [step]
            runs.append(run)
            order.append(run)
    return order


# ============================================================================ exclusions


@dataclass(frozen=True)
class Exclusion:
    """Rows no run with the reference agents can take: ``kind`` is the machine's kind
    (``registration``, ``subscription``, ``uacsta-session``, ``phone-initiated``,
    ``server-initiated``), ``source`` a regular expression on the row's source state,
    ``inputs`` the row's inputs; ``systems`` limits it to those profiles (empty: all)."""

    kind: str
    source: str
    inputs: frozenset[str]
    reason: str
    systems: frozenset[str] = frozenset()

    def applies(self, key: MachineKey, row: Transition) -> bool:
        kind = key.kind.value if key.direction is None else key.direction.initiated
        return (kind == self.kind and (not self.systems or key.system in self.systems)
                and re.fullmatch(self.source, row.source) is not None
                and row.input.value in self.inputs)


_ANSWERS_AT_ONCE = ("the reference phone answers a NOTIFY in the same step it receives it, "
                    "and the reference server sends its 2xx before its first NOTIFY: no "
                    "run has a NOTIFY received and still unanswered when the 2xx arrives")
_FORGETS_ON_UNSUBSCRIBE = (
    "after PHONE_SENDS_UNSUBSCRIBE the reference phone drops its subscription tracker "
    "(agents/phone.py set_sync) and the server steps UNSUBSCRIBE, 2XX and "
    "NOTIFY_TERMINATED at once when the notifier ends the subscription; nobody steps the "
    "rest of the unsubscribe (agent gap)")

_RESTART_DROPS = (
    "per-feature full state: when a refresh crosses it the reference notifier drops the "
    "parts not yet sent, so only the outstanding one can reach the phone before the "
    "refresh's 2xx (the first part: RestartingCfaState...); a second part before that 2xx "
    "takes a notifier that keeps sending the old full state")

EXCLUDED: tuple[Exclusion, ...] = (
    Exclusion("subscription", r"(Subscribing|Refreshing|Restarting|Unsubscribing)\w*Notified"
                              r"|UnsubscribingFinalNotifyReceived",
              frozenset({"SERVER_SENDS_2XX"}), _ANSWERS_AT_ONCE),
    Exclusion("subscription", r"Restarting(?!Cfa)\w+State(Notified|Received)",
              frozenset({"SERVER_SENDS_NOTIFY", "PHONE_SENDS_200", "SERVER_SENDS_2XX"}),
              _RESTART_DROPS, frozenset({"metaswitch"})),
    Exclusion("subscription", r"RestartingCfaStateReceived",
              frozenset({"SERVER_SENDS_NOTIFY"}), _RESTART_DROPS, frozenset({"metaswitch"})),
    Exclusion("subscription", r"Restarting\w*StateReceived", frozenset({"PHONE_TIMEOUT"}),
              "a refresh crossing the full state whose 2xx is lost after a part arrived: "
              "with the reference subscriber the refresh (at 0.9 of Expires, the full state "
              "still outstanding: Expires under 35 s) cannot time out (Timer F, 32 s) before "
              "the subscription expires"),
    Exclusion("subscription", r"Unsubscribing",
              frozenset({"SERVER_SENDS_NOTIFY_TERMINATED", "SERVER_SENDS_481",
                         "SERVER_SENDS_ERROR", "PHONE_TIMEOUT"}), _FORGETS_ON_UNSUBSCRIBE),
    Exclusion("subscription", r"UnsubscribingFinalNotify\w+|FinalNotifyReceived",
              frozenset({"PHONE_SENDS_200", "SERVER_SENDS_2XX"}), _FORGETS_ON_UNSUBSCRIBE),
    Exclusion("phone-initiated", r"(Confirm|Rejection)BeforeAnswer",
              frozenset({"SERVER_SENDS_2XX"}), _ANSWERS_AT_ONCE),
    Exclusion("phone-initiated", r"(Confirm|Rejection)BeforeAnswer",
              frozenset({"PHONE_SENDS_ERROR"}),
              "the reference phone never steps PHONE_SENDS_ERROR (it answers an unreadable "
              "NOTIFY before routing it to a flow), and the server is never before its 2xx "
              "when its confirming NOTIFY is answered"),
    Exclusion("phone-initiated", r"InCall", frozenset({"SERVER_SENDS_BYE"}),
              "the reference phone hangs up right after its ACK (a background call) and the "
              "reference PBX never hangs up first"),
    Exclusion("phone-initiated", r"ServerHungUp", frozenset({"PHONE_SENDS_200"}),
              "follows SERVER_SENDS_BYE in InCall, which never happens (see there)"),
    Exclusion("uacsta-session", r"Monitoring|ServerClosing|PhoneClosing",
              frozenset({"SERVER_SENDS_BYE", "PHONE_SENDS_BYE", "PHONE_SENDS_200",
                         "SERVER_SENDS_2XX", "PHONE_TIMEOUT"}),
              "neither reference agent ever closes the uaCSTA session"),
)


def exclusion(key: MachineKey, row: Transition) -> Exclusion | None:
    return next((e for e in EXCLUDED if e.applies(key, row)), None)


# ============================================================================ collecting


@dataclass(frozen=True)
class MachineFigures:
    """What the runs reached in one machine (``variant``: ``spec`` or ``policy reject`` /
    ``policy error``)."""

    key: MachineKey
    variant: str
    states: tuple[int, int]
    transitions: tuple[int, int]
    pairs: tuple[int, int]
    missed: tuple[Transition, ...]
    excluded: tuple[tuple[Transition, str], ...]
    transitions_reached: tuple[Transition, ...] = ()

    @property
    def unexplained(self) -> tuple[Transition, ...]:
        excluded = {row for row, _ in self.excluded}
        return tuple(row for row in self.missed if row not in excluded)


class _HasSteps(Protocol):
    steps: list[Step]


class CoverageCollector:
    """Coverage of the machines of ``profiles``, fed with recorded steps."""

    VARIANTS = (PolicyMode.REJECT, PolicyMode.ERROR)

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self.profiles = list(profiles)
        tables: list[TransitionTable] = []
        variants: dict[str, list[TransitionTable]] = {f"policy {m.value}": []
                                                      for m in self.VARIANTS}
        for profile in self.profiles:
            tables.extend(machines_for(profile).values())
            for mode in self.VARIANTS:
                if profile.policy.mode.value is mode:
                    continue
                other = machines_for(profile.with_policy(mode))
                variants[f"policy {mode.value}"].extend(
                    t for k, t in other.items() if k.kind is FlowKind.FEATURE)
        self.coverages: dict[str, Coverage] = {"spec": Coverage(tables)}
        self.coverages.update({name: Coverage(ts) for name, ts in variants.items()})
        self.runs = 0

    def add(self, steps: Sequence[Step]) -> None:
        """Fold an agent's recorded steps in."""
        for run in split_runs(steps):
            self.runs += 1
            for coverage in self.coverages.values():
                table = coverage.tables.get(run[0].machine)
                if table is None:
                    continue
                segment: list[Step] = []
                for step in run:
                    if table.allows(step.source, step.input) and (
                            table.dest(step.source, step.input) == step.dest):
                        segment.append(step)
                        continue
                    if segment:
                        coverage.add_run(segment)
                    segment = []
                if segment:
                    coverage.add_run(segment)

    def add_agents(self, *agents: _HasSteps) -> None:
        """Fold in the steps of agents (anything with a ``steps`` list)."""
        for agent in agents:
            self.add(agent.steps)

    def figures(self, variant: str = "spec") -> list[MachineFigures]:
        out = []
        for item in self.coverages[variant].report():
            table = self.coverages[variant].tables[item.key]
            missed = tuple(row for row in table.transitions if row in item.transitions_missed)
            excluded = tuple((row, found.reason) for row in missed
                             if (found := exclusion(item.key, row)) is not None)
            out.append(MachineFigures(
                item.key, variant,
                (len(item.states), len(item.states) + len(item.states_missed)),
                (len(item.transitions), len(table.transitions)),
                (len(item.pairs), len(item.pairs) + len(item.pairs_missed)),
                missed, excluded,
                tuple(row for row in table.transitions if row in item.transitions)))
        return out

    def unexplained(self) -> dict[MachineKey, tuple[Transition, ...]]:
        """Rows of the spec's tables neither reached nor excluded, per machine."""
        return {f.key: f.unexplained for f in self.figures() if f.unexplained}


def _ratio(pair: tuple[int, int]) -> str:
    reached, total = pair
    percent = 100.0 * reached / total if total else 100.0
    return f"{reached:>3}/{total:<3} {percent:5.1f}%"


def format_report(collector: CoverageCollector, *, variants: bool = True) -> str:
    """A plain-text table per profile: states, transitions and pairs of every machine,
    then each missed row with its exclusion reason (or UNREACHED)."""
    lines: list[str] = []
    names = ["spec", *(f"policy {m.value}" for m in CoverageCollector.VARIANTS)]
    for profile in collector.profiles:
        lines.append(f"{profile.id}")
        lines.append(f"  {'machine':<42} {'states':<15} {'transitions':<15} {'pairs':<15}")
        totals = [0, 0, 0, 0, 0, 0, 0]
        for variant in names if variants else names[:1]:
            for item in collector.figures(variant):
                if item.key.system != profile.id:
                    continue
                label = str(item.key) + ("" if variant == "spec" else f" [{variant}]")
                lines.append(f"  {label:<42} {_ratio(item.states)} {_ratio(item.transitions)} "
                             f"{_ratio(item.pairs)}")
                if variant == "spec":
                    for i, pair in enumerate((item.states, item.transitions, item.pairs)):
                        totals[2 * i] += pair[0]
                        totals[2 * i + 1] += pair[1]
                    totals[6] += len(item.excluded)
        lines.append(f"  {'total (spec tables)':<42} {_ratio((totals[0], totals[1]))} "
                     f"{_ratio((totals[2], totals[3]))} {_ratio((totals[4], totals[5]))}"
                     f"  excluded rows: {totals[6]}")
        for item in collector.figures():
            if item.key.system != profile.id:
                continue
            reasons = dict(item.excluded)
            for row in item.missed:
                why = reasons.get(row)
                tag = f"excluded: {why}" if why else "UNREACHED"
                lines.append(f"    {item.key}: {row.source} --{row.input.value}--> {row.dest}"
                             f"  [{tag[:160]}]")
        lines.append("")
    return "\n".join(lines)
