"""Transition tables: the data type every machine in fsync is written in.

A `TransitionTable` is a finite, deterministic map ``(state, input) -> Transition``;
anything not in it is invalid and raises `IllegalTransition` (h2's "anything not in this
map is invalid"). Tables are plain data: the agents step them, the Hypothesis machines
enumerate them, the diagram and test writers walk them with :func:`happy_path` and
:func:`paths`. Building them from a profile is the job of ``tables.py`` alone.

Usage::

    table = machines_for(load_all()["broadsoft"])[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    table.dest("Idle", Input.PHONE_USER_CHANGE)          # 'ChangedLocally'
    [t.input for t in happy_path(table)]                 # PHONE_USER_CHANGE, ... PHONE_SENDS_200
"""
from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from fsync_model.profile import Direction, Feature, Mechanism

from .inputs import Input

State: TypeAlias = str


class FlowKind(StrEnum):
    """What a machine describes: a lifecycle of the system, or one feature's flow in one
    direction (whose mechanism is the table's ``mechanism``)."""

    REGISTRATION = "registration"
    LINE = "line"
    SUBSCRIPTION = "subscription"
    UACSTA_SESSION = "uacsta-session"
    FEATURE = "feature"


@dataclass(frozen=True, order=True)
class MachineKey:
    """Which machine: ``str(key)`` is ``broadsoft/dnd/phone-initiated`` for a feature flow
    and ``broadsoft/subscription`` for a lifecycle; :meth:`parse` is its inverse."""

    system: str
    kind: FlowKind
    feature: Feature | None = None
    direction: Direction | None = None

    def __post_init__(self) -> None:
        flow = self.kind is FlowKind.FEATURE
        if flow != (self.feature is not None) or flow != (self.direction is not None):
            raise ValueError("a feature flow key has feature and direction; a lifecycle none")

    def __str__(self) -> str:
        if self.feature is not None and self.direction is not None:
            return f"{self.system}/{self.feature.value}/{self.direction.initiated}"
        return f"{self.system}/{self.kind.value}"

    @staticmethod
    def flow(system: str, feature: Feature, direction: Direction) -> MachineKey:
        return MachineKey(system, FlowKind.FEATURE, feature, direction)

    @staticmethod
    def parse(text: str) -> MachineKey:
        parts = text.split("/")
        if len(parts) == 2 and parts[1] != FlowKind.FEATURE.value:
            return MachineKey(parts[0], FlowKind(parts[1]))
        if len(parts) == 3 and parts[2].endswith("-initiated"):
            direction = Direction(parts[2].removesuffix("-initiated"))
            return MachineKey.flow(parts[0], Feature(parts[1]), direction)
        raise ValueError(
            f"not a machine key: {text!r} (system/lifecycle or system/feature/<dir>-initiated)"
        )


@dataclass(frozen=True)
class Transition:
    """One row: in ``source``, ``input`` leads to ``dest``.

    ``label`` is the ladder-arrow text ("SUBSCRIBE (SetDoNotDisturb)", "202 Accepted");
    ``note`` says why, when it is not obvious; ``guide_ref`` cites the guide / protocol /
    RFC section it obeys; ``status`` is the exact status the profile's party answers with
    (200 vs 202, 401 vs 407, the policy's 403); ``feature`` names the feature a NOTIFY of a
    per-feature full state carries.
    """

    source: State
    input: Input
    dest: State
    label: str
    guide_ref: str
    note: str = ""
    status: int | None = None
    feature: Feature | None = None


class IllegalTransition(Exception):
    """``input`` is not allowed in ``state`` of ``table``; ``allowed`` lists what is."""

    def __init__(
        self, table: TransitionTable, state: State, input: Input, allowed: tuple[Input, ...]
    ) -> None:
        self.table = table
        self.state = state
        self.input = input
        self.allowed = allowed
        names = ", ".join(a.value for a in allowed) or "nothing (final state)"
        super().__init__(
            f"{table.key}: {input.value} is not allowed in state {state}; allowed: {names}"
        )


