"""``fsync diagrams``: writes every figure, ``--check`` passes right after and fails (exit 1,
listing the files) once a file is touched, missing or extra; without dot only DOT is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fsync_model.cli.main import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("figures") / "diagrams"
    assert main(["diagrams", "--out", str(out)]) == 0
    return out


def _copy(written: Path, tmp_path: Path) -> Path:
    out = tmp_path / "diagrams"
    shutil.copytree(written, out)
    return out


@needs_dot
def test_writes_every_kind_of_file(written: Path) -> None:
    for suffix in (
        "state.svg",
        "state.dot",
        "ladder.svg",
        "ladder.mmd",
        "ladder.puml",
        "messages.txt",
    ):
        assert (written / "broadsoft" / f"dnd-phone-initiated.{suffix}").is_file(), suffix
    assert (written / "README.md").is_file()
    assert (written / "3cx" / "uacsta-session.state.dot").is_file()
    assert (written / "yeastar" / "line.ladder.svg").is_file()


@needs_dot
def test_check_passes_right_after_writing(
    written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["diagrams", "--out", str(written), "--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


@needs_dot
def test_check_fails_after_touching_a_file(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(written, tmp_path)
    touched = out / "broadsoft" / "dnd-phone-initiated.ladder.mmd"
    touched.write_text(touched.read_text() + "    Note over phone: edited by hand\n")
    (out / "yeastar" / "cfa-phone-initiated.state.dot").unlink()
    (out / "notes.txt").write_text("mine\n")
    capsys.readouterr()
    assert main(["diagrams", "--out", str(out), "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "stale:   broadsoft/dnd-phone-initiated.ladder.mmd" in lines
    assert "missing: yeastar/cfa-phone-initiated.state.dot" in lines
    assert "extra:   notes.txt" in lines
    assert lines[-1].endswith("is out of date: run `fsync diagrams --out " + str(out) + "`")


@needs_dot
def test_writing_again_repairs_and_removes_only_generated_files(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(written, tmp_path)
    gone = out / "broadsoft" / "old-flow.ladder.svg"
    gone.write_text((out / "broadsoft" / "line.ladder.svg").read_text())  # stamped: ours
    mine = out / "broadsoft" / "my-notes.md"
    mine.write_text("not generated\n")
    (out / "README.md").write_text("edited\n")
    assert main(["diagrams", "--out", str(out)]) == 0
    assert f"removed {gone}" in capsys.readouterr().out
    assert not gone.exists() and mine.exists()
    mine.unlink()
    assert main(["diagrams", "--out", str(out), "--check"]) == 0


def test_without_dot_writes_dot_only_and_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "diagrams"
    assert main(["diagrams", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("apt-get install graphviz") == 1
    assert (out / "broadsoft" / "dnd-phone-initiated.state.dot").is_file()
    assert not list(out.rglob("*.state.svg"))
    assert "state.svg" not in (out / "README.md").read_text()
    assert main(["diagrams", "--out", str(out), "--check"]) == 0


def test_out_that_is_a_file_is_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["diagrams", "--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_check_of_a_missing_folder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagrams", "--out", str(tmp_path / "nothing"), "--check"]) == 1
    assert "missing: README.md" in capsys.readouterr().out
