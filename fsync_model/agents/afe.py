"""Feature state <-> ``as-feature-event`` bodies, as a profile spells them.

The body formats live in :mod:`fsync_model.bodies.feature_event`; this module maps them to the
agents' values (:class:`~fsync_model.agents.state.Change`) with the profile's wire variants:
namespace, full-state encoding (one multipart NOTIFY, one NOTIFY per feature, or the
concatenated defect), forwardTo omitted when off, ringCount sent or not, ring-count range.
"""
from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from xml.sax.saxutils import escape

from fsync_model.agents.state import FEATURES, Change, FeatureName, FeatureState
from fsync_model.bodies import feature_event as fe
from fsync_model.findings import Finding
from fsync_model.profile import AfeSettings, FullStateEncoding

#: multipart boundary of full-state NOTIFYs: fixed, so runs and generated figures are stable
BOUNDARY = "fsync-full-state"

_TYPES: dict[FeatureName, fe.ForwardingType] = {
    "cfa": fe.ForwardingType.IMMEDIATE,
    "cfb": fe.ForwardingType.BUSY,
    "cfna": fe.ForwardingType.NO_ANSWER,
}


def _forwarding_type(feature: FeatureName) -> fe.ForwardingType:
    return _TYPES[feature]


def _feature_of(forwarding_type: fe.ForwardingType) -> FeatureName:
    for name, value in _TYPES.items():
        if value is forwarding_type:
            return name
    raise ValueError(forwarding_type)


def set_request(change: Change, device: str) -> fe.SetDoNotDisturb | fe.SetForwarding:
    """The phone's set request for ``change`` (protocol 1.1)."""
    if change.feature == "dnd":
        return fe.SetDoNotDisturb(device, change.on)
    return fe.SetForwarding(device, change.on, _forwarding_type(change.feature),
                            change.target or "", change.rings if change.on else None)


def event_for(state: FeatureState, feature: FeatureName, device: str,
              default_rings: int | None = None) -> fe.FeatureEvent:
    """The NOTIFY document that reports ``feature`` of ``state`` (protocol 1.2). A server
    always has a ring count for the no-answer forward; until one was set, ``default_rings``
    is reported (omitting ringCount is the stale-phone defect of protocol 1.2)."""
    if feature == "dnd":
        return fe.DoNotDisturbEvent(device, state.dnd)
    fwd = state.forward(feature)
    rings = (fwd.rings if fwd.rings is not None else default_rings) if feature == "cfna" else None
    return fe.ForwardingEvent(device, _forwarding_type(feature), fwd.on, fwd.target, rings)


def change_of(doc: fe.FeatureDocument) -> Change:
    """The change a set request asks for, or the state an event reports, as a Change."""
    if isinstance(doc, fe.SetDoNotDisturb | fe.DoNotDisturbEvent):
        return Change("dnd", doc.on)
    if isinstance(doc, fe.SetForwarding):
        feature = _feature_of(doc.forwarding_type)
        if not doc.activate:
            return Change(feature, False)
        rings = doc.ring_count if feature == "cfna" else None
        return Change(feature, True, doc.forward_dn or None, rings)
    feature = _feature_of(doc.forwarding_type)
    if not doc.status:
        return Change(feature, False)
    return Change(feature, True, doc.forward_to, doc.ring_count if feature == "cfna" else None)


def _charset(afe: AfeSettings) -> str:
    return afe.charset.value if afe.charset is not None else "ISO-8859-1"


def _build_options(afe: AfeSettings) -> dict[str, Any]:
    omit_to = afe.notify.omit_forward_to_when_off
    send_rings = afe.notify.send_ring_count
    return {
        "namespace": afe.namespace.value,
        "encoding": _charset(afe),
        "omit_forward_to_when_off": omit_to.value if omit_to is not None else False,
        "omit_ring_count": not (send_rings.value if send_rings is not None else True),
    }


def content_type(afe: AfeSettings) -> str:
    return afe.content_type.value


def build_set_request(afe: AfeSettings, change: Change, device: str) -> tuple[bytes, str]:
    return fe.build(set_request(change, device), namespace=afe.namespace.value,
                    encoding=_charset(afe)), content_type(afe)


def build_change_notify(afe: AfeSettings, state: FeatureState, feature: FeatureName,
                        device: str) -> tuple[bytes, str]:
    """Body of a change (or confirming) NOTIFY: only the affected feature (protocol 1.2)."""
    event = event_for(state, feature, device, afe.ring_count.min.value)
    return fe.build(event, **_build_options(afe)), content_type(afe)


def full_state_bodies(afe: AfeSettings, state: FeatureState, device: str,
                      features: Sequence[FeatureName] = FEATURES) -> list[tuple[bytes, str]]:
    """The NOTIFY bodies that answer a body-less SUBSCRIBE, in the profile's encoding."""
    order = [f.value for f in afe.notify.full_state_order.value if f.value in features]
    events = [event_for(state, cast(FeatureName, name), device, afe.ring_count.min.value)
              for name in order]
    options = _build_options(afe)
    encoding = afe.notify.full_state.value
    if encoding is FullStateEncoding.PER_FEATURE:
        return [(fe.build(e, **options), content_type(afe)) for e in events]
    if encoding is FullStateEncoding.CONCATENATED:
        return [(fe.build_concatenated(events, **options), content_type(afe))]
    ctype, body = fe.build_full_state(events, BOUNDARY, **options)
    return [(body, ctype)]


