"""The ladder model refuses what cannot be drawn and gives the shared helpers the renderers use."""

from __future__ import annotations

import pytest

from fsync_model.diagrams.ladder import (
    Arrow,
    Ladder,
    LadderError,
    Lifeline,
    Note,
    diagram_ids,
    packet_time_text,
)

A = Lifeline("a", "A")
B = Lifeline("b", "B")


def test_unknown_lifelines_and_styles_are_refused() -> None:
    with pytest.raises(LadderError, match="unknown lifeline 'c'"):
        Ladder("t", (A, B), (Arrow("a", "c", "INVITE"),))
    with pytest.raises(LadderError, match="note over unknown lifeline"):
        Ladder("t", (A, B), (Note(("x",), "hi"),))
    with pytest.raises(LadderError, match="over no lifeline"):
        Ladder("t", (A, B), (Note((), "hi"),))
    with pytest.raises(LadderError, match="style"):
        Ladder("t", (A, B), (Arrow("a", "b", "X", style="dotted"),))  # type: ignore[arg-type]
    with pytest.raises(LadderError, match="kind"):
        Ladder("t", (A, B), (Note(("a",), "x", "warning"),))  # type: ignore[arg-type]
    with pytest.raises(LadderError, match="two lifelines"):
        Ladder("t", (A, A))
    with pytest.raises(LadderError, match="at least one"):
        Ladder("t", ())
    with pytest.raises(LadderError, match="neither"):
        Ladder("t", (A,), ("INVITE",))  # type: ignore[arg-type]


def test_ladders_are_values() -> None:
    one = Ladder("t", (A, B), (Arrow("a", "b", "X", ("d",)),), "c")
    two = Ladder("t", (A, B), (Arrow("a", "b", "X", ("d",)),), "c")
    assert one == two
    assert hash(one) == hash(two)
    assert one.position("b") == 1
    assert one.note_span(Note(("b", "a"), "x")) == (0, 1)


def test_time_is_shown_from_the_first_timed_arrow() -> None:
    ladder = Ladder(
        "t",
        (A, B),
        (
            Arrow("a", "b", "X"),
            Arrow("a", "b", "Y", time=100.25, packet=3),
            Arrow("b", "a", "Z", time=100.284, packet=4),
        ),
    )
    origin = ladder.time_origin()
    assert origin == 100.25
    first, second, third = ladder.arrows
    assert packet_time_text(first, origin) == ""
    assert packet_time_text(second, origin) == "#3  +0.000 s"
    assert packet_time_text(third, origin) == "#4  +0.034 s"
    assert packet_time_text(Arrow("a", "b", "X", time=100.2499), origin) == "+0.000 s"


def test_diagram_ids_keep_safe_ids_and_replace_the_rest() -> None:
    lifelines = (
        Lifeline("phone", "p"),
        Lifeline("end", "keyword"),
        Lifeline("office", "starts with Mermaid's 'off'"),
        Lifeline("udp:127.0.0.1:5060", "address"),
        Lifeline("P2", "clashes with a generated id"),
        Lifeline("lifestyle", "Mermaid's style statement"),
    )
    ids = diagram_ids(Ladder("t", lifelines))
    assert ids["phone"] == "phone"
    assert ids["P2"] == "P2"
    generated = [ids["end"], ids["office"], ids["udp:127.0.0.1:5060"], ids["lifestyle"]]
    assert generated == ["P2_", "P3", "P4", "P6"]
    assert len(set(ids.values())) == len(lifelines)
