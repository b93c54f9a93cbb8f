"""A slow, obviously-correct reference implementation of the point-in-time contract.

It reads the raw feature rows exactly as they are handed to a source (a list of dicts or
a Polars frame), never featstore's materialized files, SQL or helpers, and applies the
contract of DESIGN.md ("Point-in-time semantics") row by row in plain Python:

For each entity row and each view:

1. candidates: feature rows whose join key(s) equal the entity row's (a null key, on
   either side, matches nothing), with ``feature_ts <= entity_ts``;
2. with a TTL, also ``feature_ts >= entity_ts - ttl`` (both bounds inclusive);
3. in bitemporal mode, also ``created_ts <= entity_ts``; a row with a null
   ``created_ts`` is never a candidate (when it became known is unknown);
4. the winner is the candidate with the latest ``feature_ts``, then the latest
   ``created_ts`` (a null ``created_ts`` sorts lowest), then, among remaining ties, the
   row whose feature values are largest, comparing the view's feature columns one after
   the other in *name* order (sorted), each DESC NULLS LAST (a null loses to any value);
5. no candidate gives nulls; the entity row is never dropped, duplicated or reordered.

The deterministic last tie-break (step 4) mirrors ``featstore.materialize._write_bucket``,
which ranks the rows sharing keys and ``feature_ts`` with::

    row_number() OVER (PARTITION BY keys..., __fs_ts
                       ORDER BY __fs_created DESC NULLS LAST,
                                <each feature, sorted by name> DESC NULLS LAST)

and stores rank 1 as the winner. It uses *all* the view's feature columns, not only the
requested ones, so the oracle does too. (Name order, not the view's column order: the
catalog keeps a view's features as sorted JSON, and ``_write_bucket`` sorts them so the
rule never depends on which path handed it the feature list.) Rows that tie on every
compared column are indistinguishable in the output, so any of them may win.

Timestamps are compared as UTC instants at microsecond resolution: time-zone-aware
values are converted to UTC, naive values are read as UTC, ``date`` values are midnight
UTC. Comparisons use integer microseconds since the epoch, so no time-zone arithmetic
can go wrong.

Values are compared with Python's ordering. Floats must not be NaN: NaN ordering differs
between engines (DuckDB sorts NaN above every number, Python's ``<`` is always false),
so test data never contains it. Strings compare by code point, which is the byte order
of UTF-8 that DuckDB uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = [
    "View",
    "historical",
    "latest",
    "output_names",
    "to_us",
]

EPOCH = datetime(1970, 1, 1)


def to_us(value: datetime | date | None) -> int | None:
    """A timestamp as integer microseconds since the epoch (UTC); None stays None.

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1))
    1000000
    >>> from zoneinfo import ZoneInfo
    >>> to_us(datetime(1970, 1, 1, 1, 0, 0, tzinfo=ZoneInfo("Europe/Paris")))
    0
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        delta = value - EPOCH
    elif isinstance(value, date):
        delta = datetime(value.year, value.month, value.day) - EPOCH
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _rows(data: Any) -> list[dict[str, Any]]:
    """A list of dicts from a list of dicts or anything with ``to_dicts()`` (Polars)."""
    if hasattr(data, "to_dicts"):
        return list(data.to_dicts())
    return [dict(r) for r in data]


@dataclass(frozen=True)
class View:
    """A feature view as the oracle sees it: raw rows and the columns that matter.

    ``features`` lists all the view's feature columns (the tie-break uses all of them,
    in name order); ``select`` the requested ones (default: all, in ``features`` order).
    ``rows`` are the raw source rows: ``keys``, ``timestamp_column``, the optional
    ``created_timestamp_column`` and the features.
    """

    name: str
    rows: Any
    keys: Sequence[str]
    features: Sequence[str]
    ttl: timedelta | None = None
    timestamp_column: str = "ts"
    created_timestamp_column: str | None = None
    select: Sequence[str] | None = None
    _prepared: list[tuple[tuple[Any, ...], int, int | None, tuple[Any, ...]]] = field(
        init=False, repr=False, compare=False, default_factory=list
    )
    _tie_order: list[int] = field(init=False, repr=False, compare=False, default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "features", tuple(self.features))
        if self.select is not None:
            object.__setattr__(self, "select", tuple(self.select))
        prepared = []
        for row in _rows(self.rows):
            key = tuple(row[k] for k in self.keys)
            ts = to_us(row[self.timestamp_column])
            if ts is None or any(k is None for k in key):
                continue  # a row with a null key or timestamp can match nothing
            created = (
                to_us(row[self.created_timestamp_column]) if self.created_timestamp_column else None
            )
            prepared.append((key, ts, created, tuple(row[f] for f in self.features)))
        # the tie-break compares feature values in feature-name order
        object.__setattr__(
            self, "_tie_order", sorted(range(len(self.features)), key=lambda i: self.features[i])
        )
        self._prepared.extend(prepared)

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(self.select) if self.select is not None else tuple(self.features)

    def lookup(self, key: tuple[Any, ...], at_us: int, *, bitemporal: bool) -> dict[str, Any]:
        """The selected feature values of the winning row for ``key`` at ``at_us``."""
        if any(k is None for k in key):
            return dict.fromkeys(self.selected)
        ttl_us = None if self.ttl is None else _td_us(self.ttl)
        best: tuple[Any, ...] | None = None
        best_values: tuple[Any, ...] | None = None
        for row_key, ts, created, values in self._prepared:
            if row_key != key or ts > at_us:
                continue
            if ttl_us is not None and ts < at_us - ttl_us:
                continue
            if bitemporal and (created is None or created > at_us):
                continue
            rank = (
                ts,
                _nulls_lowest(created),
                tuple(_nulls_lowest(values[i]) for i in self._tie_order),
            )
            if best is None or rank > best:
                best, best_values = rank, values
        if best_values is None:
            return dict.fromkeys(self.selected)
        by_name = dict(zip(self.features, best_values, strict=True))
        return {f: by_name[f] for f in self.selected}


