"""``fsync diagram --from-pcap``: SIP exchanges written to a pcap by the PcapWriter tap, drawn
back as a ladder and read out of the SVG."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fsync_model.cli.main import main
from fsync_model.diagrams.messages import MessageRecord
from fsync_model.transport.address import parse_address
from fsync_model.transport.pcap import PcapWriter
from tests.diagrams.test_messages_support import (
    BROKEN,
    PHONE,
    SERVER,
    dnd_phone_initiated,
    feature_code_call,
    full_state_notify,
)

SVG = "{http://www.w3.org/2000/svg}"


def _exchanges() -> list[MessageRecord]:
    dnd = dnd_phone_initiated()
    retransmitted = MessageRecord(dnd[2].time + 0.5, dnd[2].src, dnd[2].dst, dnd[2].data)
    return [
        *dnd,
        retransmitted,
        *full_state_notify(),
        *feature_code_call(),
        MessageRecord(1_700_000_003.0, SERVER, PHONE, BROKEN),
    ]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "lab.pcap"
    with PcapWriter(path) as writer:
        for record in _exchanges():
            src, dst = parse_address(str(record.src)), parse_address(str(record.dst))
            writer.record(record.time, src, dst, record.data)
    return path


def _arrows(svg: Path) -> list[tuple[str, list[str], str, str]]:
    """(label, details, style, packet) of every arrow group, top to bottom."""
    root = ET.parse(svg).getroot()
    out = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "arrow":
            continue
        texts = [t.text or "" for t in group.iter(f"{SVG}text")]
        # label first, then the details, the packet/time margin last
        out.append((texts[0], texts[1:-1], group.get("data-style", ""), texts[-1]))
    return out


def test_pcap_to_svg_one_arrow_per_message(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagram", "--from-pcap", str(capture)]) == 0
    target = capture.with_name("lab.pcap.ladder.svg")
    assert capsys.readouterr().out.strip() == f"ladder of 13 messages written to {target}"
    arrows = _arrows(target)
    assert [label for label, *_ in arrows] == [
        "SUBSCRIBE",
        "200 OK",
        "NOTIFY",
        "200 OK",
        "NOTIFY",
        "NOTIFY",
        "200 OK",
        "INVITE *716000",
        "200 OK",
        "ACK",
        "BYE",
        "200 OK",
        "NOTIFY 1001@127.0.0.1",
    ]
    assert [style for _, _, style, _ in arrows] == ["normal"] * 4 + ["retransmission"] + [
        "normal"
    ] * 7 + ["error"]
    subscribe, ok, notify = arrows[0][1], arrows[1][1], arrows[2][1]
    assert "Event: as-feature-event" in subscribe
    assert "SetDoNotDisturb: doNotDisturbOn=true" in subscribe
    assert "Expires: 3600" in ok
    assert "Subscription-State: active;expires=3599" in notify
    assert "DoNotDisturbEvent: doNotDisturbOn=true" in notify
    full_state = arrows[5][1]
    assert "forwardNoAns: forwardStatus=true forwardTo=3000 ringCount=4" in full_state
    assert "forwardImmediate: forwardStatus=true forwardTo=2000" in full_state
    assert "m=audio 4000" in arrows[7][1]
    assert arrows[12][1][0] == "unparsable: Content-Length larger than body"
    # packet numbers as Wireshark counts them (UDP: one frame per message), time offsets
    assert [margin.split()[0] for *_, margin in arrows] == [f"#{n}" for n in range(1, 14)]
    assert arrows[0][3] == "#1  +0.000 s"
    assert arrows[1][3] == "#2  +0.034 s"
    root = ET.parse(target).getroot()
    headers = [
        [t.text for t in g.iter(f"{SVG}text")]
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "lifeline-header"
    ]
    assert headers == [
        ["phone 1001", "udp:127.0.0.1:5070"],
        ["server (BroadWorks)", "udp:127.0.0.1:5060"],
    ]


def test_user_filter_and_text_output(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["diagram", "--from-pcap", str(capture), "--user", "*716000", "--format", "txt"]) == 0
    )
    out = capsys.readouterr().out
    assert "INVITE *716000" in out and "BYE" in out
    assert "SUBSCRIBE" not in out
    assert "#8   +0.000 s" in out  # packet 8 is the INVITE, first shown: offset 0
    assert "5 SIP messages (user *716000: 5 of 13) from lab.pcap" in out


def test_call_id_filter_to_mermaid_and_plantuml(capture: Path, tmp_path: Path) -> None:
    mmd, puml = tmp_path / "dnd.mmd", tmp_path / "dnd.puml"
    assert (
        main(["diagram", "--from-pcap", str(capture), "--call-id", "afe-3c26", "-o", str(mmd)]) == 0
    )
    text = mmd.read_text()
    assert text.startswith("sequenceDiagram")
    assert text.count("->>") == 8  # DND (4), its retransmission, full state (2), broken
    assert "8 of 13" in text
    assert (
        main(["diagram", "--from-pcap", str(capture), "--format", "plantuml", "-o", str(puml)]) == 0
    )
    assert puml.read_text().startswith("@startuml")


def test_gzip_capture_is_read(capture: Path, tmp_path: Path) -> None:
    packed = tmp_path / "lab.pcap.gz"
    packed.write_bytes(gzip.compress(capture.read_bytes()))
    assert main(["diagram", "--from-pcap", str(packed), "-o", str(tmp_path / "z.svg")]) == 0
    assert len(_arrows(tmp_path / "z.svg")) == 13


def test_garbage_and_missing_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\x00\x01 this is no capture \xff" * 20)
    assert main(["diagram", "--from-pcap", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fsync diagram: cannot read the capture:")
    assert "Traceback" not in err
    assert not garbage.with_name("garbage.pcap.ladder.svg").exists()
    assert main(["diagram", "--from-pcap", str(tmp_path / "nope.pcap")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_output_extension_is_usage(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "--from-pcap", str(capture), "-o", "x.png"]) == 2
    assert "--format" in capsys.readouterr().err


def test_no_matching_messages_exit_1(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "--from-pcap", str(capture), "--user", "9999"]) == 1
    assert "no SIP messages matching the filters" in capsys.readouterr().err


def test_same_capture_same_svg(capture: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "1.svg", tmp_path / "2.svg"
    assert main(["diagram", "--from-pcap", str(capture), "-o", str(first)]) == 0
    assert main(["diagram", "--from-pcap", str(capture), "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
