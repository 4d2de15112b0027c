"""Ladder diagrams as SVG, laid out here from font metrics: no browser, no external renderer.

``layout(ladder)`` places every element and returns each text box as (x, y, w, h); the layout is
built so that no two text boxes overlap and every box lies inside the canvas (rows grow to fit
their details, columns grow to fit the widest text between two lifelines, the canvas grows to fit
everything). ``render_svg(ladder)`` draws exactly that layout. The output is deterministic: no
timestamps or generated ids, attributes sorted, numbers rounded.

Drawing conventions: one ``<g class="arrow">`` per message; a lost message stops half-way at an
X; a retransmission is dashed; an error is red. Packet number and time offset sit in the left
margin on the arrow's line. The full, unshortened text of each message is its tooltip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from fsync_model.diagrams.ladder import Arrow, Ladder, Note, packet_time_text
from fsync_model.diagrams.shorten import (
    printable,
    printable_lines,
    shorten_detail,
    shorten_header,
    shorten_label,
)
from fsync_model.diagrams.textmetrics import (
    Font,
    mono,
    sans,
    sans_bold,
    sans_italic,
    wrap_text,
)

Box = tuple[float, float, float, float]
Point = tuple[float, float]

TITLE_FONT: Final = sans_bold(16)
CAPTION_FONT: Final = sans_italic(12)
HEADER_FONT: Final = sans_bold(13)
SUBLABEL_FONT: Final = mono(11)
LABEL_FONT: Final = sans_bold(12)
DETAIL_FONT: Final = mono(11)
GUTTER_FONT: Final = mono(11)
NOTE_FONT: Final = sans(12)

MARGIN: Final = 20.0
LINE_GAP: Final = 2.0  # between stacked lines of one block
HEADER_PAD_X: Final = 10.0
HEADER_PAD_Y: Final = 6.0
HEADER_MIN_W: Final = 90.0
HEADER_SPACING: Final = 40.0  # between two header boxes
COLUMN_MIN: Final = 170.0  # distance between adjacent lifelines
ARROW_TEXT_PAD: Final = 16.0  # text keeps this far from the lifelines an arrow joins
HEAD_LEN: Final = 9.0
HEAD_HALF: Final = 4.0
CROSS_HALF: Final = 5.0
CROSS_CLEAR: Final = 24.0  # how far a lost message's X keeps from a lifeline it would sit on
LABEL_TO_LINE: Final = 6.0
LINE_TO_DETAIL: Final = 6.0
ROW_GAP: Final = 14.0
FIRST_ROW_GAP: Final = 18.0
SELF_LOOP_W: Final = 30.0
SELF_TEXT_GAP: Final = 8.0
SELF_MIN_H: Final = 18.0
NOTE_PAD_X: Final = 10.0
NOTE_PAD_Y: Final = 6.0
NOTE_TEXT_MAX_W: Final = 260.0
NOTE_MIN_W: Final = 80.0
NOTE_OVERHANG: Final = 24.0  # past the outer lifelines of a note over several
GUTTER_GAP: Final = 18.0
TITLE_GAP: Final = 14.0
TITLE_MIN_WRAP: Final = 480.0
CAPTION_GAP: Final = 16.0
CAPTION_MIN_WRAP: Final = 360.0
LIFELINE_TAIL: Final = 16.0
FOOTER_MIN_ITEMS: Final = 12  # repeat the headers at the bottom of ladders this long
BACKGROUND_PAD: Final = 2.0

INK: Final = "#1f2d3d"
DETAIL_INK: Final = "#3b4a5c"
MUTED_INK: Final = "#6b7785"
ERROR_INK: Final = "#c0392b"
LOST_INK: Final = "#8a94a0"
NOTE_COLOURS: Final = {  # kind -> (fill, stroke)
    "state": ("#e4f0ff", "#3d7bd9"),
    "info": ("#fff8dc", "#c9a227"),
    "finding": ("#fdecea", "#c0392b"),
}


@dataclass(frozen=True)
class TextBox:
    """One line of text and the box it occupies; ``anchor`` says which x the SVG gives."""

    x: float
    y: float
    w: float
    h: float
    text: str
    font: Font
    role: str
    anchor: Literal["start", "middle"] = "start"
    fill: str = INK

    @property
    def box(self) -> Box:
        return (self.x, self.y, self.w, self.h)

    @property
    def baseline(self) -> float:
        return self.y + self.font.ascent


@dataclass(frozen=True)
class HeaderGeometry:
    lifeline_id: str
    x: float
    y: float
    w: float
    h: float
    texts: tuple[TextBox, ...]


@dataclass(frozen=True)
class ArrowGeometry:
    """Where one message is drawn. ``shaft`` is a polyline; ``head`` a triangle or None (lost)."""

    item: int
    arrow: Arrow
    shaft: tuple[Point, ...]
    head: tuple[Point, Point, Point] | None
    cross: Point | None
    texts: tuple[TextBox, ...]
    backgrounds: tuple[Box, ...]
    tooltip: str


@dataclass(frozen=True)
class NoteGeometry:
    item: int
    note: Note
    x: float
    y: float
    w: float
    h: float
    texts: tuple[TextBox, ...]


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    lifeline_x: tuple[float, ...]
    lifeline_top: float
    lifeline_bottom: float
    title: tuple[TextBox, ...]
    headers: tuple[HeaderGeometry, ...]
    footers: tuple[HeaderGeometry, ...]
    arrows: tuple[ArrowGeometry, ...]
    notes: tuple[NoteGeometry, ...]
    caption: tuple[TextBox, ...]

    @property
    def texts(self) -> tuple[TextBox, ...]:
        """Every text box of the diagram."""
        out: list[TextBox] = [*self.title]
        for header in (*self.headers, *self.footers):
            out.extend(header.texts)
        for arrow in self.arrows:
            out.extend(arrow.texts)
        for note in self.notes:
            out.extend(note.texts)
        out.extend(self.caption)
        return tuple(out)

    @property
    def text_boxes(self) -> tuple[Box, ...]:
        """Every text box as (x, y, w, h)."""
        return tuple(text.box for text in self.texts)


# ----------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class _ArrowText:
    label: str
    details: tuple[str, ...]
    gutter: str
    tooltip: str

    @property
    def width(self) -> float:
        widths = [LABEL_FONT.width(self.label), *(DETAIL_FONT.width(d) for d in self.details)]
        return max(widths)


def _step(font: Font) -> float:
    return font.height + LINE_GAP


def _block_height(font: Font, lines: int) -> float:
    return lines * font.height + max(lines - 1, 0) * LINE_GAP


def _arrow_text(arrow: Arrow, origin: float | None) -> _ArrowText:
    label = shorten_label(arrow.label)
    shown = (shorten_detail(line) for line in arrow.details)
    details = tuple(line for line in shown if line)  # a blank detail line says nothing
    tooltip = "\n".join([printable(arrow.label), *(printable(line) for line in arrow.details)])
    return _ArrowText(label, details, packet_time_text(arrow, origin), tooltip)


def _column_gaps(
    ladder: Ladder, header_w: Sequence[float], texts: dict[int, _ArrowText]
) -> list[float]:
    """Distances between adjacent lifelines, grown until every arrow's text fits its span."""
    count = len(ladder.lifelines)
    gaps = [
        max(COLUMN_MIN, (header_w[i] + header_w[i + 1]) / 2 + HEADER_SPACING)
        for i in range(count - 1)
    ]
    needs: list[tuple[int, int, float]] = []
    for index, item in enumerate(ladder.items):
        if not isinstance(item, Arrow):
            continue
        a, b = ladder.position(item.src), ladder.position(item.dst)
        width = texts[index].width
        if a == b:
            if a < count - 1:
                needs.append((a, a + 1, SELF_LOOP_W + SELF_TEXT_GAP + width + ARROW_TEXT_PAD))
        else:
            needs.append((min(a, b), max(a, b), width + 2 * ARROW_TEXT_PAD))
    # Narrow spans first: a wide span then only adds what its inner spans did not already give.
    for left, right, need in sorted(needs, key=lambda n: (n[1] - n[0], n[0], n[1], n[2])):
        have = sum(gaps[left:right])
        if have < need:
            extra = (need - have) / (right - left)
            for i in range(left, right):
                gaps[i] += extra
    return gaps


