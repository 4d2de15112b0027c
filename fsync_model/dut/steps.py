"""What a test does to a device: steps, cases, and how they are chosen for a profile.

A :class:`Case` is a named sequence of :class:`Step` s, always run from the default state
(every feature off), so a case read back from a replay file does the same thing again. A
step is one stimulus; the runner waits for quiet after each and checks what happened:

``server-change``
    a change on the server side: fsync's server makes it (``--dut phone``: the portal) or the
    device does it through ``--control`` (``--dut server``).
``phone-change``
    a key press on the phone: through ``--control`` (``--dut phone``) or fsync's phone.
``reject``
    a key press that the server refuses by policy (``--dut phone`` only): fsync's server
    accepts the set request and confirms the old state (as-feature-event) or answers the
    code INVITE with its error status (feature codes); the phone must show the old state.
``resubscribe``
    a new subscription must bring the full state: ``--dut phone``: fsync's server changes
    ``silent`` without notifying, switches its full-state encoding to ``encoding`` (one
    multipart NOTIFY or one per feature) and terminates the subscription
    (``reason=deactivated``), so the phone re-subscribes and must show what the full state
    says; ``--dut server``: fsync's phone unsubscribes and subscribes again.

Any step may carry packet faults (``drop``, ``duplicate``: probabilities per message fsync
sends during the step, UDP only; a message is dropped at most once, so its retransmission
gets through).

:func:`regression_cases` is every flow of the profile (:func:`~fsync_model.testing.flows.
flows_of`), one step each; :func:`example_cases` draws seeded random sequences from the steps
the profile and the role allow.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, cast

from fsync_model.agents.state import Change, FeatureName, FeatureState
from fsync_model.profile import (
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
)
from fsync_model.testing.flows import flows_of

StepKind = Literal["server-change", "phone-change", "reject", "resubscribe"]
STEP_KINDS: Final[tuple[StepKind, ...]] = ("server-change", "phone-change", "reject",
                                           "resubscribe")
Role = Literal["phone", "server"]

#: forward-to numbers the examples use (plain digits: safe in any shell and any keypad)
TARGETS: Final = ("2000", "2001", "3000", "3001", "4711")
#: longest example sequence
MAX_EXAMPLE_STEPS: Final = 5


class StepError(ValueError):
    """A step or case document (a replay file) that does not fit."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    change: Change | None = None
    silent: tuple[Change, ...] = ()
    encoding: str | None = None
    drop: float = 0.0
    duplicate: float = 0.0

    @property
    def faulty(self) -> bool:
        return self.drop > 0 or self.duplicate > 0

    def without_faults(self) -> Step:
        return replace(self, drop=0.0, duplicate=0.0)

    def describe(self, role: Role = "phone") -> str:
        """``server: dnd on``, ``phone: cfna on 3000 4 (rejected by policy)``..."""
        faults = ""
        if self.faulty:
            parts = []
            if self.drop:
                parts.append(f"drop {self.drop:.0%}")
            if self.duplicate:
                parts.append(f"duplicate {self.duplicate:.0%}")
            faults = f" [{', '.join(parts)} of fsync's packets]"
        if self.kind == "server-change":
            assert self.change is not None
            return f"server: {self.change.describe()}{faults}"
        if self.kind == "phone-change":
            assert self.change is not None
            return f"phone: {self.change.describe()}{faults}"
        if self.kind == "reject":
            assert self.change is not None
            return f"phone: {self.change.describe()} (server rejects by policy){faults}"
        if role == "server":
            return f"phone: unsubscribe and subscribe again (full state){faults}"
        silent = "; ".join(c.describe() for c in self.silent)
        what = f"server changes {silent} without NOTIFY, then " if silent else "server "
        encoding = f" ({self.encoding} full state)" if self.encoding else ""
        return f"{what}terminates the subscription; phone re-subscribes{encoding}{faults}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.change is not None:
            out["change"] = change_to_json(self.change)
        if self.silent:
            out["silent"] = [change_to_json(c) for c in self.silent]
        if self.encoding is not None:
            out["encoding"] = self.encoding
        if self.drop:
            out["drop"] = self.drop
        if self.duplicate:
            out["duplicate"] = self.duplicate
        return out

    @classmethod
    def from_json(cls, data: Any) -> Step:
        if not isinstance(data, dict) or data.get("kind") not in STEP_KINDS:
            raise StepError(f"a step is an object with kind one of {', '.join(STEP_KINDS)}")
        kind = cast(StepKind, data["kind"])
        change = change_from_json(data["change"]) if "change" in data else None
        if kind != "resubscribe" and change is None:
            raise StepError(f"a {kind} step needs a change")
        silent = tuple(change_from_json(c) for c in data.get("silent", []))
        encoding = data.get("encoding")
        if encoding is not None and encoding not in [e.value for e in FullStateEncoding]:
            raise StepError(f"encoding {encoding!r}: one of multipart, per-feature")
        drop, duplicate = data.get("drop", 0.0), data.get("duplicate", 0.0)
        for name, value in (("drop", drop), ("duplicate", duplicate)):
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise StepError(f"{name}: a probability between 0 and 1")
        return cls(kind, change, silent, encoding, float(drop), float(duplicate))


