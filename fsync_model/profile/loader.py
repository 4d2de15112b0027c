"""Load spec/*.yaml into `Profile` objects, or say exactly what is wrong and where.

Three passes, each failing with :class:`ProfileError` (``file:line: field: problem``):

1. YAML is *composed* (``yaml.SafeLoader.get_single_node``), not just loaded, so every key and
   list item keeps its line; duplicate keys and non-string keys (YAML 1.1 reads ``on:`` as
   ``True``) are refused here.
2. The plain data is checked against ``spec/profile.schema.json`` (JSON Schema 2020-12); the
   first error, in file order, is mapped back to its line. Unknown keys, missing keys, wrong
   types and enum values are all reported by the schema.
3. Semantic rules the schema cannot express: which mechanism carries which direction, a
   code for every feature-code feature, ``{number}`` in forward codes, codes that cannot be
   told apart, ``ring_count.min <= max``, the full-state order, the file name equal to ``id``.

Usage::

    from fsync_model.profile import load_all, load_profile
    profiles = load_all()                  # {'3cx': Profile, 'broadsoft': Profile, ...}
    yeastar = load_profile("spec/yeastar.yaml")
"""
from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

# jsonschema ships no type information (types-jsonschema is not a dependency)
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

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
from .values import (
    Action,
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Setting,
)

#: environment variable naming a folder of profiles to use instead of the repository's spec/
SPEC_DIR_ENV = "FSYNC_SPEC_DIR"
SCHEMA_NAME = "profile.schema.json"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # fsync_model/
_REPO_SPEC = _PACKAGE_DIR.parent / "spec"  # <repo>/spec in a checkout or editable install
_PACKAGED_SPEC = _PACKAGE_DIR / "spec"  # fsync_model/spec when shipped as package data

_WRAPPER_KEYS = frozenset({"value", "unconfirmed", "note"})
_BLOCK_OF = {
    Mechanism.AS_FEATURE_EVENT: "as_feature_event",
    Mechanism.FEATURE_CODE: "feature_codes",
    Mechanism.UACSTA: "uacsta",
}

T = TypeVar("T")
Path_ = tuple[str | int, ...]


# ---------------------------------------------------------------------------------------
# where the profiles are


def default_spec_dir() -> Path:
    """``$FSYNC_SPEC_DIR``, else ``<repo>/spec``, else the copy shipped in the package."""
    env = os.environ.get(SPEC_DIR_ENV)
    if env:
        return Path(env)
    for candidate in (_REPO_SPEC, _PACKAGED_SPEC):
        if candidate.is_dir():
            return candidate
    raise ProfileError(
        str(_REPO_SPEC), None, "(file)", f"no spec folder found; set {SPEC_DIR_ENV}"
    )


