"""``fsync generate``: writes the suite, ``--check`` passes right after and fails (exit 1,
listing the files) once a file is stale, missing or extra; files without the stamp are never
touched; the repository's generated_tests/ is up to date and its tests pass."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fsync_model.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("suite") / "generated_tests"
    assert main(["generate", "--out", str(out)]) == 0
    return out


def _copy(written: Path, tmp_path: Path) -> Path:
    out = tmp_path / "generated_tests"
    shutil.copytree(written, out)
    return out


def test_writes_one_module_per_flow_and_the_negative_cases(written: Path) -> None:
    names = {p.name for p in written.iterdir()}
    assert {"test_broadsoft_dnd_srv.py", "test_broadsoft_dnd_phn.py", "test_broadsoft_neg.py",
            "test_yeastar_cfna_phn.py", "test_3cx_dnd_srv.py", "INDEX.md"} <= names
    assert "test_yeastar_cfna_srv.py" not in names, "Yeastar is one-way"
    text = (written / "test_broadsoft_dnd_srv.py").read_text()
    assert "generated from spec/broadsoft.yaml by fsync generate \u2014 do not edit" in text
    assert "def test_tp_bsft_dnd_srv_001(fsync_target: Target) -> None:" in text
    assert "Expected ladder (broadsoft/dnd/server-initiated):" in text


def test_check_passes_right_after_writing(written: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert main(["generate", "--check", "--out", str(written)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_lists_stale_missing_and_extra_files(written: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy(written, tmp_path)
    (out / "test_broadsoft_dnd_srv.py").write_text(
        (out / "test_broadsoft_dnd_srv.py").read_text() + "# edited\n")
    (out / "test_yeastar_neg.py").unlink()
    extra = out / "test_gone_neg.py"
    extra.write_text("# generated from spec/gone.yaml by fsync generate \u2014 do not edit\n")
    assert main(["generate", "--check", "--out", str(out)]) == 1
    report = capsys.readouterr().out
    assert "stale:   test_broadsoft_dnd_srv.py" in report
    assert "missing: test_yeastar_neg.py" in report
    assert "extra:   test_gone_neg.py" in report
    assert "fsync generate --out" in report


def test_writing_removes_only_generated_files(written: Path, tmp_path: Path) -> None:
    out = _copy(written, tmp_path)
    mine = out / "test_mine.py"
    mine.write_text("def test_mine() -> None:\n    pass\n")
    stale = out / "test_gone_neg.py"
    stale.write_text("# generated from spec/gone.yaml by fsync generate \u2014 do not edit\n")
    assert main(["generate", "--out", str(out)]) == 0
    assert mine.exists() and not stale.exists()


def test_output_is_deterministic(written: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["generate", "--out", str(again)]) == 0
    for path in written.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_file_as_out_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["generate", "--out", str(target)]) == 2


def test_the_repository_suite_is_up_to_date() -> None:
    assert main(["generate", "--check", "--out", str(REPO / "generated_tests")]) == 0


def test_a_generated_module_passes_and_needs_the_device_options(written: Path) -> None:
    """It passes on the reference agents; under --fsync-dut it runs against a device
    (tests/dut/test_pytest_plugin.py), and without the options saying which device it is a
    usage error naming the first one missing."""
    module = written / "test_broadsoft_dnd_phn.py"
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)]
    passed = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    misused = subprocess.run([*run, "--fsync-dut", "phone"], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
    assert misused.returncode == 4, misused.stdout + misused.stderr
    assert "--fsync-dut phone needs --fsync-vendor: add --fsync-vendor" in misused.stderr