@dataclass
class _Pass:
    """One placement of everything, for given lifeline positions and a top y."""

    headers: list[HeaderGeometry]
    footers: list[HeaderGeometry]
    arrows: list[ArrowGeometry]
    notes: list[NoteGeometry]
    lifeline_top: float
    lifeline_bottom: float
    bottom: float

    def horizontal_extent(self) -> tuple[float, float]:
        """Min and max x over everything but the margin (gutter) texts."""
        xs: list[float] = []
        for header in self.headers:
            xs += [header.x, header.x + header.w]
        for arrow in self.arrows:
            xs += [p[0] for p in arrow.shaft]
            for box in (*(t.box for t in arrow.texts if t.role != "gutter"), *arrow.backgrounds):
                xs += [box[0], box[0] + box[2]]
        for note in self.notes:
            xs += [note.x, note.x + note.w]
        return min(xs), max(xs)


def _header(
    lifeline_id: str, cx: float, y: float, w: float, h: float, label: str, sub: str
) -> HeaderGeometry:
    texts = [
        _centred(label, HEADER_FONT, cx, y + HEADER_PAD_Y, "header"),
    ]
    if sub:
        sub_y = y + HEADER_PAD_Y + HEADER_FONT.height + LINE_GAP
        texts.append(_centred(sub, SUBLABEL_FONT, cx, sub_y, "sublabel", fill=MUTED_INK))
    return HeaderGeometry(lifeline_id, cx - w / 2, y, w, h, tuple(texts))


