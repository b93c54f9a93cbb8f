"""Materialization: ranges, monthly partitions, re-runs, lookback, incremental runs, run
records, failure atomicity, garbage collection and every kind of source."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pytest
from helpers import (
    END,
    START,
    catalog_snapshot,
    files_under,
    make_events,
    oracle_rows,
    rolling_spend,
    stored_rows,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import featstore as fs
import featstore.materialize as fs_materialize

LOOKBACK = timedelta(days=30)
ROLLING_FEATURES = ("spend_30d", "txn_30d")


@dataclass
class Env:
    store: fs.FeatureStore
    data: Path
    events: pl.DataFrame
    entity: fs.Entity
    source: fs.ParquetSource
    plain: fs.FeatureView
    rolling: fs.FeatureView

    def rewrite(self, events: pl.DataFrame) -> None:
        """Replace the raw data file (as an upstream job would)."""
        self.events = events
        tmp = self.data.with_suffix(".tmp")
        events.write_parquet(tmp)
        os.replace(tmp, self.data)

    def entity_rows(self) -> pl.DataFrame:
        """Entity rows for every customer at many moments across (and around) the data."""
        moments = pl.datetime_range(
            START - timedelta(days=3), END + timedelta(days=3), interval="61h", eager=True
        )
        return pl.DataFrame(
            {
                "customer_id": [c for c in range(5) for _ in moments],
                "event_timestamp": [m for _ in range(5) for m in moments],
            }
        )

    def retrieve(self) -> pl.DataFrame:
        refs = ["plain:amount", "rolling:spend_30d", "rolling:txn_30d"]
        return self.store.get_historical_features(self.entity_rows(), refs).frame


def _make_env(root: Path, events: pl.DataFrame | None = None) -> Env:
    root.mkdir(parents=True, exist_ok=True)
    events = make_events() if events is None else events
    data = root / "tx.parquet"
    events.write_parquet(data)
    entity = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.ParquetSource("tx", path=data, timestamp_column="ts")
    plain = fs.FeatureView("plain", entity=entity, source=source, features=["amount"])
    rolling = fs.FeatureView(
        "rolling", entity=entity, source=source, transform=rolling_spend, lookback=LOOKBACK
    )
    store = fs.FeatureStore(root / "store", progress=False, threads=2)
    store.apply([entity, source, plain, rolling])
    return Env(store, data, events, entity, source, plain, rolling)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = _make_env(tmp_path / "a")
    yield e
    e.store.close()


@pytest.fixture
def env_factory(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def make(name: str, events: pl.DataFrame | None = None) -> Env:
        e = _make_env(tmp_path / name, events)
        made.append(e)
        return e

    yield make
    for e in made:
        e.store.close()


def _plain(env: Env) -> pl.DataFrame:
    return stored_rows(env.store, "plain", columns=["customer_id", "__fs_ts", "amount"])


def _rolling(env: Env) -> pl.DataFrame:
    return stored_rows(env.store, "rolling", columns=["customer_id", "__fs_ts", *ROLLING_FEATURES])


def _active_paths(store: fs.FeatureStore, view: str | None = None) -> set[str]:
    """The paths of the active files of a view (of every view), whatever their version."""
    views = [view] if view else store.catalog.current_names("feature_view")
    listed = store.catalog.files([p for v in views for p in store.catalog.file_paths(v)])
    return {path for path, row in listed.items() if row["active"]}


# -- ranges and partitions --------------------------------------------------------------


def test_only_rows_in_range_are_stored_in_monthly_partitions(env: Env) -> None:
    lo, hi = datetime(2024, 1, 15, 6), datetime(2024, 3, 10)
    # pin both edges: one row exactly at lo (kept), one exactly at hi (excluded)
    extra = pl.DataFrame(
        {"customer_id": [3, 3], "ts": [lo, hi], "amount": [1001, 1002]},
        schema=env.events.schema,
    )
    env.rewrite(pl.concat([env.events, extra]))
    (run,) = env.store.materialize(lo, hi, views=["plain"])

    got = _plain(env)
    assert_frame_equal(got, oracle_rows(env.events, lo, hi))
    assert got["__fs_ts"].min() >= lo
    assert got["__fs_ts"].max() < hi
    assert 1001 in got["amount"].to_list()
    assert 1002 not in got["amount"].to_list()
    assert run.rows == got.height

    version = env.plain.version
    view_dir = env.store.path / "offline" / "plain" / version
    on_disk = files_under(view_dir)
    assert {p.split("/")[0] for p in on_disk} == {"2024-01", "2024-02", "2024-03"}
    assert {f"offline/plain/{version}/{p}" for p in on_disk} == set(run.files)
    # each partition file holds only its own month's rows
    for rel in on_disk:
        month = rel.split("/")[0]
        stamps = pl.read_parquet(view_dir / rel)["__fs_ts"]  # UTC instants (docs/files.md)
        assert stamps.dtype == pl.Datetime("us", "UTC")
        assert set(stamps.dt.strftime("%Y-%m").to_list()) == {month}


def test_rerun_replaces_and_never_duplicates(env: Env) -> None:
    lo, hi = datetime(2024, 1, 20), datetime(2024, 4, 5)
    env.store.materialize(lo, hi)
    first_plain, first_rolling = _plain(env), _rolling(env)
    first_files = len(_active_paths(env.store, "plain"))

    env.store.materialize(lo, hi)
    assert_frame_equal(_plain(env), first_plain)
    assert_frame_equal(_rolling(env), first_rolling)
    assert len(_active_paths(env.store, "plain")) == first_files
    assert stored_rows(env.store, "plain")["__fs_rank"].unique().to_list() == [1]

    # new content for the same range replaces the old, row for row
    env.rewrite(env.events.with_columns(pl.col("amount") + 10_000))
    env.store.materialize(lo, hi, views=["plain"])
    got = _plain(env)
    assert got.height == first_plain.height
    assert_frame_equal(got, oracle_rows(env.events, lo, hi))
    assert got["amount"].min() > 10_000


def test_rerun_drops_rows_deleted_from_the_source(env: Env) -> None:
    env.store.materialize(START, END, views=["plain"])
    kept = env.events.filter(pl.col("ts") < datetime(2024, 3, 1))
    env.rewrite(kept)
    env.store.materialize(datetime(2024, 3, 1), END, views=["plain"])
    assert_frame_equal(_plain(env), oracle_rows(kept, START, END))


@pytest.mark.parametrize(
    "ranges",
    [
        pytest.param([(START, datetime(2024, 3, 1)), (datetime(2024, 2, 1), END)], id="overlap"),
        pytest.param(
            [(datetime(2024, 2, 10), datetime(2024, 3, 20)), (START, END)], id="contained"
        ),
        pytest.param(
            [(START, datetime(2024, 2, 15, 12, 34)), (datetime(2024, 2, 15, 12, 34), END)],
            id="adjacent-mid-month",
        ),
        pytest.param([(datetime(2024, 3, 1), END), (START, datetime(2024, 3, 1))], id="reversed"),
        pytest.param(
            [(START, END), (datetime(2024, 2, 3), datetime(2024, 2, 4)), (START, END)],
            id="full-tiny-full",
        ),
    ],
)
def test_overlapping_and_adjacent_ranges(env: Env, ranges: list[tuple[datetime, datetime]]) -> None:
    for lo, hi in ranges:
        env.store.materialize(lo, hi, views=["plain"])
    want = oracle_rows(env.events, min(r[0] for r in ranges), max(r[1] for r in ranges))
    assert_frame_equal(_plain(env), want)


@pytest.mark.parametrize(
    "split",
    [datetime(2024, 3, 1), datetime(2024, 2, 15, 7, 30, 0, 123456)],
    ids=["month-boundary", "mid-month"],
)
def test_two_halves_store_the_same_rows_as_once(
    env_factory: Callable[..., Env], split: datetime
) -> None:
    once, halves = env_factory("once"), env_factory("halves")
    once.store.materialize(START, END)
    halves.store.materialize(START, split)
    halves.store.materialize(split, END)
    for view in ("plain", "rolling"):
        a = stored_rows(once.store, view)
        b = stored_rows(halves.store, view)
        assert a.height > 0
        assert_frame_equal(a, b)


_MOMENTS = st.integers(min_value=-30 * 24 * 60, max_value=160 * 24 * 60).map(
    lambda minutes: START + timedelta(minutes=minutes)
)
_RANGES = st.lists(
    st.tuples(_MOMENTS, _MOMENTS).filter(lambda r: r[0] != r[1]).map(lambda r: (min(r), max(r))),
    min_size=1,
    max_size=4,
)


def _check_sequence_of_runs(ranges: list[tuple[datetime, datetime]]) -> None:
    """Whatever ranges are materialized, in whatever order, overlapping or not, the store
    holds each source row of their union exactly once, with whole-history window values."""
    events = make_events(80, seed=9)
    with tempfile.TemporaryDirectory() as tmp:
        e = _make_env(Path(tmp), events)
        try:
            for lo, hi in ranges:
                e.store.materialize(lo, hi)
            inside = pl.any_horizontal(
                [(pl.col("__fs_ts") >= lo) & (pl.col("__fs_ts") < hi) for lo, hi in ranges]
            )
            everything = (START - timedelta(days=365), END + timedelta(days=365))
            want_plain = oracle_rows(events, *everything).filter(inside)
            want_rolling = oracle_rows(
                events, *everything, transform=rolling_spend, features=ROLLING_FEATURES
            ).filter(inside)
            got_plain, got_rolling = _plain(e), _rolling(e)
            if want_plain.height == 0:
                assert got_plain.height == 0
                assert got_rolling.height == 0
            else:
                assert_frame_equal(got_plain, want_plain)
                assert_frame_equal(got_rolling, want_rolling)
        finally:
            e.store.close()


@settings(
    max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(ranges=_RANGES)
def test_any_sequence_of_runs_stores_exactly_the_union(
    ranges: list[tuple[datetime, datetime]],
) -> None:
    _check_sequence_of_runs(ranges)


@pytest.mark.slow
@settings(
    max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(ranges=_RANGES)
def test_any_sequence_of_runs_stores_exactly_the_union_many_examples(
    ranges: list[tuple[datetime, datetime]],
) -> None:
    _check_sequence_of_runs(ranges)


# -- lookback ---------------------------------------------------------------------------


def test_lookback_makes_windowed_features_match_the_whole_history(
    env_factory: Callable[..., Env],
) -> None:
    mid = datetime(2024, 3, 10, 15)
    full, tail = env_factory("full"), env_factory("tail")
    full.store.materialize(START, END, views=["rolling"])
    tail.store.materialize(mid, END, views=["rolling"])

    oracle = oracle_rows(
        full.events, START, END, transform=rolling_spend, features=ROLLING_FEATURES
    )
    assert_frame_equal(_rolling(full), oracle)
    # the tail run starts mid-history, yet its windows see the 30 days before ``mid``
    assert_frame_equal(_rolling(tail), _rolling(full).filter(pl.col("__fs_ts") >= mid))
    # and the check has teeth: without the lookback rows the first windows would be short
    naive = rolling_spend(full.events.lazy().filter(pl.col("ts") >= mid)).collect()
    assert (
        naive.sort("customer_id", "ts")["spend_30d"].to_list()
        != _rolling(tail)["spend_30d"].to_list()
    )


def test_lookback_reads_no_rows_into_the_stored_range(env: Env) -> None:
    mid = datetime(2024, 3, 10)
    (run,) = env.store.materialize(mid, END, views=["rolling"])
    got = _rolling(env)
    assert got["__fs_ts"].min() >= mid
    assert (
        run.rows
        == got.height
        == env.events.filter((pl.col("ts") >= mid) & (pl.col("ts") < END)).height
    )


# -- incremental ------------------------------------------------------------------------


def test_materialize_incremental_continues_where_the_last_run_ended(env: Env) -> None:
    first_event = env.events["ts"].min()
    cut = datetime(2024, 2, 20)
    (first,) = env.store.materialize_incremental(cut, views=["plain"])
    assert first.start == first_event
    assert first.end == cut

    (second,) = env.store.materialize_incremental(END, views=["plain"])
    assert second.start == cut
    assert second.end == END
    assert env.store.materialize_incremental(END, views=["plain"]) == []

    assert_frame_equal(_plain(env), oracle_rows(env.events, START, END))
    assert first.rows + second.rows == _plain(env).height


def test_materialize_incremental_with_lookback_and_aware_end(env: Env) -> None:
    first_event = env.events["ts"].min()
    (first,) = env.store.materialize_incremental(
        datetime(2024, 2, 1, 1, tzinfo=ZoneInfo("Europe/Paris")), views=["rolling"]
    )
    # it starts at the first row (currently minus the lookback, which only adds empty months)
    assert first_event - LOOKBACK <= first.start <= first_event
    assert first.end == datetime(2024, 2, 1)  # 01:00 in Paris is midnight UTC
    env.store.materialize_incremental(END, views=["rolling"])
    oracle = oracle_rows(env.events, START, END, transform=rolling_spend, features=ROLLING_FEATURES)
    assert_frame_equal(_rolling(env), oracle)


# -- run records ------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_run_is_recorded_with_input_fingerprints(env: Env) -> None:
    lo, hi = datetime(2024, 1, 10), datetime(2024, 3, 2)
    (run,) = env.store.materialize(lo, hi, views=["plain"])
    (rec,) = env.store.runs("plain")
    stat = env.data.stat()
    assert rec["run_id"] == run.run_id
    assert rec["view"] == "plain"
    assert rec["view_version"] == env.plain.version
    assert datetime.fromisoformat(rec["start"]) == lo
    assert datetime.fromisoformat(rec["end"]) == hi
    assert rec["rows"] == run.rows == _plain(env).height
    assert set(rec["files"]) == set(run.files) == _active_paths(env.store, "plain")
    assert all((env.store.path / f).is_file() for f in rec["files"])
    (inp,) = rec["inputs"]
    assert inp == {
        "path": str(env.data.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "rows": env.events.height,
        "sha256": _sha256(env.data),
    }

    # a changed input is fingerprinted afresh, not served from the cache
    env.rewrite(env.events.head(100))
    env.store.materialize(lo, hi, views=["plain"])
    newest = env.store.runs("plain")[0]
    assert newest["inputs"][0]["sha256"] == _sha256(env.data) != inp["sha256"]
    assert newest["inputs"][0]["rows"] == 100
    assert len(env.store.runs("plain")) == 2
    assert len(env.store.runs()) == 2


# -- failures leave no trace ------------------------------------------------------------


def _state(env: Env) -> dict[str, object]:
    return {
        "catalog": catalog_snapshot(env.store),
        "offline": files_under(env.store.path / "offline"),
        "staging": files_under(env.store.path / "staging"),
    }


def _assert_no_trace(env: Env, before: dict[str, object], frame: pl.DataFrame) -> None:
    after = _state(env)
    assert after["offline"] == before["offline"], "new or removed files in offline/"
    assert after["staging"] == set(), "leftovers in staging/"
    assert list((env.store.path / "staging").iterdir()) == []
    assert after["catalog"] == before["catalog"], "the catalog changed"
    assert_frame_equal(env.retrieve(), frame)


def _materialized_then_changed(env: Env) -> tuple[dict[str, object], pl.DataFrame]:
    """January and February materialized, then the raw data changes: the state (and the
    retrieval result) that a failing re-run must leave untouched."""
    env.store.materialize(START, datetime(2024, 3, 1))
    before, frame = _state(env), env.retrieve()
    env.rewrite(env.events.with_columns(pl.col("amount") * 3))
    return before, frame


def _poisoned(events: pl.DataFrame) -> pl.DataFrame:
    """New January values, and a February row the transform below refuses."""
    return events.with_columns(
        pl.when(pl.col("ts").dt.month() == 2)
        .then(pl.lit(-1))
        .otherwise(pl.col("amount") + 5000)
        .alias("amount")
    )


def _refuse_negative(s: pl.Series) -> pl.Series:
    if (s < 0).any():
        raise ValueError("negative amount")
    return s


def test_transform_failing_on_the_second_month_leaves_no_trace(env: Env) -> None:
    careful = fs.FeatureView(
        "careful",
        entity=env.entity,
        source=env.source,
        transform=lambda lf: lf.with_columns(
            pl.col("amount").map_batches(_refuse_negative, return_dtype=pl.Int64).alias("checked")
        ),
        features=["checked"],
        lookback=timedelta(0),  # map_batches sees whole batches; this one is row-wise
    )
    env.store.apply([careful])
    env.store.materialize(START, END)
    before, frame = _state(env), env.retrieve()
    careful_before = stored_rows(env.store, "careful")

    env.rewrite(_poisoned(env.events))
    with pytest.raises(
        fs.MaterializationError, match=r"feature view 'careful'.*negative amount"
    ) as info:
        env.store.materialize(START, END, views=["careful"])
    assert isinstance(info.value.__cause__, ValueError)
    _assert_no_trace(env, before, frame)
    assert_frame_equal(stored_rows(env.store, "careful"), careful_before)


@pytest.mark.parametrize(
    ("injected", "expected"),
    [
        (OSError("disk full"), fs.MaterializationError),
        (fs.SchemaError("injected schema drift"), fs.SchemaError),
    ],
    ids=["os-error", "featstore-error"],
)
def test_failure_on_the_second_month_leaves_no_trace(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    injected: Exception,
    expected: type[Exception],
) -> None:
    before, frame = _materialized_then_changed(env)

    real = fs_materialize.evaluate_view
    calls: list[datetime] = []

    def flaky(view, con, lo, hi, *rest):  # type: ignore[no-untyped-def]
        calls.append(lo)
        if len(calls) == 2:
            raise injected
        return real(view, con, lo, hi, *rest)

    monkeypatch.setattr(fs_materialize, "CHUNK_ROWS", 1)  # one evaluation per month
    monkeypatch.setattr(fs_materialize, "evaluate_view", flaky)
    with pytest.raises(expected, match=str(injected)):
        env.store.materialize(START, END, views=["plain"])
    assert len(calls) == 2
    monkeypatch.undo()
    _assert_no_trace(env, before, frame)

    # and the store still works: the next run succeeds and sees the new data
    env.store.materialize(START, END, views=["plain"])
    assert_frame_equal(_plain(env), oracle_rows(env.events, START, END))


def test_failure_between_publish_and_commit_removes_published_files(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, frame = _materialized_then_changed(env)

    published: list[Path] = []
    real_publish = env.store.offline.publish

    def spy_publish(staged: Path, final: Path) -> None:
        real_publish(staged, final)
        assert final.is_file()
        published.append(final)

    real_record = fs_materialize._record

    def crash_before_commit(tx, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_record(tx, *args, **kwargs)  # the statements run, then the commit never happens
        raise RuntimeError("killed before commit")

    monkeypatch.setattr(env.store.offline, "publish", spy_publish)
    monkeypatch.setattr(fs_materialize, "_record", crash_before_commit)
    with pytest.raises(RuntimeError, match="killed before commit"):
        env.store.materialize(START, END, views=["plain"])
    assert len(published) == 4  # January to April were in place for a moment
    assert not any(p.exists() for p in published)
    monkeypatch.undo()
    _assert_no_trace(env, before, frame)


def test_views_of_one_call_commit_together(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in the second view also withholds the first view's finished files: a
    reader never sees one view updated and the other not."""
    before, frame = _materialized_then_changed(env)

    real = fs_materialize.evaluate_view
    seen: list[str] = []

    def second_view_fails(view, con, lo, hi, *rest):  # type: ignore[no-untyped-def]
        seen.append(view.name)
        if view.name == "rolling" and lo.month == 3:
            raise OSError("disk full")
        return real(view, con, lo, hi, *rest)

    monkeypatch.setattr(fs_materialize, "CHUNK_ROWS", 1)  # one evaluation per month
    monkeypatch.setattr(fs_materialize, "evaluate_view", second_view_fails)
    with pytest.raises(fs.MaterializationError, match=r"feature view 'rolling'.*disk full"):
        env.store.materialize(START, END, views=["plain", "rolling"])
    assert seen.count("plain") == 4  # the first view was computed and published in full
    monkeypatch.undo()
    _assert_no_trace(env, before, frame)

    runs = env.store.materialize(START, END)
    assert {r.view for r in runs} == {"plain", "rolling"}
    assert_frame_equal(_plain(env), oracle_rows(env.events, START, END))