#: Stands for the device while a body is built once per state: letters and digits only, so
#: escaping and encoding leave it as it is, and no document holds it otherwise.
_DEVICE_SLOT = "fsyncDeviceSlot0c9e7b"
#: Encodings where a document's bytes are the bytes of its pieces, one after the other.
_PIECEWISE = frozenset({"ascii", "latin-1", "iso8859-1", "utf-8", "cp1252", "iso8859-15"})
_CACHE_MAX = 1024


class NotifyBodies:
    """The NOTIFY bodies of one :class:`~fsync_model.profile.AfeSettings`, each built once
    per state (and feature) with the device left open, then filled in per user: byte for
    byte what :func:`full_state_bodies` and :func:`build_change_notify` give (a server
    with thousands of users has only a few distinct states to report)."""

    def __init__(self, afe: AfeSettings) -> None:
        self.afe = afe
        encoding = _charset(afe)
        self._encoding = encoding
        self._piecewise = codecs.lookup(encoding).name in _PIECEWISE
        self._slot = _DEVICE_SLOT.encode(encoding)
        self._boundary = b"--" + BOUNDARY.encode("ascii")
        self._full: dict[FeatureState, list[tuple[bytes, str]]] = {}
        self._change: dict[tuple[FeatureName, object], tuple[bytes, str]] = {}

    def _device(self, device: str) -> bytes | None:
        """The device as it goes into a body, or None when a template cannot hold it."""
        if not self._piecewise:
            return None
        data = escape(device).encode(self._encoding, "xmlcharrefreplace")
        return None if self._boundary in data or self._slot in data else data

    def full_state(self, state: FeatureState, device: str) -> list[tuple[bytes, str]]:
        """:func:`full_state_bodies` of ``state`` for ``device``."""
        data = self._device(device)
        if data is None:
            return full_state_bodies(self.afe, state, device)
        template = self._full.get(state)
        if template is None:
            if len(self._full) >= _CACHE_MAX:
                self._full.clear()
            template = self._full[state] = full_state_bodies(self.afe, state, _DEVICE_SLOT)
        return [(body.replace(self._slot, data), ctype) for body, ctype in template]

    def change(self, state: FeatureState, feature: FeatureName,
               device: str) -> tuple[bytes, str]:
        """:func:`build_change_notify` of ``feature`` in ``state`` for ``device``."""
        data = self._device(device)
        if data is None:
            return build_change_notify(self.afe, state, feature, device)
        key = (feature, state.dnd if feature == "dnd" else state.forward(feature))
        template = self._change.get(key)
        if template is None:
            if len(self._change) >= _CACHE_MAX:
                self._change.clear()
            template = self._change[key] = build_change_notify(self.afe, state, feature,
                                                               _DEVICE_SLOT)
        body, ctype = template
        return body.replace(self._slot, data), ctype


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """What a NOTIFY or set-request body says, with findings about how it says it."""

    changes: tuple[Change, ...]
    findings: tuple[Finding, ...]


def _ring_range(afe: AfeSettings) -> tuple[int, int]:
    return (afe.ring_count.min.value, afe.ring_count.max.value)


def parse_notify(afe: AfeSettings, ctype: str, body: bytes) -> ParsedBody:
    """Every feature a NOTIFY reports, in either full-state encoding and either namespace
    spelling. The reference phone is strict about the rest (it is the oracle when a server
    is under test): a missing or wrong namespace, ``True`` for ``true``, an unknown
    forwardingType, a ring count out of range raise BodyError (a SipParseError carrying the
    status to answer); harmless oddities (forwardTo omitted when off) are findings."""
    results = fe.parse_notify_body(ctype, body, accepted_namespaces=afe.accepted_namespaces.value,
                                   ring_count_range=_ring_range(afe), strict=True)
    changes = []
    findings: list[Finding] = []
    for result in results:
        if not isinstance(result.document, fe.DoNotDisturbEvent | fe.ForwardingEvent):
            raise fe.BodyError(400, f"NOTIFY carries a {type(result.document).__name__}, "
                               "not an event", result.findings)
        changes.append(change_of(result.document))
        findings.extend(result.findings)
    return ParsedBody(tuple(changes), tuple(findings))


def parse_set_request(afe: AfeSettings, body: bytes) -> tuple[Change, tuple[Finding, ...]]:
    """The change a phone's set request asks for; strict, as a server should be. BodyError
    (with the profile's status for an unusable body) otherwise."""
    bad = afe.set_request.bad_body_answer
    result = fe.parse(body, accepted_namespaces=afe.accepted_namespaces.value,
                      ring_count_range=_ring_range(afe), strict=True,
                      xml_error_status=bad.value if bad else 400)
    if not isinstance(result.document, fe.SetDoNotDisturb | fe.SetForwarding):
        raise fe.BodyError(400, f"a set request must be SetDoNotDisturb or SetForwarding, "
                           f"not {type(result.document).__name__}", result.findings)
    doc = result.document
    if isinstance(doc, fe.SetForwarding) and doc.activate and not doc.forward_dn:
        # checked before change_of: a Change refuses a forward on without a number
        raise fe.BodyError(400, "SetForwarding activates a forward without a forwardDN",
                           result.findings)
    return change_of(doc), result.findings
