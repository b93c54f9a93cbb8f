"""Statistics recorded as data is written: per offline file by materialization, per
saved training set and per logged prediction batch. Each is computed in one extra pass
over what was just written (columns read one at a time) and committed in the same
catalog transaction as the data it describes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from featstore.columns import RANK
from featstore.dtypes import read_frame
from featstore.monitoring import stats

__all__ = ["file_statistics", "frame_statistics"]


def file_statistics(path: Path, features: list[str]) -> str:
    """The statistics (JSON) of a materialized file's features over its winning rows
    (``__fs_rank`` 1: one row per key and event time)."""
    frame = read_frame(path, columns=[*features, RANK])  # naive timestamps as written
    frame = frame.filter(pl.col(RANK) == 1).drop(RANK)  # one file: a month, in memory
    return _dumps(stats.compute(frame, "offline file", features))


def frame_statistics(frame: pl.DataFrame, skip: Iterable[str] = ()) -> str:
    """The statistics (JSON) of every column of ``frame`` but ``skip``."""
    skipped = set(skip)
    return _dumps(stats.compute(frame, "frame", [c for c in frame.columns if c not in skipped]))


def _dumps(statistics: stats.Statistics) -> str:
    return json.dumps(statistics.to_json(), sort_keys=True)
