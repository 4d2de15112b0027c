"""Fixtures for profile tests: the real profiles, and a way to load a broken copy."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fsync_model.profile import Profile, default_spec_dir, load_all, load_profile

SPEC = default_spec_dir()


@pytest.fixture(scope="session")
def profiles() -> dict[str, Profile]:
    return load_all()


BrokenLoader = Callable[[str, str, str], Profile]


@pytest.fixture
def load_edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BrokenLoader:
    """Copy ``spec/<name>.yaml`` into a temp folder with ``old`` replaced by ``new`` (once,
    and ``old`` must be there) and load it; error messages then name ``spec/<name>.yaml``
    relative to the temp folder, which becomes the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec").mkdir()

    def load(name: str, old: str, new: str) -> Profile:
        text = (SPEC / f"{name}.yaml").read_text(encoding="utf-8")
        assert old in text, f"test is stale: {old!r} not in {name}.yaml"
        target = tmp_path / "spec" / f"{name}.yaml"
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        return load_profile(Path("spec") / f"{name}.yaml")

    return load


def line_of(name: str, needle: str) -> int:
    """1-based line of the first line of spec/<name>.yaml containing ``needle``."""
    for number, line in enumerate((SPEC / f"{name}.yaml").read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {name}.yaml")