def change_to_json(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"feature": change.feature, "on": change.on}
    if change.target is not None:
        out["target"] = change.target
    if change.rings is not None:
        out["rings"] = change.rings
    return out


def change_from_json(data: Any) -> Change:
    if not isinstance(data, dict):
        raise StepError("a change is an object with feature, on, target, rings")
    try:
        feature = data.get("feature")
        if feature not in ("dnd", "cfa", "cfb", "cfna"):
            raise StepError(f"change {data}: feature one of dnd, cfa, cfb, cfna")
        return Change(feature, bool(data.get("on")), data.get("target"), data.get("rings"))
    except ValueError as error:
        raise StepError(f"change {data}: {error}") from None


CaseKind = Literal["setup", "flow", "example", "replay"]


@dataclass(frozen=True)
class Case:
    """A named sequence of steps, run from the default state."""

    name: str
    kind: CaseKind
    steps: tuple[Step, ...]
    #: what the case stands for (the flow's key, the example's seed...)
    note: str = ""

    def with_steps(self, steps: tuple[Step, ...]) -> Case:
        return replace(self, steps=steps)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "note": self.note,
                "steps": [s.to_json() for s in self.steps]}

    @classmethod
    def from_json(cls, data: Any) -> Case:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise StepError("a case is an object with name and steps")
        kind = data.get("kind", "replay")
        if kind not in ("setup", "flow", "example", "replay"):
            kind = "replay"
        return cls(str(data.get("name", "replay")), kind,
                   tuple(Step.from_json(s) for s in data["steps"]), str(data.get("note", "")))


# ---------------------------------------------------------------------------------- profile


def refusal_policy(mechanism: Mechanism | None) -> PolicyMode:
    """How fsync's server refuses a phone's change made through ``mechanism``: an
    as-feature-event set request is accepted and the old state notified (reject); anything
    else is answered with the profile's error status (error)."""
    return PolicyMode.REJECT if mechanism is Mechanism.AS_FEATURE_EVENT else PolicyMode.ERROR


@dataclass(frozen=True)
class Capabilities:
    """What a profile lets a test do, for one role of the device."""

    profile: Profile
    role: Role
    server_features: tuple[FeatureName, ...] = field(default=())
    phone_features: tuple[FeatureName, ...] = field(default=())

    @classmethod
    def of(cls, profile: Profile, role: Role) -> Capabilities:
        server: list[FeatureName] = []
        phone: list[FeatureName] = []
        for spec in profile.features:
            name: FeatureName = spec.feature.value
            if spec.mechanism(Direction.SERVER) is not None:
                server.append(name)
            if spec.mechanism(Direction.PHONE) is not None:
                phone.append(name)
        return cls(profile, role, tuple(server), tuple(phone))

    def mechanism(self, feature: FeatureName, direction: Direction) -> Mechanism | None:
        spec = self.profile.feature(Feature(feature))
        return spec.mechanism(direction) if spec is not None else None

    @property
    def subscribes(self) -> bool:
        return self.profile.afe is not None

    @property
    def can_reject(self) -> bool:
        return self.role == "phone" and bool(self.phone_features)

    @property
    def can_resubscribe(self) -> bool:
        if not self.subscribes:
            return False
        # fsync's phone re-subscribes by switching its line's sync off and on
        return self.role == "phone" or self.profile.gated

    def carries_rings(self, feature: FeatureName, direction: Direction) -> bool:
        """Whether a no-answer ring count travels with a change of ``feature`` this way."""
        if feature != "cfna":
            return False
        mechanism = self.mechanism(feature, direction)
        if mechanism is Mechanism.AS_FEATURE_EVENT:
            return True
        if mechanism is Mechanism.FEATURE_CODE:
            codes = self.profile.codes
            return codes is not None and codes.has_timer(Feature.CFNA)
        return False

    def ring_range(self) -> tuple[int, int]:
        afe = self.profile.afe
        if afe is not None:
            return afe.ring_count.min.value, min(afe.ring_count.max.value, 9)
        return 1, 9

    def encodings(self) -> tuple[str, ...]:
        return (FullStateEncoding.MULTIPART.value, FullStateEncoding.PER_FEATURE.value)


