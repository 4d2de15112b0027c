"""Just enough of a TrueType reader (stdlib only) to check the advance tables in textmetrics."""

from __future__ import annotations

import struct
from pathlib import Path


def advances(path: Path) -> tuple[int, dict[int, int]]:
    """unitsPerEm and code point -> advance width (font units) from a .ttf's cmap and hmtx."""
    data = path.read_bytes()
    (count,) = struct.unpack(">H", data[4:6])
    tables: dict[str, int] = {}
    for i in range(count):
        tag, _checksum, offset, _length = struct.unpack(">4sIII", data[12 + 16 * i : 28 + 16 * i])
        tables[tag.decode("latin-1")] = offset
    (units_per_em,) = struct.unpack(">H", data[tables["head"] + 18 : tables["head"] + 20])
    (metrics,) = struct.unpack(">H", data[tables["hhea"] + 34 : tables["hhea"] + 36])
    hmtx = tables["hmtx"]
    widths = [struct.unpack(">H", data[hmtx + 4 * g : hmtx + 4 * g + 2])[0] for g in range(metrics)]
    glyphs = _cmap_format4(data, tables["cmap"])
    return units_per_em, {cp: widths[min(g, metrics - 1)] for cp, g in glyphs.items() if g}


def _cmap_format4(data: bytes, cmap: int) -> dict[int, int]:
    (subtables,) = struct.unpack(">H", data[cmap + 2 : cmap + 4])
    for i in range(subtables):
        platform, encoding, offset = struct.unpack(
            ">HHI", data[cmap + 4 + 8 * i : cmap + 12 + 8 * i]
        )
        if (platform, encoding) != (3, 1):
            continue
        start = cmap + offset
        (segments_x2,) = struct.unpack(">H", data[start + 6 : start + 8])
        n = segments_x2 // 2
        ends = struct.unpack(f">{n}H", data[start + 14 : start + 14 + segments_x2])
        starts_at = start + 16 + segments_x2
        starts = struct.unpack(f">{n}H", data[starts_at : starts_at + segments_x2])
        deltas = struct.unpack(
            f">{n}h", data[starts_at + segments_x2 : starts_at + 2 * segments_x2]
        )
        range_at = starts_at + 2 * segments_x2
        ranges = struct.unpack(f">{n}H", data[range_at : range_at + segments_x2])
        out: dict[int, int] = {}
        for k in range(n):
            for cp in range(starts[k], ends[k] + 1):
                if cp == 0xFFFF:
                    continue
                if ranges[k] == 0:
                    glyph = (cp + deltas[k]) & 0xFFFF
                else:
                    at = range_at + 2 * k + ranges[k] + 2 * (cp - starts[k])
                    (glyph,) = struct.unpack(">H", data[at : at + 2])
                    glyph = (glyph + deltas[k]) & 0xFFFF if glyph else 0
                out[cp] = glyph
        return out
    raise ValueError("no Windows Unicode BMP cmap")
