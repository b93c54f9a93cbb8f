"""Per-column statistics of a frame, their JSON form, and merging them.

For every column: the row count and null count, and by kind of column

* numeric (integers, floats, decimals): minimum, maximum, mean, standard deviation
  (population, ``ddof=0``), 101 quantiles at levels 0, 0.01, ..., 1, and the histogram
  of the column over the distinct quantiles (its *bin edges*, kept as the reference
  for drift), an approximate distinct count. NaN counts as a null; infinities are
  counted (``infinite``) and left out of the distribution;
* categorical (strings, categoricals, enums, booleans): the top 500 values with their
  counts, the count of the other values, an approximate distinct count;
* temporal (dates, datetimes, times, durations): minimum and maximum (ISO text) and an
  approximate distinct count;
* anything else (lists, structs, binary): counts only.

Quantiles of one frame are exact: the value at level ``q`` is the smallest value ``x``
with at least ``q`` of the values ``<= x`` (the inverted CDF). The histogram's bins are
``[x < e0], [x == e0], (e0, e1], ..., (e_{B-1}, e_B], [x > e_B]`` over the distinct
quantiles ``e0 < ... < e_B`` (see :mod:`featstore.monitoring.distances`); its counts
are exact. Distinct counts of one frame are exact for numeric and categorical columns;
each column also keeps a HyperLogLog sketch (2,048 registers, standard error about
2.3%), which merged statistics and temporal columns estimate from. Numeric values are
hashed by their float64 bits with featstore's own mixer (the same everywhere, so their
sketches always merge; integers beyond 2**53 that round to one float count once);
other values by Polars' hash, whose sketches merge between equal Polars versions.

Merging the statistics of several frames (the files of a view, over a time range) is
exact for counts, nulls, minimum, maximum, mean and standard deviation (Chan's
pairwise formulas). Quantiles and histograms of a merge come from the mixture of the
parts' histograms, with each part's rows spread uniformly within each bin: the merged
quantile at level ``q`` lies in the bin of the exact one, at most one part-bin away in
rank (about 1% of each part's rows). Distinct counts merge exactly as sketches when the
parts used the same hash (the same Polars version); otherwise the largest part's count
is given, a lower bound. Top values of a merge are exact when every part listed all of
its values, and lower bounds otherwise. A merged result says ``exact=False``.
"""

from __future__ import annotations

import base64
import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from featstore.errors import MonitoringError

__all__ = [
    "QUANTILE_LEVELS",
    "TOP_K",
    "ColumnStatistics",
    "Histogram",
    "Statistics",
    "column_kind",
    "compute",
    "merge",
]

LEVELS = 100
QUANTILE_LEVELS: tuple[float, ...] = tuple(i / LEVELS for i in range(LEVELS + 1))
TOP_K = 500
HLL_P = 11
HLL_M = 1 << HLL_P
HASH_SEED = 0x5EED
HASHER = f"polars-{pl.__version__}-hll{HLL_P}-seed{HASH_SEED}"
NUMERIC_HASHER = f"mix64-hll{HLL_P}"  # numeric values: featstore's own hash of their bits

WORKERS = max(1, min(2, os.cpu_count() or 1))
PARALLEL_ROWS = 100_000
SMALL_SKETCH = 20_000  # below this many values a sketch scatters instead of counting  # frames from this size get their columns computed in threads
NUMERIC, CATEGORICAL, TEMPORAL, OTHER = "numeric", "categorical", "temporal", "other"

FloatArray = npt.NDArray[np.float64]


def column_kind(dtype: pl.DataType) -> str:
    """``numeric``, ``categorical``, ``temporal`` or ``other`` for a Polars dtype."""
    if dtype.is_numeric():
        return NUMERIC
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum) or dtype == pl.Boolean:
        return CATEGORICAL
    if dtype.is_temporal():
        return TEMPORAL
    return OTHER


