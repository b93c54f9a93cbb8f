"""HTML for monitoring reports: a table for notebooks (``_repr_html_``) and
self-contained offline documents with hand-drawn SVG charts.

Every document is one file: inline CSS, inline SVG, no script, no font, no image and no
address outside the file (the SVG namespace declaration aside). Every string that comes
from data or from a user (feature and column names, labels, ids, values) is escaped.

* :func:`frame_table`: a Polars frame as an HTML ``<table>``;
* :func:`drift_html`: a drift report, with an overlaid histogram per feature;
* :func:`performance_html`: a model's metrics over time, a line per version;
* :func:`statistics_html`: column statistics, with a histogram or top-values chart;
* :func:`evaluation_html`: an evaluation, or a comparison with its intervals;
* :func:`skew_html`: training/serving skew per served feature.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import polars as pl

from featstore import display
from featstore.monitoring.metrics import LOWER_IS_BETTER

if TYPE_CHECKING:
    from featstore.monitoring.drift import DriftReport, FeatureDrift
    from featstore.monitoring.evaluation import Comparison, Evaluation
    from featstore.monitoring.performance import PerformanceReport
    from featstore.monitoring.skew import SkewReport
    from featstore.monitoring.stats import ColumnStatistics, Statistics

__all__ = [
    "drift_html",
    "evaluation_html",
    "frame_table",
    "performance_html",
    "skew_html",
    "statistics_html",
]

NULL = "\u2014"  # em dash: a missing value
REFERENCE_COLOR = "#4c78a8"
CURRENT_COLOR = "#f58518"
DRIFT_COLOR = "#c62828"
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#79706e",
)
HISTOGRAM_BINS = 30
"""Equal-width bins of a numeric column's histogram in :func:`statistics_html`."""
TOP_VALUES = 15
"""Bars of a categorical column's top-values chart in :func:`statistics_html`."""
SVG_NS = "http://www.w3.org/2000/svg"
_WIDTH = 720
_LABEL_CHARS = 24
_CHAR_PX = 6.8  # the width of one 11px character, generously

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: #1f2328; line-height: 1.45;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 1.45rem; margin: 0 0 4px; }
h2 { font-size: 1.1rem; margin: 28px 0 8px; }
h3 { font-size: 1rem; margin: 0 0 6px; word-break: break-word; }
p { margin: 4px 0; }
.sub { color: #57606a; word-break: break-word; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 14px 16px;
  margin: 12px 0; }
