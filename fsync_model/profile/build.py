"""Pass 3 of loading a profile: typed objects, and the rules a schema cannot express.

Which mechanism carries which direction, a code for every feature-code feature, ``{number}``
in forward codes, codes that cannot be told apart, ``ring_count.min <= max``, the full-state
order, the namespace sent among those accepted, the file name equal to ``id``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from .codes import FeatureCode, FeatureCodes, placeholders
from .errors import ProfileError
from .profile import (
    AfeNotify,
    AfeSetRequest,
    AfeSettings,
    AfeSubscribe,
    FeatureSpec,
    LineSettings,
    Policy,
    Profile,
    RegistrationSettings,
    RingCountRange,
    UacstaSettings,
)
from .source import Document, FieldPath, field_name
from .values import (
    Action,
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Setting,
)

_WRAPPER_KEYS = frozenset({"value", "unconfirmed", "note"})
_BLOCK_OF = {
    Mechanism.AS_FEATURE_EVENT: "as_feature_event",
    Mechanism.FEATURE_CODE: "feature_codes",
    Mechanism.UACSTA: "uacsta",
}

T = TypeVar("T")


class Leaves:
    """Every leaf of the document as a `Setting`, by path, in file order: a mapping of only
    ``value``/``unconfirmed``/``note`` is one leaf; a list of scalars is one leaf."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.by_path: dict[FieldPath, Setting[Any]] = {}
        self._walk(doc.data, ())

    def _walk(self, value: Any, path: FieldPath) -> None:
        if isinstance(value, dict) and "value" in value and set(value) <= _WRAPPER_KEYS:
            inner = value["value"]
            self.by_path[path] = Setting(
                tuple(inner) if isinstance(inner, list) else inner,
                bool(value.get("unconfirmed", False)),
                str(value.get("note", "")),
                self.doc.line(path),
            )
        elif isinstance(value, dict):
            for key, item in value.items():
                self._walk(item, (*path, key))
        elif isinstance(value, list):
            self.by_path[path] = Setting(tuple(value), line=self.doc.line(path))
        else:
            self.by_path[path] = Setting(value, line=self.doc.line(path))

    def get(self, *path: str | int) -> Setting[Any] | None:
        return self.by_path.get(tuple(path))

    def need(self, *path: str | int) -> Setting[Any]:
        found = self.get(*path)
        if found is None:  # the schema requires it; defensive
            raise self.doc.error(tuple(path), "missing")
        return found

    def has(self, *path: str) -> bool:
        node: Any = self.doc.data
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def error(self, setting: Setting[Any] | None, path: FieldPath, problem: str) -> ProfileError:
        line = setting.line if setting is not None and setting.line else self.doc.line(path)
        return ProfileError(self.doc.file, line, field_name(path), problem)

    def dotted(self) -> tuple[tuple[str, Setting[Any]], ...]:
        return tuple((field_name(path), s) for path, s in self.by_path.items())


def _typed(setting: Setting[Any], kind: type[T]) -> Setting[T]:
    if not isinstance(setting.value, kind):  # the schema checked it; defensive
        raise TypeError(f"expected {kind.__name__}, got {setting.value!r}")
    return setting


def _opt(setting: Setting[Any] | None, kind: type[T]) -> Setting[T] | None:
    return None if setting is None else _typed(setting, kind)


