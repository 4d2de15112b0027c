"""What the reference agents report: typed events, each with one JSON-line form.

``fsync serve`` and ``fsync phone`` print every event as one JSON object per line on stdout
(an external contract: lab scripts parse it). Field names are stable; new fields may be
added, none renamed. Every object has ``"event"`` (its kind) and ``"t"`` (seconds, the
agent's ``now``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fsync_model.agents.state import FeatureState


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A line's feature state changed. ``confirmed`` is False while the phone's indicator
    waits for the server's confirming NOTIFY."""

    t: float
    user: str
    state: FeatureState
    cause: str
    confirmed: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"event": "state", "t": round(self.t, 6), "user": self.user,
                "state": self.state.to_json(), "cause": self.cause,
                "confirmed": self.confirmed}


@dataclass(frozen=True, slots=True)
class MessageLogged:
    """One SIP message sent or received, summarized (first line and key headers)."""

    t: float
    direction: Literal["in", "out"]
    src: str
    dst: str
    summary: str
    call_id: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": "message", "t": round(self.t, 6), "dir": self.direction,
                               "src": self.src, "dst": self.dst, "summary": self.summary}
        if self.call_id is not None:
            out["call_id"] = self.call_id
        if self.details:
            out["details"] = list(self.details)
        return out


@dataclass(frozen=True, slots=True)
class FlowStepped:
    """A model machine took a transition (the table's source, input and destination)."""

    t: float
    machine: str
    source: str
    input: str
    dest: str

    def to_json(self) -> dict[str, Any]:
        return {"event": "step", "t": round(self.t, 6), "machine": self.machine,
                "from": self.source, "input": self.input, "to": self.dest}


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the peer did that the model or the RFCs do not allow (a finding), or a
    failure of our own (a timeout). ``rule`` is a stable id."""

    t: float
    rule: str
    message: str
    severity: Literal["error", "warning", "info"] = "error"
    evidence: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": "problem", "t": round(self.t, 6), "rule": self.rule,
                               "severity": self.severity, "message": self.message}
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(frozen=True, slots=True)
class Info:
    """Lifecycle news: registered, subscribed, listening... (``what`` is a stable word)."""

    t: float
    what: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": "info", "t": round(self.t, 6), "what": self.what, **self.data}


AgentEvent = StateChanged | MessageLogged | FlowStepped | Problem | Info


#: what an agent reports to: any callable taking one event
Observer = Callable[[AgentEvent], None]