.card.alert { border-left: 4px solid #c62828; background: #fffafa; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
.facts dt { color: #57606a; }
.facts dd { margin: 0; word-break: break-word; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; vertical-align: 2px; margin-left: 6px; }
.badge.bad { background: #fde8e8; color: #a51d1d; }
.badge.good { background: #e6f4ea; color: #1e6b35; }
.badge.off { background: #eaeef2; color: #57606a; }
.table-wrap { overflow-x: auto; margin: 8px 0; }
table.fs-table { border-collapse: collapse; font-size: 13px; background: #fff; }
table.fs-table th, table.fs-table td { padding: 4px 10px; border-bottom: 1px solid #eaeef2;
  text-align: left; white-space: nowrap; }
table.fs-table th { background: #f6f8fa; font-weight: 600; position: sticky; top: 0; }
table.fs-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.fs-table td.null { color: #8c959f; text-align: center; }
table.fs-table tr.flag td { background: #fdecea; }
table.fs-table td.more { color: #57606a; font-style: italic; }
ul.reasons { margin: 4px 0 8px; padding-left: 20px; color: #a51d1d; }
.note { color: #57606a; font-style: italic; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }
.grid.wide { grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); }
.grid > .card { margin: 0; }
svg.chart { display: block; width: 100%; max-width: 760px; height: auto; margin: 6px 0; }
svg.chart text { font-size: 11px; fill: #57606a; }
svg.chart text.title { font-size: 12px; fill: #1f2328; font-weight: 600; }
footer { margin-top: 32px; color: #8c959f; font-size: 12px; }
"""


# -- values ------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A value for people, compactly (not escaped): :func:`featstore.display.fmt`, which
    the notebook displays share, with Polars series as lists."""
    if isinstance(value, pl.Series):
        value = value.to_list()
    return display.fmt(value)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%" if share >= 0.001 or share == 0 else f"{100 * share:.2g}%"


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite_values(values: Iterable[object]) -> list[float]:
    return [float(v) for v in values if _finite(v)]


# -- tables ------------------------------------------------------------------------------


def frame_table(frame: pl.DataFrame, max_rows: int = 50) -> str:
    """``frame`` as an HTML ``<table>`` (its first ``max_rows`` rows and how many more):
    every name and value escaped, numbers compact, nulls as an em dash."""
    return _table(frame, max_rows)


def _table(frame: pl.DataFrame, max_rows: int, flagged: Sequence[bool] | None = None) -> str:
    out = ['<table class="fs-table">', "<thead><tr>"]
    out += [f"<th>{_esc(name)}</th>" for name in frame.columns]
    out.append("</tr></thead><tbody>")
    shown = frame.head(max(max_rows, 0))
    for i, row in enumerate(shown.iter_rows()):
        flag = flagged is not None and i < len(flagged) and flagged[i]
        out.append('<tr class="flag">' if flag else "<tr>")
        for value in row:
            if value is None:
                out.append(f'<td class="null">{NULL}</td>')
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out.append(f'<td class="num" style="text-align:right">{_esc(_fmt(value))}</td>')
            else:
                out.append(f"<td>{_esc(_fmt(value))}</td>")
        out.append("</tr>")
    hidden = frame.height - shown.height
    if hidden > 0:
        out.append(
            f'<tr><td class="more" colspan="{max(frame.width, 1)}">\u2026 {hidden:,} more '
            f"rows (showing {shown.height:,} of {frame.height:,})</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _wrapped_table(
    frame: pl.DataFrame, max_rows: int = 500, flagged: Sequence[bool] | None = None
) -> str:
    return f'<div class="table-wrap">{_table(frame, max_rows, flagged)}</div>'


def _facts(pairs: Iterable[tuple[str, Any]]) -> str:
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(_fmt(v))}</dd>" for k, v in pairs)
    return f'<dl class="facts">{items}</dl>'


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_esc(text)}</span>'


def _document(title: str, heading: str, subtitle: str, body: Sequence[str]) -> str:
    """A complete HTML page; ``title``, ``heading`` and ``subtitle`` are escaped here,
    ``body`` is HTML already."""
    return "".join(
        [
            "<!DOCTYPE html>\n",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="featstore">',
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>",
            f"<body><main><h1>{_esc(heading)}</h1>",
            f'<p class="sub">{_esc(subtitle)}</p>' if subtitle else "",
            *body,
            "<footer>featstore monitoring report: a self-contained file, readable offline."
            "</footer></main></body></html>\n",
        ]
    )


# -- scales ------------------------------------------------------------------------------


def _nice(x: float, round_: bool) -> float:
    if x <= 0 or not math.isfinite(x):
        return 1.0
    exp = math.floor(math.log10(x))
    f = x / 10**exp
    if round_:
        nf = 1.0 if f < 1.5 else 2.0 if f < 3 else 5.0 if f < 7 else 10.0
    else:
        nf = 1.0 if f <= 1 else 2.0 if f <= 2 else 5.0 if f <= 5 else 10.0
    return float(nf * 10**exp)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (about ``n`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    step = _nice(_nice(hi - lo, False) / max(n - 1, 1), True)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    value = start
    while value <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi - step * 1e-9:
        ticks.append(round(value, 12))
    return ticks


def _tick_text(value: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    if abs(value) < step * 1e-9:
        return "0"
    if max(abs(ticks[0]), abs(ticks[-1])) >= 1e5 or step < 1e-4:
        return f"{value:.3g}"
    digits = max(0, -math.floor(math.log10(step) + 1e-9))  # steps are 1, 2 or 5 x 10^k
    return f"{value:.{min(digits, 6)}f}"


def _num(x: float) -> str:
    """An SVG coordinate."""
    return f"{x:.1f}"


class _Frame:
    """A chart's plot area in SVG user units and its linear scales."""

    def __init__(
        self,
        width: float,
        height: float,
        left: float,
        right: float,
        top: float,
        bottom: float,
        x: tuple[float, float],
        y: tuple[float, float],
    ) -> None:
        self.width, self.height = width, height
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = height - bottom, top  # y0: the baseline (bottom)
        self.xd, self.yd = x, y

    def sx(self, v: float) -> float:
        lo, hi = self.xd
        return self.x0 + (v - lo) / (hi - lo) * (self.x1 - self.x0) if hi != lo else self.x0

    def sy(self, v: float) -> float:
        lo, hi = self.yd
        return self.y0 - (v - lo) / (hi - lo) * (self.y0 - self.y1) if hi != lo else self.y0


def _svg(width: float, height: float, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" xmlns="{SVG_NS}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="{_num(width)}" height="{_num(height)}" role="img" aria-label="{_esc(label)}" '
        f'font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{_esc(label)}</title>{''.join(parts)}</svg>"
    )


def _y_axis(f: _Frame, ticks: Sequence[float], label: str, percent: bool = False) -> list[str]:
    out = []
    hundreds = [100 * t for t in ticks]
    for t in ticks:
        y = f.sy(t)
        text = _tick_text(100 * t, hundreds) + "%" if percent else _tick_text(t, ticks)
        out.append(
            f'<line x1="{_num(f.x0)}" y1="{_num(y)}" x2="{_num(f.x1)}" y2="{_num(y)}" '
            f'stroke="#eaeef2"/>'
            f'<text x="{_num(f.x0 - 6)}" y="{_num(y + 4)}" text-anchor="end">{_esc(text)}</text>'
        )
    mid = (f.y0 + f.y1) / 2
    out.append(
        f'<text class="axis-label" x="12" y="{_num(mid)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_num(mid)})">{_esc(label)}</text>'
    )
    out.append(
        f'<line x1="{_num(f.x0)}" y1="{_num(f.y0)}" x2="{_num(f.x1)}" y2="{_num(f.y0)}" '
        f'stroke="#8c959f"/>'
    )
    return out


def _legend(items: Sequence[tuple[str, str, str]], x: float, y: float) -> list[str]:
    """Legend entries ``(label, colour, style)`` in a row from ``(x, y)``; style is
    ``box``, ``line`` or ``dash``."""
    out = ['<g class="legend">']
    for label, colour, style in items:
        if style == "box":
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="12" height="10" '
                f'fill="{colour}" fill-opacity="0.75"/>'
            )
        else:
            dash = ' stroke-dasharray="5 3"' if style == "dash" else ""
            out.append(
                f'<line x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 16)}" y2="{_num(y - 4)}" '
                f'stroke="{colour}" stroke-width="2"{dash}/>'
            )
        shown = _short(label, 32)
        out.append(f'<text x="{_num(x + 20)}" y="{_num(y)}">{_esc(shown)}</text>')
        x += 20 + len(shown) * _CHAR_PX + 18
    out.append("</g>")
    return out


def _x_labels(
    f: _Frame, centers: Sequence[float], labels: Sequence[str], slot: float
) -> tuple[list[str], bool]:
    """Category labels under the plot, rotated when they do not fit their slot."""
    shown = [_short(t) for t in labels]
    longest = max((len(t) for t in shown), default=0)
    rotate = longest * _CHAR_PX > slot - 4
    out = []
    for cx, text, full in zip(centers, shown, labels, strict=True):
        y = f.y0 + 14
        if rotate:
            out.append(
                f'<text x="{_num(cx)}" y="{_num(y)}" text-anchor="end" '
                f'transform="rotate(-35 {_num(cx)} {_num(y)})"><title>{_esc(full)}</title>'
                f"{_esc(text)}</text>"
            )
        else:
            out.append(
                f'<text x="{_num(cx)}" y="{_num(y)}" text-anchor="middle">'
                f"<title>{_esc(full)}</title>{_esc(text)}</text>"
            )
    return out, rotate


def _label_room(labels: Sequence[str], slot: float) -> float:
    longest = max((len(_short(t)) for t in labels), default=0)
    if longest * _CHAR_PX <= slot - 4:
        return 30.0
    return 24.0 + 0.58 * longest * _CHAR_PX


# -- charts ------------------------------------------------------------------------------


def overlay_histogram(
    bins: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str = "",
    reference_label: str = "reference",
    current_label: str = "current",
) -> str:
    """Reference and current shares per bin as overlaid bars: one ``rect.bar.ref`` and
    one ``rect.bar.cur`` per bin, a legend and the bin labels (rotated when long)."""
    n = len(bins)
    left, right, top = 52.0, 12.0, 34.0
    slot = (_WIDTH - left - right) / max(n, 1)
    bottom = _label_room(bins, slot)
    height = 230 + bottom
    peak = max([*reference, *current, 0.0])
    ticks = _ticks(0.0, peak if peak > 0 else 1.0, 5)
    f = _Frame(_WIDTH, height, left, right, top, bottom, (0.0, float(n)), (0.0, ticks[-1]))
    parts = _y_axis(f, ticks, "share of rows", percent=True)
    centers = []
    for i, (label, r, c) in enumerate(zip(bins, reference, current, strict=True)):
        x = f.sx(i)
        centers.append(x + slot / 2)
        tip = f"{label}: {reference_label} {_pct(r)}, {current_label} {_pct(c)}"
        parts.append(
            f'<rect class="bar ref" x="{_num(x + slot * 0.08)}" y="{_num(f.sy(r))}" '
            f'width="{_num(slot * 0.84)}" height="{_num(f.y0 - f.sy(r))}" '
            f'fill="{REFERENCE_COLOR}" fill-opacity="0.55"><title>{_esc(tip)}</title></rect>'
        )
        parts.append(
            f'<rect class="bar cur" x="{_num(x + slot * 0.28)}" y="{_num(f.sy(c))}" '
            f'width="{_num(slot * 0.44)}" height="{_num(f.y0 - f.sy(c))}" '
            f'fill="{CURRENT_COLOR}" fill-opacity="0.85"><title>{_esc(tip)}</title></rect>'
        )
    labels, _ = _x_labels(f, centers, list(bins), slot)
    parts += labels
    parts += _legend(
        [(reference_label, REFERENCE_COLOR, "box"), (current_label, CURRENT_COLOR, "box")],
        left,
        18,
    )
    return _svg(_WIDTH, height, title or "reference and current shares per bin", parts)


def _value_histogram(bars: Sequence[tuple[float, float, float]], title: str) -> str:
    """Counts over a numeric axis: ``(low, high, count)`` per bar, one ``rect.bar`` each."""
    width, height = 360.0, 190.0
    lo = min(b[0] for b in bars)
    hi = max(b[1] for b in bars)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    peak = max(b[2] for b in bars)
    yt = _ticks(0.0, peak if peak > 0 else 1.0, 4)
    f = _Frame(width, height, 48, 10, 10, 34, (lo, hi), (0.0, yt[-1]))
    parts = _y_axis(f, yt, "rows")
    for a, b, count in bars:
        x0, x1 = f.sx(a), f.sx(b)
        w = max(x1 - x0 - 1, 1.0)
        tip = f"({_fmt(a)}, {_fmt(b)}]: {_fmt(count)} rows"
        parts.append(
            f'<rect class="bar" x="{_num(x0)}" y="{_num(f.sy(count))}" width="{_num(w)}" '
            f'height="{_num(f.y0 - f.sy(count))}" fill="{REFERENCE_COLOR}" fill-opacity="0.8">'
            f"<title>{_esc(tip)}</title></rect>"
        )
    xt = [t for t in _ticks(lo, hi, 5) if lo - 1e-12 <= t <= hi + 1e-12]
    for t in xt:
        x = f.sx(t)
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(f.y0)}" x2="{_num(x)}" y2="{_num(f.y0 + 4)}" '
            f'stroke="#8c959f"/><text x="{_num(x)}" y="{_num(f.y0 + 16)}" '
            f'text-anchor="middle">{_esc(_tick_text(t, xt))}</text>'
        )
    return _svg(width, height, title, parts)


def _discrete_bars(values: Sequence[tuple[str, float]], title: str) -> str:
    """Counts of a few distinct numeric values, one ``rect.bar`` each."""
    width = 360.0
    n = len(values)
    slot = (width - 48 - 10) / max(n, 1)
    bottom = _label_room([v for v, _ in values], slot)
    height = 156 + bottom
    peak = max(c for _, c in values)
    yt = _ticks(0.0, peak if peak > 0 else 1.0, 4)
    f = _Frame(width, height, 48, 10, 10, bottom, (0.0, float(n)), (0.0, yt[-1]))
    parts = _y_axis(f, yt, "rows")
    centers = []
    for i, (label, count) in enumerate(values):
        x = f.sx(i)
        centers.append(x + slot / 2)
        parts.append(
            f'<rect class="bar" x="{_num(x + slot * 0.12)}" y="{_num(f.sy(count))}" '
            f'width="{_num(slot * 0.76)}" height="{_num(f.y0 - f.sy(count))}" '
            f'fill="{REFERENCE_COLOR}" fill-opacity="0.8">'
            f"<title>{_esc(label)}: {_esc(_fmt(count))} rows</title></rect>"
        )
    labels, _ = _x_labels(f, centers, [v for v, _ in values], slot)
    return _svg(width, height, title, parts + labels)


def _hbars(
    items: Sequence[tuple[str, float, str]],
    title: str,
    *,
    limit: float | None = None,
    colour: str = REFERENCE_COLOR,
    width: float = 360.0,
) -> str:
    """Horizontal bars ``(label, value, text)``, one ``rect.bar`` each, scaled to the
    largest value (or ``limit``); ``text`` is written after the bar."""
    row = 20.0
    label_w = min(max((len(_short(t, 22)) for t, _, _ in items), default=4) * _CHAR_PX + 10, 150)
    height = 10 + row * len(items) + 6
    top = max([v for _, v, _ in items if _finite(v)] + [limit or 0.0, 0.0])
    scale = top if top > 0 else 1.0
    x0, x1 = label_w, width - 104
    parts = []
    for i, (label, value, text) in enumerate(items):
        y = 8 + i * row
        v = value if _finite(value) else 0.0
        w = max((x1 - x0) * v / scale, 0.0)
        parts.append(
            f'<text x="{_num(x0 - 6)}" y="{_num(y + 12)}" text-anchor="end">'
            f"<title>{_esc(label)}</title>{_esc(_short(label, 22))}</text>"
            f'<rect class="bar" x="{_num(x0)}" y="{_num(y + 2)}" width="{_num(w)}" '
            f'height="{_num(row - 6)}" fill="{colour}" fill-opacity="0.8">'
            f"<title>{_esc(label)}: {_esc(text)}</title></rect>"
            f'<text x="{_num(x0 + w + 4)}" y="{_num(y + 12)}">{_esc(text)}</text>'
        )
    parts.append(
        f'<line x1="{_num(x0)}" y1="4" x2="{_num(x0)}" y2="{_num(height - 4)}" stroke="#8c959f"/>'
    )
    return _svg(width, height, title, parts)


def _time_text(values: Sequence[datetime]) -> list[str]:
    midnight = all(v.hour == v.minute == v.second == v.microsecond == 0 for v in values)
    return [v.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M") for v in values]


def line_chart(
    buckets: Sequence[datetime],
    lines: Sequence[tuple[str, str, Sequence[tuple[datetime, float | None]]]],
    *,
    metric: str,
    x_label: str,
    registered: Sequence[tuple[str, str, float]] = (),
) -> str:
    """A metric over time buckets: one ``path.line`` per ``(label, colour, points)`` (a
    null value breaks the line), a dot per point, and per ``(label, colour, value)`` in
    ``registered`` a dashed horizontal ``line.registered``; axis labels and a legend."""
    width, height = 560.0, 280.0
    order = sorted(set(buckets))
    index = {b: i for i, b in enumerate(order)}
    values = _finite_values([v for _, _, pts in lines for _, v in pts])
    values += _finite_values([v for _, _, v in registered])
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or (abs(hi) * 0.05 or 0.05)
    yt = _ticks(lo - pad, hi + pad, 5)
    n = len(order)
    span = (-0.5, 0.5) if n == 1 else (-0.04 * (n - 1), (n - 1) * 1.04)
    texts = _time_text(order)
    slot = (width - 64 - 20) / max(n, 1)
    step = max(1, math.ceil(n / 10))
    shown_texts = [t for i, t in enumerate(texts) if i % step == 0]
    bottom = _label_room(shown_texts, slot * step) + 18
    f = _Frame(width, height + bottom - 48, 64, 20, 40, bottom, span, (yt[0], yt[-1]))
    parts = _y_axis(f, yt, metric)
    for i in range(0, n, step):
        x = f.sx(i)
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(f.y0)}" x2="{_num(x)}" y2="{_num(f.y0 + 4)}" '
            f'stroke="#8c959f"/>'
        )
    labels, _ = _x_labels(f, [f.sx(i) for i in range(0, n, step)], shown_texts, slot * step)
    parts += labels
    parts.append(
        f'<text class="axis-label" x="{_num((f.x0 + f.x1) / 2)}" y="{_num(f.height - 6)}" '
        f'text-anchor="middle">{_esc(x_label)}</text>'
    )
    for label, colour, value in registered:
        if not _finite(value):
            continue
        y = f.sy(value)
        parts.append(
            f'<line class="registered" x1="{_num(f.x0)}" y1="{_num(y)}" x2="{_num(f.x1)}" '
            f'y2="{_num(y)}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4">'
            f"<title>{_esc(label)} registered {_esc(metric)}: {_esc(_fmt(value))}</title>"
            f"</line>"
        )
    for label, colour, points in lines:
        segments: list[str] = []
        pen_up = True
        dots = []
        for bucket, point in sorted(points, key=lambda p: p[0]):
            if not _finite(point):
                pen_up = True
                continue
            x, y = f.sx(index[bucket]), f.sy(point)
            segments.append(f"{'M' if pen_up else 'L'}{_num(x)} {_num(y)}")
            pen_up = False
            tip = f"{label} {texts[index[bucket]]}: {metric} {_fmt(point)}"
            dots.append(
                f'<circle class="point" cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{colour}">'
                f"<title>{_esc(tip)}</title></circle>"
            )
        parts.append(
            f'<path class="line" d="{" ".join(segments) or "M0 0"}" fill="none" '
            f'stroke="{colour}" stroke-width="2"><title>{_esc(label)}</title></path>'
        )
        parts += dots
    items = [(label, colour, "line") for label, colour, _ in lines]
    if registered:
        items.append(("registered value (dashed)", "#57606a", "dash"))
    parts += _legend(items, f.x0, 18)
    return _svg(width, f.height, f"{metric} over time", parts)


def error_bars(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    metric: str,
) -> str:
    """Each ``(label, diff, low, high)`` as a dot with a whisker over its interval (one
    ``g.errbar`` per row) against a dashed zero line; a whisker clear of zero is coloured
    green when it is an improvement in ``metric`` and red otherwise, grey when it spans
    zero."""
    width = float(_WIDTH)
    row = 30.0
    label_w = min(max((len(_short(r[0], 28)) for r in rows), default=4) * _CHAR_PX + 14, 200)
    height = 30 + row * len(rows) + 34
    spread = [*_finite_values([v for r in rows for v in r[1:]]), 0.0]
    lo, hi = min(spread), max(spread)
    pad = (hi - lo) * 0.08 or 0.01
    xt = _ticks(lo - pad, hi + pad, 6)
    f = _Frame(width, height, label_w, 24, 24, 34, (xt[0], xt[-1]), (0.0, 1.0))
    lower_better = metric in LOWER_IS_BETTER
    parts = []
    for t in xt:
        x = f.sx(t)
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(f.y1)}" x2="{_num(x)}" y2="{_num(f.y0)}" '
            f'stroke="#eaeef2"/><text x="{_num(x)}" y="{_num(f.y0 + 14)}" '
            f'text-anchor="middle">{_esc(_tick_text(t, xt))}</text>'
        )
    zx = f.sx(0.0)
    parts.append(
        f'<line class="zero" x1="{_num(zx)}" y1="{_num(f.y1 - 6)}" x2="{_num(zx)}" '
        f'y2="{_num(f.y0)}" stroke="#57606a" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text class="axis-label" x="{_num((f.x0 + f.x1) / 2)}" y="{_num(height - 4)}" '
        f'text-anchor="middle">{_esc(f"{metric}: difference from the baseline")}</text>'
    )
    for i, (label, diff, low, high) in enumerate(rows):
        y = f.y1 + 8 + i * row + row / 2
        parts.append(
            f'<text x="{_num(f.x0 - 8)}" y="{_num(y + 4)}" text-anchor="end">'
            f"<title>{_esc(label)}</title>{_esc(_short(label, 28))}</text>"
        )
        if not _finite(diff):
            parts.append(f'<text x="{_num(zx + 6)}" y="{_num(y + 4)}">no interval</text>')
            continue
        colour = "#8c959f"
        if _finite(low) and _finite(high):
            if low > 0 or high < 0:
                better = (high < 0) if lower_better else (low > 0)
                colour = "#2e7d32" if better else DRIFT_COLOR
            xl, xh = f.sx(low), f.sx(high)
            whisker = (
                f'<line x1="{_num(xl)}" y1="{_num(y)}" x2="{_num(xh)}" y2="{_num(y)}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<line x1="{_num(xl)}" y1="{_num(y - 6)}" x2="{_num(xl)}" y2="{_num(y + 6)}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<line x1="{_num(xh)}" y1="{_num(y - 6)}" x2="{_num(xh)}" y2="{_num(y + 6)}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            interval = f" [{_fmt(low)}, {_fmt(high)}]"
        else:
            whisker, interval = "", ""
        tip = f"{label}: {metric} difference {_fmt(diff)}{interval}"
        parts.append(
            f'<g class="errbar"><title>{_esc(tip)}</title>{whisker}'
            f'<circle cx="{_num(f.sx(diff))}" cy="{_num(y)}" r="4.5" fill="{colour}"/></g>'
        )
    return _svg(width, height, f"{metric}: differences from the baseline", parts)


# -- drift -------------------------------------------------------------------------------


def _threshold_text(key: str, value: float | None) -> str:
    if value is None:
        return f"{key} off"
    if key == "null_rate_change":
        return f"|null rate change| > {value:g}"
    if key == "chi2_pvalue":
        return f"chi2 p-value < {value:g}"
    return f"{key} > {value:g}"


def _feature_section(f: FeatureDrift) -> str:
    metrics = [
        ("psi", f.psi),
        ("Jensen-Shannon", f.jensen_shannon),
        ("KS", f.ks),
        ("Wasserstein", f.wasserstein),
        ("chi2 p-value", f.chi2_pvalue),
        ("null rate change", f.null_rate_change),
    ]
    shown = " \u00b7 ".join(f"{k} {_fmt(v)}" for k, v in metrics if v is not None)
    badge = _badge("drifted", "bad") if f.drifted else _badge("stable", "good")
    out = [
        f'<section class="card feature{" alert drifted" if f.drifted else ""}">',
        f"<h3>{_esc(f.feature)} {badge}</h3>",
        f'<p class="sub">{_esc(f.kind)} \u00b7 {_esc(shown)} \u00b7 null rate '
        f"{_esc(_pct(f.reference_null_rate))} \u2192 {_esc(_pct(f.current_null_rate))}</p>",
    ]
    if f.reasons:
        out.append('<ul class="reasons">')
        out += [f"<li>{_esc(r)}</li>" for r in f.reasons]
        out.append("</ul>")
    if f.note:
        out.append(f'<p class="note">{_esc(f.note)}</p>')
    if f.bins:
        out.append(
            overlay_histogram(
                f.bins,
                f.reference_shares,
                f.current_shares,
                title=f"{f.feature}: share of rows per bin, reference and current",
            )
        )
    else:
        out.append('<p class="note">no histogram: one side has no values</p>')
    out.append("</section>")
    return "".join(out)


def drift_html(report: DriftReport) -> str:
    """A drift report as a self-contained HTML document: a summary (reference and
    current, how many features drifted, the thresholds), the metric table (drifted
    features highlighted), and per feature an overlaid histogram of both sides."""
    drifted = report.drifted_features
    n = len(report.features)
    status = (
        _badge(f"{len(drifted)} of {n} drifted", "bad")
        if drifted
        else _badge(f"0 of {n} drifted", "good")
    )
    thresholds = ", ".join(_threshold_text(k, v) for k, v in report.thresholds.items())
    summary = [
        f'<section class="card{" alert" if drifted else ""}">',
        f'<h2 style="margin-top:0">Summary {status}</h2>',
        _facts(
            [
                ("reference", report.reference),
                ("current", report.current),
                ("drifted", ", ".join(drifted) if drifted else "none"),
                ("thresholds", thresholds),
                (
                    "reference from",
                    "its recorded statistics"
                    if report.reference_from_statistics
                    else "its rows, read once",
                ),
                ("report", report.id),
                ("created", report.created_at.replace("T", " ")[:19]),
            ]
        ),
        "</section>",
    ]
    table = report.to_polars()
    body = [
        *summary,
        "<h2>Metrics</h2>",
        _wrapped_table(table, flagged=table.get_column("drifted").to_list()),
        "<h2>Features</h2>",
        *(_feature_section(f) for f in report.features),
    ]
    return _document(
        f"Drift: {report.reference} \u2192 {report.current}",
        "Drift report",
        f"{report.reference} \u2192 {report.current}",
        body,
    )


# -- performance -------------------------------------------------------------------------


def performance_html(report: PerformanceReport) -> str:
    """A performance report as a self-contained HTML document: per metric a line chart
    over the time buckets with one line per model version (and the version's registered
    value as a dashed line), then the table."""
    frame = report.frame
    versions = sorted(set(frame.get_column("model_version").to_list())) if frame.height else []
    colours = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}
    buckets = frame.get_column("bucket").to_list() if frame.height else []
    charts = []
    for metric in report.metrics:
        if metric not in frame.columns:
            continue
        lines = []
        for v in versions:
            part = frame.filter(pl.col("model_version") == v)
            points = list(
                zip(
                    part.get_column("bucket").to_list(),
                    part.get_column(metric).to_list(),
                    strict=True,
                )
            )
            lines.append((f"version {v}", colours[v], points))
        registered = [
            (f"version {v}", colours[v], float(report.registered[v][metric]))
            for v in versions
            if v in report.registered and metric in report.registered[v]
        ]
        charts.append(
            f'<section class="card"><h3>{_esc(metric)}</h3>'
            + line_chart(
                buckets,
                lines,
                metric=metric,
                x_label=f"bucket start (every {report.every})",
                registered=registered,
            )
            + "</section>"
        )
    body = [
        '<section class="card">',
        _facts(
            [
                ("model", report.model),
                ("versions", ", ".join(str(v) for v in versions) or "none"),
                ("buckets", f"every {report.every}"),
                ("task", report.task),
                ("metrics", ", ".join(report.metrics)),
                ("labelled predictions", report.labelled),
                ("without labels", report.unlabelled),
            ]
        ),
        "</section>",
        "<h2>Metrics over time</h2>",
        f'<div class="grid wide">{"".join(charts)}</div>'
        if charts
        else '<p class="note">no metric to chart</p>',
        "<h2>Table</h2>",
        _wrapped_table(frame),
    ]
    return _document(
        f"Performance: {report.model}",
        "Model performance",
        f"{report.model}, every {report.every}",
        body,
    )


# -- statistics --------------------------------------------------------------------------


def _rebinned(col: ColumnStatistics, bins: int) -> list[tuple[float, float, float]]:
    """The column's quantile histogram as ``bins`` equal-width bins over its range (rows
    spread uniformly within each quantile bin; the minimum's rows in the first bin)."""
    assert col.histogram is not None
    edges = list(col.histogram.edges)
    counts = [float(c) for c in col.histogram.counts]
    lo, hi = edges[0], edges[-1]
    if hi <= lo:
        return [(lo, hi, sum(counts))]

    def cdf(x: float) -> float:  # rows <= x (uniform within the quantile bins)
        total = counts[0] + counts[1]
        for i in range(1, len(edges)):
            a, b, c = edges[i - 1], edges[i], counts[i + 1]
            if x >= b:
                total += c
            elif x > a:
                total += c * (x - a) / (b - a)
                break
            else:
                break
        return total

    step = (hi - lo) / bins
    cuts = [lo + i * step for i in range(bins)] + [hi]
    out = []
    below = counts[0]
    for i in range(bins):
        start = below if i == 0 else cdf(cuts[i])
        end = cdf(cuts[i + 1]) if i < bins - 1 else cdf(hi) + counts[-1]
        out.append((cuts[i], cuts[i + 1], max(end - start, 0.0)))
    return out


def _column_chart(col: ColumnStatistics) -> str:
    if col.kind == "numeric" and col.histogram is not None and col.histogram.total > 0:
        hist = col.histogram
        edges = hist.edges
        if col.distinct is not None and col.distinct <= len(edges) <= HISTOGRAM_BINS:
            # few distinct values, each an edge: one bar per value
            values = [(_fmt(edges[0]), float(hist.counts[1]))]
            values += [(_fmt(e), float(hist.counts[i + 2])) for i, e in enumerate(edges[1:])]
            return _discrete_bars(values, f"{col.name}: rows per value")
        return _value_histogram(_rebinned(col, HISTOGRAM_BINS), f"{col.name}: histogram")
    if col.kind == "categorical" and col.top:
        total = max(col.count - col.nulls, 1)
        items = [(str(v), float(n), f"{n:,} ({_pct(n / total)})") for v, n in col.top[:TOP_VALUES]]
        rest = col.other or 0
        rest += sum(n for _, n in col.top[TOP_VALUES:])
        if rest:
            items.append(("(other values)", float(rest), f"{rest:,} ({_pct(rest / total)})"))
        return _hbars(items, f"{col.name}: top values")
    if col.kind == "temporal" and col.min is not None:
        return f'<p class="sub">from {_esc(col.min)} to {_esc(col.max)}</p>'
    return '<p class="note">no chart for this column</p>'


def _statistics_table(stats: Statistics) -> pl.DataFrame:
    """The statistics table with min and max as values (numbers compact), not text."""
    frame = stats.to_polars().drop("exact")
    shown = [None if c.min is None else _fmt(c.min) for c in stats.columns]
    highest = [None if c.max is None else _fmt(c.max) for c in stats.columns]
    return frame.with_columns(
        pl.Series("min", shown, pl.String), pl.Series("max", highest, pl.String)
    )


def statistics_html(stats: Statistics) -> str:
    """Column statistics as a self-contained HTML document: the table, then per column a
    histogram (numeric) or its top values (categorical)."""
    cards = []
    for col in stats.columns:
        facts = f"{col.kind} \u00b7 {col.dtype} \u00b7 {col.count:,} rows \u00b7 {col.nulls:,} null"
        if col.distinct is not None:
            facts += f" \u00b7 ~{col.distinct:,} distinct"
        cards.append(
            f'<section class="card column"><h3>{_esc(col.name)}</h3>'
            f'<p class="sub">{_esc(facts)}</p>{_column_chart(col)}</section>'
        )
    body = [
        '<section class="card">',
        _facts(
            [
                ("target", stats.target),
                ("rows", stats.rows),
                ("columns", len(stats.columns)),
                ("merged from", f"{stats.parts:,} recorded part(s)"),
                ("exact", "yes" if stats.exact else "no (merged: quantiles approximate)"),
            ]
        ),
        "</section>",
        "<h2>Columns</h2>",
        _wrapped_table(_statistics_table(stats)),
        "<h2>Distributions</h2>",
        f'<div class="grid">{"".join(cards)}</div>',
    ]
    return _document(f"Statistics: {stats.target}", "Statistics", stats.target, body)


# -- evaluation --------------------------------------------------------------------------


def _is_comparison(obj: Evaluation | Comparison) -> TypeGuard[Comparison]:
    return hasattr(obj, "baseline") and hasattr(obj, "frame")


def _comparison_long(c: Comparison) -> pl.DataFrame:
    rows = []
    level = f"{c.confidence:.0%}"
    for metric in c.metrics:
        for r in c.frame.iter_rows(named=True):
            low, high = r.get(f"{metric}_low"), r.get(f"{metric}_high")
            rows.append(
                {
                    "metric": metric,
                    "model": r["model"],
                    "value": r[metric],
                    "diff vs baseline": r.get(f"{metric}_diff"),
                    f"{level} interval": None
                    if low is None or high is None
                    else f"[{_fmt(low)}, {_fmt(high)}]",
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "metric": pl.String,
            "model": pl.String,
            "value": pl.Float64,
            "diff vs baseline": pl.Float64,
            f"{level} interval": pl.String,
        },
        orient="row",
    )


def _comparison_html(c: Comparison) -> str:
    charts = []
    others = [r for r in c.frame.iter_rows(named=True) if r["model"] != c.baseline]
    for metric in c.metrics:
        if not others:
            break
        rows = [
            (
                str(r["model"]),
                r.get(f"{metric}_diff"),
                r.get(f"{metric}_low"),
                r.get(f"{metric}_high"),
            )
            for r in others
        ]
        direction = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        charts.append(
            f'<section class="card"><h3>{_esc(metric)} <span class="sub">'
            f"({_esc(direction)})</span></h3>{error_bars(rows, metric=metric)}</section>"
        )
    body = [
        '<section class="card">',
        _facts(
            [
                ("eval set", c.eval_set),
                ("baseline", c.baseline),
                ("versions", ", ".join(str(m) for m in c.frame.get_column("model").to_list())),
                ("metrics", ", ".join(c.metrics)),
                ("intervals", f"{c.confidence:.0%} paired bootstrap, {c.n_boot:,} resamples"),
                ("seed", c.seed),
            ]
        ),
        "</section>",
        "<h2>Metrics</h2>",
        _wrapped_table(_comparison_long(c)),
        "<h2>Differences from the baseline</h2>",
        *(charts or ['<p class="note">one version: nothing to compare it with</p>']),
    ]
    return _document(f"Comparison on {c.eval_set}", "Model comparison", f"on {c.eval_set}", body)


def evaluation_html(evaluation: Evaluation | Comparison) -> str:
    """An evaluation (its metric table and what it was computed from) or a comparison
    (the metric table and, per metric, each version's difference from the baseline with
    its interval as an error bar) as a self-contained HTML document."""
    if _is_comparison(evaluation):
        return _comparison_html(evaluation)
    ev = cast("Evaluation", evaluation)
    commit = ev.code_version.get("commit") or ev.code_version.get("git_commit")
    body = [
        '<section class="card">',
        _facts(
            [
                ("model", ev.model_id),
                ("eval set", ev.eval_set),
                ("eval set content", ev.eval_content_id),
                ("rows", ev.rows),
                ("task", ev.task),
                ("label column", ev.label_column),
                ("threshold", ev.threshold),
                ("predictions sha256", ev.predictions_sha256),
                ("code version", commit if commit else dict(ev.code_version) or None),
                ("environment", dict(ev.environment)),
                ("evaluation", ev.id),
                ("created", ev.created_at.replace("T", " ")[:19]),
            ]
        ),
        "</section>",
        "<h2>Metrics</h2>",
        _wrapped_table(ev.to_polars()),
    ]
    return _document(
        f"Evaluation: {ev.model_id}", "Evaluation", f"{ev.model_id} on {ev.eval_set}", body
    )


# -- skew --------------------------------------------------------------------------------


def skew_html(report: SkewReport) -> str:
    """A skew report as a self-contained HTML document: a summary, the table, and the
    share of rows whose served value differs, per feature."""
    skewed = [f.column for f in report.features if f.differing]
    status = (
        _badge(f"{len(skewed)} of {len(report.features)} skewed", "bad")
        if skewed
        else _badge("no skew", "good")
    )
    items = [
        (f.column, f.share, f"{_pct(f.share)} ({f.differing:,} of {f.rows:,})")
        for f in report.features
    ]
    body = [
        f'<section class="card{" alert" if skewed else ""}">',
        f'<h2 style="margin-top:0">Summary {status}</h2>',
        _facts(
            [
                ("prediction batch", report.batch),
                ("tolerance", report.tolerance),
                ("bitemporal", report.bitemporal),
                ("skewed", ", ".join(skewed) if skewed else "none"),
                ("report", report.id),
                ("created", report.created_at.replace("T", " ")[:19]),
            ]
        ),
        "</section>",
        "<h2>Features</h2>",
        _wrapped_table(report.to_polars(), flagged=[f.differing > 0 for f in report.features]),
        "<h2>Share of rows that differ</h2>",
        _hbars(items, "share of rows whose served value differs", limit=1.0, colour=DRIFT_COLOR)
        if items
        else '<p class="note">no served features</p>',
    ]
    return _document(f"Skew: {report.batch}", "Training/serving skew", report.batch, body)