def build(doc: Document, leaves: Leaves, file_path: Path) -> Profile:
    ident = leaves.need("id")
    if ident.value != file_path.stem:
        raise leaves.error(
            ident, ("id",), f"{ident.value!r} must equal the file name {file_path.stem!r}"
        )
    mech_setting = leaves.need("mechanisms")
    mechanisms = tuple(Mechanism(m) for m in mech_setting.value)
    _check_blocks(leaves, mechanisms, mech_setting)
    features = _features(leaves, mechanisms, mech_setting)

    afe = _afe(leaves, features) if Mechanism.AS_FEATURE_EVENT in mechanisms else None
    codes = _codes(leaves, features) if Mechanism.FEATURE_CODE in mechanisms else None
    uacsta = _uacsta(leaves) if Mechanism.UACSTA in mechanisms else None

    line = LineSettings(
        _typed(leaves.need("line", "gated_by_line_setting"), bool),
        _typed(leaves.need("line", "default_sync"), bool),
        _opt(leaves.get("line", "config_key"), str),
    )
    challenge = leaves.need("registration", "challenge")
    registration = RegistrationSettings(
        _typed(leaves.need("registration", "expires"), int),
        challenge,
        _opt(leaves.get("registration", "realm"), str),
        _opt(leaves.get("registration", "retry_after"), int),
    )
    error_status = leaves.get("policy", "error_status")
    policy = Policy(
        leaves.need("policy", "mode").map(PolicyMode),
        _typed(error_status, int) if error_status is not None else Setting(403),
    )
    protocol_section = leaves.get("protocol_section")
    return Profile(
        id=str(ident.value),
        name=str(leaves.need("name").value),
        purpose_code=str(leaves.need("purpose_code").value),
        guide_section=str(leaves.need("guide_section").value),
        protocol_section=str(protocol_section.value) if protocol_section else None,
        path=file_path,
        mechanisms=mechanisms,
        features=features,
        line=line,
        registration=registration,
        afe=afe,
        codes=codes,
        uacsta=uacsta,
        policy=policy,
        settings=leaves.dotted(),
    )


def _check_blocks(
    leaves: Leaves, mechanisms: tuple[Mechanism, ...], mech_setting: Setting[Any]
) -> None:
    if Mechanism.AS_FEATURE_EVENT in mechanisms and Mechanism.FEATURE_CODE in mechanisms:
        raise leaves.error(
            mech_setting, ("mechanisms",),
            "as-feature-event and feature-code together: which one carries phone-initiated "
            "changes would be ambiguous; list one of them",
        )
    for mechanism, block in _BLOCK_OF.items():
        if leaves.has(block) and mechanism not in mechanisms:
            raise leaves.doc.error(
                (block,), f"block {block!r} but mechanisms does not list {mechanism.value!r}"
            )


def _features(
    leaves: Leaves, mechanisms: tuple[Mechanism, ...], mech_setting: Setting[Any]
) -> tuple[FeatureSpec, ...]:
    specs: list[FeatureSpec] = []
    uses_uacsta = False
    for feature in Feature:
        directions = leaves.get("features", feature.value, "directions")
        if directions is None:
            continue
        phone: Mechanism | None = None
        server: Mechanism | None = None
        for index, name in enumerate(directions.value):
            where: FieldPath = ("features", feature.value, "directions", index)
            line = leaves.doc.line(where)
            direction = Direction(name)
            if direction is Direction.PHONE:
                if Mechanism.AS_FEATURE_EVENT in mechanisms:
                    phone = Mechanism.AS_FEATURE_EVENT
                elif Mechanism.FEATURE_CODE in mechanisms:
                    phone = Mechanism.FEATURE_CODE
                else:
                    raise ProfileError(
                        leaves.doc.file, line, field_name(where),
                        "'phone' needs mechanism as-feature-event or feature-code",
                    )
            elif Mechanism.AS_FEATURE_EVENT in mechanisms:
                server = Mechanism.AS_FEATURE_EVENT
            elif Mechanism.UACSTA in mechanisms and feature is Feature.DND:
                server = Mechanism.UACSTA
                uses_uacsta = True
            else:
                raise ProfileError(
                    leaves.doc.file, line, field_name(where),
                    "'server' needs as-feature-event (or uacsta, for dnd only): feature codes "
                    "go phone -> server only (protocol 3)",
                )
        specs.append(FeatureSpec(feature, phone, server, directions.line))
    if Mechanism.UACSTA in mechanisms and not uses_uacsta:
        raise leaves.error(
            mech_setting, ("mechanisms",),
            "uacsta is listed but no feature has a server direction it could carry "
            "(features.dnd.directions needs 'server')",
        )
    return tuple(specs)