def test_failure_on_a_fresh_view_writes_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(env)

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError("no space left on device")

    monkeypatch.setattr(fs_materialize, "evaluate_view", broken)
    with pytest.raises(fs.MaterializationError, match="no space left"):
        env.store.materialize(START, END)
    monkeypatch.undo()
    after = _state(env)
    assert after == before
    assert env.store.runs() == []


# -- garbage from killed runs -----------------------------------------------------------


def _plant_garbage(env: Env) -> tuple[Path, Path, Path]:
    """What a killed run leaves: a published-but-uncommitted file (a copy of a real one,
    so reading it would duplicate rows), a stray file in another version's folder, and a
    staging directory."""
    live = sorted(_active_paths(env.store, "plain"))[0]
    orphan = (env.store.path / live).with_name("part-" + "ab" * 16 + ".parquet")
    shutil.copy(env.store.path / live, orphan)
    stale = (
        env.store.path
        / "offline"
        / "plain"
        / ("0" * 12)
        / "2024-01"
        / ("part-" + "cd" * 16 + ".parquet")
    )
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"PAR1 half-written")
    staging = env.store.path / "staging" / ("ef" * 16)
    staging.mkdir()
    (staging / ".lock").touch()
    (staging / "2024-02.parquet").write_bytes(b"PAR1")
    return orphan, stale, staging


