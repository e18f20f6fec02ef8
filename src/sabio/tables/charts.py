"""A result table drawn as a chart, chosen from the result's shape alone, so that the same
result always gives the same chart: a series over periods (dates, months, years) is a
line, parts of a whole over a few categories (a count, a sum, a share, all positive) a
pie, any other values by category (or over two periods) bars. A result with no numbers,
one row, or more rows than it had room for (truncated) gets none.

The chart is laid out once as a few shapes (:class:`Shape`) and written as SVG
(:func:`chart_svg`, for the web app, reports and ``--chart out.svg``) or as PNG through
Pillow (:func:`chart_png`): both show the same bars, points and words.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape, quoteattr

from sabio.tables.types import MONTHS

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont, ImageFont

    Font = FreeTypeFont | ImageFont

Kind = Literal["bar", "line", "pie"]
Anchor = Literal["start", "middle", "end"]
MAX_BARS = 40
MAX_POINTS = 500
MAX_SERIES = 3
MAX_SLICES = 6
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
"""Okabe and Ito's colours, told apart by people with any colour vision."""
WIDTH = 720
_PERIOD_NAMES = re.compile(
    r"^(year|años?|month|mes(es)?|day|d[ií]as?|week|semana|quarter|trimestre|period[o]?|"
    r"per[ií]odo|date|fecha)$",
    re.IGNORECASE,
)
_PERIOD_TEXT = re.compile(r"^\d{4}([-/](\d{1,2}|[qQtT][1-4]))?([-/]\d{1,2})?$")
_PART_WORDS = re.compile(
    r"^(count|sum|total|totales|share|pct|percent|percentage|porcentaje|cuota|suma|cuenta|"
    r"recuento|n|num|number|número|numero|cantidad|amount|importe)$",
    re.IGNORECASE,
)
_NOT_PARTS = re.compile(r"^(avg|average|mean|promedio|media|min|max|median|mediana)$", re.I)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """What is drawn: ``labels`` along one axis (categories or periods), one or more
    ``series`` of values, one per label."""

    kind: Kind
    title: str
    label: str
    """The name of the labels' column (the x axis of a line, the categories of bars)."""
    labels: tuple[str, ...]
    series: tuple[Series, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- which chart ------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes").removesuffix(" 00:00")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _is_period(name: str, cells: Sequence[Any]) -> bool:
    """Whether a column's cells are periods: dates, years, months, "2023-01", "2023-Q1"."""
    present = [c for c in cells if c is not None]
    if not present:
        return False
    if all(isinstance(c, date) for c in present):
        return True
    if all(isinstance(c, int) and not isinstance(c, bool) for c in present):
        return bool(_PERIOD_NAMES.match(name)) or all(1900 <= c <= 2100 for c in present)
    if all(isinstance(c, str) for c in present):
        return all(_PERIOD_TEXT.match(c) or c.lower().rstrip(".") in MONTHS for c in present)
    return False


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^\wáéíóúñ%]+", name.lower()) if w]


def _is_part(name: str) -> bool:
    """Whether a column's values are parts of a whole (a count, a sum, a share), by its
    name as the query gave it ("count_star()", "sum(importe)", "total", "porcentaje")."""
    words = _words(name.replace("_", " ").replace("count_star", "count"))
    if any(_NOT_PARTS.match(w) for w in words):
        return False
    return "%" in name or any(_PART_WORDS.match(w) for w in words)


def chart_for(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str = "",
    truncated: bool = False,
    limited: bool = False,
) -> Chart | None:
    """The chart for a result (its cells as the engine gave them: numbers, dates, text),
    or None when it is not a series: fewer than two rows, no numbers, truncated.
    ``limited``: the query kept only some rows (a LIMIT), so they are not parts of a
    whole and make no pie."""
    if len(rows) < 2 or truncated or not columns:
        return None
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    numeric = [
        i
        for i, column in enumerate(cells)
        if any(c is not None for c in column) and all(c is None or _number(c) for c in column)
    ]
    labelled = [i for i in range(len(columns)) if i not in numeric]
    if not labelled and len(numeric) >= 2 and _is_period(columns[0], cells[0]):
        labelled, numeric = [0], numeric[1:]  # a year column, then the values
    if not labelled or not numeric:
        return None
    period = _is_period(columns[labelled[0]], cells[labelled[0]])
    labels = tuple(" · ".join(_text(cells[i][r]) for i in labelled) for r in range(len(rows)))
    series = tuple(
        Series(columns[i], tuple(float(c) if c is not None else math.nan for c in cells[i]))
        for i in numeric[:MAX_SERIES]
    )
    kind = _kind(period, series, len(rows), limited)
    if kind is None:
        return None
    label = " · ".join(columns[i] for i in labelled)
    return Chart(kind, title, label, labels, series)


