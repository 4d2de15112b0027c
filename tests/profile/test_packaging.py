"""A wheel carries the profiles: installed without the repository, fsync still finds spec/."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_every_profile_and_the_schema(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("fsync_model", "spec"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("fsync-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"fsync_model/spec/{p.name}" for p in (ROOT / "spec").iterdir()
                if p.suffix in (".yaml", ".json")}
    assert expected and expected <= names
    assert "fsync_model/spec/profile.schema.json" in names

    # Unpacked with no repository around it, the loader reads the shipped copy.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("from fsync_model.profile import default_spec_dir, load_all; "
             "print(default_spec_dir()); print(sorted(load_all()))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path,
                            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    folder, ids = loaded.stdout.splitlines()
    assert Path(folder) == site / "fsync_model" / "spec"
    assert "broadsoft" in ids and "yeastar" in ids
