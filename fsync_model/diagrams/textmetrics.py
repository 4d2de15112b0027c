"""Advance widths of the fonts the ladder SVG declares, so text boxes are computed, not guessed.

The SVG names DejaVu Sans (regular, bold, oblique) and DejaVu Sans Mono. The tables below are the
fonts' own ``hmtx`` advances in font units (2048 per em) for the characters a SIP ladder shows;
``tests/diagrams/test_textmetrics.py`` checks them against the installed font files. A character
outside the tables (CJK, emoji...) is drawn from some fallback font and counts as ``FALLBACK_EM``
wide: more than an ideograph's 1 em and more than any ASCII glyph, so it errs on the wide side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

UNITS_PER_EM: Final = 2048
ASCENT_UNITS: Final = 1901  # hhea ascender, identical in the three faces
DESCENT_UNITS: Final = 483  # hhea descender (absolute value)
#: Width assumed for characters missing from the tables (CJK, emoji, combining marks...).
FALLBACK_EM: Final = 1.2
#: Glyphs may overhang their advance by a pixel (italic, 'f', 'j'); boxes grow by this much.
OVERHANG_PX: Final = 1.0

Advances = tuple[tuple[int, tuple[int, ...]], ...]

# Generated from DejaVuSans.ttf, DejaVuSans-Bold.ttf, DejaVuSansMono.ttf (DejaVu 2.37).
# fmt: off
_SANS_ADVANCES: Final[Advances] = (
    (0x0020, (
        651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690,
        1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716,
        1087, 2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767,
        1532, 1612, 1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690,
        799, 1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569,
        1995, 1298, 1253, 1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303,
        690, 1303, 1716,
    )),
    (0x00A0, (
        651, 821, 1303, 1303, 1303, 1303, 690, 1024, 1024, 2048, 965, 1253, 1716, 739, 2048, 1024,
        1024, 1716, 821, 821, 1024, 1303, 1303, 651, 1024, 821, 965, 1253, 1985, 1985, 1985, 1087,
        1401, 1401, 1401, 1401, 1401, 1401, 1995, 1430, 1294, 1294, 1294, 1294, 604, 604, 604,
        604, 1587, 1532, 1612, 1612, 1612, 1612, 1612, 1716, 1612, 1499, 1499, 1499, 1499, 1251,
        1239, 1290, 1255, 1255, 1255, 1255, 1255, 1255, 2011, 1126, 1260, 1260, 1260, 1260, 569,
        569, 569, 569, 1253, 1298, 1253, 1253, 1253, 1253, 1253, 1716, 1253, 1298, 1298, 1298,
        1298, 1212, 1300, 1212, 1401, 1255, 1401, 1255, 1401, 1255, 1430, 1126, 1430, 1126, 1430,
        1126, 1430, 1126, 1577, 1300, 1587, 1300, 1294, 1260, 1294, 1260, 1294, 1260, 1294, 1260,
        1294, 1260, 1587, 1300, 1587, 1300, 1587, 1300, 1587, 1300, 1540, 1298, 1876, 1423, 604,
        569, 604, 569, 604, 569, 604, 569, 604, 569, 1208, 1138, 604, 569, 1343, 1186, 1186, 1141,
        569, 1141, 569, 1141, 768, 1141, 700, 1151, 582, 1532, 1298, 1532, 1298, 1532, 1298, 1666,
        1532, 1298, 1612, 1253, 1612, 1253, 1612, 1253, 2191, 2095, 1423, 842, 1423, 842, 1423,
        842, 1300, 1067, 1300, 1067, 1300, 1067, 1300, 1067, 1251, 803, 1251, 803, 1251, 803,
        1499, 1298, 1499, 1298, 1499, 1298, 1499, 1298, 1499, 1298, 1499, 1298, 2025, 1675, 1251,
        1212, 1251, 1403, 1075, 1403, 1075, 1403, 1075, 721,
    )),
    (0x2010, (
        739, 739, 1303, 1024, 2048, 2048, 1024, 1024, 651, 651, 651, 651, 1061, 1061, 1061, 1061,
        1024, 1024, 1208, 1208, 685, 1367, 2048, 651,
    )),
    (0x2030, (
        2748, 3554, 465, 765, 1065, 465, 765, 1065, 694, 819, 819,
    )),
    (0x2190, (
        1716, 1716, 1716, 1716,
    )),
    (0x2713, (
        1716, 1716, 1716, 1716, 1716,
    )),
    (0x26A0, (
        1836,
    )),
    (0xFFFD, (
        2100,
    )),
)
_SANS_BOLD_ADVANCES: Final[Advances] = (
    (0x0020, (
        713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748,
        1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716,
        1188, 2048, 1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038,
        1714, 1741, 1501, 1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748,
        936, 1716, 1024, 1024, 1382, 1466, 1214, 1466, 1389, 891, 1466, 1458, 702, 702, 1362, 702,
        2134, 1458, 1407, 1466, 1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458,
        748, 1458, 1716,
    )),
    (0x00A0, (
        713, 934, 1425, 1425, 1303, 1425, 748, 1024, 1024, 2048, 1155, 1323, 1716, 850, 2048,
        1024, 1024, 1716, 897, 897, 1024, 1507, 1303, 778, 1024, 897, 1155, 1323, 2120, 2120,
        2120, 1188, 1585, 1585, 1585, 1585, 1585, 1585, 2222, 1503, 1399, 1399, 1399, 1399, 762,
        762, 762, 762, 1716, 1714, 1741, 1741, 1741, 1741, 1741, 1716, 1741, 1663, 1663, 1663,
        1663, 1483, 1511, 1473, 1382, 1382, 1382, 1382, 1382, 1382, 2146, 1214, 1389, 1389, 1389,
        1389, 702, 702, 702, 702, 1407, 1458, 1407, 1407, 1407, 1407, 1407, 1716, 1407, 1458,
        1458, 1458, 1458, 1335, 1466, 1335, 1585, 1382, 1585, 1382, 1585, 1382, 1503, 1214, 1503,
        1214, 1503, 1214, 1503, 1214, 1700, 1466, 1716, 1466, 1399, 1389, 1399, 1389, 1399, 1389,
        1399, 1389, 1399, 1389, 1681, 1466, 1681, 1466, 1681, 1466, 1681, 1466, 1714, 1458, 1994,
        1618, 762, 702, 762, 702, 762, 702, 762, 702, 762, 702, 1524, 1404, 762, 702, 1587, 1362,
        1362, 1305, 702, 1305, 702, 1305, 982, 1305, 1140, 1315, 760, 1714, 1458, 1714, 1458,
        1714, 1458, 2013, 1714, 1458, 1741, 1407, 1741, 1407, 1741, 1407, 2390, 2241, 1577, 1010,
        1577, 1010, 1577, 1010, 1475, 1219, 1475, 1219, 1475, 1219, 1475, 1219, 1397, 979, 1397,
        979, 1397, 979, 1663, 1458, 1663, 1458, 1663, 1458, 1663, 1458, 1663, 1458, 1663, 1458,
        2259, 1892, 1483, 1335, 1483, 1485, 1192, 1485, 1192, 1485, 1192, 891,
    )),
    (0x2010, (
        850, 850, 1425, 1024, 2048, 2048, 1024, 1024, 778, 778, 778, 778, 1346, 1346, 1346, 1346,
        1024, 1024, 1309, 1309, 682, 1366, 2048, 713,
    )),
    (0x2030, (
        2949, 3864, 540, 915, 1290, 540, 915, 1290, 1501, 844, 844,
    )),
    (0x2190, (
        1716, 1716, 1716, 1716,
    )),
    (0x2713, (
        1716, 1716, 1716, 1716, 1716,
    )),
    (0x26A0, (
        1836,
    )),
    (0xFFFD, (
        2280,
    )),
)
_MONO_ADVANCES: Final[Advances] = (
    (0x0020, (
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233,
    )),
    (0x00A0, (
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
    )),
    (0x2010, (
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233,
        1233, 1233, 1233, 1233, 1233, 0, 0, 1233, 0,
    )),
    (0x2030, (
        1233, 1233, 1233, 1233, 1233, 1233, 1233, 1233, 0, 1233, 1233,
    )),
    (0x2190, (
        1233, 1233, 1233, 1233,
    )),
    (0x2713, (
        1233, 1233, 1233, 1233, 1233,
    )),
    (0x26A0, (
        1233,
    )),
    (0xFFFD, (
        1233,
    )),
)



# DejaVuSans-Oblique.ttf: the same advances as DejaVuSans.ttf except these code points.
_SANS_OBLIQUE_CHANGES: Final[dict[int, int]] = {
    0x00AB: 1264, 0x00BB: 1264, 0x00DE: 1245, 0x00E6: 2038, 0x013E: 569, 0x0140: 569, 0x0142: 588,
    0x0153: 2105, 0x2024: 682, 0x2025: 1365, 0x2030: 2765, 0x2031: 3461, 0x26A0: 1822,
}

# fmt: on


def _index(table: Advances) -> dict[str, int]:
    out: dict[str, int] = {}
    for start, values in table:
        for offset, advance in enumerate(values):
            if advance:  # 0 marks a code point the face does not cover
                out[chr(start + offset)] = advance
    return out


_TABLES: Final[dict[str, dict[str, int]]] = {
    "sans": _index(_SANS_ADVANCES),
    "sans-oblique": {
        **_index(_SANS_ADVANCES),
        **{chr(cp): advance for cp, advance in _SANS_OBLIQUE_CHANGES.items()},
    },
    "sans-bold": _index(_SANS_BOLD_ADVANCES),
    "mono": _index(_MONO_ADVANCES),
}


@dataclass(frozen=True)
class Font:
    """A face at a size, as the SVG declares it (``font-family``, ``font-size``...)."""

    family: str
    size: float
    weight: Literal["normal", "bold"] = "normal"
    style: Literal["normal", "italic"] = "normal"
    table: Literal["sans", "sans-oblique", "sans-bold", "mono"] = "sans"

    @property
    def ascent(self) -> float:
        return ASCENT_UNITS * self.size / UNITS_PER_EM

    @property
    def descent(self) -> float:
        return DESCENT_UNITS * self.size / UNITS_PER_EM

    @property
    def height(self) -> float:
        """Height of one line's box: ascender to descender."""
        return self.ascent + self.descent

    def width(self, text: str) -> float:
        """Advance width of ``text`` in pixels, plus the overhang allowance."""
        return text_width(text, self)


