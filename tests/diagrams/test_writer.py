"""Writing diagrams: the ASCII ladder, the format dispatch and the do-not-edit stamp."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from fsync_model.diagrams.ladder import Arrow, Ladder, Lifeline, Note
from fsync_model.diagrams.writer import (
    LADDER_FORMATS,
    LADDER_SUFFIXES,
    render_ladder,
    render_text,
    stamp,
    stamp_line,
)
from tests.diagrams.examples import dnd_set_at_phone

THREE = (
    Lifeline("phone", "phone 1001", "udp:127.0.0.1:5070"),
    Lifeline("proxy", "proxy", "udp:127.0.0.1:5080"),
    Lifeline("server", "server", "udp:127.0.0.1:5060"),
)


def test_text_ladder_arrows_point_the_right_way_with_details_under_them() -> None:
    text = render_text(dnd_set_at_phone())
    lines = text.splitlines()
    subscribe = next(line for line in lines if "SUBSCRIBE" in line and "CSeq" not in line)
    assert subscribe.startswith("#12  +0.000 s")
    assert "|" in subscribe and subscribe.rstrip().endswith("->|")
    ok = next(line for line in lines if " 200 OK " in line)
    assert "|<-" in ok
    after = lines[lines.index(subscribe) + 1]
    assert after.strip().startswith("|  Event: as-feature-event")
    assert "( DND on (pending) )" in text
    assert "#15  +0.063 s" in text  # packet numbers padded so that times line up
    assert "legend" not in text  # only plain messages


def test_text_ladder_marks_lost_retransmitted_error_and_self_messages() -> None:
    ladder = Ladder(
        "faults",
        THREE,
        (
            Arrow("phone", "server", "NOTIFY", ("CSeq: 1 NOTIFY",), style="lost"),
            Arrow("phone", "server", "NOTIFY", style="retransmission"),
            Arrow("server", "phone", "garbage", ("unparsable: Bad request line",), style="error"),
            Arrow("proxy", "proxy", "timer F", ("32 s",)),
            Note(("phone", "server"), "gave up", "finding"),
        ),
        caption="what went wrong",
    )
    text = render_text(ladder)
    assert "X" in next(line for line in text.splitlines() if "NOTIFY" in line)
    assert "....>|" in text
    assert "|<~~" in text
    assert "--+  timer F" in text and "<-+" in text
    assert "[! gave up !]" in text
    assert "legend:" in text and "retransmission" in text and "lost" in text
    assert text.rstrip().endswith("what went wrong")
    assert text == render_text(ladder)


@pytest.mark.parametrize("fmt", LADDER_FORMATS)
def test_render_ladder_dispatches_on_format(fmt: str) -> None:
    out = render_ladder(dnd_set_at_phone(), fmt)  # type: ignore[arg-type]
    first = out.splitlines()[0]
    expected = {"svg": "<?xml", "mermaid": "sequenceDiagram", "plantuml": "@startuml"}
    assert first.startswith(expected.get(fmt, "BroadSoft DND"))
    assert LADDER_SUFFIXES[fmt].startswith(".")


def test_stamp_is_a_comment_in_each_syntax() -> None:
    line = stamp_line("spec/broadsoft.yaml")
    assert line == "generated from spec/broadsoft.yaml by fsync diagrams \u2014 do not edit"
    svg = stamp(render_ladder(dnd_set_at_phone(), "svg"), ".svg", "spec/broadsoft.yaml")
    root = ET.fromstring(svg.encode())  # still well-formed; the comment follows the declaration
    assert root.tag.endswith("svg")
    assert svg.splitlines()[1] == f"<!-- {line} -->"
    mmd = stamp("sequenceDiagram\n    A->>B: x\n", ".mmd", "spec/broadsoft.yaml")
    assert mmd.splitlines()[:2] == ["sequenceDiagram", f"%% {line}"]
    puml = stamp("@startuml\nA -> B\n@enduml\n", ".puml", "spec/broadsoft.yaml")
    assert puml.splitlines()[:2] == ["@startuml", f"' {line}"]
    assert stamp("digraph {}\n", ".dot", "x").startswith("// generated from x")
    assert stamp("# Title\n", ".md", "x").startswith("<!-- generated from x")
    assert stamp("text\n", ".txt", "x").startswith("# generated from x")