def _nulls_lowest(value: Any) -> tuple[Any, ...]:
    """A sort key where None is below every value (DESC NULLS LAST picks non-nulls)."""
    return (0,) if value is None else (1, value)


def _td_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def output_names(
    views: Sequence[View], entity_columns: Iterable[str], *, full_feature_names: bool
) -> list[list[str]]:
    """Output column names per view; raises ValueError naming both sides on a clash."""
    seen = {c: "the entity frame" for c in entity_columns}
    out = []
    for view in views:
        names = []
        for f in view.selected:
            name = f"{view.name}__{f}" if full_feature_names else f
            if name in seen:
                raise ValueError(f"{name!r} clashes: {seen[name]} and {view.name}:{f}")
            seen[name] = f"{view.name}:{f}"
            names.append(name)
        out.append(names)
    return out


def historical(
    entity: Any,
    views: Sequence[View],
    *,
    timestamp_column: str = "event_timestamp",
    bitemporal: bool = False,
    full_feature_names: bool = False,
    entity_columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The expected training set: one dict per entity row, in order.

    Each dict holds the entity row's columns (unchanged) followed by the views' selected
    features, named ``feature`` or ``view__feature``.
    """
    rows = _rows(entity)
    columns = (
        list(entity_columns)
        if entity_columns is not None
        else (list(rows[0]) if rows else list(getattr(entity, "columns", [])))
    )
    names = output_names(views, columns, full_feature_names=full_feature_names)
    out = []
    for row in rows:
        at = to_us(row[timestamp_column])
        if at is None:
            raise ValueError("entity rows need a timestamp")
        result = dict(row)
        for view, view_names in zip(views, names, strict=True):
            key = tuple(row[k] for k in view.keys)
            values = view.lookup(key, at, bitemporal=bitemporal)
            for name, f in zip(view_names, view.selected, strict=True):
                result[name] = values[f]
        out.append(result)
    return out


def latest(
    keys: Any,
    views: Sequence[View],
    as_of: datetime,
    *,
    bitemporal: bool = False,
    full_feature_names: bool = False,
) -> list[dict[str, Any]]:
    """Latest-values retrieval: :func:`historical` with ``as_of`` as every row's moment."""
    if isinstance(keys, Mapping):
        n = len(next(iter(keys.values()))) if keys else 0
        rows = [{k: v[i] for k, v in keys.items()} for i in range(n)]
        columns = list(keys)
    else:
        rows = _rows(keys)
        columns = list(getattr(keys, "columns", rows[0] if rows else []))
    marker = "__oracle_as_of"
    stamped = [{**r, marker: as_of} for r in rows]
    out = historical(
        stamped,
        views,
        timestamp_column=marker,
        bitemporal=bitemporal,
        full_feature_names=full_feature_names,
        entity_columns=columns,
    )
    for r in out:
        del r[marker]
    return out


def assert_frame_matches(
    frame: Any, expected: Sequence[Mapping[str, Any]], *, columns: Sequence[str] | None = None
) -> None:
    """Assert a result frame (anything with ``columns`` and ``to_dicts()``) equals the
    oracle's rows: same column order, same row count, same values row by row.

    ``columns``: the expected column names, checked even when there are no rows.
    """
    got = frame.to_dicts()
    if columns is not None:
        assert list(frame.columns) == list(columns), (
            f"columns differ: got {list(frame.columns)}, expected {list(columns)}"
        )
    if expected:
        assert list(frame.columns) == list(expected[0]), (
            f"columns differ: got {list(frame.columns)}, expected {list(expected[0])}"
        )
    assert len(got) == len(expected), f"got {len(got)} rows, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        bad = {c: (g.get(c), e[c]) for c in e if not _same(g.get(c), e[c])}
        assert not bad, f"row {i}: (got, expected) differ in {bad}; expected row {dict(e)}"


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, datetime) and isinstance(b, datetime):
        return to_us(a) == to_us(b) and (a.tzinfo is None) == (b.tzinfo is None)
    return bool(a == b) and type(a) is type(b)
