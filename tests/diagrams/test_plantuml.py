"""PlantUML text: the same content as the SVG; nothing PlantUML would read as markup."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from fsync_model.diagrams.ladder import Ladder
from fsync_model.diagrams.plantuml import plantuml_text, render_plantuml
from fsync_model.diagrams.shorten import printable
from tests.diagrams.examples import dnd_set_at_phone, faults_and_three_parties
from tests.diagrams.strategies import ladders

DND = """\
@startuml
title BroadSoft DND switched on at the phone
participant "Phone\\nudp:127.0.0.1:5070" as phone
participant "BroadSoft AS\\nudp:127.0.0.1:5060" as server
phone -> server : SUBSCRIBE (#12, +0.000 s)\\nEvent: as-feature-event\\nCSeq: 2 SUBSCRIBE\\n\
Call-ID: 3c26700f…\\nFrom: 2000@127.0.0.1;tag=9fe3a1…\\ndoNotDisturbOn=true
note over phone #E4F0FF : DND on (pending)
server -> phone : 200 OK (#13, +0.034 s)\\nCSeq: 2 SUBSCRIBE\\nExpires: 3600
server -> phone : NOTIFY (#14, +0.061 s)\\nEvent: as-feature-event\\n\
Subscription-State: active;expires=3599\\nCSeq: 1 NOTIFY\\ndoNotDisturbOn=true
phone -> server : 200 OK (#15, +0.063 s)\\nCSeq: 1 NOTIFY
note over phone #E4F0FF : DND on (confirmed)
caption Figure: DND switched on at the phone. The phone reports the new state in a SUBSCRIBE; \
the server confirms it with a NOTIFY carrying the latest state.
@enduml
"""

CODE = re.compile(r"<U\+([0-9A-F]{4,5})>")
ID = r"[A-Za-z][A-Za-z0-9_]*"
STATEMENTS = [
    re.compile(r"title (?P<text>.+)"),
    re.compile(r"caption (?P<text>.+)"),
    re.compile(rf'participant "(?P<text>[^"]+)" as {ID}'),
    re.compile(rf"{ID} (->|-->|->x|-\[#c0392b\]>) {ID} : (?P<text>.+)"),
    re.compile(rf"note over {ID}(, {ID})? #[0-9A-F]{{6}} : (?P<text>.+)"),
]
CREOLE_PAIRS = ["**", "//", '""', "--", "__", "~~", "[[", "{{", "==", "^^", ",,", ".."]


def check_line_text(line: str) -> None:
    """One line of label text: no escape, markup, entity or comment PlantUML would act on."""
    bare = CODE.sub("\0", line)  # what PlantUML parses: a code is one opaque character
    assert not re.search(r"[\\<>~%&\"]", bare), line
    for pair in [*CREOLE_PAIRS, "/'", "'/"]:
        assert pair not in bare, (pair, line)
    assert not line[:1] or line[0] not in "*#=|-._!'"


def check_statements(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "@startuml" and lines[-1] == "@enduml"
    for line in lines[1:-1]:
        match = next((m for p in STATEMENTS if (m := p.fullmatch(line))), None)
        assert match is not None, line
        for piece in match.group("text").split("\\n"):
            check_line_text(piece)


def decode(text: str) -> str:
    return CODE.sub(lambda m: chr(int(m.group(1), 16)), text)


def test_dnd_example() -> None:
    assert render_plantuml(dnd_set_at_phone()) == DND
    check_statements(DND)


def test_fault_styles() -> None:
    text = render_plantuml(faults_and_three_parties())
    check_statements(text)
    assert "phone ->x server : SUBSCRIBE 2000@as.example.com (#1, +0.000 s)\\n" in text
    assert "phone --> server : SUBSCRIBE (#2, +0.500 s)\\n" in text
    assert "server -[#c0392b]> proxy : 489 Bad Event (#3, +0.520 s)\\n" in text
    assert "note over phone, server #FDECEA : Finding:" in text
    assert "<U+0026> <U+003C>unsynchronised<U+003E>" in text


def test_creole_and_escapes_are_neutralised() -> None:
    assert plantuml_text("x **bold** //it// --x-- a\\nb") == (
        "x *<U+002A>bold*<U+002A> /<U+002F>it/<U+002F> -<U+002D>x-<U+002D> a<U+005C>nb"
    )
    assert plantuml_text("* list") == "<U+002A> list"
    assert plantuml_text("= heading") == "<U+003D> heading"
    assert plantuml_text("/' comment '/") == "<U+002F>' comment <U+0027>/"
    assert plantuml_text("%date()") == "<U+0025>date()"


@given(st.text())
def test_text_is_encoded_so_it_decodes_back(text: str) -> None:
    encoded = plantuml_text(text)
    check_line_text(encoded)
    assert decode(encoded) == printable(text)


@settings(max_examples=40, deadline=None)
@given(ladders(max_arrows=12))
def test_random_ladders_give_valid_statements(ladder: Ladder) -> None:
    check_statements(render_plantuml(ladder))