def test_next_run_removes_files_left_by_a_killed_run(env: Env) -> None:
    env.store.materialize(START, END, views=["plain"])
    want = _plain(env)
    orphan, stale, staging = _plant_garbage(env)
    assert_frame_equal(_plain(env), want)  # unlisted files are invisible to readers

    env.store.materialize(datetime(2024, 4, 1), END, views=["plain"])
    assert not orphan.exists()
    assert not stale.exists()
    assert not staging.exists()
    assert_frame_equal(_plain(env), want)


def test_gc_removes_orphans_and_dead_staging_but_keeps_live_runs(env: Env) -> None:
    env.store.materialize(START, END)
    frame = env.retrieve()
    orphan, stale, staging = _plant_garbage(env)
    live = env.store.path / "staging" / ("12" * 16)
    live.mkdir()
    with open(live / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a run in another process still owns it
        removed = env.store.gc()
        assert live.exists()
    assert not orphan.exists()
    assert not stale.exists()
    assert not staging.exists()
    rel = env.store.offline.relative
    assert {rel(orphan), rel(stale), rel(staging)} <= set(removed)
    assert rel(live) not in removed
    assert_frame_equal(env.retrieve(), frame)
    assert {env.store.path / p for p in _active_paths(env.store)} <= {
        env.store.path / "offline" / p for p in files_under(env.store.path / "offline")
    }


# -- sources ----------------------------------------------------------------------------


def _split_by_month(events: pl.DataFrame, folder: Path, nested: bool) -> None:
    for (month,), part in events.group_by(pl.col("ts").dt.strftime("%Y-%m"), maintain_order=True):
        target = (
            folder / str(month)[:4] / f"{month}.parquet"
            if nested
            else folder / f"part-{month}.parquet"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        part.write_parquet(target)


def _parquet_file(events: pl.DataFrame, root: Path) -> fs.Source:
    events.write_parquet(root / "one.parquet")
    return fs.ParquetSource("src", path=root / "one.parquet", timestamp_column="ts")


def _parquet_glob(events: pl.DataFrame, root: Path) -> fs.Source:
    _split_by_month(events, root / "flat", nested=False)
    (root / "flat" / "notes.txt").write_text("not data")
    return fs.ParquetSource(
        "src", path=str(root / "flat" / "part-*.parquet"), timestamp_column="ts"
    )


def _parquet_dir(events: pl.DataFrame, root: Path) -> fs.Source:
    _split_by_month(events, root / "tree", nested=True)
    return fs.ParquetSource("src", path=root / "tree", timestamp_column="ts")


def _csv(events: pl.DataFrame, root: Path) -> fs.Source:
    events.write_csv(root / "tx.csv")
    return fs.CsvSource("src", path=root / "tx.csv", timestamp_column="ts")


def _polars(events: pl.DataFrame, root: Path) -> fs.Source:
    return fs.DataFrameSource("src", data=events, timestamp_column="ts")


def _pandas(events: pl.DataFrame, root: Path) -> fs.Source:
    pytest.importorskip("pandas")
    return fs.DataFrameSource("src", data=events.to_pandas(), timestamp_column="ts")


def _arrow(events: pl.DataFrame, root: Path) -> fs.Source:
    table = events.to_arrow()
    assert isinstance(table, pa.Table)
    return fs.DataFrameSource("src", data=table, timestamp_column="ts")


def _sql(events: pl.DataFrame, root: Path) -> fs.Source:
    path = root / "for it's sql.parquet"  # a quote in the path, escaped the SQL way
    events.write_parquet(path)
    literal = "'" + str(path).replace("'", "''") + "'"
    return fs.SqlSource(
        "src",
        query=f"SELECT customer_id, ts, amount FROM read_parquet({literal}) WHERE amount > 0",
        timestamp_column="ts",
    )


SOURCES = {
    "parquet-file": _parquet_file,
    "parquet-glob": _parquet_glob,
    "parquet-dir": _parquet_dir,
    "csv": _csv,
    "polars": _polars,
    "pandas": _pandas,
    "arrow": _arrow,
    "sql": _sql,
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_source_kind_materializes_the_same_rows(tmp_path: Path, kind: str) -> None:
    events = make_events(120, seed=3)
    source = SOURCES[kind](events, tmp_path)
    entity = fs.Entity("customer", join_keys=["customer_id"])
    plain = fs.FeatureView("plain", entity=entity, source=source, features=["amount"])
    rolling = fs.FeatureView(
        "rolling", entity=entity, source=source, transform=rolling_spend, lookback=LOOKBACK
    )
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([entity, source, plain, rolling])
        assert store.get_feature_view("plain")["features"] == {"amount": "Int64"}
        mid = datetime(2024, 2, 10)
        store.materialize(mid, END)
        got = stored_rows(store, "plain", columns=["customer_id", "__fs_ts", "amount"])
        assert_frame_equal(got, oracle_rows(events, mid, END))
        got_rolling = stored_rows(
            store, "rolling", columns=["customer_id", "__fs_ts", *ROLLING_FEATURES]
        )
        want = oracle_rows(events, mid, END, transform=rolling_spend, features=ROLLING_FEATURES)
        assert_frame_equal(got_rolling, want)
        (run,) = store.runs("plain")
        assert run["inputs"], "a run records what it read"
        if kind.startswith(("parquet", "csv")):
            expected = {"parquet-glob": 5, "parquet-dir": 5}.get(kind, 1)
            assert len(run["inputs"]) == expected
            for inp in run["inputs"]:
                assert inp["size"] == os.stat(inp["path"]).st_size
                assert inp["sha256"] == _sha256(Path(inp["path"]))
        elif kind in ("polars", "pandas", "arrow"):
            assert run["inputs"][0]["rows"] == events.height
            assert run["inputs"][0]["sha256"]


def test_view_without_created_timestamp_stores_null_created(env: Env) -> None:
    env.store.materialize(START, END, views=["plain"])
    rows = stored_rows(env.store, "plain")
    assert rows["__fs_created"].null_count() == rows.height
    frame = env.store.get_historical_features(
        pl.DataFrame({"customer_id": [0], "event_timestamp": [START]}), ["plain:amount"]
    ).frame
    assert frame["amount"].to_list() == [7]  # the row exactly at START, ts <= entity ts


def test_created_timestamp_is_stored_and_breaks_ties(tmp_path: Path) -> None:
    t = datetime(2024, 1, 5)
    events = pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": [t, t, t],
            "created": [t, t + timedelta(days=2), t],
            "amount": [10, 20, 30],
        }
    )
    source = fs.DataFrameSource(
        "src", data=events, timestamp_column="ts", created_timestamp_column="created"
    )
    entity = fs.Entity("customer", join_keys=["customer_id"])
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([entity, view])
        store.materialize(START, END)
        rows = stored_rows(store, "v")
        assert rows.filter(pl.col("__fs_rank") == 1)["amount"].to_list() == [20, 30]
        assert rows["__fs_created"].null_count() == 0
        out = store.get_historical_features(
            pl.DataFrame({"customer_id": [1, 2], "event_timestamp": [t, t]}), ["v:amount"]
        ).frame
        assert out["amount"].to_list() == [20, 30]


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_time_zone_aware_source_is_stored_as_utc(tmp_path: Path, tz: str) -> None:
    events = make_events(150, seed=5)
    # rows straddling the UTC month boundary by a few minutes, either side
    edge = pl.DataFrame(
        {
            "customer_id": [2, 2],
            "ts": [datetime(2024, 1, 31, 23, 59), datetime(2024, 2, 1, 0, 1)],
            "amount": [100_111, 100_222],
        },
        schema=events.schema,
    )
    events = pl.concat([events, edge]).sort("ts")
    aware = events.with_columns(pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone(tz))
    aware.write_parquet(tmp_path / "aware.parquet")
    entity = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.ParquetSource("src", path=tmp_path / "aware.parquet", timestamp_column="ts")
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount"])
    rolling = fs.FeatureView(
        "r", entity=entity, source=source, transform=rolling_spend, lookback=LOOKBACK
    )
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([entity, view, rolling])
        # aware bounds are converted to UTC instants too
        lo = datetime(2024, 2, 1, tzinfo=UTC).astimezone(ZoneInfo(tz))
        store.materialize(lo, END)
        got = stored_rows(store, "v", columns=["customer_id", "__fs_ts", "amount"])
        assert got.schema["__fs_ts"] == pl.Datetime("us")
        assert_frame_equal(got, oracle_rows(events, datetime(2024, 2, 1), END))
        assert 100_222 in got["amount"].to_list()
        assert 100_111 not in got["amount"].to_list()
        version = view.version
        feb = stored_rows(store, "v").filter(pl.col("amount") == 100_222)
        assert feb.height == 1
        (feb_file,) = [
            p for p in _active_paths(store, "v") if p.startswith(f"offline/v/{version}/2024-02/")
        ]
        assert 100_222 in pl.read_parquet(store.path / feb_file)["amount"].to_list()

        # the window runs in the source's own time zone (calendar days across DST); the
        # oracle does the same over the whole aware history, then compares UTC instants
        def rolling_then_utc(lf: pl.LazyFrame) -> pl.LazyFrame:
            return rolling_spend(lf).with_columns(
                pl.col("ts").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            )

        got_rolling = stored_rows(store, "r", columns=["customer_id", "__fs_ts", *ROLLING_FEATURES])
        want = oracle_rows(
            aware, datetime(2024, 2, 1), END, transform=rolling_then_utc, features=ROLLING_FEATURES
        )
        assert_frame_equal(got_rolling, want)


def test_superseded_files_outlive_a_rerun_until_the_grace_period_ends(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.store.materialize(START, END, views=["plain"])
    old = _active_paths(env.store, "plain")
    env.store.materialize(START, END, views=["plain"])
    new = _active_paths(env.store, "plain")
    assert old.isdisjoint(new)
    # a reader that listed the old files a moment ago can still open them
    assert all((env.store.path / p).is_file() for p in old)
    assert env.store.gc() == []
    assert all((env.store.path / p).is_file() for p in old)

    monkeypatch.setattr(fs_materialize, "SUPERSEDED_GRACE", timedelta(0))
    removed = env.store.gc()
    assert set(removed) == old
    assert not any((env.store.path / p).exists() for p in old)
    assert all((env.store.path / p).is_file() for p in new)
    assert env.store.catalog.file_paths("plain") == new
    assert_frame_equal(_plain(env), oracle_rows(env.events, START, END))


def test_empty_source_materializes_nothing(tmp_path: Path) -> None:
    empty = make_events(10).clear()
    entity = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("src", data=empty, timestamp_column="ts")
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([entity, view])
        assert store.materialize_incremental(END) == []
        (run,) = store.materialize(START, END)
        assert run.rows == 0
        assert run.files == ()
        assert files_under(store.path / "offline") == set()
        with pytest.warns(fs.CoverageWarning, match="no materialized rows in reach"):
            out = store.get_historical_features(
                pl.DataFrame({"customer_id": [1], "event_timestamp": [START]}), ["v:amount"]
            ).frame
        assert out["amount"].to_list() == [None]


def test_rows_with_null_keys_or_timestamps_are_not_stored(tmp_path: Path) -> None:
    events = pl.DataFrame(
        {
            "customer_id": [1, None, 2, 3],
            "ts": [datetime(2024, 1, 2), datetime(2024, 1, 3), None, datetime(2024, 1, 4)],
            "amount": [10, 20, 30, 40],
        },
        schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), "amount": pl.Int64},
    )
    entity = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("src", data=events, timestamp_column="ts")
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([entity, view])
        (run,) = store.materialize(START, END)
        assert run.rows == 2
        assert stored_rows(store, "v")["amount"].to_list() == [10, 40]