def _centred(text: str, font: Font, cx: float, y: float, role: str, fill: str = INK) -> TextBox:
    w = font.width(text)
    return TextBox(cx - w / 2, y, w, font.height, text, font, role, "middle", fill)


def _left(text: str, font: Font, x: float, y: float, role: str, fill: str = INK) -> TextBox:
    return TextBox(x, y, font.width(text), font.height, text, font, role, "start", fill)


def _place(
    ladder: Ladder,
    xs: Sequence[float],
    top: float,
    header_w: Sequence[float],
    header_h: float,
    header_text: Sequence[tuple[str, str]],
    texts: dict[int, _ArrowText],
) -> _Pass:
    headers = [
        _header(lifeline.id, xs[i], top, header_w[i], header_h, *header_text[i])
        for i, lifeline in enumerate(ladder.lifelines)
    ]
    y = top + header_h + FIRST_ROW_GAP
    arrows: list[ArrowGeometry] = []
    notes: list[NoteGeometry] = []
    for index, item in enumerate(ladder.items):
        if isinstance(item, Arrow):
            geometry = _place_arrow(ladder, index, item, texts[index], xs, y)
            arrows.append(geometry)
            y = _bottom(geometry) + ROW_GAP
        else:
            note = _place_note(ladder, index, item, xs, y)
            notes.append(note)
            y = note.y + note.h + ROW_GAP
    lifeline_bottom = y - ROW_GAP + LIFELINE_TAIL
    footers: list[HeaderGeometry] = []
    bottom = lifeline_bottom
    if len(ladder.items) >= FOOTER_MIN_ITEMS:
        footers = [
            _header(lifeline.id, xs[i], lifeline_bottom, header_w[i], header_h, *header_text[i])
            for i, lifeline in enumerate(ladder.lifelines)
        ]
        bottom = lifeline_bottom + header_h
    return _Pass(headers, footers, arrows, notes, top + header_h, lifeline_bottom, bottom)


def _bottom(arrow: ArrowGeometry) -> float:
    ys = [p[1] for p in arrow.shaft] + [t.y + t.h for t in arrow.texts]
    if arrow.head:
        ys += [p[1] for p in arrow.head]
    if arrow.cross:
        ys.append(arrow.cross[1] + CROSS_HALF)
    return max(ys)


