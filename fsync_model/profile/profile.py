"""Typed, frozen views of one spec/*.yaml file.

The dataclasses mirror the YAML blocks one to one (``profile.afe.set_request.answer`` is
``as_feature_event.set_request.answer`` in the file). Vendor values are `Setting`s so their
provenance travels with them; the structure (which mechanisms, which features in which
directions) is plain, with its own provenance kept in ``Profile.settings``. Everything is
hashable, so a ``Profile`` can key a cache.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codes import FeatureCodes
from .values import (
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Setting,
)

#: RFC 6665 section 8.2.3 form of the header, and the defect form seen from one server
#: (protocol 1.3), for negative tests.
SUBSCRIPTION_STATE_RFC6665 = "active;expires={expires}"
SUBSCRIPTION_STATE_DEFECT = "active, {expires}"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature and the mechanism carrying each direction (None: not synced that way).

    ``phone`` carries phone-initiated changes (as-feature-event or feature-code); ``server``
    carries server-initiated ones (as-feature-event, or uacsta which is informational only).
    """

    feature: Feature
    phone: Mechanism | None
    server: Mechanism | None
    line: int | None = None

    @property
    def directions(self) -> tuple[Direction, ...]:
        """Directions in the canonical order (server first, as in the guide)."""
        found = ((Direction.SERVER, self.server), (Direction.PHONE, self.phone))
        return tuple(direction for direction, mechanism in found if mechanism is not None)

    def mechanism(self, direction: Direction) -> Mechanism | None:
        return self.server if direction is Direction.SERVER else self.phone

    def informational(self, direction: Direction) -> bool:
        """True when the flow shows the change but must not change the phone's state
        (3CX uaCSTA: guide note "does not update the phone's state from this message")."""
        return self.mechanism(direction) is Mechanism.UACSTA


@dataclass(frozen=True)
class LineSettings:
    """The phone's per-line feature-sync setting (guide "Configuration")."""

    gated_by_line_setting: Setting[bool]
    default_sync: Setting[bool]
    config_key: Setting[str] | None


@dataclass(frozen=True)
class RegistrationSettings:
    expires: Setting[int]
    #: 401, 407, or None when the registrar does not challenge
    challenge: Setting[int | None]
    realm: Setting[str] | None
    retry_after: Setting[int] | None


@dataclass(frozen=True)
class AfeSubscribe:
    expires: Setting[int]
    #: the server's answer to a body-less SUBSCRIBE (200 or 202)
    answer: Setting[int]
    retry_after_489: Setting[int]


@dataclass(frozen=True)
class AfeNotify:
    subscription_state: Setting[str]
    full_state: Setting[FullStateEncoding]
    full_state_order: Setting[tuple[Feature, ...]]
    omit_forward_to_when_off: Setting[bool] | None
    send_ring_count: Setting[bool] | None

    def subscription_state_header(self, expires: int) -> str:
        """The ``Subscription-State`` value for ``expires`` seconds left."""
        return self.subscription_state.value.replace("{expires}", str(expires))

    @property
    def full_state_notifies(self) -> int:
        """How many NOTIFYs carry the full state: 1, or one per feature."""
        if self.full_state.value is FullStateEncoding.PER_FEATURE:
            return len(self.full_state_order.value)
        return 1


@dataclass(frozen=True)
class AfeSetRequest:
    #: the server's answer to a set request (200 or 202)
    answer: Setting[int]
    in_dialog: Setting[bool]
    confirm_timeout: Setting[int] | None
    bad_body_answer: Setting[int] | None


@dataclass(frozen=True)
class RingCountRange:
    min: Setting[int]
    max: Setting[int]

    def __contains__(self, rings: object) -> bool:
        return isinstance(rings, int) and self.min.value <= rings <= self.max.value


@dataclass(frozen=True)
class AfeSettings:
    """The ``as_feature_event`` block (protocol section 1)."""

    event: Setting[str]
    accept: Setting[str]
    content_type: Setting[str]
    charset: Setting[str] | None
    namespace: Setting[str]
    accepted_namespaces: Setting[tuple[str, ...]]
    subscribe: AfeSubscribe
    notify: AfeNotify
    set_request: AfeSetRequest
    ring_count: RingCountRange


@dataclass(frozen=True)
class UacstaSettings:
    """The ``uacsta`` block (protocol section 4)."""

    content_type: Setting[str]
    content_disposition: Setting[str]
    session_setup: Setting[bool]
    namespace: Setting[str] | None
    dnd_document: Setting[str] | None
    info_answer: Setting[int]


@dataclass(frozen=True)
class Policy:
    """What the server does with a phone's change; default accept, overridable at run time
    with :meth:`Profile.with_policy`."""

    mode: Setting[PolicyMode]
    error_status: Setting[int]


@dataclass(frozen=True)
class Profile:
    """One system, loaded from ``spec/<id>.yaml``."""

    id: str
    name: str
    purpose_code: str
    guide_section: str
    protocol_section: str | None
    path: Path = dataclasses.field(compare=False)
    mechanisms: tuple[Mechanism, ...]
    features: tuple[FeatureSpec, ...]
    line: LineSettings
    registration: RegistrationSettings
    afe: AfeSettings | None
    codes: FeatureCodes | None
    uacsta: UacstaSettings | None
    policy: Policy
    #: every leaf of the file by dotted path (``as_feature_event.ring_count.max``)
    settings: tuple[tuple[str, Setting[Any]], ...] = dataclasses.field(compare=False)

    def uses(self, mechanism: Mechanism) -> bool:
        return mechanism in self.mechanisms

    def feature(self, feature: Feature) -> FeatureSpec | None:
        for spec in self.features:
            if spec.feature is feature:
                return spec
        return None

    @property
    def gated(self) -> bool:
        """Whether sync depends on the phone's per-line setting (False for Fortinet)."""
        return self.line.gated_by_line_setting.value

    def setting(self, path: str) -> Setting[Any]:
        """The leaf at a dotted YAML path; KeyError when absent."""
        for key, value in self.settings:
            if key == path:
                return value
        raise KeyError(path)

    def unconfirmed(self) -> tuple[tuple[str, Setting[Any]], ...]:
        """Every leaf marked unconfirmed, by dotted path, in file order."""
        return tuple((path, s) for path, s in self.settings if s.unconfirmed)

    def with_policy(self, mode: PolicyMode, error_status: int | None = None) -> Profile:
        """This profile with the server policy overridden at run time (``--policy``)."""
        status = (
            Setting(error_status, note="run-time override")
            if error_status is not None
            else self.policy.error_status
        )
        policy = Policy(Setting(mode, note="run-time override"), status)
        return dataclasses.replace(self, policy=policy)
