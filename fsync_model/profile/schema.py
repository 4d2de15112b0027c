"""Pass 2 of loading a profile: the JSON Schema, with its errors mapped back to lines.

The schema (``spec/profile.schema.json``, draft 2020-12) describes every leaf as "plain, or
``{value, unconfirmed, note}``" (an ``anyOf``); :func:`explain` descends into the branch the
author meant, so a typo reads ``'srv' is not one of ['server', 'phone']``, not "is not valid
under any of the given schemas".
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .source import Document, FieldPath, field_name

if TYPE_CHECKING:
    # jsonschema ships no type information (types-jsonschema is not a dependency)
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]


@functools.lru_cache(maxsize=8)
def validator(schema_path: Path) -> Draft202012Validator:
    # imported here: a program that loads profiles once (fsync serve) can keep it apart
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(doc: Document, validator: Draft202012Validator) -> None:
    found = []
    for error in validator.iter_errors(doc.data):
        path, problem = explain(error)
        found.append((doc.line(path), field_name(path), path, problem))
    if not found:
        return
    found.sort(key=lambda item: (item[0], item[1]))
    _, _, path, problem = found[0]
    if len(found) > 1:
        problem += f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''})"
    raise doc.error(path, problem)


def explain(error: ValidationError) -> tuple[FieldPath, str]:
    error = _deepest(error)
    path: FieldPath = tuple(error.absolute_path)
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
