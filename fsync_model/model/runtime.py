"""Stepping a table at run time, and measuring what a test run covered.

The agents call :meth:`FlowTracker.step` for every message they send or receive (and for
keypad / portal / timer events); the tracker checks it against the table, records a typed
`Step` and raises `IllegalTransition` when the table forbids it. `Coverage` folds recorded
runs back onto the tables: which states, transitions and transition pairs were reached, per
machine, and which never were.

Usage::

    tracker = FlowTracker(tables[key], role=Party.PHONE)
    tracker.step(Input.PHONE_USER_CHANGE, now=0.0)
    tracker.step(Input.PHONE_SENDS_SUBSCRIBE_SET, now=0.0)
    tracker.step(input_for(Party.PHONE, "RECV_2XX"), now=0.02)
    tracker.done, tracker.state                      # False, 'AwaitingConfirm'
    coverage = Coverage(tables.values()); coverage.add_run(tracker.steps)

A tracker with a ``role`` steps over inputs the role cannot see: the phone's tracker of a
server-initiated flow is told ``RECV_NOTIFY`` first and takes the server's
``SERVER_ADMIN_CHANGE`` on its own (recorded with ``observed=False``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .inputs import Input, Party, observable
from .table import IllegalTransition, MachineKey, State, Transition, TransitionTable


@dataclass(frozen=True)
class Step:
    """One transition taken at run time. ``time`` is the caller's clock (seconds), or None;
    ``observed`` is False for a peer's local event the tracker inferred."""

    machine: MachineKey
    source: State
    input: Input
    dest: State
    time: float | None = None
    observed: bool = True

    def transition(self, table: TransitionTable) -> Transition:
        return table.transition(self.source, self.input)


class FlowTracker:
    """The current state of one run of one table, with every step recorded (unless
    ``record`` is False: then only the state moves and no `Step` is made, for a long-running
    server that neither keeps nor reports its steps).

    Not thread-safe; one tracker per run (a new change of a feature is a new run).
    """

    __slots__ = ("record", "role", "state", "steps", "table")

    def __init__(
        self, table: TransitionTable, *, role: Party | None = None, state: State | None = None,
        record: bool = True,
    ) -> None:
        self.table = table
        self.role = role
        self.state: State = state if state is not None else table.initial
        self.steps: list[Step] = []
        self.record = record

    @property
    def key(self) -> MachineKey:
        return self.table.key

    @property
    def done(self) -> bool:
        """True in a final state (a feature flow ends there; a lifecycle may go on)."""
        return self.state in self.table.finals

    @property
    def reached_goal(self) -> bool:
        return self.state == self.table.goal

    def allowed(self) -> tuple[Input, ...]:
        return self.table.allowed(self.state)

    def allows(self, input: Input) -> bool:
        """Whether :meth:`step` would accept ``input`` now (silent steps included)."""
        return self._silent_route(input) is not None

    def step(self, input: Input, now: float | None = None) -> Transition:
        """Take ``input``; return the transition taken. Raises `IllegalTransition`, leaving
        the state unchanged, when the table does not allow it."""
        if self.table.allows(self.state, input):  # no silent step to look for
            row = self.table.transition(self.state, input)
            self._record(row, now, observed=True)
            return row
        route = self._silent_route(input)
        if route is None:
            raise IllegalTransition(self.table, self.state, input, self.allowed())
        for row in route:
            self._record(row, now, observed=False)
        row = self.table.transition(self.state, input)
        self._record(row, now, observed=True)
        return row

    def _record(self, row: Transition, now: float | None, *, observed: bool) -> None:
        if self.record:
            self.steps.append(Step(self.table.key, row.source, row.input, row.dest, now,
                                   observed))
        self.state = row.dest

    def _silent_route(self, input: Input) -> tuple[Transition, ...] | None:
        """Rows of inputs this role cannot see that lead, one way only, to a state where
        ``input`` is allowed; () when it is allowed already; None when there is no such way."""
        state = self.state
        route: list[Transition] = []
        for _ in range(len(self.table.states)):
            if self.table.allows(state, input):
                return tuple(route)
            if self.role is None:
                return None
            unseen = [r for r in self.table.outgoing(state) if not observable(r.input, self.role)]
            if len(unseen) != 1:
                return None
            route.append(unseen[0])
            state = unseen[0].dest
        return None