@dataclass(frozen=True, slots=True)
class Histogram:
    """A numeric column over its distinct quantiles ``edges``: ``counts`` has
    ``len(edges) + 2`` entries, ``[x < e0], [x == e0], (e0, e1], ..., [x > e_B]``, and
    ``means`` the mean of the rows in each bin (None for an empty bin; no means at all
    for a merged histogram)."""

    edges: tuple[float, ...]
    counts: tuple[float, ...]
    means: tuple[float | None, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.edges) + 2:
            raise MonitoringError(
                f"histogram: {len(self.edges)} edges need {len(self.edges) + 2} counts; "
                f"found {len(self.counts)}"
            )

    @property
    def total(self) -> float:
        return float(sum(self.counts))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"edges": list(self.edges), "counts": [_num(c) for c in self.counts]}
        if self.means is not None:
            out["means"] = list(self.means)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        means = data.get("means")
        return cls(
            tuple(float(e) for e in data["edges"]),
            tuple(data["counts"]),
            tuple(None if m is None else float(m) for m in means) if means is not None else None,
        )


def _num(value: float) -> float | int:
    """A count as an int when it is whole (counts of one frame always are)."""
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True, slots=True)
class ColumnStatistics:
    """The statistics of one column (see the module docstring for what each means)."""

    name: str
    dtype: str
    kind: str
    count: int
    nulls: int
    infinite: int = 0
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: tuple[float, ...] | None = None
    histogram: Histogram | None = None
    distinct: int | None = None
    top: tuple[tuple[str, int], ...] | None = None
    other: int | None = None
    exact: bool = True
    sketch: str | None = field(default=None, repr=False)
    hasher: str | None = field(default=None, repr=False)

    @property
    def values(self) -> int:
        """Rows with a usable value: not null, not NaN, not infinite."""
        return self.count - self.nulls - self.infinite

    @property
    def null_rate(self) -> float:
        """Share of the rows that are null (or NaN); 0.0 for an empty column."""
        return self.nulls / self.count if self.count else 0.0

    def quantile(self, level: float) -> float | None:
        """The quantile at one of the recorded levels (0, 0.01, ..., 1)."""
        if self.quantiles is None:
            return None
        index = round(level * LEVELS)
        if not (0 <= index <= LEVELS and math.isclose(index / LEVELS, level)):
            raise MonitoringError(
                f"column {self.name!r}: quantiles are recorded at 0, 0.01, ..., 1; "
                f"{level!r} is not one of them"
            )
        return self.quantiles[index]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "infinite": self.infinite,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "quantiles": list(self.quantiles) if self.quantiles is not None else None,
            "histogram": self.histogram.to_json() if self.histogram is not None else None,
            "distinct": self.distinct,
            "top": [list(t) for t in self.top] if self.top is not None else None,
            "other": self.other,
            "exact": self.exact,
            "sketch": self.sketch,
            "hasher": self.hasher,
        }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnStatistics:
        try:
            hist = data.get("histogram")
            quantiles = data.get("quantiles")
            top = data.get("top")
            return cls(
                name=str(data["name"]),
                dtype=str(data["dtype"]),
                kind=str(data["kind"]),
                count=int(data["count"]),
                nulls=int(data["nulls"]),
                infinite=int(data.get("infinite", 0)),
                min=data.get("min"),
                max=data.get("max"),
                mean=data.get("mean"),
                std=data.get("std"),
                quantiles=tuple(float(q) for q in quantiles) if quantiles is not None else None,
                histogram=Histogram.from_json(hist) if hist is not None else None,
                distinct=data.get("distinct"),
                top=tuple((str(v), int(c)) for v, c in top) if top is not None else None,
                other=data.get("other"),
                exact=bool(data.get("exact", True)),
                sketch=data.get("sketch"),
                hasher=data.get("hasher"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringError(
                f"stored statistics of column {data.get('name')!r} are damaged ({exc!r}); "
                f"re-run what recorded them (materialize the range again, or save the "
                f"training set again)"
            ) from None


@dataclass(frozen=True, slots=True)
class Statistics:
    """The statistics of a frame (a run's files, a view over a time range, a training
    set, a prediction batch): ``rows`` and one :class:`ColumnStatistics` per column.
    ``parts`` is how many recorded statistics were merged (1 for a single frame)."""

    target: str
    rows: int
    columns: tuple[ColumnStatistics, ...]
    parts: int = 1

    @property
    def exact(self) -> bool:
        """Whether quantiles, histograms and top values are exact (not merged)."""
        return all(c.exact for c in self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnStatistics:
        """One column's statistics; MonitoringError naming the known columns if absent."""
        for col in self.columns:
            if col.name == name:
                return col
        raise MonitoringError(
            f"statistics of {self.target}: no column {name!r}; its columns are {self.names}"
        )

    def __getitem__(self, name: str) -> ColumnStatistics:
        return self.column(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def to_polars(self) -> pl.DataFrame:
        """One row per column: counts, null rate, min, max, mean, std, distinct, the
        quartiles and 1st/5th/95th/99th percentiles, and the top values (as text)."""
        rows = []
        for c in self.columns:
            q = c.quantile
            rows.append(
                {
                    "column": c.name,
                    "dtype": c.dtype,
                    "kind": c.kind,
                    "count": c.count,
                    "nulls": c.nulls,
                    "null_rate": c.null_rate,
                    "infinite": c.infinite,
                    "min": None if c.min is None else str(c.min),
                    "max": None if c.max is None else str(c.max),
                    "mean": c.mean,
                    "std": c.std,
                    "distinct": c.distinct,
                    "p01": q(0.01),
                    "p05": q(0.05),
                    "p25": q(0.25),
                    "p50": q(0.5),
                    "p75": q(0.75),
                    "p95": q(0.95),
                    "p99": q(0.99),
                    "top": ", ".join(f"{v}: {n}" for v, n in (c.top or ())[:5]) or None,
                    "exact": c.exact,
                }
            )
        schema = {
            "column": pl.String,
            "dtype": pl.String,
            "kind": pl.String,
            "count": pl.Int64,
            "nulls": pl.Int64,
            "null_rate": pl.Float64,
            "infinite": pl.Int64,
            "min": pl.String,
            "max": pl.String,
            "mean": pl.Float64,
            "std": pl.Float64,
            "distinct": pl.Int64,
            **{p: pl.Float64 for p in ("p01", "p05", "p25", "p50", "p75", "p95", "p99")},
            "top": pl.String,
            "exact": pl.Boolean,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rows": self.rows,
            "parts": self.parts,
            "columns": [c.to_json() for c in self.columns],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Statistics:
        return cls(
            target=str(data["target"]),
            rows=int(data["rows"]),
            parts=int(data.get("parts", 1)),
            columns=tuple(ColumnStatistics.from_json(c) for c in data["columns"]),
        )

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for c in self.columns:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        return f"Statistics({self.target}: {self.rows:,} rows, {shown or 'no columns'})"

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return (
            f"<p><b>Statistics of {escape(self.target)}</b>: {self.rows:,} rows</p>"
            + frame_table(self.to_polars().drop("exact"))
        )


# -- computing ----------------------------------------------------------------------


def compute(
    frame: pl.DataFrame | pl.LazyFrame,
    target: str,
    columns: Sequence[str] | None = None,
    *,
    sketch: bool = True,
    parallel: bool = True,
) -> Statistics:
    """The statistics of ``columns`` (default: all) of ``frame``. A LazyFrame is read
    one column at a time, so memory holds one column, not the frame. Without
    ``sketch``, no distinct-count sketch is kept (statistics that are never merged);
    ``parallel`` computes a large frame's columns in threads."""
    schema = frame.collect_schema()
    names = list(columns) if columns is not None else list(schema.names())
    missing = [c for c in names if c not in schema]
    if missing:
        raise MonitoringError(
            f"statistics of {target}: no column {missing[0]!r}; its columns are "
            f"{list(schema.names())}"
        )
    if isinstance(frame, pl.LazyFrame):
        rows = int(frame.select(pl.len()).collect().item())
        cols = tuple(
            column_statistics(frame.select(c).collect().to_series(), c, sketch=sketch)
            for c in names
        )
    else:
        rows = frame.height
        series = [frame.get_column(c) for c in names]
        if parallel and rows >= PARALLEL_ROWS and len(names) > 1:  # numpy releases the GIL
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                cols = tuple(
                    pool.map(lambda s: column_statistics(s, s.name, sketch=sketch), series)
                )
        else:
            cols = tuple(column_statistics(s, s.name, sketch=sketch) for s in series)
    return Statistics(target=target, rows=rows, columns=cols)


def column_statistics(series: pl.Series, name: str, *, sketch: bool = True) -> ColumnStatistics:
    """The statistics of one column (``sketch``: keep the distinct-count sketch)."""
    kind = column_kind(series.dtype)
    dtype = str(series.dtype)
    count = series.len()
    nulls = series.null_count()
    if kind == NUMERIC:
        return _numeric(series, name, dtype, count, nulls, sketch)
    if kind == CATEGORICAL:
        return _categorical(series, name, dtype, count, nulls, sketch)
    if kind == TEMPORAL:
        present = series.drop_nulls()
        return ColumnStatistics(
            name=name,
            dtype=dtype,
            kind=kind,
            count=count,
            nulls=nulls,
            min=_iso(present.min()) if present.len() else None,
            max=_iso(present.max()) if present.len() else None,
            **_distinct(present),
        )
    return ColumnStatistics(name=name, dtype=dtype, kind=kind, count=count, nulls=nulls)


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _numeric(
    series: pl.Series, name: str, dtype: str, count: int, nulls: int, sketch: bool = True
) -> ColumnStatistics:
    present = series.drop_nulls()
    infinite = 0
    if present.dtype.is_float():
        nan = int(present.is_nan().sum())
        nulls += nan
        if nan:
            present = present.filter(~present.is_nan())
        infinite = int(present.is_infinite().sum())
        if infinite:
            present = present.filter(present.is_finite())
    arr = np.sort(present.cast(pl.Float64).to_numpy())
    n = len(arr)
    sketched = _sketch(_mix64(arr), NUMERIC_HASHER) if sketch else {}
    # one frame's distinct count is exact (from the sorted values); the sketch is for merging
    exact = int(np.count_nonzero(arr[1:] != arr[:-1])) + 1 if n else 0
    distinct = {**sketched, "distinct": exact}
    if n == 0:
        return ColumnStatistics(
            name=name, dtype=dtype, kind=NUMERIC, count=count, nulls=nulls, infinite=infinite,
            **distinct,
        )  # fmt: skip
    # the smallest value with at least i/100 of the values <= it, in whole numbers
    i = np.arange(LEVELS + 1, dtype=np.int64)
    index = np.clip((i * n + LEVELS - 1) // LEVELS - 1, 0, n - 1)
    quantiles = arr[index]
    edges = np.unique(quantiles)
    at_most = np.searchsorted(arr, edges, side="right")
    counts = [0, int(at_most[0]), *(int(d) for d in np.diff(at_most)), 0]
    sizes = np.asarray(counts[1:-1], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sums = _run_sums(arr, np.concatenate(([0], at_most)))  # may overflow near 1e308
        inner = np.where(sizes > 0, sums / sizes, np.nan)
    # a bin's mean stays inside the bin (summing can round it a hair past an edge)
    inner = np.clip(inner, np.concatenate(([edges[0]], edges[:-1])), edges)
    means = (None, *(None if np.isnan(v) else float(v) for v in inner), None)
    mean, std = _moments(arr)
    return ColumnStatistics(
        name=name,
        dtype=dtype,
        kind=NUMERIC,
        count=count,
        nulls=nulls,
        infinite=infinite,
        min=float(arr[0]),
        max=float(arr[-1]),
        mean=mean,
        std=std,
        quantiles=tuple(float(q) for q in quantiles),
        histogram=Histogram(tuple(float(e) for e in edges), tuple(counts), means),
        **distinct,
    )


def _moments(arr: FloatArray) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=0``) of finite values, scaled by the largest
    magnitude so that values near the float range neither overflow nor lose the spread."""
    scale = max(abs(float(arr[0])), abs(float(arr[-1])))  # arr is sorted
    if scale == 0.0:
        return 0.0, 0.0
    scaled = arr / scale
    mean = float(np.mean(scaled))
    deviation = scaled - mean
    variance = max(float(np.dot(deviation, deviation)) / len(arr), 0.0)
    return mean * scale, math.sqrt(variance) * scale


def _run_sums(values: FloatArray, bounds: npt.NDArray[np.intp]) -> FloatArray:
    """The sums of ``values[bounds[i]:bounds[i + 1]]`` (0 for an empty run), without a
    cumulative array as long as ``values``; ``bounds`` ascend from 0 to ``len(values)``."""
    sums = np.zeros(len(bounds) - 1)
    starts = bounds[:-1]
    nonempty = bounds[1:] > starts
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(values, starts[nonempty])[: int(nonempty.sum())]
        # reduceat sums up to the next start given, which is the next nonempty run's start
    return sums


def _categorical(
    series: pl.Series, name: str, dtype: str, count: int, nulls: int, sketch: bool = True
) -> ColumnStatistics:
    present = series.drop_nulls().cast(pl.String)
    counts = present.alias("v").value_counts(name="n").sort(["n", "v"], descending=[True, False])
    top = counts.head(TOP_K)
    listed = int(top.get_column("n").sum()) if top.height else 0
    return ColumnStatistics(
        name=name,
        dtype=dtype,
        kind=CATEGORICAL,
        count=count,
        nulls=nulls,
        top=tuple(zip(top.get_column("v").to_list(), top.get_column("n").to_list(), strict=True)),
        other=present.len() - listed,
        **{**(_distinct(present) if sketch else {}), "distinct": counts.height},
    )


def _distinct(present: pl.Series) -> dict[str, Any]:
    """The HyperLogLog sketch of the non-null values (Polars' hash) and its estimate."""
    if present.len() == 0:
        return _sketch(np.zeros(0, np.uint64), HASHER)
    if isinstance(present.dtype, pl.Categorical | pl.Enum):
        present = present.cast(pl.String)
    return _sketch(present.hash(seed=HASH_SEED).to_numpy(), HASHER)


def _mix64(values: FloatArray) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each float's bits (MurmurHash3's finalizer): numpy only, the same
    on every machine and version, so numeric sketches always merge."""
    x = (values + 0.0).view(np.uint64).copy()  # + 0.0: -0.0 hashes as 0.0
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def _sketch(hashed: npt.NDArray[np.uint64], hasher: str) -> dict[str, Any]:
    """The HyperLogLog registers of 64-bit hashes, their estimate and the hasher's name."""
    registers = np.zeros(HLL_M, np.uint8)
    if len(hashed):
        low = (hashed & np.uint64((1 << (64 - HLL_P)) - 1)).astype(np.float64)  # < 2**53: exact
        # the rank of the first 1 bit of the low 64-p bits (64-p+1 when they are all zero):
        # 64-p+1 minus its bit length, which is the float's biased exponent - 1022 (0 for 0)
        exponent = (low.view(np.uint64) >> np.uint64(52)).astype(np.int64)
        bit_length = np.maximum(exponent - 1022, 0)
        key = (hashed >> np.uint64(64 - HLL_P)).astype(np.int64) * 64
        key += 64 - HLL_P + 1 - bit_length
        if len(key) < SMALL_SKETCH:  # few values: scatter the maxima directly
            np.maximum.at(registers, key // 64, (key % 64).astype(np.uint8))
        else:  # the largest rank per register: mark (register, rank) pairs, take the last
            seen = np.bincount(key, minlength=HLL_M * 64).reshape(HLL_M, 64) > 0
            last = 63 - np.argmax(seen[:, ::-1], axis=1)
            registers = np.where(seen.any(axis=1), last, 0).astype(np.uint8)
    return {"distinct": _estimate(registers), "sketch": _encode(registers), "hasher": hasher}


def _estimate(registers: npt.NDArray[np.uint8]) -> int:
    m = float(len(registers))
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -registers.astype(np.int64))))
    zeros = int(np.count_nonzero(registers == 0))
    if raw <= 2.5 * m and zeros:
        return round(m * math.log(m / zeros))
    return round(raw)


def _encode(registers: npt.NDArray[np.uint8]) -> str:
    return base64.b64encode(zlib.compress(registers.tobytes(), 9)).decode("ascii")


def _decode(text: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).copy()


# -- merging ------------------------------------------------------------------------


def merge(parts: Sequence[Statistics], target: str) -> Statistics:
    """One statistics of several frames with the same columns (see the module
    docstring for what is exact). A column missing from some parts is merged over the
    parts that have it."""
    if not parts:
        raise MonitoringError(f"statistics of {target}: nothing recorded to merge")
    if len(parts) == 1:
        return replace(parts[0], target=target)
    names: list[str] = []
    for part in parts:
        names += [n for n in part.names if n not in names]
    cols = tuple(merge_columns([p.column(n) for p in parts if n in p], n) for n in names)
    return Statistics(
        target=target,
        rows=sum(p.rows for p in parts),
        columns=cols,
        parts=sum(p.parts for p in parts),
    )


def merge_columns(cols: Sequence[ColumnStatistics], name: str) -> ColumnStatistics:
    """One column's statistics of several frames."""
    if len(cols) == 1:
        return cols[0]
    kinds = {c.kind for c in cols}
    if len(kinds) > 1:
        raise MonitoringError(
            f"column {name!r} is {' in some parts and '.join(sorted(kinds))} in others; "
            f"statistics of different kinds cannot be merged"
        )
    kind = cols[0].kind
    dtype = cols[0].dtype if len({c.dtype for c in cols}) == 1 else "mixed"
    base: dict[str, Any] = {
        "name": name,
        "dtype": dtype,
        "kind": kind,
        "count": sum(c.count for c in cols),
        "nulls": sum(c.nulls for c in cols),
        "infinite": sum(c.infinite for c in cols),
        "exact": False,
        **_merge_distinct(cols),
    }
    with_values = [c for c in cols if c.min is not None]
    if with_values:
        base["min"] = min(c.min for c in with_values)  # type: ignore[type-var]
        base["max"] = max(c.max for c in with_values)  # type: ignore[type-var]
    if kind == NUMERIC:
        base.update(_merge_moments(cols))
        hist = [c for c in cols if c.histogram is not None and c.values > 0]
        if hist:
            quantiles, histogram = _merge_histograms([c.histogram for c in hist])  # type: ignore[misc]
            base["quantiles"], base["histogram"] = quantiles, histogram
    elif kind == CATEGORICAL:
        totals: dict[str, int] = {}
        complete = True
        for c in cols:
            complete = complete and not c.other
            for value, n in c.top or ():
                totals[value] = totals.get(value, 0) + n
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        top = tuple(ranked[:TOP_K])
        base["top"] = top
        base["other"] = sum(c.values for c in cols) - sum(n for _, n in top)
        if complete and len(ranked) <= TOP_K:
            base["exact"] = True  # every part listed all its values: the merge is exact
    return ColumnStatistics(**base)


def _merge_distinct(cols: Sequence[ColumnStatistics]) -> dict[str, Any]:
    sketches = [c.sketch for c in cols]
    hashers = {c.hasher for c in cols}
    if all(sketches) and len(hashers) == 1 and None not in hashers:
        registers = np.maximum.reduce([_decode(s) for s in sketches if s])
        return {
            "distinct": _estimate(registers),
            "sketch": _encode(registers),
            "hasher": hashers.pop(),
        }
    known = [c.distinct for c in cols if c.distinct is not None]
    return {"distinct": max(known) if known else None, "sketch": None, "hasher": None}


def _merge_moments(cols: Iterable[ColumnStatistics]) -> dict[str, Any]:
    parts = [c for c in cols if c.values and c.mean is not None and c.std is not None]
    if not parts:
        return {}
    # in units of the largest magnitude, so that huge values do not overflow
    scale = max(max(abs(c.mean or 0.0), c.std or 0.0) for c in parts) or 1.0
    n, mean, m2 = 0, 0.0, 0.0
    for c in parts:
        k = c.values
        mu, sd = (c.mean or 0.0) / scale, (c.std or 0.0) / scale
        delta = mu - mean
        total = n + k
        mean += delta * k / total
        m2 += sd * sd * k + delta * delta * n * k / total
        n = total
    return {"mean": mean * scale, "std": math.sqrt(max(m2 / n, 0.0)) * scale}


def _merge_histograms(hists: Sequence[Histogram]) -> tuple[tuple[float, ...], Histogram]:
    """The mixture's quantiles and its histogram over them, each part's rows spread
    uniformly within each of its bins (stored histograms have nothing below e0 or
    above e_B: they describe their own rows)."""
    grid = np.unique(np.concatenate([np.asarray(h.edges) for h in hists]))
    cdf = np.zeros(len(grid))
    jump = np.zeros(len(grid))
    for h in hists:
        cdf += _part_cdf(h, grid)
        jump[np.searchsorted(grid, h.edges[0])] += h.counts[1]
    total = float(cdf[-1])
    before = cdf - jump  # F just below each grid point
    quantiles = []
    for level in QUANTILE_LEVELS:
        t = level * total
        j = int(np.searchsorted(cdf, t - 1e-9 * max(total, 1.0), side="left"))
        j = min(j, len(grid) - 1)
        if j == 0 or t >= before[j] or before[j] <= cdf[j - 1]:
            quantiles.append(float(grid[j]))
        else:  # within (grid[j-1], grid[j]): linear
            frac = (t - cdf[j - 1]) / (before[j] - cdf[j - 1])
            quantiles.append(float(grid[j - 1] + frac * (grid[j] - grid[j - 1])))
    quantiles[0], quantiles[-1] = float(grid[0]), float(grid[-1])
    edges = np.unique(np.asarray(quantiles))
    at = np.zeros(len(edges))
    for h in hists:
        at += _part_cdf(h, edges)
    counts = [0.0, float(at[0]), *(float(d) for d in np.diff(at)), 0.0]
    return tuple(quantiles), Histogram(tuple(float(e) for e in edges), tuple(counts))


def _part_cdf(h: Histogram, x: FloatArray) -> FloatArray:
    """The histogram's count of rows ``<= x`` (uniform within bins)."""
    edges = np.asarray(h.edges)
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(h.counts[2:-1], dtype=np.float64))])
    if len(edges) == 1:
        return np.where(x < edges[0], 0.0, float(h.counts[1]))
    with np.errstate(invalid="ignore", over="ignore"):  # subnormal bin widths
        out = h.counts[1] + np.interp(x, edges, cum)
    if not np.isfinite(out).all():  # a bin too narrow to interpolate in: count it whole
        at = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(cum) - 1)
        out = np.where(np.isfinite(out), out, h.counts[1] + cum[at])
    return np.where(x < edges[0], 0.0, out)
