"""Small server-side SVG charts: bar, histogram, heatmap, line. Reusable by any page.

Each function returns `Markup` (an `<svg>` element) to place in a page dataclass and write as
`{{ page.chart }}`. The CSP forbids inline style attributes, so every colour and size is an SVG
presentation attribute (fill=, stroke=, font-size=); link /static/css/charts.css for the shared
look (responsive width, axis colours). Every text is escaped; every chart has a <title> and a
<desc> for screen readers, and the numbers it shows also go into <title> tooltips per mark.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999")
FONT = 'font-family="system-ui, sans-serif"'
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One named line/outline of values; `colour` defaults to the palette in order."""

    name: str
    values: Sequence[float]
    colour: str | None = None


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    colour: str = PALETTE[0]
    note: str = ""  # shown after the value, e.g. "n=40"


def _svg(parts: list[str]) -> Markup:
    # Safe: every text placed in `parts` went through escape(), numbers through _num/format, colours
    # through _colour; nothing else from the caller reaches the markup.
    return Markup("".join(parts))  # noqa: S704


def _colour(value: str | None, fallback: str = "#999999") -> str:
    """Only #rgb / #rrggbb(aa) colours pass; anything else becomes `fallback`."""
    if value and re.fullmatch(r"#[0-9a-fA-F]{3,8}", value):
        return value
    return fallback


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def _open(kind: str, width: int, height: int, title: str, desc: str) -> tuple[str, str]:
    ident = f"chart-{next(_ids)}"
    head = (f'<svg class="chart chart-{kind}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d" {FONT}>'
            f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>')
    return head, "</svg>"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, cls: str = "chart-label",
          weight: str = "normal") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="#3d4650" class="{cls}">{escape(text)}</text>')


def _colours(series: Sequence[Series]) -> list[str]:
    return [_colour(s.colour, PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)]


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts, offset = [], 0.0
    for s, colour in zip(series, _colours(series), strict=True):
        parts.append(f'<rect x="{_num(x + offset)}" y="{_num(y - 9)}" width="10" height="10" rx="2" fill="{colour}"/>')
        parts.append(_text(x + offset + 14, y, s.name))
        offset += 24 + 6.5 * len(s.name)
    return "".join(parts)


def bar_chart(bars: Sequence[Bar], *, title: str, value_format: str = "{:.0f}", max_value: float | None = None,
              width: int = 480, label_width: int = 130, bar_height: int = 18) -> Markup:
    """Horizontal bars, one per row (long labels stay readable), each with its value at the end."""
    row = bar_height + 8
    height = max(row * len(bars) + 8, 30)
    top = max([max_value or 0.0, *(b.value for b in bars)]) or 1.0
    plot = width - label_width - 90
    head, tail = _open("bar", width, height, title, ", ".join(f"{b.label}: {value_format.format(b.value)}"
                                                               for b in bars) or "no data")
    parts = [head]
    if not bars:
        parts.append(_text(8, 20, "no data", cls="chart-empty"))
    for i, b in enumerate(bars):
        y = 4 + i * row
        length = max(plot * max(b.value, 0.0) / top, 0.0)
        shown = value_format.format(b.value) + (f"  {b.note}" if b.note else "")
        parts.append(_text(label_width - 8, y + bar_height - 5, b.label, anchor="end"))
        parts.append(f'<rect class="chart-track" x="{label_width}" y="{y}" width="{plot}" height="{bar_height}" rx="3" '
                     f'fill="#eef1f4"/>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{_num(length)}" height="{bar_height}" rx="3" '
                     f'fill="{_colour(b.colour)}"><title>{escape(b.label)}: {escape(shown)}</title></rect>')
        parts.append(_text(label_width + plot + 6, y + bar_height - 5, shown, cls="chart-value"))
    parts.append(tail)
    return _svg(parts)