def _schema_path(near: Path) -> Path:
    env = os.environ.get(SPEC_DIR_ENV)
    candidates = [near / SCHEMA_NAME]
    if env:
        candidates.append(Path(env) / SCHEMA_NAME)
    candidates += [_REPO_SPEC / SCHEMA_NAME, _PACKAGED_SPEC / SCHEMA_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ProfileError(str(near), None, "(file)", f"{SCHEMA_NAME} not found")


@functools.lru_cache(maxsize=8)
def _validator(schema_path: Path) -> Draft202012Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _field(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top)"


# ---------------------------------------------------------------------------------------
# pass 1: YAML with lines


class _Document:
    """Plain data of one file plus the line of every key and list item."""

    def __init__(self, file: str, data: dict[str, Any], lines: dict[Path_, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1

    def error(self, path: Path_, problem: str) -> ProfileError:
        return ProfileError(self.file, self.line(path), _field(path), problem)


def _compose(text: str, file: str) -> _Document:
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            context = exc.context or ""
            if context and exc.context_mark is not None and exc.context_mark is not mark:
                context += f" (started at line {exc.context_mark.line + 1})"
            problem = ": ".join(p for p in (context, exc.problem) if p) or str(exc)
            raise ProfileError(file, line, "(yaml)", problem) from None
        except yaml.YAMLError as exc:
            raise ProfileError(file, None, "(yaml)", str(exc)) from None
        if node is None:
            raise ProfileError(file, 1, "(top)", "empty file: expected a mapping")
        lines: dict[Path_, int] = {}
        data = _to_python(loader, node, (), lines, file)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProfileError(file, node.start_mark.line + 1, "(top)", "expected a mapping of keys")
    return _Document(file, data, lines)


def _to_python(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            try:
                key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                raise ProfileError(file, line, _field(path), str(exc)) from None
            if not isinstance(key, str):
                raise ProfileError(
                    file, line, _field(path),
                    f"key {key!r} is not a string (YAML 1.1 reads unquoted on/off/yes/no "
                    "as booleans: quote it)",
                )
            if key in result:
                first = lines[(*path, key)]
                raise ProfileError(
                    file, line, _field((*path, key)), f"duplicate key (first at line {first})"
                )
            lines[(*path, key)] = line
            result[key] = _to_python(loader, value_node, (*path, key), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_to_python(loader, item, (*path, index), lines, file))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ProfileError(file, node.start_mark.line + 1, _field(path), str(exc)) from None


# ---------------------------------------------------------------------------------------
# pass 2: schema, errors mapped to lines


def _validate(doc: _Document, validator: Draft202012Validator) -> None:
    found = []
    for error in validator.iter_errors(doc.data):
        path, problem = _explain(error)
        found.append((doc.line(path), _field(path), path, problem))
    if not found:
        return
    found.sort(key=lambda item: (item[0], item[1]))
    _, _, path, problem = found[0]
    if len(found) > 1:
        problem += f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''})"
    raise doc.error(path, problem)


def _explain(error: ValidationError) -> tuple[Path_, str]:
    error = _deepest(error)
    path: Path_ = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [key for key in instance if key not in allowed]
        return (*path, unknown[0]), f"unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}"
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        if "then" in error.schema_path:  # allOf/if/then: a mechanism needs its block
            return ("mechanisms",), f"the mechanisms listed need the block {missing[0]!r}"
        return path, f"missing required key {missing[0]!r}"
    if error.validator in ("type", "pattern", "minimum", "maximum", "minLength", "minItems"):
        described = _description(error)
        if described:
            return path, f"{_short(error.message)} ({described})"
    return path, _short(error.message)


def _deepest(error: ValidationError) -> ValidationError:
    """Descend anyOf/oneOf to the branch the author meant: the ``{value, unconfirmed,
    note}`` form when a mapping was written, the plain form otherwise."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        wrapper = [
            index
            for index, schema in enumerate(error.validator_value)
            if str(schema.get("$ref", "")).endswith("/unconfirmed")
        ]
        if isinstance(error.instance, dict) and wrapper and wrapper[0] in branches:
            chosen = branches[wrapper[0]]
        else:
            plain = {i: errs for i, errs in branches.items() if i not in wrapper}
            # prefer a branch whose type matched (its errors are about something else)
            ranked = sorted(
                plain.values() or branches.values(),
                key=lambda errs: all(e.validator == "type" and not e.path for e in errs),
            )
            chosen = ranked[0]
        error = max(chosen, key=lambda e: len(e.absolute_path))
    return error


def _description(error: ValidationError) -> str:
    current: ValidationError | None = error
    while current is not None:
        if isinstance(current.schema, dict) and "description" in current.schema:
            return str(current.schema["description"])
        current = current.parent
    return ""


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------
# pass 3: typed objects and semantic rules


class _Leaves:
    """Every leaf of the document as a `Setting`, by path, in file order."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.by_path: dict[Path_, Setting[Any]] = {}
        self._walk(doc.data, ())

    def _walk(self, value: Any, path: Path_) -> None:
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

    def error(self, setting: Setting[Any] | None, path: Path_, problem: str) -> ProfileError:
        line = setting.line if setting is not None and setting.line else self.doc.line(path)
        return ProfileError(self.doc.file, line, _field(path), problem)

    def dotted(self) -> tuple[tuple[str, Setting[Any]], ...]:
        return tuple((_field(path), s) for path, s in self.by_path.items())


def _typed(setting: Setting[Any], kind: type[T]) -> Setting[T]:
    if not isinstance(setting.value, kind):  # the schema checked it; defensive
        raise TypeError(f"expected {kind.__name__}, got {setting.value!r}")
    return setting


def _opt(setting: Setting[Any] | None, kind: type[T]) -> Setting[T] | None:
    return None if setting is None else _typed(setting, kind)


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Load and check one profile file. Raises `ProfileError` with file, line and field."""
    file_path = Path(path)
    file = _display(file_path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(file, None, "(file)", str(exc)) from None
    doc = _compose(text, file)
    _validate(doc, _validator(_schema_path(file_path.parent)))
    return _build(doc, _Leaves(doc), file_path)


def load_all(spec_dir: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """Every ``*.yaml`` of ``spec_dir`` (default: :func:`default_spec_dir`), by profile id,
    in file-name order. Ids and purpose codes must be unique."""
    folder = Path(spec_dir) if spec_dir is not None else default_spec_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ProfileError(_display(folder), None, "(file)", "no *.yaml profiles here")
    profiles: dict[str, Profile] = {}
    purposes: dict[str, str] = {}
    for file_path in files:
        profile = load_profile(file_path)
        if profile.purpose_code in purposes:
            raise ProfileError(
                _display(file_path), profile.setting("purpose_code").line, "purpose_code",
                f"{profile.purpose_code!r} is already used by {purposes[profile.purpose_code]}",
            )
        purposes[profile.purpose_code] = profile.id
        profiles[profile.id] = profile
    return profiles


def _build(doc: _Document, leaves: _Leaves, file_path: Path) -> Profile:
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
    leaves: _Leaves, mechanisms: tuple[Mechanism, ...], mech_setting: Setting[Any]
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
    leaves: _Leaves, mechanisms: tuple[Mechanism, ...], mech_setting: Setting[Any]
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
            where: Path_ = ("features", feature.value, "directions", index)
            line = leaves.doc.line(where)
            direction = Direction(name)
            if direction is Direction.PHONE:
                if Mechanism.AS_FEATURE_EVENT in mechanisms:
                    phone = Mechanism.AS_FEATURE_EVENT
                elif Mechanism.FEATURE_CODE in mechanisms:
                    phone = Mechanism.FEATURE_CODE
                else:
                    raise ProfileError(
                        leaves.doc.file, line, _field(where),
                        "'phone' needs mechanism as-feature-event or feature-code",
                    )
            elif Mechanism.AS_FEATURE_EVENT in mechanisms:
                server = Mechanism.AS_FEATURE_EVENT
            elif Mechanism.UACSTA in mechanisms and feature is Feature.DND:
                server = Mechanism.UACSTA
                uses_uacsta = True
            else:
                raise ProfileError(
                    leaves.doc.file, line, _field(where),
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


def _afe(leaves: _Leaves, features: tuple[FeatureSpec, ...]) -> AfeSettings:
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


def _codes(leaves: _Leaves, features: tuple[FeatureSpec, ...]) -> FeatureCodes:
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
            where: Path_ = (*by_code, feature.value, action.value)
            template = _typed(leaves.need(*by_code, feature.value, action.value), str)
            wants = ["number"] if feature.is_forward and action is Action.ACTIVATE else []
            _check_template(leaves, template, where, wants)
            timer: Setting[str] | None = None
            if action is Action.ACTIVATE:
                timer_where: Path_ = (*by_code, feature.value, "activate_with_timer")
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
    leaves: _Leaves, template: Setting[str], where: Path_, wants: list[str]
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


def _check_unambiguous(leaves: _Leaves, codes: FeatureCodes) -> None:
    """Render every template with a sample number (and ring count) and parse it back: it
    must come back as itself and match no other template."""
    seen: dict[str, Setting[str]] = {}
    for entry, template, dialed, expected in _samples(codes):
        key = "activate_with_timer" if template is entry.timer_template else entry.action.value
        where: Path_ = ("feature_codes", "codes", entry.feature.value, key)
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


def _uacsta(leaves: _Leaves) -> UacstaSettings:
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
