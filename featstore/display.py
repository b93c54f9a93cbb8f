"""HTML for notebooks: the ``_repr_html_`` of featstore's objects, and their one-line
``__repr__`` text.

Small and dependency-free (the standard library only), so that every layer can use it.
The look is the one of the monitoring reports' notebook tables
(:mod:`featstore.monitoring.html`): a bold title line, then ``<table class="fs-table">``
tables, numbers right-aligned and compact, a missing value as an em dash. Every string
that comes from data or from a user (names, ids, values) is escaped here; only
:class:`Html` (markup this module built) passes through as it is.

* :func:`table`: a header and rows, the first ``max_rows`` of them and how many more;
* :func:`kv_table`: key/value rows, a mapping value as a nested key/value table;
* :func:`frame_table`: the head of a frame (anything with ``columns``, ``height`` and
  ``head(n).rows()``, such as a Polars DataFrame), never the whole of it;
* :func:`shape_line`: ``5 rows \u00d7 4 columns``;
* :func:`title`, :func:`section`, :func:`block`: the title line and the parts around it;
* :func:`one_line`: a ``__repr__`` text kept on one line and short.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

__all__ = [
    "NULL",
    "Html",
    "block",
    "esc",
    "fmt",
    "frame_table",
    "is_blob",
    "kv_table",
    "one_line",
    "section",
    "shape_line",
    "table",
    "title",
]

NULL = "\u2014"  # em dash: a missing value (as in the monitoring reports)
REPR_LIMIT = 160
"""The longest ``__repr__`` :func:`one_line` returns."""
_BLOB_MIN = 80
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_HEX = re.compile(r"[0-9a-fA-F]+")


class Html(str):
    """Markup built by this module: :func:`table` and :func:`kv_table` put it into a cell
    as it is, where any other value is escaped."""

    __slots__ = ()


class _Frame(Protocol):
    @property
    def columns(self) -> Sequence[str]: ...

    @property
    def height(self) -> int: ...

    def head(self, n: int) -> Any: ...


def esc(value: object) -> str:
    """``value`` as text, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def is_blob(value: object) -> bool:
    """Whether ``value`` looks like base64 data (long, only base64 characters, not a hex
    digest): a thing to summarise, never to print."""
    return (
        isinstance(value, str)
        and len(value) >= _BLOB_MIN
        and _BASE64.fullmatch(value) is not None
        and _HEX.fullmatch(value) is None
    )


def fmt(value: Any) -> str:
    """A value for people, compactly (not escaped): integers with separators, floats to
    five significant digits, instants without empty fractions, None as an em dash."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "\u221e" if value > 0 else "\u2212\u221e"
        if value == 0:
            return "0"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.5g}"
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return text[:10]
        return text.removesuffix(".000000")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, str):
        if is_blob(value):
            return f"(base64 data, {len(value):,} characters)"
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    if value is None:
        return f'<td class="null">{NULL}</td>'
    if _is_number(value):
        return f'<td class="num" style="text-align:right">{esc(fmt(value))}</td>'
    return f"<td>{esc(fmt(value))}</td>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    max_rows: int | None = None,
    total: int | None = None,
) -> Html:
    """An HTML table: ``header`` and the cells of ``rows`` escaped (an :class:`Html`
    cell as it is), at most ``max_rows`` rows. ``total`` is how many rows there are in
    all, when ``rows`` holds only the first ones; a note says how many more there are."""
    out = ['<table class="fs-table"><thead><tr>']
    out += [f"<th>{esc(name)}</th>" for name in header]
    out.append("</tr></thead><tbody>")
    shown = 0
    for row in rows:
        if max_rows is not None and shown >= max_rows:
            break
        out.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
        shown += 1
    hidden = (total - shown) if total is not None else 0
    if hidden > 0:
        out.append(
            f'<tr><td class="more" colspan="{max(len(header), 1)}">\u2026 {hidden:,} more '
            f"rows (showing {shown:,} of {total:,})</td></tr>"
        )
    out.append("</tbody></table>")
    return Html("".join(out))


def _value_html(value: object, depth: int) -> object:
    """A value of a key/value row: a mapping becomes a nested key/value table, a list of
    mappings a table of their keys (below ``depth`` levels), anything else stays."""
    if depth <= 0:
        return value
    if isinstance(value, Mapping) and value:
        return kv_table(value.items(), depth=depth - 1)
    if isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        cells = [[_value_html(v.get(k), depth - 1) for k in keys] for v in value]
        return table(keys, cells, max_rows=50, total=len(value))
    return value


def kv_table(pairs: Iterable[tuple[str, object]], *, depth: int = 3) -> Html:
    """Key/value rows as a two-column table; a mapping value is a nested key/value table
    and a list of mappings a table (``depth`` levels deep), a base64 value a summary."""
    rows = [(Html(f"<b>{esc(k)}</b>"), _value_html(v, depth)) for k, v in pairs]
    out = ['<table class="fs-table"><tbody>']
    out += ["<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return Html("".join(out))


def frame_table(frame: _Frame, max_rows: int = 10) -> Html:
    """The first ``max_rows`` rows of ``frame`` as a table (only those rows are read),
    with how many more there are."""
    head = frame.head(max_rows)
    return table(list(frame.columns), head.rows(), total=frame.height)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def shape_line(rows: int, columns: int) -> str:
    """``5 rows \u00d7 4 columns``, for people (not escaped: no user text in it)."""
    return f"{_plural(rows, 'row')} \u00d7 {_plural(columns, 'column')}"


def title(kind: str, name: object, detail: str = "") -> Html:
    """The title line: the object's kind in bold, its name, and a detail (escaped)."""
    tail = f" <span>({esc(detail)})</span>" if detail else ""
    return Html(f"<p><b>{esc(kind)}</b> {esc(name)}{tail}</p>")


def section(heading: str, body: str) -> Html:
    """A part of a display: a small heading (escaped) and HTML under it."""
    return Html(f'<p style="margin:8px 0 2px"><b>{esc(heading)}</b></p>{body}')


def block(parts: Iterable[str]) -> Html:
    """A whole display: its parts in one ``<div>``."""
    return Html('<div class="fs-display">' + "".join(parts) + "</div>")


def one_line(text: str, limit: int = REPR_LIMIT) -> str:
    """``text`` on one line (line breaks as spaces), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 2] + "\u2026)"
