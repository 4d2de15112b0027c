"""The mypyc build of the SIP hot path (setup.py, fsync_model/_compiled.py): the compiled
modules are used all together or not at all, FSYNC_PURE=1 selects the ``.py`` files, a
source changed since the build falls back to them, and ``fsync --version`` says which."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fsync_model import _compiled

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import fsync_model._compiled as c, fsync_model.sip.message as m, "
         "fsync_model.sip.useragent as u; print(m.__file__); print(u.__file__); "
         "print(c.status())")


def _run(code: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=60, check=True)
    return done.stdout.splitlines() + done.stderr.splitlines()


def test_the_compiled_modules_are_sources_of_the_package() -> None:
    for module in _compiled.MODULES:
        assert _compiled.source_path(module).is_file(), module
    assert "fsync_model.sip.errors" not in _compiled.MODULES  # TransactionError(RuntimeError)


def test_status_matches_what_is_loaded() -> None:
    message, useragent, status = _run(PROBE)[:3]
    if _compiled._built() and not _compiled.reason:
        assert not message.endswith(".py") and not useragent.endswith(".py")
        assert status.startswith("compiled with mypyc: ")
    else:
        assert message.endswith(".py") and useragent.endswith(".py")
        assert status.startswith("pure Python")


def test_fsync_pure_selects_the_python_sources() -> None:
    message, useragent, status = _run(PROBE, {"FSYNC_PURE": "1"})[:3]
    assert message.endswith(".py") and useragent.endswith(".py")
    assert status.startswith("pure Python")


def test_version_says_whether_the_hot_path_is_compiled() -> None:
    lines = _run("from fsync_model.cli.main import main; main(['--version'])")
    assert lines[0].startswith("fsync ")
    assert lines[1].startswith("SIP hot path: ")


@pytest.mark.skipif(not _compiled._built(), reason="no compiled build in this tree")
def test_a_changed_source_falls_back_to_every_python_module(tmp_path: Path) -> None:
    """A copy of the package whose message.py differs from the one compiled: every listed
    module loads from its .py, with a warning that says how to rebuild."""
    copy = tmp_path / "fsync_model"
    shutil.copytree(_compiled.PACKAGE_DIR, copy,
                    ignore=shutil.ignore_patterns("__pycache__", "spec"))
    recorded = json.loads((copy / _compiled.HASHES).read_text())
    recorded["fsync_model.sip.message"] = "0" * 64
    (copy / _compiled.HASHES).write_text(json.dumps(recorded))
    lines = _run(PROBE, {"PYTHONPATH": str(tmp_path), "FSYNC_PURE": ""}, cwd=tmp_path)
    assert lines[0] == str(copy / "sip" / "message.py")
    assert lines[1] == str(copy / "sip" / "useragent.py")
    assert lines[2].startswith("pure Python (compiled modules older than their source: message")
    assert any("pip install -e ." in line for line in lines[3:])
