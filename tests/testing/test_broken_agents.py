"""Deliberately broken agents are caught by the property runs, shrunk to a short sequence,
and the replay file written for the shrunk sequence fails the same way in a fresh pytest
process (while the same replay with the reference agent passes)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.testing.fixtures import profiles
from fsync_model.testing.machine import SyncFailure, explore, fsync_settings
from fsync_model.testing.replay import write_failure, write_replay
from tests.testing.broken_agents import (
    ForgetsTheNamespace,
    IgnoresForwardNumbers,
    RefusesChangeNotifies,
    SwapsBusyAndNoAnswer,
)

REPO = Path(__file__).resolve().parents[2]

CASES = [
    # (profile, role, broken class, the oracles that must catch it, most steps after shrinking)
    ("broadsoft", "server", IgnoresForwardNumbers, {"ORACLE-POLICY"}, 1),
    ("metaswitch", "server", SwapsBusyAndNoAnswer, {"ORACLE-POLICY"}, 1),
    ("broadsoft", "server", ForgetsTheNamespace, {"ORACLE-PROFILE-BODY"}, 0),
    ("fortinet", "phone", RefusesChangeNotifies, {"ORACLE-AGENT-ERROR"}, 1),
]


def _find(profile: str, role: str, cls: type, *, faults: bool = False) -> SyncFailure:
    kwargs = {"server_class": cls} if role == "server" else {"phone_class": cls}
    with pytest.raises(SyncFailure) as caught:
        explore(profiles()[profile], faults=faults,
                run_settings=fsync_settings(max_examples=200, database=None, derandomize=True),
                **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture(scope="module")
def failures() -> dict[str, SyncFailure]:
    return {cls.__name__: _find(profile, role, cls) for profile, role, cls, _, _ in CASES}


@pytest.mark.parametrize(("profile", "role", "cls", "oracles", "longest"), CASES,
                         ids=[c[2].__name__ for c in CASES])
def test_broken_agent_is_caught_and_shrunk(failures: dict[str, SyncFailure], profile: str,
                                           role: str, cls: type, oracles: set[str],
                                           longest: int) -> None:
    failure = failures[cls.__name__]
    assert oracles <= set(failure.oracles), failure
    assert len(failure.steps) <= longest, [s.describe() for s in failure.steps]
    assert failure.profile.id == profile


def test_faults_are_shrunk_away() -> None:
    """With every fault family on, the shrunk sequence still has no fault in it."""
    failure = _find("broadsoft", "server", IgnoresForwardNumbers, faults=True)
    assert "ORACLE-POLICY" in failure.oracles
    assert len(failure.steps) <= 2, [s.describe() for s in failure.steps]


def test_replays_fail_the_same_way_in_a_fresh_process(failures: dict[str, SyncFailure],
                                                       tmp_path: Path) -> None:
    expected: dict[str, set[str]] = {}
    for _, _, cls, oracles, _ in CASES:
        failure = failures[cls.__name__]
        broken = write_failure(failure, tmp_path / f"test_{cls.__name__.lower()}.py")
        text = broken.read_text()
        assert "hypothesis" not in text.lower().split('"""', 2)[2], "replays import no Hypothesis"
        assert cls.__name__ in text and "bench.check()" in text
        expected[broken.stem] = oracles
        # the same steps with the reference agent in the role: no failure
        write_replay(failure.steps, failure.profile, tmp_path / f"test_ref_{cls.__name__}.py",
                     seed=failure.setup.seed, sync=failure.setup.sync,
                     subscribe_expires=failure.setup.subscribe_expires)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for stem, oracles in expected.items():
        line = next((ln for ln in output.splitlines() if ln.startswith("FAILED") and stem in ln),
                    None)
        assert line is not None, f"{stem} did not fail:\n{output}"
        assert any(o in output for o in oracles), output
    passed = re.findall(r"^PASSED .*test_ref_(\w+)\.py", output, re.M)
    assert len(passed) == len(CASES), output


def test_replay_has_the_agent_calls_and_no_unused_names(failures: dict[str, SyncFailure],
                                                        tmp_path: Path) -> None:
    failure = failures["IgnoresForwardNumbers"]
    path = write_failure(failure, tmp_path / "test_replay_cfa.py")
    text = path.read_text()
    assert "phone.user_change(Change(" in text
    assert "from tests.testing.broken_agents import IgnoresForwardNumbers" in text
    assert 'Bench("broadsoft", seed=' in text
    assert "ORACLE-POLICY" in text, "the docstring says how it fails"
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(path)],
                          cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_reference_agents_are_what_the_replays_default_to() -> None:
    import inspect

    from fsync_model.testing.replay import render_replay

    defaults = inspect.signature(render_replay).parameters
    assert defaults["server_class"].default is ReferenceServer
    assert defaults["phone_class"].default is ReferencePhone