def _colour(arrow: Arrow) -> str:
    return {"error": ERROR_INK, "lost": LOST_INK}.get(arrow.style, INK)


def _place_arrow(
    ladder: Ladder, index: int, arrow: Arrow, text: _ArrowText, xs: Sequence[float], top: float
) -> ArrowGeometry:
    label_fill = ERROR_INK if arrow.style == "error" else INK
    a, b = ladder.position(arrow.src), ladder.position(arrow.dst)
    x1, x2 = xs[a], xs[b]
    texts: list[TextBox] = []
    backgrounds: list[Box] = []
    if a == b:
        text_x = x1 + SELF_LOOP_W + SELF_TEXT_GAP
        texts.append(_left(text.label, LABEL_FONT, text_x, top, "label", label_fill))
        y = top + LABEL_FONT.height + LINE_GAP
        for detail in text.details:
            texts.append(_left(detail, DETAIL_FONT, text_x, y, "detail", DETAIL_INK))
            y += _step(DETAIL_FONT)
        line_y = top + LABEL_FONT.height / 2
        last_mid = texts[-1].y + texts[-1].h / 2
        return_y = max(line_y + SELF_MIN_H, last_mid)
        right = x1 + SELF_LOOP_W
        if arrow.style == "lost":
            cross_y = (line_y + return_y) / 2
            shaft: tuple[Point, ...] = ((x1, line_y), (right, line_y), (right, cross_y))
            head = None
            cross: Point | None = (right, cross_y)
        else:
            shaft = ((x1, line_y), (right, line_y), (right, return_y), (x1 + HEAD_LEN, return_y))
            head = (
                (x1, return_y),
                (x1 + HEAD_LEN, return_y - HEAD_HALF),
                (x1 + HEAD_LEN, return_y + HEAD_HALF),
            )
            cross = None
    else:
        mid = (x1 + x2) / 2
        texts.append(_centred(text.label, LABEL_FONT, mid, top, "label", label_fill))
        line_y = top + LABEL_FONT.height + LABEL_TO_LINE
        block_w = max((DETAIL_FONT.width(d) for d in text.details), default=0.0)
        block_x = mid - block_w / 2
        y = line_y + LINE_TO_DETAIL
        for detail in text.details:
            texts.append(_left(detail, DETAIL_FONT, block_x, y, "detail", DETAIL_INK))
            y += _step(DETAIL_FONT)
        if abs(b - a) > 1:  # the text crosses other lifelines: keep it legible over them
            label = texts[0]
            backgrounds.append(_padded(label.box))
            if text.details:
                backgrounds.append(
                    _padded(
                        (
                            block_x,
                            line_y + LINE_TO_DETAIL,
                            block_w,
                            _block_height(DETAIL_FONT, len(text.details)),
                        )
                    )
                )
        direction = 1.0 if x2 > x1 else -1.0
        if arrow.style == "lost":
            cross = (_cross_x(xs[min(a, b) + 1 : max(a, b)], x1, x2), line_y)
            shaft = ((x1, line_y), cross)
            head = None
        else:
            base = x2 - direction * HEAD_LEN
            shaft = ((x1, line_y), (base, line_y))
            head = ((x2, line_y), (base, line_y - HEAD_HALF), (base, line_y + HEAD_HALF))
            cross = None
    if text.gutter:
        texts.append(
            _left(
                text.gutter, GUTTER_FONT, 0.0, line_y - GUTTER_FONT.height / 2, "gutter", MUTED_INK
            )
        )
    return ArrowGeometry(
        index, arrow, shaft, head, cross, tuple(texts), tuple(backgrounds), text.tooltip
    )


def _cross_x(between: Sequence[float], x1: float, x2: float) -> float:
    """Half-way from x1 to x2, but not on a lifeline in between (that would read "lost there")."""
    x = (x1 + x2) / 2
    direction = 1.0 if x2 > x1 else -1.0
    for lifeline_x in between:
        if abs(lifeline_x - x) < CROSS_CLEAR:
            x = lifeline_x - direction * CROSS_CLEAR
    return x


