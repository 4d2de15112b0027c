"""The advance tables match the fonts the SVG declares; widths and wrapping behave."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.diagrams import textmetrics
from fsync_model.diagrams.textmetrics import (
    FALLBACK_EM,
    OVERHANG_PX,
    UNITS_PER_EM,
    mono,
    sans,
    sans_bold,
    sans_italic,
    text_width,
    wrap_text,
)
from tests.diagrams.ttf import advances

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FACES = {
    "DejaVuSans.ttf": sans(10),
    "DejaVuSans-Oblique.ttf": sans_italic(10),
    "DejaVuSans-Bold.ttf": sans_bold(10),
    "DejaVuSansMono.ttf": mono(10),
}
COVERED = [
    chr(start + offset)
    for start, values in textmetrics._SANS_ADVANCES
    for offset in range(len(values))
]


@pytest.mark.parametrize("filename", sorted(FACES))
def test_tables_match_installed_font(filename: str) -> None:
    path = FONT_DIR / filename
    if not path.exists():
        pytest.skip(f"{path} not installed (apt-get install fonts-dejavu-core)")
    units_per_em, real = advances(path)
    assert units_per_em == UNITS_PER_EM
    font = FACES[filename]
    for ch in COVERED:
        if ord(ch) not in real:
            continue  # not in this face: a fallback font draws it, counted as FALLBACK_EM
        expected = real[ord(ch)] * font.size / UNITS_PER_EM + OVERHANG_PX
        assert text_width(ch, font) == pytest.approx(expected), hex(ord(ch))


def test_monospace_width_is_exact() -> None:
    font = mono(11)
    assert text_width("CSeq: 2 SUBSCRIBE", font) == pytest.approx(
        17 * 1233 / 2048 * 11 + OVERHANG_PX
    )
    assert text_width("", font) == 0.0


def test_bold_is_wider_than_regular() -> None:
    assert text_width("SUBSCRIBE", sans_bold(12)) > text_width("SUBSCRIBE", sans(12))


def test_unknown_characters_count_wider_than_ideographs_and_ascii() -> None:
    widest_ascii = max(text_width(chr(cp), sans_bold(12)) for cp in range(0x20, 0x7F))
    assert FALLBACK_EM > 1.0
    assert widest_ascii < FALLBACK_EM * 12 + OVERHANG_PX
    assert text_width("\u4e2d", sans(12)) == pytest.approx(FALLBACK_EM * 12 + OVERHANG_PX)


@given(st.text(max_size=200), st.floats(min_value=20, max_value=400))
def test_wrapped_lines_fit_and_keep_the_text(text: str, width: float) -> None:
    font = sans(12)
    lines = wrap_text(text, font, width)
    assert lines
    for line in lines:
        # A single character wider than the line is the only thing allowed to overflow.
        assert text_width(line, font) <= width or len(line) == 1
    assert "".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_wrap_breaks_at_spaces_and_inside_long_words() -> None:
    font = mono(10)
    assert wrap_text("aaa bbb ccc", font, text_width("aaa bbb", font)) == ["aaa bbb", "ccc"]
    assert wrap_text("x" * 30, font, text_width("x" * 10, font)) == ["x" * 10] * 3
    assert wrap_text("one\ntwo", font, 500) == ["one", "two"]