def _afe(leaves: Leaves, features: tuple[FeatureSpec, ...]) -> AfeSettings:
    def need(*path: str) -> Setting[Any]:
        return leaves.need("as_feature_event", *path)

    def get(*path: str) -> Setting[Any] | None:
        return leaves.get("as_feature_event", *path)

    namespace = _typed(need("namespace"), str)
    accepted = need("accepted_namespaces")
    if namespace.value not in accepted.value:
        raise leaves.error(
            accepted, ("as_feature_event", "accepted_namespaces"),
            f"must include the namespace sent ({namespace.value})",
        )
    state = _typed(need("notify", "subscription_state"), str)
    others = [p for p in _braced(state.value) if p != "expires"]
    if others:
        raise leaves.error(
            state, ("as_feature_event", "notify", "subscription_state"),
            f"unknown placeholder {{{others[0]}}}; allowed: {{expires}}",
        )
    order = need("notify", "full_state_order")
    served = {
        spec.feature
        for spec in features
        if Mechanism.AS_FEATURE_EVENT in (spec.phone, spec.server)
    }
    listed = [Feature(f) for f in order.value]
    if set(listed) != served:
        missing = sorted(f.value for f in served - set(listed))
        extra = sorted(f.value for f in set(listed) - served)
        detail = f"missing {', '.join(missing)}" if missing else f"not synced: {', '.join(extra)}"
        raise leaves.error(
            order, ("as_feature_event", "notify", "full_state_order"),
            f"must list each as-feature-event feature once ({detail})",
        )
    rmin = _typed(need("ring_count", "min"), int)
    rmax = _typed(need("ring_count", "max"), int)
    if rmin.value > rmax.value:
        raise leaves.error(
            rmin, ("as_feature_event", "ring_count", "min"),
            f"min {rmin.value} is greater than max {rmax.value}",
        )
    return AfeSettings(
        event=_typed(need("event"), str),
        accept=_typed(need("accept"), str),
        content_type=_typed(need("content_type"), str),
        charset=_opt(get("charset"), str),
        namespace=namespace,
        accepted_namespaces=_typed(accepted, tuple),
        subscribe=AfeSubscribe(
            _typed(need("subscribe", "expires"), int),
            _typed(need("subscribe", "answer"), int),
            _typed(need("subscribe", "retry_after_489"), int),
        ),
        notify=AfeNotify(
            state,
            need("notify", "full_state").map(FullStateEncoding),
            order.map(lambda names: tuple(Feature(n) for n in names)),
            _opt(get("notify", "omit_forward_to_when_off"), bool),
            _opt(get("notify", "send_ring_count"), bool),
        ),
        set_request=AfeSetRequest(
            _typed(need("set_request", "answer"), int),
            _typed(need("set_request", "in_dialog"), bool),
            _opt(get("set_request", "confirm_timeout"), int),
            _opt(get("set_request", "bad_body_answer"), int),
        ),
        ring_count=RingCountRange(rmin, rmax),
    )


def _braced(text: str) -> list[str]:
    return re.findall(r"\{([^}]*)\}", text)


