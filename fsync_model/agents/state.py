"""Feature state as a value, and its JSON form (an external contract).

The state JSON is what ``fsync serve``/``fsync phone`` print and what a device's ``--query``
command must print::

    {"dnd": false,
     "cfa": {"on": true, "target": "2000"},
     "cfb": {"on": false, "target": null},
     "cfna": {"on": true, "target": "3000", "rings": 4}}

Values are immutable; a change makes a new state, so agents can keep the confirmed state and
a pending one side by side (the phone's indicator).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, cast

FeatureName = Literal["dnd", "cfa", "cfb", "cfna"]
FEATURES: tuple[FeatureName, ...] = ("dnd", "cfa", "cfb", "cfna")
FORWARDS: tuple[FeatureName, ...] = ("cfa", "cfb", "cfna")


class StateError(ValueError):
    """A state JSON document or a change that does not fit the model."""


@dataclass(frozen=True, slots=True)
class Change:
    """One feature switched on or off, as a user or an administrator does it."""

    feature: FeatureName
    on: bool
    target: str | None = None
    rings: int | None = None

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise StateError(f"unknown feature {self.feature!r}; one of {', '.join(FEATURES)}")
        if self.feature == "dnd" and (self.target is not None or self.rings is not None):
            raise StateError("dnd takes no number")
        if self.feature != "cfna" and self.rings is not None:
            raise StateError(f"{self.feature} takes no ring count (only cfna does)")
        if self.on and self.feature in FORWARDS and not self.target:
            raise StateError(f"{self.feature} on needs a forward-to number")

    def describe(self) -> str:
        if self.feature == "dnd":
            return f"dnd {'on' if self.on else 'off'}"
        if not self.on:
            return f"{self.feature} off"
        rings = f" {self.rings}" if self.rings is not None else ""
        return f"{self.feature} on {self.target}{rings}"


@dataclass(frozen=True, slots=True)
class Forward:
    on: bool = False
    target: str | None = None
    rings: int | None = None


@dataclass(frozen=True, slots=True)
class FeatureState:
    """Do Not Disturb and the three call forwards of one line."""

    dnd: bool = False
    cfa: Forward = Forward()
    cfb: Forward = Forward()
    cfna: Forward = Forward()

    def forward(self, feature: FeatureName) -> Forward:
        return cast(Forward, getattr(self, feature))

    def applied(self, change: Change) -> FeatureState:
        """The state after ``change``. Switching a forward off keeps its number (phones and
        servers remember the last target), as the NOTIFY of a real server shows it."""
        if change.feature == "dnd":
            return replace(self, dnd=change.on)
        old = self.forward(change.feature)
        if change.on:
            rings = change.rings if change.feature == "cfna" else None
            if change.feature == "cfna" and rings is None:
                rings = old.rings
            new = Forward(True, change.target, rings)
        else:
            new = Forward(False, old.target, old.rings)
        if change.feature == "cfa":
            return replace(self, cfa=new)
        if change.feature == "cfb":
            return replace(self, cfb=new)
        return replace(self, cfna=new)

    def as_change(self, feature: FeatureName) -> Change:
        """This state's value of one feature, as the change that would set it."""
        if feature == "dnd":
            return Change("dnd", self.dnd)
        fwd = self.forward(feature)
        if not fwd.on:
            return Change(feature, False)
        return Change(feature, True, fwd.target, fwd.rings if feature == "cfna" else None)

    def agrees(self, other: FeatureState, feature: FeatureName) -> bool:
        """Same on/off and, when on, the same number and ring count."""
        if feature == "dnd":
            return self.dnd == other.dnd
        a, b = self.forward(feature), other.forward(feature)
        if a.on != b.on:
            return False
        if not a.on:
            return True
        if a.target != b.target:
            return False
        return feature != "cfna" or a.rings == b.rings

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dnd": self.dnd}
        for name in FORWARDS:
            fwd = self.forward(name)
            item: dict[str, Any] = {"on": fwd.on, "target": fwd.target}
            if name == "cfna":
                item["rings"] = fwd.rings
            out[name] = item
        return out

    @classmethod
    def from_json(cls, data: Any) -> FeatureState:
        """Read the state JSON; errors name the field and what is allowed."""
        if not isinstance(data, dict):
            raise StateError("state JSON must be an object with dnd, cfa, cfb, cfna")
        unknown = sorted(set(data) - set(FEATURES))
        if unknown:
            raise StateError(f"unknown field(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(FEATURES)}")
        dnd = data.get("dnd", False)
        if not isinstance(dnd, bool):
            raise StateError(f"dnd: expected true or false, got {dnd!r}")
        forwards: dict[str, Forward] = {}
        for name in FORWARDS:
            raw = data.get(name, {"on": False, "target": None})
            if not isinstance(raw, dict):
                raise StateError(f"{name}: expected an object like {{\"on\": false, "
                                 f"\"target\": null}}")
            on = raw.get("on", False)
            if not isinstance(on, bool):
                raise StateError(f"{name}.on: expected true or false, got {on!r}")
            target = raw.get("target")
            if target is not None and not isinstance(target, str | int):
                raise StateError(f"{name}.target: expected a number as a string or null")
            rings = raw.get("rings")
            if rings is not None and (not isinstance(rings, int) or isinstance(rings, bool)):
                raise StateError(f"{name}.rings: expected an integer or null, got {rings!r}")
            if name != "cfna" and rings is not None:
                raise StateError(f"{name}.rings: only cfna has a ring count")
            forwards[name] = Forward(on, None if target is None else str(target), rings)
        return cls(dnd, forwards["cfa"], forwards["cfb"], forwards["cfna"])
