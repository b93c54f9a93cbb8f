"""The slow, obviously correct reference of window aggregations (DESIGN.md, contract 9):
for each entity row, filter the raw source rows of its window by hand and aggregate them
in Python.

A row is in the window of an entity row at ``t`` when it has the same keys (no null key
matches) and ``t - window < ts <= t``; bitemporal reads also need ``created`` not null
and ``created <= t``. ``count`` counts non-null values, the other functions ignore nulls
(an empty window gives null, a count 0), ``var``/``std`` are sample statistics (null
below two values), ``count_distinct`` counts distinct non-null values, and ``last`` is
the value of the window's latest row: latest ``ts``, then the latest created time (null
lowest), then the largest values of the stored columns in name order (null lowest), the
rank order featstore stores.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import featstore as fs


def _rank_key(row: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    created = row.get("created")
    parts: list[Any] = [(created is not None, created or datetime.min)]
    for c in sorted(columns):
        v = row[c]
        parts.append((v is not None, v if v is not None else 0))
    return (row["ts"], *parts)


def window_values(
    events: list[dict[str, Any]],
    entity: list[dict[str, Any]],
    keys: Sequence[str],
    aggs: Sequence[fs.Aggregation],
    *,
    bitemporal: bool = False,
) -> list[dict[str, Any]]:
    """One dict per entity row: each aggregation's value under its name."""
    columns = sorted({a.column for a in aggs})
    out = []
    for row in entity:
        got: dict[str, Any] = {}
        t = row["ts"]
        same = [
            e
            for e in events
            if all(row[k] is not None and e[k] == row[k] for k in keys)
            and (not bitemporal or (e.get("created") is not None and e["created"] <= t))
        ]
        for a in aggs:
            inside = [e for e in same if t - a.window < e["ts"] <= t]
            values = [e[a.column] for e in inside if e[a.column] is not None]
            if a.fn == "count":
                got[a.name] = len(values)
            elif a.fn == "count_distinct":
                got[a.name] = len(set(values))
            elif a.fn == "last":
                best = max(inside, key=lambda e: _rank_key(e, columns), default=None)
                got[a.name] = None if best is None else best[a.column]
            elif not values:
                got[a.name] = None
            elif a.fn == "sum":
                got[a.name] = sum(values)
            elif a.fn == "mean":
                got[a.name] = statistics.fmean(values)
            elif a.fn == "min":
                got[a.name] = min(values)
            elif a.fn == "max":
                got[a.name] = max(values)
            elif a.fn in ("var", "std"):
                if len(values) < 2:
                    got[a.name] = None
                else:
                    v = statistics.variance(values)
                    got[a.name] = v if a.fn == "var" else math.sqrt(v)
            else:
                raise AssertionError(f"unknown function {a.fn}")
        out.append(got)
    return out


def close(a: Any, b: Any, *, scale: float = 0.0) -> bool:
    """Equal values; floats within a relative 1e-9 (and an absolute ``1e-9 * scale``,
    the size of the values summed: sums of pieces round differently from one sum)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(scale, 1.0))
    return bool(a == b)


def assert_matches(
    got: list[dict[str, Any]],
    want: list[dict[str, Any]],
    scales: dict[str, float] | None = None,
) -> None:
    """``got`` equals ``want``; ``scales`` gives per output the size of what was summed."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        for name, value in w.items():
            scale = (scales or {}).get(name, 0.0)
            assert close(g[name], value, scale=scale), (
                f"entity row {i}, {name}: featstore {g[name]!r}, reference {value!r}"
            )