def _codes(leaves: Leaves, features: tuple[FeatureSpec, ...]) -> FeatureCodes:
    by_code = ("feature_codes", "codes")
    wanted = {spec.feature for spec in features if spec.phone is Mechanism.FEATURE_CODE}
    entries: list[FeatureCode] = []
    seconds_per_ring = _opt(leaves.get("feature_codes", "seconds_per_ring"), int)
    for feature in Feature:
        if not leaves.has(*by_code, feature.value):
            if feature in wanted:
                raise leaves.doc.error(
                    by_code,
                    f"missing codes for {feature.value!r} (features.{feature.value} has a "
                    "phone direction carried by feature codes)",
                )
            continue
        if feature not in wanted:
            raise leaves.doc.error(
                (*by_code, feature.value),
                f"codes for {feature.value!r}, but features.{feature.value} has no phone "
                "direction",
            )
        for action in Action:
            where: FieldPath = (*by_code, feature.value, action.value)
            template = _typed(leaves.need(*by_code, feature.value, action.value), str)
            wants = ["number"] if feature.is_forward and action is Action.ACTIVATE else []
            _check_template(leaves, template, where, wants)
            timer: Setting[str] | None = None
            if action is Action.ACTIVATE:
                timer_where: FieldPath = (*by_code, feature.value, "activate_with_timer")
                timer = _opt(leaves.get(*by_code, feature.value, "activate_with_timer"), str)
                if timer is not None:
                    if feature is not Feature.CFNA:
                        raise leaves.error(
                            timer, timer_where, "a timer form exists only for cfna (no answer)"
                        )
                    _check_template(leaves, timer, timer_where, ["number", "seconds"])
                    if seconds_per_ring is None:
                        raise leaves.doc.error(
                            ("feature_codes",),
                            "missing required key 'seconds_per_ring' (a timer code uses "
                            "{seconds})",
                        )
            entries.append(FeatureCode(feature, action, template, timer))
    executed = leaves.need("feature_codes", "executed_statuses")
    normalized = executed.map(lambda items: tuple(str(item) for item in items))
    if "2xx" not in normalized.value:
        raise leaves.error(
            executed, ("feature_codes", "executed_statuses"),
            "must include '2xx': a PBX that answers the code call has executed it (protocol 3)",
        )
    codes = FeatureCodes(
        tuple(entries),
        normalized,
        seconds_per_ring,
        leaves.need("feature_codes", "challenge"),
    )
    _check_unambiguous(leaves, codes)
    return codes


def _check_template(
    leaves: Leaves, template: Setting[str], where: FieldPath, wants: list[str]
) -> None:
    found = placeholders(template.value)
    if found != wants:
        expected = " and ".join("{" + w + "}" for w in wants) or "no placeholder"
        raise leaves.error(
            template, where, f"{template.value!r} must contain {expected} (once each, in order)"
        )


_Sample = tuple[FeatureCode, Setting[str], str, tuple[Any, ...]]


def _samples(codes: FeatureCodes) -> Iterator[_Sample]:
    for entry in codes.codes:
        number = "6000" if "number" in placeholders(entry.template.value) else None
        yield entry, entry.template, codes.code_for(entry.feature, entry.action, number), (
            entry.feature, entry.action, number, None,
        )
        if entry.timer_template is not None:
            yield entry, entry.timer_template, codes.code_for(
                entry.feature, entry.action, "6000", 4
            ), (entry.feature, entry.action, "6000", 4)


def _check_unambiguous(leaves: Leaves, codes: FeatureCodes) -> None:
    """Render every template with a sample number (and ring count) and parse it back: it
    must come back as itself and match no other template."""
    seen: dict[str, Setting[str]] = {}
    for entry, template, dialed, expected in _samples(codes):
        key = "activate_with_timer" if template is entry.timer_template else entry.action.value
        where: FieldPath = ("feature_codes", "codes", entry.feature.value, key)
        if template.value in seen:
            raise leaves.error(
                template, where,
                f"{template.value!r} is also used at line {seen[template.value].line}",
            )
        seen[template.value] = template
        found = codes.matches(dialed)
        others = [other.value for other, _ in found if other is not template]
        if others or not found or tuple(found[0][1]) != expected:
            raise leaves.error(
                template, where,
                f"ambiguous: {dialed!r} also matches {others[0] if others else '?'!r}",
            )


def _uacsta(leaves: Leaves) -> UacstaSettings:
    def need(name: str) -> Setting[Any]:
        return leaves.need("uacsta", name)

    return UacstaSettings(
        content_type=_typed(need("content_type"), str),
        content_disposition=_typed(need("content_disposition"), str),
        session_setup=_typed(need("session_setup"), bool),
        namespace=_opt(leaves.get("uacsta", "namespace"), str),
        dnd_document=_opt(leaves.get("uacsta", "dnd_document"), str),
        info_answer=_typed(need("info_answer"), int),
    )
