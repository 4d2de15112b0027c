"""Mermaid text: the same content as the SVG, in statements Mermaid's grammar accepts."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from fsync_model.diagrams.ladder import Ladder
from fsync_model.diagrams.mermaid import mermaid_text, render_mermaid
from fsync_model.diagrams.shorten import printable
from tests.diagrams.examples import dnd_set_at_phone, faults_and_three_parties
from tests.diagrams.strategies import ladders

DND = """\
sequenceDiagram
    title BroadSoft DND switched on at the phone
    accDescr: Figure: DND switched on at the phone. The phone reports the new state in a \
SUBSCRIBE#59; the server confirms it with a NOTIFY carrying the latest state.
    participant phone as Phone<br/>udp:127.0.0.1:5070
    participant server as BroadSoft AS<br/>udp:127.0.0.1:5060
    phone->>server: SUBSCRIBE (#35;12, +0.000 s)<br/>Event: as-feature-event<br/>\
CSeq: 2 SUBSCRIBE<br/>Call-ID: 3c26700f…<br/>From: 2000@127.0.0.1#59;tag=9fe3a1…<br/>\
doNotDisturbOn=true
    Note over phone: DND on (pending)
    server->>phone: 200 OK (#35;13, +0.034 s)<br/>CSeq: 2 SUBSCRIBE<br/>Expires: 3600
    server->>phone: NOTIFY (#35;14, +0.061 s)<br/>Event: as-feature-event<br/>\
Subscription-State: active#59;expires=3599<br/>CSeq: 1 NOTIFY<br/>doNotDisturbOn=true
    phone->>server: 200 OK (#35;15, +0.063 s)<br/>CSeq: 1 NOTIFY
    Note over phone: DND on (confirmed)
"""

# Mermaid's pre-parse pass: entity codes become placeholders before the lexer runs.
ENTITY = re.compile(r"#\w+;")
STYLE_STATEMENT = re.compile(r"style.*:\S*#.*;|classDef.*:\S*#.*;")
ID = r"[A-Za-z][A-Za-z0-9_]*"
TEXT = r"[^#;\n%<>\"&]*"  # what the lexer's TXT token takes, minus what would be HTML
STATEMENTS = [
    re.compile(rf"    title [^\s#;]{TEXT}"),
    re.compile(rf"    accDescr: [^\s#;]{TEXT}"),
    re.compile(rf"    participant {ID} as {TEXT}(<br/>{TEXT})?"),
    ARROW := re.compile(rf"    (?:    )?{ID}(->>|-->>|-x){ID}: {TEXT}(<br/>{TEXT})*"),
    re.compile(rf"    (?:    )?Note over {ID}(,{ID})?: {TEXT}(<br/>{TEXT})*"),
    re.compile(r"    rect rgb\(\d+, \d+, \d+\)"),
    re.compile(r"    end"),
]


def check_statements(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    for line in lines[1:]:
        assert not STYLE_STATEMENT.search(line), line
        lexed = ENTITY.sub("E", line)
        assert any(pattern.fullmatch(lexed) for pattern in STATEMENTS), line


def decode(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


def test_dnd_example() -> None:
    assert render_mermaid(dnd_set_at_phone()) == DND


def test_fault_styles_and_tints() -> None:
    text = render_mermaid(faults_and_three_parties())
    check_statements(text)
    assert "    phone-xserver: SUBSCRIBE 2000@as.example.com (#35;1, +0.000 s)<br/>" in text
    assert "    phone-->>server: SUBSCRIBE (#35;2, +0.500 s)<br/>" in text
    assert "    phone->>phone: timer E fired (+0.500 s)<br/>T1 = 500 ms<br/>next: 1000 ms" in text
    assert "    rect rgb(253, 236, 234)\n        server->>proxy: 489 Bad Event" in text
    assert "        Note over phone,server: Finding:" in text
    assert "#38; #60;unsynchronised#62;" in text


@given(st.text())
def test_text_is_encoded_so_it_decodes_back(text: str) -> None:
    encoded = mermaid_text(text)
    assert not ENTITY.sub("", encoded).count("#")
    assert not re.search(r"[;%<>&\"\n]", ENTITY.sub("", encoded))
    assert "style" not in encoded and "classDef" not in encoded
    assert not re.match(r"\s*(no)?wrap:", encoded, re.IGNORECASE)
    assert decode(encoded) == printable(text)


@settings(max_examples=40, deadline=None)
@given(ladders(max_arrows=12))
def test_random_ladders_give_valid_statements(ladder: Ladder) -> None:
    text = render_mermaid(ladder)
    check_statements(text)
    arrows = [line for line in text.splitlines() if ARROW.fullmatch(ENTITY.sub("E", line))]
    assert len(arrows) == len(ladder.arrows)
