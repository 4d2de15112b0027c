"""The one owner of transitions: tables built from a Profile, and what runs on them.

Read ``tables.py`` first: its docstring is the essay on how the machines work and how a
profile shapes them. This package imports only :mod:`fsync_model.profile` (no SIP, no
sockets, no clock); `transitions` is used only in ``machines.py``.

* ``inputs.py``: `Party`, role-agnostic `Input`, and each role's view (`role_view`).
* ``table.py``: `TransitionTable`, `Transition`, `MachineKey`, `IllegalTransition`,
  :func:`happy_path`, :func:`paths`.
* ``tables.py``: :func:`machines_for` (every table of a profile), :func:`flow_table`.
* ``runtime.py``: `FlowTracker` (step a run, record `Step`s), `Coverage`.
* ``machines.py``: `transitions` machines from tables; :func:`graph_machine` for diagrams.

Usage::

    from fsync_model.model import FlowTracker, Input, MachineKey, Party, happy_path, machines_for
    from fsync_model.profile import load_all

    tables = machines_for(load_all()["broadsoft"])
    dnd = tables[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    [row.label for row in happy_path(dnd)]
    # ['DND changed at the phone', 'SUBSCRIBE (SetDoNotDisturb)', '200 OK',
    #  'NOTIFY (DoNotDisturbEvent, new state)', '200 OK']
    server = FlowTracker(dnd, role=Party.SERVER)
    server.step(Input.PHONE_SENDS_SUBSCRIBE_SET, now=0.0)  # steps over the unseen keypad press
    server.step(Input.SERVER_SENDS_2XX, now=0.001).status  # 200: what this profile answers
"""
from typing import TYPE_CHECKING, Any

from .inputs import Input, Party, View, input_for, observable, role_view, trigger_name, view_kind
from .runtime import (
    Coverage,
    FlowTracker,
    MachineCoverage,
    Step,
    subscribe_answered_first,
    transition_pairs,
)
from .table import (
    FlowKind,
    IllegalTransition,
    MachineKey,
    Path,
    State,
    Transition,
    TransitionTable,
    happy_path,
    inputs_of,
    paths,
    shortest_path,
)
from .tables import FAILED, INFORMED, REVERTED, SYNCED, flow_table, machines_for

if TYPE_CHECKING:
    from .machines import TableMachine, build_machine, graph_machine

#: Loaded on first use: `transitions` (and its graph support) is needed to build machines
#: and diagrams, not to step the tables (an agent, a server, the checker).
_MACHINES = frozenset({"TableMachine", "build_machine", "graph_machine"})


def __getattr__(name: str) -> Any:
    if name in _MACHINES:
        from . import machines

        return getattr(machines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FAILED",
    "INFORMED",
    "REVERTED",
    "SYNCED",
    "Coverage",
    "FlowKind",
    "FlowTracker",
    "IllegalTransition",
    "Input",
    "MachineCoverage",
    "MachineKey",
    "Party",
    "Path",
    "State",
    "Step",
    "TableMachine",
    "Transition",
    "TransitionTable",
    "View",
    "build_machine",
    "flow_table",
    "graph_machine",
    "happy_path",
    "input_for",
    "inputs_of",
    "machines_for",
    "observable",
    "paths",
    "role_view",
    "shortest_path",
    "subscribe_answered_first",
    "transition_pairs",
    "trigger_name",
    "view_kind",
]