def _padded(box: Box) -> Box:
    x, y, w, h = box
    return (x - BACKGROUND_PAD, y - BACKGROUND_PAD / 2, w + 2 * BACKGROUND_PAD, h + BACKGROUND_PAD)


def _place_note(
    ladder: Ladder, index: int, note: Note, xs: Sequence[float], top: float
) -> NoteGeometry:
    left, right = ladder.note_span(note)
    x_left, x_right = xs[left], xs[right]
    span = x_right - x_left
    centre = (x_left + x_right) / 2
    wrap_w = (
        max(NOTE_TEXT_MAX_W, span + 2 * NOTE_OVERHANG - 2 * NOTE_PAD_X) if span else NOTE_TEXT_MAX_W
    )
    lines: list[str] = []
    for line in printable_lines(note.text):
        lines.extend(wrap_text(line, NOTE_FONT, wrap_w))
    text_w = max(NOTE_FONT.width(line) for line in lines)
    w = max(NOTE_MIN_W, text_w + 2 * NOTE_PAD_X, span + 2 * NOTE_OVERHANG if span else 0.0)
    h = _block_height(NOTE_FONT, len(lines)) + 2 * NOTE_PAD_Y
    texts = tuple(
        _centred(line, NOTE_FONT, centre, top + NOTE_PAD_Y + i * _step(NOTE_FONT), "note")
        for i, line in enumerate(lines)
    )
    return NoteGeometry(index, note, centre - w / 2, top, w, h, texts)


def _wrapped(
    text: str, font: Font, x: float, y: float, width: float, role: str, fill: str
) -> list[TextBox]:
    boxes = []
    lines: list[str] = []
    for line in printable_lines(text):
        lines.extend(wrap_text(line, font, width))
    for i, line in enumerate(lines):
        boxes.append(_left(line, font, x, y + i * _step(font), role, fill))
    return boxes


def layout(ladder: Ladder) -> Layout:
    """Place every element of ``ladder``; see the module docstring for the guarantees."""
    origin = ladder.time_origin()
    texts = {
        index: _arrow_text(item, origin)
        for index, item in enumerate(ladder.items)
        if isinstance(item, Arrow)
    }
    header_text = [
        (
            shorten_header(lifeline.label) or shorten_header(lifeline.id),
            shorten_header(lifeline.sublabel),
        )
        for lifeline in ladder.lifelines
    ]
    header_w = [
        max(
            HEADER_MIN_W,
            HEADER_FONT.width(label) + 2 * HEADER_PAD_X,
            SUBLABEL_FONT.width(sub) + 2 * HEADER_PAD_X,
        )
        for label, sub in header_text
    ]
    has_sub = any(sub for _, sub in header_text)
    header_h = 2 * HEADER_PAD_Y + HEADER_FONT.height
    if has_sub:
        header_h += LINE_GAP + SUBLABEL_FONT.height

    gaps = _column_gaps(ladder, header_w, texts)
    relative = [0.0]
    for gap in gaps:
        relative.append(relative[-1] + gap)

    # First pass: horizontal extent only, to know where the lifelines go and how wide it all is.
    trial = _place(ladder, relative, 0.0, header_w, header_h, header_text, texts)
    min_x, max_x = trial.horizontal_extent()
    gutter_w = max((t.w for a in trial.arrows for t in a.texts if t.role == "gutter"), default=0.0)
    content_left = MARGIN + (gutter_w + GUTTER_GAP if gutter_w else 0.0)
    shift = content_left - min_x
    xs = [x + shift for x in relative]
    content_right = max_x + shift

    title = _wrapped(
        ladder.title,
        TITLE_FONT,
        MARGIN,
        MARGIN,
        max(content_right - MARGIN, TITLE_MIN_WRAP),
        "title",
        INK,
    )
    top = (title[-1].y + title[-1].h + TITLE_GAP) if ladder.title.strip() else MARGIN
    if not ladder.title.strip():
        title = []
    placed = _place(ladder, xs, top, header_w, header_h, header_text, texts)

    caption: list[TextBox] = []
    bottom = placed.bottom
    if ladder.caption and ladder.caption.strip():
        caption = _wrapped(
            ladder.caption,
            CAPTION_FONT,
            MARGIN,
            bottom + CAPTION_GAP,
            max(content_right - MARGIN, CAPTION_MIN_WRAP),
            "caption",
            MUTED_INK,
        )
        bottom = caption[-1].y + caption[-1].h

    rights = [content_right, *(t.x + t.w for t in (*title, *caption))]
    return Layout(
        width=_ceil(max(rights) + MARGIN),
        height=_ceil(bottom + MARGIN),
        lifeline_x=tuple(xs),
        lifeline_top=placed.lifeline_top,
        lifeline_bottom=placed.lifeline_bottom,
        title=tuple(title),
        headers=tuple(placed.headers),
        footers=tuple(placed.footers),
        arrows=tuple(_move_gutter(a) for a in placed.arrows),
        notes=tuple(placed.notes),
        caption=tuple(caption),
    )


