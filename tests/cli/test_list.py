"""`fsync list`: every system of the guide, its flows, and its unconfirmed settings."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fsync_model.cli.main import main
from fsync_model.profile import default_spec_dir

SYSTEMS = ["3cx", "broadsoft", "fortinet", "generic-feature-code", "huawei-ims", "metaswitch",
           "yeastar", "zte-ims"]


def test_overview_lists_all_eight_systems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines[1:9]]
    assert listed == SYSTEMS
    fortinet = next(line for line in lines if line.startswith("fortinet"))
    assert fortinet.split()[-2] == "no"  # not gated by the phone's setting
    cx = next(line for line in lines if line.startswith("3cx"))
    assert "srv(i)" in cx  # uaCSTA is informational


def test_one_system_shows_its_unconfirmed_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "broadsoft"]) == 0
    out = capsys.readouterr().out
    assert "? unconfirmed as_feature_event.ring_count.max" in out
    assert "feature cfna" in out and "phone-initiated (as-feature-event)" in out


def test_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["system"] for d in data] == SYSTEMS
    assert all(isinstance(u["line"], int) for d in data for u in d["unconfirmed"])


def test_unknown_vendor_is_a_usage_error_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "broadsft"]) == 2
    err = capsys.readouterr().err
    assert "did you mean broadsoft?" in err and "Traceback" not in err


def test_broken_profile_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(default_spec_dir(), spec)
    text = (spec / "yeastar.yaml").read_text()
    (spec / "yeastar.yaml").write_text(text.replace("directions: [phone]", "directions: [fone]", 1))
    assert main(["list", "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "yeastar.yaml:" in err and "directions" in err and "fone" in err