SANS_FAMILY: Final = "DejaVu Sans, Verdana, sans-serif"
MONO_FAMILY: Final = "DejaVu Sans Mono, monospace"


def sans(size: float) -> Font:
    return Font(SANS_FAMILY, size, table="sans")


def sans_bold(size: float) -> Font:
    return Font(SANS_FAMILY, size, weight="bold", table="sans-bold")


def sans_italic(size: float) -> Font:
    return Font(SANS_FAMILY, size, style="italic", table="sans-oblique")


def mono(size: float) -> Font:
    return Font(MONO_FAMILY, size, table="mono")


def text_width(text: str, font: Font) -> float:
    """Width of ``text`` set in ``font``: the sum of advances, no kerning (kerning only narrows)."""
    if not text:
        return 0.0
    table = _TABLES[font.table]
    fallback = FALLBACK_EM * UNITS_PER_EM
    units = sum(table.get(ch, fallback) for ch in text)
    return units * font.size / UNITS_PER_EM + OVERHANG_PX


def wrap_text(text: str, font: Font, max_width: float) -> list[str]:
    """Break ``text`` at spaces (and inside words too long for a line) to fit ``max_width``.

    Explicit newlines are kept. Always returns at least one line.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = word if not current else f"{current} {word}"
            if text_width(candidate, font) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            while text_width(word, font) > max_width and len(word) > 1:
                cut = _longest_prefix(word, font, max_width)
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


def _longest_prefix(word: str, font: Font, max_width: float) -> int:
    """Length of the longest prefix of ``word`` that fits (at least one character)."""
    cut = 1
    while cut < len(word) and text_width(word[: cut + 1], font) <= max_width:
        cut += 1
    return cut


def ceil_px(value: float) -> float:
    """Round up to a whole pixel, so boxes computed here never shrink when written out."""
    return float(math.ceil(value - 1e-9))
