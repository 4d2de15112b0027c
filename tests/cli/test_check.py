"""``fsync check CAPTURE --vendor V``: exit codes, the text and JSON reports, the --user,
--strict and --policy options, and the inputs it must survive (text logs, damaged and
foreign files)."""
from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fsync_model.cli.main import main
from fsync_model.profile import load_all
from fsync_model.sip.useragent import MessageRecord
from fsync_model.testing.flows import flows_of
from tests.trace.test_replay_support import (
    EPOCH,
    edited,
    find,
    pcap_bytes,
    records_of,
    sub,
)

VENDORS = list(load_all())


def write(tmp_path: Path, records: Sequence[MessageRecord], name: str = "cap.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(pcap_bytes(records))
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", *args])
    return code, capsys.readouterr().out


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out = check(capsys, *args, "--format", "json")
    return code, json.loads(out)


def every_flow(vendor: str) -> list[MessageRecord]:
    """Every flow of a profile in one capture, one line per flow (1001, 1002, ...), their
    messages interleaved in time as a lab capture of several phones would show them."""
    out: list[MessageRecord] = []
    for n, spec in enumerate(flows_of(load_all()[vendor])):
        user = f"{1001 + n}".encode()
        for record in records_of(vendor, spec.name, seed=10 + n):
            out.append(dataclasses.replace(record, time=record.time + n * 0.001,
                                           data=record.data.replace(b"1001", user)))
    out.sort(key=lambda r: r.time)
    return out


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_flow_of_a_profile_in_one_capture_is_conformant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor: str) -> None:
    path = write(tmp_path, every_flow(vendor))
    code, report = as_json(capsys, str(path), "--vendor", vendor)
    assert report["deviations"] == []
    assert code == 0
    summary = report["summary"]
    assert isinstance(summary, dict)
    flows = summary["flows"]
    assert isinstance(flows, list)
    assert len(flows) == len(flows_of(load_all()[vendor]))
    assert all(f["state"] == f["goal"] for f in flows)
    assert summary["conformant"] is True and summary["exit"] == 0


def test_json_schema_of_a_deviation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^NOTIFY .*<doNotDisturbOn>true")
    path = write(tmp_path, edited(records, i, sub(rb">true<", b">false<")))
    code, report = as_json(capsys, str(path), "--vendor", "broadsoft")
    assert code == 1
    assert set(report) >= {"capture", "vendor", "summary", "deviations"}
    assert report["capture"] == str(path) and report["vendor"] == "broadsoft"
    deviations = report["deviations"]
    assert isinstance(deviations, list) and len(deviations) == 1
    deviation = deviations[0]
    assert set(deviation) >= {"rule", "packet", "time", "message", "expected", "severity"}
    assert deviation["rule"] == "MODEL-ILLEGAL-TRANSITION"
    assert deviation["packet"] == i + 1
    assert deviation["severity"] == "error"
    assert deviation["message"].startswith("NOTIFY sip:1001@")
    assert abs(deviation["time"] - (EPOCH + records[i].time)) < 1e-3
    assert "OLD state" in deviation["expected"]
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert summary["errors"] == 1 and summary["conformant"] is False and summary["exit"] == 1


def test_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = records_of("broadsoft", "broadsoft/cfb/phone-initiated")
    i = find(records, rb"^SUBSCRIBE .*SetForwarding") + 1
    path = write(tmp_path, edited(records, i, sub(rb"^SIP/2.0 200 OK",
                                                  b"SIP/2.0 500 Server Internal Error")))
    code, out = check(capsys, str(path), "--vendor", "broadsoft")
    assert code == 1
    assert f"packet {i + 1} " in out
    assert "ERROR MODEL-NOT-GOAL [1001]" in out
    assert "SIP/2.0 500 Server Internal Error" in out
    assert "expected: the 500 Server Internal Error to the set request" in out
    assert "NOT conformant (exit 1)" in out


