"""What ``fsync list`` shows about a profile: a typed summary and plain text rows.

Usage::

    d = describe(load_all()["3cx"])
    d.features      # (('dnd', 'server-initiated (uacsta, ...), phone-initiated (...)'), ...)
    for field, value in d.rows():
        print(f"{field:28} {value}")
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .profile import Profile
from .values import Direction, Mechanism


@dataclass(frozen=True)
class UnconfirmedRow:
    """One unconfirmed leaf: dotted YAML path, value as text, note, line."""

    path: str
    value: str
    note: str
    line: int | None


@dataclass(frozen=True)
class Description:
    system: str
    name: str
    purpose_code: str
    guide_section: str
    mechanisms: tuple[str, ...]
    #: (feature, "server-initiated (as-feature-event), phone-initiated (as-feature-event)")
    features: tuple[tuple[str, str], ...]
    gated: bool
    default_sync: bool
    policy: str
    unconfirmed: tuple[UnconfirmedRow, ...]

    def rows(self) -> list[tuple[str, str]]:
        """(field, value) text rows, in a stable order, for a two-column listing."""
        rows = [
            ("system", f"{self.system} ({self.name}, {self.purpose_code})"),
            ("guide section", self.guide_section),
            ("mechanisms", ", ".join(self.mechanisms)),
        ]
        rows += [(f"feature {name}", flows) for name, flows in self.features]
        gated = "yes" if self.gated else "no (syncs whatever the line setting)"
        rows.append(("gated by line setting", gated))
        rows.append(("line default", "sync on" if self.default_sync else "sync off"))
        rows.append(("server policy", self.policy))
        for row in self.unconfirmed:
            note = f" ({row.note})" if row.note else ""
            rows.append((f"unconfirmed {row.path}", f"{row.value}{note}"))
        return rows


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    return str(value)


def describe(profile: Profile) -> Description:
    """Summarise ``profile`` for listings: mechanisms, features x directions, gating, policy
    and every unconfirmed value with its note."""
    features = []
    for spec in profile.features:
        flows = []
        for direction in spec.directions:
            mechanism = spec.mechanism(direction)
            assert mechanism is not None
            extra = ", informational: state unchanged" if mechanism is Mechanism.UACSTA else ""
            flows.append(f"{Direction(direction).initiated} ({mechanism.value}{extra})")
        features.append((spec.feature.value, ", ".join(flows)))
    policy = profile.policy.mode.value.value
    if policy == "error":
        policy += f" {profile.policy.error_status.value}"
    return Description(
        system=profile.id,
        name=profile.name,
        purpose_code=profile.purpose_code,
        guide_section=profile.guide_section,
        mechanisms=tuple(m.value for m in profile.mechanisms),
        features=tuple(features),
        gated=profile.gated,
        default_sync=profile.line.default_sync.value,
        policy=policy,
        unconfirmed=tuple(
            UnconfirmedRow(path, _text(s.value), s.note, s.line)
            for path, s in profile.unconfirmed()
        ),
    )
