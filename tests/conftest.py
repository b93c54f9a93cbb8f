"""Shared fixtures: a temporary store, and a builder that turns raw frames into a
materialized store (the same raw frames the oracle in ``tests/oracle.py`` reads)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from oracle import View, to_us

import featstore as fs

__all__ = ["build_store", "feature_views"]

Range = tuple[datetime, datetime]


def _frame(view: View) -> pl.DataFrame:
    if isinstance(view.rows, pl.DataFrame):
        return view.rows
    return pl.DataFrame(list(view.rows))


def data_range(views: Sequence[View]) -> Range:
    """A materialization range ``[start of first month, last event + 1us)`` covering every
    raw row of ``views`` (January 2024 if there are none)."""
    stamps = [
        to_us(t) for v in views for t in _frame(v)[v.timestamp_column].to_list() if t is not None
    ]
    if not stamps:
        return datetime(2024, 1, 1), datetime(2024, 2, 1)
    lo = datetime(1970, 1, 1) + timedelta(microseconds=min(stamps))  # type: ignore[type-var]
    hi = datetime(1970, 1, 1) + timedelta(microseconds=max(stamps) + 1)  # type: ignore[type-var, operator]
    return datetime(lo.year, lo.month, 1), hi


def feature_views(
    views: Sequence[View], *, source: str = "dataframe", data_dir: Path | None = None
) -> list[Any]:
    """Entities, sources and FeatureViews (plain column selections) for oracle views.

    One Entity per distinct key tuple (named ``e_<key>_<key>``). ``source`` is
    ``"dataframe"`` (DataFrameSource) or ``"parquet"`` (each frame written to
    ``data_dir/<view>.parquet`` and read through a ParquetSource).
    """
    entities: dict[tuple[str, ...], fs.Entity] = {}
    out: list[Any] = []
    for view in views:
        keys = tuple(view.keys)
        if keys not in entities:
            entities[keys] = fs.Entity("e_" + "_".join(keys), join_keys=list(keys))
            out.append(entities[keys])
        frame = _frame(view)
        common = {
            "timestamp_column": view.timestamp_column,
            "created_timestamp_column": view.created_timestamp_column,
        }
        src: fs.Source
        if source == "dataframe":
            src = fs.DataFrameSource(f"{view.name}_src", data=frame, **common)
        elif source == "parquet":
            assert data_dir is not None, "a parquet source needs data_dir"
            path = data_dir / f"{view.name}.parquet"
            frame.write_parquet(path)
            src = fs.ParquetSource(f"{view.name}_src", path=path, **common)
        else:
            raise ValueError(f"unknown source kind {source!r}")
        out.append(
            fs.FeatureView(
                view.name,
                entity=entities[keys],
                source=src,
                features=list(view.features),
                ttl=view.ttl,
            )
        )
    return out


def build_store(
    path: Path,
    views: Sequence[View],
    *,
    source: str = "dataframe",
    ranges: Sequence[Range] | None = None,
) -> fs.FeatureStore:
    """A store at ``path`` with ``views`` applied and materialized.

    ``ranges``: the materialization runs to make, in order (default: one run over
    :func:`data_range`); ``[]`` applies without materializing.
    """
    path.mkdir(parents=True, exist_ok=True)
    store = fs.FeatureStore(path / "store", progress=False)
    try:
        store.apply(feature_views(views, source=source, data_dir=path))
        for start, end in [data_range(views)] if ranges is None else ranges:
            store.materialize(start, end)
    except BaseException:
        store.close()
        raise
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[fs.FeatureStore]:
    """An empty store in a temporary directory."""
    with fs.FeatureStore(tmp_path / "store", progress=False) as s:
        yield s


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., fs.FeatureStore]]:
    """``make_store(views, source=..., ranges=...)``: :func:`build_store` in a fresh
    subdirectory of ``tmp_path`` each call; every store is closed at teardown (closing
    one earlier, e.g. with ``with``, is fine)."""
    made: list[fs.FeatureStore] = []
    counter = itertools.count()

    def make(views: Sequence[View], **kwargs: Any) -> fs.FeatureStore:
        s = build_store(tmp_path / f"s{next(counter)}", views, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
