"""`transitions` machines built from our tables: the library stays at this edge.

`pytransitions <https://github.com/pytransitions/transitions>`_ is used where it helps (its
diagram support, and an independent second implementation to check the tables against),
with its magic kept here: ``auto_transitions=False`` (no ``to_<state>`` triggers),
``ignore_invalid_triggers=False``, no callbacks at all, the trigger methods bound to a private
model object, and triggers named from one role's view (``send_subscribe_set``, ``recv_2xx``,
``user_change``, ``peer_admin_change``; see :func:`~fsync_model.model.inputs.trigger_name`).

Usage::

    machine = build_machine(table, Party.PHONE)
    machine.fire(Input.PHONE_USER_CHANGE)            # 'ChangedLocally'
    machine.fire_trigger("send_subscribe_set")       # 'SetRequestSent'
    graph = graph_machine(table, Party.PHONE)        # transitions GraphMachine, graphviz engine
    graph.get_graph().source                         # DOT text
"""
from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError
from transitions.extensions.diagrams import GraphMachine

from .inputs import Input, Party, input_for, trigger_name
from .table import IllegalTransition, State, TransitionTable


class _Model:
    """Carries the state and the trigger methods `transitions` binds; nothing else."""

    state: str


def _markup(table: TransitionTable, role: Party | None) -> dict[str, Any]:
    return {
        "states": [{"name": s, "final": s in table.finals} for s in table.states],
        "initial": table.initial,
        "transitions": [
            {"trigger": trigger_name(row.input, role), "source": row.source, "dest": row.dest}
            for row in table.transitions
        ],
        "auto_transitions": False,
        "ignore_invalid_triggers": False,
        "send_event": False,
    }


class TableMachine:
    """A `transitions.Machine` for one table and one role, behind a small typed facade."""

    def __init__(self, table: TransitionTable, role: Party | None = None) -> None:
        self.table = table
        self.role = role
        self._model = _Model()
        self.machine = Machine(model=self._model, name=str(table.key), **_markup(table, role))

    @property
    def state(self) -> State:
        return str(self._model.state)

    def set_state(self, state: State) -> None:
        self.machine.set_state(state, model=self._model)

    @property
    def triggers(self) -> frozenset[str]:
        return frozenset(str(name) for name in self.machine.events)

    @property
    def states(self) -> tuple[State, ...]:
        return tuple(str(name) for name in self.machine.states)

    def fire(self, input: Input) -> State:
        """Fire ``input`` (named from this machine's role); the new state. Raises
        `IllegalTransition` when `transitions` refuses it."""
        return self.fire_trigger(trigger_name(input, self.role))

    def fire_trigger(self, trigger: str) -> State:
        source = self.state
        event = self.machine.events.get(trigger)
        if event is None:
            raise IllegalTransition(
                self.table, source, input_for(self.role, trigger), self.table.allowed(source)
            )
        try:
            event.trigger(self._model)
        except MachineError:
            raise IllegalTransition(
                self.table, source, input_for(self.role, trigger), self.table.allowed(source)
            ) from None
        return self.state


def build_machine(table: TransitionTable, role: Party | None = None) -> TableMachine:
    """A `transitions` machine with exactly ``table``'s states and transitions."""
    return TableMachine(table, role)


def graph_machine(table: TransitionTable, role: Party | None = None) -> GraphMachine:
    """A `transitions` GraphMachine of ``table`` for the diagrams (graphviz engine, named
    explicitly; edges in table order, so the DOT output is stable). Its title is the key."""
    return GraphMachine(
        model=_Model(),
        title=str(table.key),
        graph_engine="graphviz",
        show_conditions=False,
        show_state_attributes=False,
        **_markup(table, role),
    )
