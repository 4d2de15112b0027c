"""Hypothesis strategies for ladders: 2-4 lifelines, 1-40 arrows, notes, any text at all."""

from __future__ import annotations

from hypothesis import strategies as st

from fsync_model.diagrams.ladder import ARROW_STYLES, NOTE_KINDS, Arrow, Ladder, Lifeline, Note

SIP_WORDS = st.sampled_from(
    [
        "SUBSCRIBE",
        "NOTIFY",
        "200 OK",
        "Event: as-feature-event",
        "Subscription-State: active;expires=3600",
        "CSeq: 2 SUBSCRIBE",
        "Call-ID: a84b4c76e66710@pc33.atlanta.com",
        'From: "Alice" <sip:2000@192.0.2.1:5060>;tag=8f3a9c2d11ee',
        "doNotDisturbOn=true",
        "forwardTo=2000",
        "ringCount=4",
        "<&>\"'",
        "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
        "\u8ee2\u9001\u8a2d\u5b9a",  # Japanese: falls back to the wide estimate
        "",
    ]
)
ANY_TEXT = st.one_of(SIP_WORDS, st.text(max_size=120))


@st.composite
def ladders(
    draw: st.DrawFn, min_arrows: int = 1, max_arrows: int = 40, max_notes: int = 6
) -> Ladder:
    count = draw(st.integers(min_value=2, max_value=4))
    lifelines = tuple(
        Lifeline(f"L{i}", draw(ANY_TEXT), draw(st.one_of(st.just(""), ANY_TEXT)))
        for i in range(count)
    )
    ids = [lifeline.id for lifeline in lifelines]
    arrows = draw(
        st.lists(
            st.builds(
                Arrow,
                src=st.sampled_from(ids),
                dst=st.sampled_from(ids),
                label=ANY_TEXT,
                details=st.lists(ANY_TEXT, max_size=6).map(tuple),
                time=st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
                packet=st.one_of(st.none(), st.integers(0, 10**9)),
                style=st.sampled_from(ARROW_STYLES),
            ),
            min_size=min_arrows,
            max_size=max_arrows,
        )
    )
    notes = draw(
        st.lists(
            st.builds(
                Note,
                over=st.lists(st.sampled_from(ids), min_size=1, max_size=3).map(tuple),
                text=ANY_TEXT,
                kind=st.sampled_from(NOTE_KINDS),
            ),
            max_size=max_notes,
        )
    )
    items: list[Arrow | Note] = list(arrows)
    for note in notes:
        items.insert(draw(st.integers(0, len(items))), note)
    caption = draw(st.one_of(st.none(), ANY_TEXT))
    return Ladder(draw(ANY_TEXT), lifelines, tuple(items), caption)
