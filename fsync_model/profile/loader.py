"""Load spec/*.yaml into `Profile` objects, or say exactly what is wrong and where.

Three passes, each in its own module, each failing with :class:`ProfileError`
(``file:line: field: problem``):

1. ``source.py``: YAML is *composed*, not just loaded, so every key and list item keeps its
   line; duplicate keys and non-string keys (YAML 1.1 reads ``on:`` as ``True``) are refused.
2. ``schema.py``: the plain data is checked against ``spec/profile.schema.json`` (JSON Schema
   2020-12); the first error, in file order, is mapped back to its line. Unknown keys,
   missing keys, wrong types and enum values are all reported by the schema.
3. ``build.py``: typed objects, and the rules the schema cannot express: which mechanism
   carries which direction, a code for every feature-code feature, ``{number}`` in forward
   codes, codes that cannot be told apart, ``ring_count.min <= max``, the full-state order,
   the file name equal to ``id``.

Usage::

    from fsync_model.profile import load_all, load_profile
    profiles = load_all()                  # {'3cx': Profile, 'broadsoft': Profile, ...}
    yeastar = load_profile("spec/yeastar.yaml")
"""
from __future__ import annotations

import os
from pathlib import Path

from .build import Leaves, build
from .errors import ProfileError
from .profile import Profile
from .schema import validate, validator
from .source import compose, display

#: environment variable naming a folder of profiles to use instead of the repository's spec/
SPEC_DIR_ENV = "FSYNC_SPEC_DIR"
SCHEMA_NAME = "profile.schema.json"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # fsync_model/
_REPO_SPEC = _PACKAGE_DIR.parent / "spec"  # <repo>/spec in a checkout or editable install
_PACKAGED_SPEC = _PACKAGE_DIR / "spec"  # fsync_model/spec when shipped as package data


def default_spec_dir() -> Path:
    """``$FSYNC_SPEC_DIR``, else the copy shipped in an installed package (a wheel: setup.py
    copies spec/ into it), else ``<repo>/spec`` (a checkout or an editable install)."""
    env = os.environ.get(SPEC_DIR_ENV)
    if env:
        return Path(env)
    for candidate in (_PACKAGED_SPEC, _REPO_SPEC):
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
    candidates += [_PACKAGED_SPEC / SCHEMA_NAME, _REPO_SPEC / SCHEMA_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ProfileError(str(near), None, "(file)", f"{SCHEMA_NAME} not found")


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Load and check one profile file. Raises `ProfileError` with file, line and field."""
    file_path = Path(path)
    file = display(file_path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(file, None, "(file)", str(exc)) from None
    doc = compose(text, file)
    validate(doc, validator(_schema_path(file_path.parent)))
    return build(doc, Leaves(doc), file_path)


def load_all(spec_dir: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """Every ``*.yaml`` of ``spec_dir`` (default: :func:`default_spec_dir`), by profile id,
    in file-name order. Ids and purpose codes must be unique."""
    folder = Path(spec_dir) if spec_dir is not None else default_spec_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ProfileError(display(folder), None, "(file)", "no *.yaml profiles here")
    profiles: dict[str, Profile] = {}
    purposes: dict[str, str] = {}
    for file_path in files:
        profile = load_profile(file_path)
        if profile.purpose_code in purposes:
            raise ProfileError(
                display(file_path), profile.setting("purpose_code").line, "purpose_code",
                f"{profile.purpose_code!r} is already used by {purposes[profile.purpose_code]}",
            )
        purposes[profile.purpose_code] = profile.id
        profiles[profile.id] = profile
    return profiles