def _move_gutter(arrow: ArrowGeometry) -> ArrowGeometry:
    """Gutter texts were placed at x = 0; the margin column starts at MARGIN."""
    texts = tuple(
        TextBox(MARGIN, t.y, t.w, t.h, t.text, t.font, t.role, t.anchor, t.fill)
        if t.role == "gutter"
        else t
        for t in arrow.texts
    )
    return ArrowGeometry(
        arrow.item,
        arrow.arrow,
        arrow.shaft,
        arrow.head,
        arrow.cross,
        texts,
        arrow.backgrounds,
        arrow.tooltip,
    )


def _ceil(value: float) -> float:
    return float(int(value) + (0 if value == int(value) else 1))


# ----------------------------------------------------------------------------------------------
# SVG output


def _num(value: float) -> str:
    rounded = round(value, 2)
    if rounded == 0:
        rounded = 0.0  # no "-0"
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def _escape(text: str, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#10;")
    return text


def _tag(name: str, attrs: dict[str, str], content: str | None = None) -> str:
    rendered = "".join(f' {key}="{_escape(attrs[key], True)}"' for key in sorted(attrs))
    if content is None:
        return f"<{name}{rendered}/>"
    return f"<{name}{rendered}>{content}</{name}>"


def _points(points: Iterable[Point]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in points)


def _text(box: TextBox) -> str:
    attrs = {
        "fill": box.fill,
        "font-family": box.font.family,
        "font-size": _num(box.font.size),
        "x": _num(box.x + box.w / 2 if box.anchor == "middle" else box.x),
        "y": _num(box.baseline),
        "xml:space": "preserve",
    }
    if box.anchor == "middle":
        attrs["text-anchor"] = "middle"
    if box.font.weight != "normal":
        attrs["font-weight"] = box.font.weight
    if box.font.style != "normal":
        attrs["font-style"] = box.font.style
    return _tag("text", attrs, _escape(box.text))


def _rect(box: Box, **attrs: str) -> str:
    x, y, w, h = box
    return _tag("rect", {"x": _num(x), "y": _num(y), "width": _num(w), "height": _num(h), **attrs})


def _header_svg(header: HeaderGeometry, kind: str) -> list[str]:
    out = [f'<g class="{kind}" data-lifeline="{_escape(header.lifeline_id, True)}">']
    out.append(
        _rect(
            (header.x, header.y, header.w, header.h),
            fill="#eef2f7",
            stroke="#5b6b7f",
            rx="4",
            **{"stroke-width": "1"},
        )
    )
    out += [_text(t) for t in header.texts]
    out.append("</g>")
    return out


def _arrow_svg(geometry: ArrowGeometry) -> list[str]:
    arrow = geometry.arrow
    attrs = {
        "class": "arrow",
        "data-dst": arrow.dst,
        "data-item": str(geometry.item),
        "data-src": arrow.src,
        "data-style": arrow.style,
    }
    if arrow.packet is not None:
        attrs["data-packet"] = str(arrow.packet)
    rendered = "".join(f' {key}="{_escape(attrs[key], True)}"' for key in sorted(attrs))
    out = [f"<g{rendered}>", _tag("title", {}, _escape(geometry.tooltip))]
    colour = _colour(arrow)
    line = {"fill": "none", "stroke": colour, "stroke-width": "1.4"}
    if arrow.style == "retransmission":
        line["stroke-dasharray"] = "6 4"
    if len(geometry.shaft) == 2:
        (x1, y1), (x2, y2) = geometry.shaft
        out.append(
            _tag("line", {"x1": _num(x1), "y1": _num(y1), "x2": _num(x2), "y2": _num(y2), **line})
        )
    else:
        out.append(_tag("polyline", {"points": _points(geometry.shaft), **line}))
    if geometry.head:
        out.append(
            _tag(
                "polygon", {"class": "arrowhead", "fill": colour, "points": _points(geometry.head)}
            )
        )
    if geometry.cross:
        cx, cy = geometry.cross
        d = CROSS_HALF
        path = (
            f"M{_num(cx - d)},{_num(cy - d)} L{_num(cx + d)},{_num(cy + d)} "
            f"M{_num(cx - d)},{_num(cy + d)} L{_num(cx + d)},{_num(cy - d)}"
        )
        out.append(
            _tag(
                "path",
                {
                    "class": "lost",
                    "d": path,
                    "fill": "none",
                    "stroke": ERROR_INK,
                    "stroke-width": "2",
                },
            )
        )
    for background in geometry.backgrounds:
        out.append(_rect(background, fill="#ffffff", **{"fill-opacity": "0.85"}))
    out += [_text(t) for t in geometry.texts]
    out.append("</g>")
    return out


def _note_svg(geometry: NoteGeometry) -> list[str]:
    fill, stroke = NOTE_COLOURS[geometry.note.kind]
    over = " ".join(geometry.note.over)
    out = [
        f'<g class="note" data-item="{geometry.item}" data-kind="{geometry.note.kind}" '
        f'data-over="{_escape(over, True)}">'
    ]
    out.append(
        _rect(
            (geometry.x, geometry.y, geometry.w, geometry.h),
            fill=fill,
            stroke=stroke,
            rx="6",
            **{"stroke-width": "1"},
        )
    )
    out += [_text(t) for t in geometry.texts]
    out.append("</g>")
    return out


def render_svg(ladder: Ladder) -> str:
    """The ladder as a standalone SVG document (UTF-8 text, ending in a newline)."""
    box = layout(ladder)
    w, h = _num(box.width), _num(box.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        _tag(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "width": w,
                "height": h,
                "viewBox": f"0 0 {w} {h}",
            },
        ).removesuffix("/>")
        + ">",
        _tag("title", {}, _escape(printable(ladder.title))),
    ]
    if ladder.caption:
        out.append(_tag("desc", {}, _escape(printable(ladder.caption))))
    out.append(_rect((0, 0, box.width, box.height), fill="#ffffff", **{"class": "background"}))
    out.append('<g class="title">')
    out += [_text(t) for t in box.title]
    out.append("</g>")
    out.append('<g class="lifelines">')
    for x in box.lifeline_x:
        out.append(
            _tag(
                "line",
                {
                    "x1": _num(x),
                    "y1": _num(box.lifeline_top),
                    "x2": _num(x),
                    "y2": _num(box.lifeline_bottom),
                    "stroke": "#9aa5b1",
                    "stroke-dasharray": "4 4",
                    "stroke-width": "1",
                },
            )
        )
    out.append("</g>")
    for header in box.headers:
        out += _header_svg(header, "lifeline-header")
    items: list[tuple[int, list[str]]] = [(a.item, _arrow_svg(a)) for a in box.arrows]
    items += [(n.item, _note_svg(n)) for n in box.notes]
    for _, lines in sorted(items, key=lambda pair: pair[0]):
        out += lines
    for footer in box.footers:
        out += _header_svg(footer, "lifeline-footer")
    out.append('<g class="caption">')
    out += [_text(t) for t in box.caption]
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