def regression_cases(profile: Profile, role: Role) -> list[Case]:
    """One case per flow of the profile (the flow's change at the side its direction
    names), then, for a phone under test, each phone-initiated flow once more with the
    server refusing it by policy (the phone must show the old state)."""
    cases = []
    rejections = []
    for spec in flows_of(profile):
        kind: StepKind = "server-change" if spec.direction is Direction.SERVER else (
            "phone-change")
        note = spec.mechanism.value
        cases.append(Case(str(spec.key), "flow", (Step(kind, spec.change),), note=note))
        if role == "phone" and kind == "phone-change":
            rejections.append(Case(f"{spec.key} (rejected by policy)", "flow",
                                   (Step("reject", spec.change),), note=note))
    return cases + rejections


def _random_change(rng: random.Random, caps: Capabilities, feature: FeatureName,
                   current: FeatureState, direction: Direction) -> Change:
    """A change of ``feature`` that differs from ``current`` (so something must happen)."""
    if feature == "dnd":
        return Change("dnd", not current.dnd)
    fwd = current.forward(feature)
    if fwd.on and rng.random() < 0.6:
        return Change(feature, False)
    targets = [t for t in TARGETS if not fwd.on or t != fwd.target]
    target = rng.choice(targets)
    rings = None
    if caps.carries_rings(feature, direction):
        low, high = caps.ring_range()
        rings = rng.randint(low, high)
    return Change(feature, True, target, rings)


def _faults(rng: random.Random, transport: str) -> tuple[float, float]:
    if transport != "udp" or rng.random() >= 0.3:
        return 0.0, 0.0
    choice = rng.random()
    if choice < 0.4:
        return 0.5, 0.0
    if choice < 0.8:
        return 0.0, 0.5
    return 0.3, 0.3


def example_cases(profile: Profile, role: Role, count: int, seed: int, *,
                  transport: str = "udp") -> list[Case]:
    """``count`` seeded random sequences of the steps the profile allows for ``role``."""
    caps = Capabilities.of(profile, role)
    kinds: list[tuple[StepKind, float]] = []
    if caps.server_features:
        kinds.append(("server-change", 3.0))
    if caps.phone_features:
        kinds.append(("phone-change", 3.0))
    if caps.can_reject:
        kinds.append(("reject", 1.0))
    if caps.can_resubscribe:
        kinds.append(("resubscribe", 1.0))
    if not kinds:
        return []
    cases = []
    for index in range(count):
        example_seed = seed * 1_000_003 + index
        rng = random.Random(example_seed)
        steps: list[Step] = []
        # a model of the intended state, so that each change really changes something
        state = FeatureState()
        for _ in range(rng.randint(1, MAX_EXAMPLE_STEPS)):
            kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
            drop, duplicate = _faults(rng, transport)
            if kind == "resubscribe":
                silent: tuple[Change, ...] = ()
                if role == "phone" and caps.server_features and rng.random() < 0.8:
                    feature = rng.choice(caps.server_features)
                    change = _random_change(rng, caps, feature, state, Direction.SERVER)
                    silent = (change,)
                    state = state.applied(change)
                encoding = rng.choice(caps.encodings()) if role == "phone" else None
                steps.append(Step("resubscribe", None, silent, encoding, drop, duplicate))
                continue
            direction = Direction.SERVER if kind == "server-change" else Direction.PHONE
            pool = caps.server_features if direction is Direction.SERVER else (
                caps.phone_features)
            feature = rng.choice(pool)
            change = _random_change(rng, caps, feature, state, direction)
            steps.append(Step(kind, change, drop=drop, duplicate=duplicate))
            if kind != "reject":
                state = state.applied(change)
        cases.append(Case(f"example-{index + 1}", "example", tuple(steps),
                          note=f"seed {seed}, example {index + 1}"))
    return cases