@dataclass(frozen=True)
class MachineCoverage:
    """What runs reached in one machine, and what they missed."""

    key: MachineKey
    states: frozenset[State]
    states_missed: frozenset[State]
    transitions: frozenset[Transition]
    transitions_missed: frozenset[Transition]
    pairs: frozenset[tuple[Transition, Transition]]
    pairs_missed: frozenset[tuple[Transition, Transition]]

    @staticmethod
    def _ratio(reached: int, missed: int) -> float:
        total = reached + missed
        return reached / total if total else 1.0

    @property
    def state_ratio(self) -> float:
        return self._ratio(len(self.states), len(self.states_missed))

    @property
    def transition_ratio(self) -> float:
        return self._ratio(len(self.transitions), len(self.transitions_missed))

    @property
    def pair_ratio(self) -> float:
        return self._ratio(len(self.pairs), len(self.pairs_missed))


def transition_pairs(table: TransitionTable) -> frozenset[tuple[Transition, Transition]]:
    """Every (t1, t2) with t2 leaving the state t1 enters: the pairs a run can take."""
    return frozenset(
        (first, second)
        for first in table.transitions
        for second in table.outgoing(first.dest)
    )


class Coverage:
    """Recorded runs folded onto their tables. Steps of machines not given are ignored.

    Each :meth:`add_run` is one run (one tracker's steps, in order): pairs are counted only
    between consecutive steps of the same run and machine.
    """

    def __init__(self, tables: Iterable[TransitionTable]) -> None:
        self.tables = {table.key: table for table in tables}
        self._states: dict[MachineKey, set[State]] = {k: set() for k in self.tables}
        self._rows: dict[MachineKey, set[Transition]] = {k: set() for k in self.tables}
        self._pairs: dict[MachineKey, set[tuple[Transition, Transition]]] = {
            k: set() for k in self.tables
        }

    def add_run(self, steps: Sequence[Step]) -> None:
        previous: Transition | None = None
        previous_key: MachineKey | None = None
        for step in steps:
            table = self.tables.get(step.machine)
            if table is None:
                previous = None
                continue
            row = step.transition(table)
            self._states[step.machine].update((row.source, row.dest))
            self._rows[step.machine].add(row)
            same_run = previous_key == step.machine
            if previous is not None and same_run and previous.dest == row.source:
                self._pairs[step.machine].add((previous, row))
            previous, previous_key = row, step.machine

    def add_tracker(self, tracker: FlowTracker) -> None:
        self.add_run(tracker.steps)

    def machine(self, key: MachineKey) -> MachineCoverage:
        table = self.tables[key]
        states = frozenset(self._states[key])
        rows = frozenset(self._rows[key])
        pairs = frozenset(self._pairs[key])
        return MachineCoverage(
            key=key,
            states=states,
            states_missed=frozenset(table.states) - states,
            transitions=rows,
            transitions_missed=frozenset(table.transitions) - rows,
            pairs=pairs,
            pairs_missed=transition_pairs(table) - pairs,
        )

    def report(self) -> list[MachineCoverage]:
        """One entry per machine, in the order the tables were given."""
        return [self.machine(key) for key in self.tables]

    def unreached(self) -> dict[MachineKey, tuple[Transition, ...]]:
        """Transitions never taken, per machine (machines fully covered are left out), in
        table order: the list a tester works down."""
        missing: dict[MachineKey, tuple[Transition, ...]] = {}
        for key, table in self.tables.items():
            rows = tuple(row for row in table.transitions if row not in self._rows[key])
            if rows:
                missing[key] = rows
        return missing


def subscribe_answered_first(subscription: FlowTracker, flow: FlowTracker) -> bool:
    """The tie-break of the NOTIFY routing rule (model/tables.py): a single document of a
    feature whose set request is in flight, coming while the subscription waits for (a
    part of) its full state, is that part when the server took the SUBSCRIBE first, and
    the set request's confirmation otherwise. The server's NOTIFYs follow the order it took
    the two requests in, which the answers show: it has answered the SUBSCRIBE (the
    subscription takes no 2xx any more) and not the set request (its flow still takes
    one). The reference phone and the capture checker both route by this."""
    answer = Input.SERVER_SENDS_2XX
    return (not subscription.table.allows(subscription.state, answer)
            and flow.table.allows(flow.state, answer))