def histogram(edges: Sequence[float], series: Sequence[Series], *, title: str, x_label: str = "",
              width: int = 480, height: int = 200, normalize: bool = True) -> Markup:
    """Overlaid histograms on shared bin `edges` (len = bins + 1), drawn as translucent steps.

    With `normalize`, each series is scaled to sum 1 so groups of different sizes compare.
    """
    left, right, top, bottom = 40, 12, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    shapes = []
    for s in series:
        values = [max(float(v), 0.0) for v in s.values]
        total = sum(values) if normalize else 1.0
        shapes.append([v / total if total else 0.0 for v in values])
    peak = max((max(v) for v in shapes if v), default=0.0) or 1.0
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def sx(x: float) -> float:
        return left + plot_w * (x - lo) / span

    def sy(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    head, tail = _open("histogram", width, height, title, f"{len(series)} distributions of {x_label or 'values'}")
    parts = [head, f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                   f'y2="{top + plot_h}" stroke="#9aa3ad"/>']
    for s, values, colour in zip(series, shapes, _colours(series), strict=True):
        points = [f"{_num(sx(lo))},{_num(sy(0))}"]
        for i, v in enumerate(values):
            points += [f"{_num(sx(float(edges[i])))},{_num(sy(v))}", f"{_num(sx(float(edges[i + 1])))},{_num(sy(v))}"]
        points.append(f"{_num(sx(hi))},{_num(sy(0))}")
        parts.append(f'<polygon points="{" ".join(points)}" fill="{colour}" fill-opacity="0.25" stroke="{colour}" '
                     f'stroke-width="1.5"><title>{escape(s.name)}</title></polygon>')
    for x in (lo, (lo + hi) / 2, hi):
        parts.append(_text(sx(x), top + plot_h + 14, _num(x), anchor="middle", size=10))
    if x_label:
        parts.append(_text(left + plot_w / 2, height - 4, x_label, anchor="middle", size=10))
    parts.append(_legend(series, left, 14))
    parts.append(tail)
    return _svg(parts)


def _mix(low: str, high: str, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    a = [int(low[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def heatmap(matrix: Sequence[Sequence[float | None]], row_labels: Sequence[str], col_labels: Sequence[str], *,
            title: str, value_format: str = "{:.2f}", low: str = "#f4f7fb", high: str = "#b3261e",
            vmin: float | None = None, vmax: float | None = None, cell: int = 44, label_width: int = 110) -> Markup:
    """A matrix as coloured cells with their values; None cells stay blank (e.g. a diagonal)."""
    low = low if re.fullmatch(r"#[0-9a-fA-F]{6}", low) else "#f4f7fb"
    high = high if re.fullmatch(r"#[0-9a-fA-F]{6}", high) else "#b3261e"
    values = [float(v) for r in matrix for v in r if v is not None and math.isfinite(float(v))]
    vmin = min(values, default=0.0) if vmin is None else vmin
    vmax = max(values, default=1.0) if vmax is None else vmax
    span = (vmax - vmin) or 1.0
    head_h = 70
    width = label_width + cell * len(col_labels) + 8
    height = head_h + cell * len(row_labels) + 8
    head, tail = _open("heatmap", width, height, title, f"{len(row_labels)} by {len(col_labels)} matrix")
    parts = [head]
    for j, name in enumerate(col_labels):
        x = label_width + j * cell + cell / 2
        parts.append(f'<text x="{_num(x)}" y="{head_h - 6}" font-size="11" fill="#3d4650" class="chart-label" '
                     f'transform="rotate(-40 {_num(x)} {head_h - 6})">{escape(name)}</text>')
    for i, (name, row) in enumerate(zip(row_labels, matrix, strict=True)):
        y = head_h + i * cell
        parts.append(_text(label_width - 6, y + cell / 2 + 4, name, anchor="end"))
        for j, v in enumerate(row):
            x = label_width + j * cell
            if v is None or not math.isfinite(float(v)):
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#ffffff" '
                             f'stroke="#e4e8ec"/>')
                continue
            t = (float(v) - vmin) / span
            shown = value_format.format(float(v))
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="2" '
                         f'fill="{_mix(low, high, t)}"><title>{escape(name)} / {escape(col_labels[j])}: '
                         f'{escape(shown)}</title></rect>')
            ink = "#ffffff" if t > 0.6 else "#1d232b"
            parts.append(f'<text x="{x + (cell - 2) / 2:.1f}" y="{y + cell / 2 + 3:.1f}" text-anchor="middle" '
                         f'font-size="10" fill="{ink}">{escape(shown)}</text>')
    parts.append(tail)
    return _svg(parts)


def line_chart(x_labels: Sequence[str], series: Sequence[Series], *, title: str, y_min: float | None = None,
               y_max: float | None = None, value_format: str = "{:.2f}", width: int = 480,
               height: int = 200) -> Markup:
    """Lines over a categorical x axis (e.g. dates, snapshots); None/NaN values leave gaps."""
    left, right, top, bottom = 44, 12, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for s in series for v in s.values if v is not None and math.isfinite(float(v))]
    lo = min(values, default=0.0) if y_min is None else y_min
    hi = max(values, default=1.0) if y_max is None else y_max
    span = (hi - lo) or 1.0
    n = max(len(x_labels), 1)

    def sx(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def sy(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / span)

    head, tail = _open("line", width, height, title, f"{len(series)} series over {len(x_labels)} points")
    parts = [head, f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                   f'y2="{top + plot_h}" stroke="#9aa3ad"/>']
    for v in (lo, hi):
        parts.append(_text(left - 4, sy(v) + 4, value_format.format(v), anchor="end", size=10))
    step = max(1, math.ceil(len(x_labels) / 8))
    for i, name in enumerate(x_labels):
        if i % step == 0:
            parts.append(_text(sx(i), top + plot_h + 14, name, anchor="middle", size=10))
    for s, colour in zip(series, _colours(series), strict=True):
        run: list[str] = []
        runs = [run]
        for i, v in enumerate(s.values):
            if v is None or not math.isfinite(float(v)):
                run = []
                runs.append(run)
                continue
            run.append(f"{_num(sx(i))},{_num(sy(float(v)))}")
            parts.append(f'<circle cx="{_num(sx(i))}" cy="{_num(sy(float(v)))}" r="2.5" fill="{colour}">'
                         f'<title>{escape(s.name)} {escape(x_labels[i])}: {escape(value_format.format(float(v)))}'
                         f'</title></circle>')
        for points in runs:
            if len(points) > 1:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    parts.append(_legend(series, left, 14))
    parts.append(tail)
    return _svg(parts)


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    confidence: float | None  # mean top probability of the bin's images; None when empty
    accuracy: float | None  # share of them predicted right
    count: int


def reliability_diagram(bins: Sequence[ReliabilityBin], *, title: str, width: int = 320, height: int = 300,
                        colour: str = PALETTE[0]) -> Markup:
    """Accuracy against confidence per bin, on the diagonal of perfect calibration; each bar spans its bin
    and reaches the bin's accuracy, a dot marks its mean confidence (a gap between them is miscalibration)."""
    left, right, top, bottom = 40, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + plot_w * min(max(v, 0.0), 1.0)

    def sy(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), 1.0))

    filled = [b for b in bins if b.count and b.accuracy is not None]
    head, tail = _open("reliability", width, height, title, "; ".join(
        f"{b.low:.1f}-{b.high:.1f}: accuracy {b.accuracy:.2f} over {b.count} images" for b in filled) or "no data")
    parts = [head, f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#d7dde3"/>',
             f'<line x1="{_num(sx(0))}" y1="{_num(sy(0))}" x2="{_num(sx(1))}" y2="{_num(sy(1))}" stroke="#9aa3ad" '
             f'stroke-dasharray="4 3"><title>perfect calibration</title></line>']
    ink = _colour(colour, PALETTE[0])
    for b in filled:
        accuracy = float(b.accuracy or 0.0)
        x, w = sx(b.low), max(sx(b.high) - sx(b.low) - 1, 1.0)
        shown = f"{b.low:.1f}–{b.high:.1f}: accuracy {accuracy:.2f}, confidence " + (
            f"{b.confidence:.2f}" if b.confidence is not None else "–") + f", {b.count} images"
        parts.append(f'<rect class="reliability-bar" x="{_num(x)}" y="{_num(sy(accuracy))}" width="{_num(w)}" '
                     f'height="{_num(sy(0) - sy(accuracy))}" fill="{ink}" fill-opacity="0.75">'
                     f'<title>{escape(shown)}</title></rect>')
        if b.confidence is not None:
            parts.append(f'<circle cx="{_num(sx(b.confidence))}" cy="{_num(sy(b.confidence))}" r="3" fill="#D55E00">'
                         f'<title>{escape(shown)}</title></circle>')
    for v in (0.0, 0.5, 1.0):
        parts.append(_text(sx(v), top + plot_h + 14, _num(v), anchor="middle", size=10))
        parts.append(_text(left - 4, sy(v) + 4, _num(v), anchor="end", size=10))
    parts.append(_text(left + plot_w / 2, height - 6, "confidence (bars: accuracy, dots: mean confidence)",
                       anchor="middle", size=10))
    parts.append(tail)
    return _svg(parts)


@dataclass(frozen=True)
class DeltaRow:
    label: str
    value: float | None  # b - a
    low: float | None  # interval of the difference
    high: float | None
    note: str = ""


def delta_chart(rows: Sequence[DeltaRow], *, title: str, span: float | None = None, width: int = 520,
                label_width: int = 150, row_height: int = 22, value_format: str = "{:+.3f}") -> Markup:
    """Differences as bars from a zero line (green up, red down) with their interval as a whisker: a
    whisker that crosses zero means the data cannot tell the two apart."""
    plot = width - label_width - 130
    reach = span or max([abs(v) for r in rows for v in (r.value, r.low, r.high) if v is not None and math.isfinite(v)]
                        or [0.0]) or 0.05
    height = max(row_height * len(rows) + 12, 30)
    zero = label_width + plot / 2

    def sx(v: float) -> float:
        return zero + (plot / 2) * max(min(v / reach, 1.0), -1.0)

    def shown(r: DeltaRow) -> str:
        if r.value is None:
            return "–"
        text = value_format.format(r.value)
        if r.low is not None and r.high is not None:
            text += f" [{value_format.format(r.low)}, {value_format.format(r.high)}]"
        return text

    head, tail = _open("delta", width, height, title, "; ".join(f"{r.label}: {shown(r)}" for r in rows) or "no data")
    parts = [head, f'<line x1="{_num(zero)}" y1="2" x2="{_num(zero)}" y2="{height - 4}" stroke="#9aa3ad"/>']
    for i, r in enumerate(rows):
        y = 6 + i * row_height
        mid = y + (row_height - 6) / 2
        parts.append(_text(label_width - 8, mid + 4, r.label, anchor="end"))
        if r.value is not None and math.isfinite(r.value):
            x0, x1 = sorted((zero, sx(r.value)))
            fill = "#009E73" if r.value > 0 else "#D55E00" if r.value < 0 else "#999999"
            parts.append(f'<rect x="{_num(x0)}" y="{y}" width="{_num(max(x1 - x0, 1.0))}" height="{row_height - 6}" '
                         f'rx="2" fill="{fill}" fill-opacity="0.8"><title>{escape(r.label)}: {escape(shown(r))}'
                         f'</title></rect>')
        if r.low is not None and r.high is not None and math.isfinite(r.low) and math.isfinite(r.high):
            parts.append(f'<line class="delta-interval" x1="{_num(sx(r.low))}" y1="{_num(mid)}" '
                         f'x2="{_num(sx(r.high))}" y2="{_num(mid)}" stroke="#1d232b" stroke-width="1.5"/>')
            for end in (r.low, r.high):
                parts.append(f'<line x1="{_num(sx(end))}" y1="{_num(mid - 4)}" x2="{_num(sx(end))}" '
                             f'y2="{_num(mid + 4)}" stroke="#1d232b" stroke-width="1.5"/>')
        parts.append(_text(label_width + plot + 8, mid + 4, shown(r) + (f"  {r.note}" if r.note else ""),
                           cls="chart-value", size=10))
    parts.append(tail)
    return _svg(parts)