def _kind(period: bool, series: tuple[Series, ...], count: int, limited: bool) -> Kind | None:
    if period:  # a few periods are bars, never slices of a whole
        if count >= 3:
            return "line" if count <= MAX_POINTS else None
        return "bar"
    if count > MAX_BARS:
        return None
    values = series[0].values
    if (
        len(series) == 1
        and not limited
        and count <= MAX_SLICES
        and all(v > 0 for v in values)
        and _is_part(series[0].name)
    ):
        return "pie"
    return "bar"


# --- the shapes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """One thing drawn: a ``rect`` (x, y, w, h), a ``line`` (points), a ``dot`` (x, y, r),
    a ``wedge`` (cx, cy, r, start and end in degrees clockwise from 12 o'clock), or
    ``text`` at (x, y) on its baseline."""

    kind: Literal["rect", "line", "dot", "wedge", "text"]
    numbers: tuple[float, ...]
    colour: str = "#333333"
    text: str = ""
    size: float = 12
    anchor: Anchor = "start"
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    shapes: tuple[Shape, ...]
    description: str


def format_number(value: float, language: str, decimals: int | None = None) -> str:
    """A value as people read it in ``language``: "1,234.5" or "1.234,5"."""
    if math.isnan(value):
        return "—"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 2 if abs(value) >= 1 else 4
    text = f"{value:,.{decimals}f}"
    if decimals and abs(value) < 1:
        text = text.rstrip("0").rstrip(".")
    if language == "es":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values from ``low`` to ``high`` (which include zero)."""
    span = high - low or abs(high) or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut to about ``width`` pixels at ``size`` (an average glyph's width)."""
    most = max(3, int(width / (size * 0.58)))
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _finite(chart: Chart) -> list[float]:
    return [v for s in chart.series for v in s.values if not math.isnan(v)]


def layout(chart: Chart, language: str) -> Layout:
    """Where everything of ``chart`` goes."""
    draw = {"bar": _bars, "line": _lines, "pie": _pie}[chart.kind]
    height, shapes = draw(chart, language)
    title = _fit(chart.title or _description(chart, language, False), WIDTH - 60, 16)
    head = [Shape("text", (16, 26), "#111111", title, 15, bold=True)]
    legend = _legend(chart, height) if len(chart.series) > 1 else []
    total = int(height + (24 if legend else 0))
    return Layout(WIDTH, total, tuple(head + shapes + legend), _description(chart, language))


def _description(chart: Chart, language: str, with_kind: bool = True) -> str:
    names = ", ".join(s.name for s in chart.series)
    joint = "por" if language == "es" else "by"
    if not with_kind:
        return f"{names} {joint} {chart.label}"
    kinds = {
        "es": {"bar": "Gráfico de barras", "line": "Gráfico de líneas", "pie": "Gráfico circular"},
        "en": {"bar": "Bar chart", "line": "Line chart", "pie": "Pie chart"},
    }["es" if language == "es" else "en"]
    return f"{kinds[chart.kind]}: {names} {joint} {chart.label} ({len(chart.labels)})"


def _legend(chart: Chart, top: float) -> list[Shape]:
    shapes: list[Shape] = []
    x = 16.0
    for n, series in enumerate(chart.series):
        colour = PALETTE[n % len(PALETTE)]
        shapes.append(Shape("rect", (x, top + 6, 12, 12), colour))
        name = _fit(series.name, 200, 12)
        shapes.append(Shape("text", (x + 18, top + 16), "#333333", name, 12))
        x += 40 + len(name) * 7
    return shapes


def _bars(chart: Chart, language: str) -> tuple[float, list[Shape]]:
    """Horizontal bars, one row per label (a bar per series), the values at their ends."""
    values = _finite(chart)
    low, high = min(0.0, *values), max(0.0, *values)
    ticks = _ticks(low, high)
    low, high = ticks[0], ticks[-1]
    left, right, top = 190.0 + (44 if low < 0 else 0), WIDTH - 60.0, 48.0
    bar = 16.0 if len(chart.series) == 1 else 11.0
    row = bar * len(chart.series) + 10
    bottom = top + row * len(chart.labels)
    scale = (right - left) / ((high - low) or 1.0)
    zero = left + (0 - low) * scale
    shapes = _value_grid(ticks, left, scale, low, top, bottom, language)
    for r, label in enumerate(chart.labels):
        y = top + r * row
        text = _fit(label, 166, 12)
        shapes.append(Shape("text", (182, y + row / 2 + 4), "#333333", text, 12, "end"))
        for n, series in enumerate(chart.series):
            value = series.values[r]
            if math.isnan(value):
                continue
            end = left + (value - low) * scale
            x, w = min(zero, end), abs(end - zero)
            by = y + 5 + n * bar
            shapes.append(Shape("rect", (x, by, max(w, 1.0), bar - 2), PALETTE[n % len(PALETTE)]))
            words = format_number(value, language)
            at = (end + 4, by + bar - 5) if value >= 0 else (end - 4, by + bar - 5)
            anchor: Anchor = "start" if value >= 0 else "end"
            shapes.append(Shape("text", at, "#333333", words, 11, anchor))
    shapes.append(Shape("line", (zero, top, zero, bottom), "#666666"))
    return bottom + 34, shapes


def _value_grid(
    ticks: list[float],
    left: float,
    scale: float,
    low: float,
    top: float,
    bottom: float,
    language: str,
) -> list[Shape]:
    shapes = []
    for tick in ticks:
        x = left + (tick - low) * scale
        shapes.append(Shape("line", (x, top, x, bottom), "#e3e3e3"))
        words = format_number(tick, language)
        shapes.append(Shape("text", (x, bottom + 16), "#666666", words, 11, "middle"))
    return shapes


def _lines(chart: Chart, language: str) -> tuple[float, list[Shape]]:
    """A line per series over the periods in the result's order, dots at the values."""
    values = _finite(chart)
    low, high = min(0.0, *values), max(0.0, *values)
    ticks = _ticks(low, high)
    low, high = ticks[0], ticks[-1]
    left, right, top, bottom = 80.0, WIDTH - 24.0, 48.0, 318.0
    count = len(chart.labels)
    step = (right - left) / max(count - 1, 1)
    scale = (bottom - top) / ((high - low) or 1.0)
    shapes = []
    for tick in ticks:
        y = bottom - (tick - low) * scale
        shapes.append(Shape("line", (left, y, right, y), "#e3e3e3"))
        words = format_number(tick, language)
        shapes.append(Shape("text", (left - 8, y + 4), "#666666", words, 11, "end"))
    every = max(1, math.ceil(count / 8))
    for r in range(0, count, every):
        text = _fit(chart.labels[r], step * every - 6, 11)
        shapes.append(Shape("text", (left + r * step, bottom + 18), "#666666", text, 11, "middle"))
    for n, series in enumerate(chart.series):
        colour = PALETTE[n % len(PALETTE)]
        points = [
            (left + r * step, bottom - (v - low) * scale)
            for r, v in enumerate(series.values)
            if not math.isnan(v)
        ]
        shapes.append(Shape("line", tuple(c for p in points for c in p), colour))
        if count <= 60:
            shapes.extend(Shape("dot", (x, y, 3.5), colour) for x, y in points)
    shapes.append(Shape("line", (left, bottom, right, bottom), "#666666"))
    return bottom + 36, shapes


def _pie(chart: Chart, language: str) -> tuple[float, list[Shape]]:
    """Slices clockwise from 12 o'clock in the result's order, a key with each value and
    its share beside."""
    values = chart.series[0].values
    total = sum(values)
    cx, cy, radius = 170.0, 190.0, 130.0
    shapes: list[Shape] = []
    start = 0.0
    for n, (label, value) in enumerate(zip(chart.labels, values, strict=True)):
        end = start + 360 * value / total
        colour = PALETTE[n % len(PALETTE)]
        shapes.append(Shape("wedge", (cx, cy, radius, start, end), colour))
        y = 80 + n * 26
        shapes.append(Shape("rect", (340, y - 11, 14, 14), colour))
        share = format_number(100 * value / total, language, 1)
        words = f"{_fit(label, 220, 12)}: {format_number(value, language)} ({share} %)"
        shapes.append(Shape("text", (362, y), "#333333", words, 12))
        start = end
    return 340.0, shapes


# --- SVG and PNG ------------------------------------------------------------------------


def chart_svg(chart: Chart, language: str) -> str:
    """The chart as a standalone SVG document (text escaped; no script, no link)."""
    plan = layout(chart, language)
    description = escape(plan.description)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{plan.width}" height="{plan.height}"'
        f' viewBox="0 0 {plan.width} {plan.height}" role="img"'
        f" aria-label={quoteattr(plan.description)}"
        ' font-family="DejaVu Sans, Arial, Helvetica, sans-serif">',
        f"<title>{description}</title>",
        f'<rect width="{plan.width}" height="{plan.height}" fill="#ffffff"/>',
    ]
    parts.extend(_svg_shape(s) for s in plan.shapes)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _svg_shape(shape: Shape) -> str:
    v = shape.numbers
    if shape.kind == "rect":
        return (
            f'<rect x="{_n(v[0])}" y="{_n(v[1])}" width="{_n(v[2])}" height="{_n(v[3])}"'
            f' fill="{shape.colour}"/>'
        )
    if shape.kind == "line":
        points = " ".join(f"{_n(v[i])},{_n(v[i + 1])}" for i in range(0, len(v), 2))
        return (
            f'<polyline points="{points}" fill="none" stroke="{shape.colour}"'
            ' stroke-width="2" stroke-linejoin="round"/>'
        )
    if shape.kind == "dot":
        return f'<circle cx="{_n(v[0])}" cy="{_n(v[1])}" r="{_n(v[2])}" fill="{shape.colour}"/>'
    if shape.kind == "wedge":
        return f'<path d="{_wedge_path(*v)}" fill="{shape.colour}" stroke="#ffffff"/>'
    weight = ' font-weight="bold"' if shape.bold else ""
    return (
        f'<text x="{_n(v[0])}" y="{_n(v[1])}" font-size="{_n(shape.size)}" fill="{shape.colour}"'
        f' text-anchor="{shape.anchor}"{weight}>{escape(shape.text)}</text>'
    )


def _point(cx: float, cy: float, r: float, degrees: float) -> tuple[float, float]:
    angle = math.radians(degrees)
    return cx + r * math.sin(angle), cy - r * math.cos(angle)


def _wedge_path(cx: float, cy: float, r: float, start: float, end: float) -> str:
    if end - start >= 359.999:  # one slice: the whole circle
        return (
            f"M {_n(cx - r)} {_n(cy)} a {_n(r)} {_n(r)} 0 1 0 {_n(2 * r)} 0"
            f" a {_n(r)} {_n(r)} 0 1 0 {_n(-2 * r)} 0 Z"
        )
    x1, y1 = _point(cx, cy, r, start)
    x2, y2 = _point(cx, cy, r, end)
    large = 1 if end - start > 180 else 0
    return (
        f"M {_n(cx)} {_n(cy)} L {_n(x1)} {_n(y1)} A {_n(r)} {_n(r)} 0 {large} 1 {_n(x2)} {_n(y2)} Z"
    )


def chart_png(chart: Chart, language: str) -> bytes:
    """The chart as a PNG image, drawn by Pillow at twice the size and scaled down (smooth
    edges), with Pillow's own font."""
    from PIL import Image, ImageDraw

    plan = layout(chart, language)
    k = 2
    image = Image.new("RGB", (plan.width * k, plan.height * k), "#ffffff")
    pen = ImageDraw.Draw(image)
    fonts: dict[tuple[float, bool], Font] = {}
    for shape in plan.shapes:
        v = [n * k for n in shape.numbers]
        if shape.kind == "rect":
            pen.rectangle((v[0], v[1], v[0] + v[2], v[1] + v[3]), fill=shape.colour)
        elif shape.kind == "line":
            pen.line(v, fill=shape.colour, width=2 * k if len(v) > 4 else k, joint="curve")
        elif shape.kind == "dot":
            pen.ellipse((v[0] - v[2], v[1] - v[2], v[0] + v[2], v[1] + v[2]), fill=shape.colour)
        elif shape.kind == "wedge":
            box = (v[0] - v[2], v[1] - v[2], v[0] + v[2], v[1] + v[2])
            start, end = shape.numbers[3] - 90, shape.numbers[4] - 90
            pen.pieslice(box, start, end, fill=shape.colour, outline="#ffffff", width=k)
        else:
            key = (shape.size * k, shape.bold)
            font = fonts[key] if key in fonts else fonts.setdefault(key, _font(*key))
            anchor = {"start": "ls", "middle": "ms", "end": "rs"}[shape.anchor]
            pen.text((v[0], v[1]), shape.text, fill=shape.colour, font=font, anchor=anchor)
    image = image.resize((plan.width, plan.height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _font(size: float, bold: bool) -> Font:
    """DejaVu Sans where the system has it (the SVG's first font), else Pillow's own."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def write_chart(chart: Chart, path: str, language: str) -> bytes:
    """The chart as ``path``'s extension says (``.png``, else SVG), as bytes to write."""
    if path.lower().endswith(".png"):
        return chart_png(chart, language)
    return chart_svg(chart, language).encode("utf-8")