@dataclass(frozen=True)
class TransitionTable:
    """A deterministic state machine as data.

    ``finals`` are the states a run may legitimately stop in (terminal states of a feature
    flow; for a lifecycle also resting states such as ``Registered``); ``goal`` is the
    final the profile expects a correct exchange to reach (``Synced``; ``Reverted`` under
    policy reject; ``Failed`` under policy error; ``Registered``...).
    """

    key: MachineKey
    states: tuple[State, ...]
    initial: State
    finals: frozenset[State]
    goal: State
    transitions: tuple[Transition, ...]
    #: the mechanism of a feature flow (None for lifecycles)
    mechanism: Mechanism | None = None
    _index: dict[tuple[State, Input], Transition] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )
    _outgoing: dict[State, tuple[Transition, ...]] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        index: dict[tuple[State, Input], Transition] = {}
        known = set(self.states)
        for row in self.transitions:
            if row.source not in known or row.dest not in known:
                raise ValueError(f"{self.key}: {row} uses a state not in states")
            if (row.source, row.input) in index:
                raise ValueError(f"{self.key}: two rows for ({row.source}, {row.input.value})")
            index[(row.source, row.input)] = row
        if self.initial not in known or self.goal not in self.finals or not self.finals <= known:
            raise ValueError(f"{self.key}: initial, goal and finals must be states")
        outgoing: dict[State, list[Transition]] = {state: [] for state in self.states}
        for row in self.transitions:
            outgoing[row.source].append(row)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_outgoing", {k: tuple(v) for k, v in outgoing.items()})

    def transition(self, state: State, input: Input) -> Transition:
        """The row for ``(state, input)``; `IllegalTransition` when there is none."""
        row = self._index.get((state, input))
        if row is None:
            raise IllegalTransition(self, state, input, self.allowed(state))
        return row

    def dest(self, state: State, input: Input) -> State:
        return self.transition(state, input).dest

    def allows(self, state: State, input: Input) -> bool:
        return (state, input) in self._index

    def allowed(self, state: State) -> tuple[Input, ...]:
        """Inputs allowed in ``state``, in table order."""
        return tuple(row.input for row in self.outgoing(state))

    def outgoing(self, state: State) -> tuple[Transition, ...]:
        """Rows leaving ``state``, in table order (the first is the canonical one)."""
        return self._outgoing.get(state, ())

    @property
    def inputs(self) -> frozenset[Input]:
        return frozenset(row.input for row in self.transitions)

    def reachable(self, start: State | None = None) -> frozenset[State]:
        """States reachable from ``start`` (default: the initial state), itself included."""
        seen = {start or self.initial}
        queue = deque(seen)
        while queue:
            for row in self.outgoing(queue.popleft()):
                if row.dest not in seen:
                    seen.add(row.dest)
                    queue.append(row.dest)
        return frozenset(seen)


Path: TypeAlias = tuple[Transition, ...]


def shortest_path(table: TransitionTable, start: State, goal: State) -> Path | None:
    """Breadth-first, rows in table order: the first row of each state is the canonical one,
    so ties go to it (the 2xx before the NOTIFY that overtook it)."""
    previous: dict[State, Transition | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            steps: list[Transition] = []
            row = previous[state]
            while row is not None:
                steps.append(row)
                row = previous[row.source]
            return tuple(reversed(steps))
        for row in table.outgoing(state):
            if row.dest not in previous:
                previous[row.dest] = row
                queue.append(row.dest)
    return None


def happy_path(table: TransitionTable) -> Path:
    """The shortest run from ``initial`` to ``goal``: the flow as the guide draws it."""
    path = shortest_path(table, table.initial, table.goal)
    if path is None:  # tables are checked for this in the tests; defensive
        raise ValueError(f"{table.key}: goal {table.goal} unreachable")
    return path


def paths(table: TransitionTable, max_len: int) -> tuple[Path, ...]:
    """Every run from ``initial`` of at most ``max_len`` transitions that ends in a final
    state, shortest first (then in table order). Runs may pass through finals that have
    outgoing rows (a lifecycle's ``Registered``) and may repeat states (a second 1xx)."""
    found: list[Path] = []

    def walk(state: State, prefix: list[Transition]) -> Iterator[Path]:
        if state in table.finals:
            yield tuple(prefix)
        if len(prefix) == max_len:
            return
        for row in table.outgoing(state):
            prefix.append(row)
            yield from walk(row.dest, prefix)
            prefix.pop()

    found.extend(walk(table.initial, []))
    order = {row: index for index, row in enumerate(table.transitions)}
    found.sort(key=lambda p: (len(p), [order[row] for row in p]))
    return tuple(found)


def inputs_of(path: Path) -> tuple[Input, ...]:
    return tuple(row.input for row in path)