def test_warnings_fail_only_with_strict(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^NOTIFY .*multipart/mixed")
    path = write(tmp_path, edited(records, i, sub(rb"\s*<forwardTo></forwardTo>", b"",
                                                  count=1)))
    code, report = as_json(capsys, str(path), "--vendor", "broadsoft")
    assert code == 0
    assert [(d["rule"], d["severity"]) for d in report["deviations"]] == [
        ("AFE-FORWARDTO-MISSING", "warning")]
    code, _ = check(capsys, str(path), "--vendor", "broadsoft", "--strict")
    assert code == 1


def test_user_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = every_flow("yeastar")
    i = find(records, rb"^INVITE sip:\*74@")
    changed = [dataclasses.replace(r, data=r.data.replace(b"*74@", b"*99@")) for r in records]
    path = write(tmp_path, changed)
    user = records[i].data.split(b"From: <sip:", 1)[1].split(b"@", 1)[0].decode()
    code, report = as_json(capsys, str(path), "--vendor", "yeastar", "--user", user)
    assert code == 1
    assert [d["rule"] for d in report["deviations"]] == ["CODE-UNKNOWN"]
    other = "1002" if user != "1002" else "1001"
    code, report = as_json(capsys, str(path), "--vendor", "yeastar", "--user", other)
    assert code == 0 and report["deviations"] == []
    code, _ = check(capsys, str(path), "--vendor", "yeastar", "--user", "4711")
    assert code == 3  # nothing of that line: inconclusive


def test_policy_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, records_of("broadsoft", "broadsoft/dnd/phone-initiated"))
    assert check(capsys, str(path), "--vendor", "broadsoft", "--policy", "accept")[0] == 0
    code, report = as_json(capsys, str(path), "--vendor", "broadsoft", "--policy", "reject")
    assert code == 1 and report["policy"] == "reject"


def sipp_log(records: Sequence[MessageRecord]) -> str:
    """The messages as SIPp's -trace_msg would log them at the phone."""
    parts = []
    for record in records:
        stamp = datetime.fromtimestamp(EPOCH + record.time, UTC).strftime(
            "%Y-%m-%d %H:%M:%S.%f")
        text = record.data.decode()
        head = (f"UDP message sent ({len(record.data)} bytes):" if record.direction == "out"
                else f"UDP message received [{len(record.data)}] bytes :")
        parts.append(f"{'-' * 47} {stamp}\n{head}\n\n{text}\n\n")
    return "".join(parts)


def test_text_log_and_gzip_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = records_of("metaswitch", "metaswitch/cfna/phone-initiated")
    log = tmp_path / "phone_messages.log"
    log.write_text(sipp_log(records))
    code, report = as_json(capsys, str(log), "--vendor", "metaswitch")
    assert report["deviations"] == [] and code == 0
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["format"] == "text"
    packed = tmp_path / "cap.pcap.gz"
    packed.write_bytes(gzip.compress(pcap_bytes(records)))
    assert check(capsys, str(packed), "--vendor", "metaswitch")[0] == 0


def test_damaged_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = pcap_bytes(records_of("broadsoft", "broadsoft/dnd/server-initiated"))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-40])
    code, report = as_json(capsys, str(path), "--vendor", "broadsoft")
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["problems"]
    assert "CAPTURE-PROBLEM" in [d["rule"] for d in report["deviations"]]
    assert code == 0  # the readable part is conformant; the damage is a warning
    assert check(capsys, str(path), "--vendor", "broadsoft", "--strict")[0] == 1


def test_unreadable_and_empty_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     ) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    assert main(["check", str(garbage), "--vendor", "broadsoft"]) == 2
    assert "cannot read the capture" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.pcap"), "--vendor", "broadsoft"]) == 2
    capsys.readouterr()
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap_bytes([]))
    code, out = check(capsys, str(empty), "--vendor", "broadsoft")
    assert code == 3 and "INCONCLUSIVE" in out


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, records_of("yeastar", "yeastar/dnd/phone-initiated"))
    assert main(["check", str(path)]) == 2
    assert "--vendor is required" in capsys.readouterr().err
    assert main(["check", str(path), "--vendor", "broadsofts"]) == 2
    assert "did you mean broadsoft" in capsys.readouterr().err
    assert main(["check", "--vendor", "broadsoft"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(path), "--vendor", "yeastar", "--format", "xml"])
    assert exit_info.value.code == 2


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, "--list-rules")
    assert code == 0
    for rule in ("MODEL-ILLEGAL-TRANSITION", "AFE-NS-MISSING", "RFC6665-SUBSTATE-SYNTAX",
                 "SYNC-DIVERGED", "CODE-UNKNOWN", "AFE-FULLSTATE-MISSING"):
        assert rule in out
