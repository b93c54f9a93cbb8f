"""Materialization: evaluate a view version over a time range and publish Parquet.

The commit protocol (see docs/commit-protocol.md):

1. take the locks of the views being materialized, in name order (one writer per view;
   other views proceed in parallel);
2. for each view, evaluate the transformation over chunks of consecutive months (about
   a million source rows each; sparse history is one chunk) and write each month into
   ``staging/<run_id>/``, merging in the rows of the month that lie outside the range,
   ranked and sorted, via DuckDB;
3. fsync each file and rename it into ``offline/<view>/<version>/<month>/``;
4. in one catalog transaction for all the views: record each run, its inputs, its files
   as active, the replaced files as superseded, and the lineage nodes and edges.

Readers list active files from the catalog, so before step 4 commits they see the old
state and after it the new one. A run that fails or dies before step 4 leaves only
unlisted files, which the next run of the view (or ``FeatureStore.gc``) deletes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from featstore.catalog import Catalog, Tx
from featstore.compute import (
    CREATED,
    RANK,
    TS,
    InputFile,
    evaluate_view,
    file_sha256,
    fingerprint_file,
    month_counts,
    read_start,
    resolve_files,
    scan_range,
    sql_columns,
)
from featstore.definitions import CsvSource, DataFrameSource, FeatureView, ParquetSource, SqlSource
from featstore.errors import FeatstoreError, MaterializationError
from featstore.names import quote_file, quote_ident, quote_literal
from featstore.offline import OfflineStore, new_id
from featstore.timeutil import bucket_bounds, bucket_of, iso, next_bucket, utc_now
from featstore.versioning import frame_digest

__all__ = ["MaterializationRun", "ViewJob", "materialize_views"]

SUPERSEDED_GRACE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class MaterializationRun:
    """One evaluation of a view version over ``[start, end)``, as recorded."""

    run_id: str
    view: str
    view_version: str
    start: datetime
    end: datetime
    rows: int
    files: tuple[str, ...]
    inputs: tuple[InputFile, ...] = field(repr=False)
    started_at: datetime
    finished_at: datetime

    @property
    def id(self) -> str:
        """The run's lineage node id."""
        return f"run:{self.run_id}"


@dataclass(frozen=True, slots=True)
class _Written:
    bucket: str
    staged: Path
    rows: int
    min_ts: datetime
    max_ts: datetime
    size: int


def _fingerprints(view: FeatureView) -> list[InputFile]:
    """Fingerprints of what a run reads. File contents are hashed as they are at the
    run's start (no cache: a same-size rewrite with its mtime restored is still seen), and
    :func:`_check_unchanged` makes sure they did not change while the run read them."""
    source = view.source
    if isinstance(source, ParquetSource | CsvSource):
        return [fingerprint_file(f, {}) for f in resolve_files(source)]
    if isinstance(source, DataFrameSource):
        frame = source.data
        return [InputFile(f"memory:{source.name}", None, None, frame.height, frame_digest(frame))]
    if isinstance(source, SqlSource):
        digest = hashlib.sha256(source.query.encode()).hexdigest()
        return [InputFile(f"sql:{source.name}", None, None, None, digest)]
    return []


def _check_unchanged(view: FeatureView, inputs: list[InputFile]) -> None:
    for item in inputs:
        if item.size is None:
            continue
        try:
            stat = os.stat(item.path)
        except OSError:
            stat = None
        if stat is None or (stat.st_size, stat.st_mtime_ns) != (item.size, item.mtime_ns):
            raise MaterializationError(
                f"feature view {view.name!r}: source file {item.path!r} changed while the run "
                f"read it; run materialize again once the source is written"
            )


def _months(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    out = []
    bucket = bucket_of(start)
    while bucket < end:
        nxt = next_bucket(bucket)
        # not strftime("%Y"): it does not zero-pad years before 1000
        out.append((f"{bucket.year:04d}-{bucket.month:02d}", max(start, bucket), min(end, nxt)))
        bucket = nxt
    return out


def _write_bucket(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    features: list[str],
    rows: pl.DataFrame,
    old_files: list[Path],
    lo: datetime,
    hi: datetime,
    target: Path,
) -> tuple[int, datetime | None, datetime | None]:
    """Write the month's rows (new rows + old rows outside [lo, hi)) ranked and sorted."""
    keys = list(view.join_keys)
    columns = sql_columns([*keys, TS, CREATED, *features])
    con.register("__fs_new", rows.to_arrow())
    try:
        parts = [f"SELECT {columns} FROM __fs_new"]
        if old_files:
            listing = ", ".join(quote_file(str(p)) for p in old_files)
            parts.append(
                f"SELECT {columns} FROM read_parquet([{listing}]) "
                f"WHERE NOT ({quote_ident(TS)} >= TIMESTAMP {quote_literal(iso(lo))} "
                f"AND {quote_ident(TS)} < TIMESTAMP {quote_literal(iso(hi))})"
            )
        # the last tie-break compares feature values in feature-*name* order, so it does
        # not depend on how the caller happened to order ``features`` (catalog records
        # are sorted JSON, but a view with an unparsed dtype came in output order)
        order = ", ".join(
            [f"{quote_ident(CREATED)} DESC NULLS LAST"]
            + [f"{quote_ident(f)} DESC NULLS LAST" for f in sorted(features)]
        )
        partition = sql_columns([*keys, TS])
        sql = (
            f"COPY (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {order}) "
            f"AS {quote_ident(RANK)} FROM ({' UNION ALL '.join(parts)}) "
            f"ORDER BY {partition}, {quote_ident(RANK)}) "
            f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
        )
        con.execute(sql).fetchall()
        count, lo_ts, hi_ts = con.execute(
            f"SELECT count(*), min({quote_ident(TS)}), max({quote_ident(TS)}) "
            f"FROM read_parquet({quote_file(str(target))})"
        ).fetchall()[0]
        return int(count), lo_ts, hi_ts
    finally:
        con.unregister("__fs_new")


@dataclass(frozen=True, slots=True)
class ViewJob:
    """One view to materialize over ``[start, end)``, with its stored feature dtypes."""

    view: FeatureView
    features: dict[str, pl.DataType]
    start: datetime
    end: datetime


@dataclass(slots=True)
class _Prepared:
    job: ViewJob
    run: MaterializationRun
    written: list[_Written]
    finals: list[Path]


def materialize_views(
    jobs: list[ViewJob],
    *,
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    offline: OfflineStore,
    on_bucket: Callable[[str, str], None] | None = None,
) -> list[MaterializationRun]:
    """Materialize several views following the commit protocol above, all in one commit:
    readers see every view's new rows or none of them. ``on_bucket(view, month)`` is
    called as each month is evaluated."""
    prepared: list[_Prepared] = []
    with ExitStack() as held:
        for name in sorted({job.view.name for job in jobs}):  # one order: no deadlocks
            held.enter_context(offline.lock(name))
        current = jobs[0] if jobs else None
        try:
            for job in jobs:
                current = job
                _collect_view_garbage(job.view.name, catalog, offline)
                stage = held.enter_context(offline.staging(new_id()))
                prepared.append(_prepare(job, stage, con, catalog, offline, on_bucket))
            with catalog.transaction() as tx:
                for item in prepared:
                    _record(tx, item.run, item.job.view, item.written, item.finals, offline)
        except BaseException as exc:
            for item in prepared:
                for rel in item.run.files:
                    offline.absolute(rel).unlink(missing_ok=True)
            if isinstance(exc, FeatstoreError | KeyboardInterrupt | SystemExit):
                raise
            if current is not None and isinstance(
                exc, duckdb.Error | pl.exceptions.PolarsError | OSError
            ):
                raise MaterializationError(
                    f"feature view {current.view.name!r}: materialization of "
                    f"[{current.start}, {current.end}) failed: {exc}"
                ) from exc
            raise
    return [item.run for item in prepared]


def _prepare(
    job: ViewJob,
    stage: Path,
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    offline: OfflineStore,
    on_bucket: Callable[[str, str], None] | None,
) -> _Prepared:
    """Evaluate one view chunk by chunk, write it month by month into ``stage``, and
    publish its files (unlisted).

    A month whose active file is damaged (gone, truncated, rewritten, missing a column)
    is evaluated whole from the source and replaces it: re-materializing repairs it.
    """
    view, started, run_id = job.view, utc_now(), stage.name
    names = list(job.features)
    inputs = _fingerprints(view)
    scanned = None
    if isinstance(view.source, SqlSource):  # run the query once, not once per month
        scanned = scan_range(view.source, con, read_start(view, job.start), job.end)
    columns = [*view.join_keys, TS, CREATED, RANK, *names]
    months = []  # (bucket, lo, hi, old files, repair)
    active = _active_files(catalog, offline, view)
    for bucket, lo, hi in _months(job.start, job.end):
        old = active.get(bucket, [])
        repair = any(_damaged(path, row, columns) for path, row in old)
        if repair:  # the source is the truth: the whole month again, the old file replaced
            lo, hi, old = bucket_bounds(bucket), next_bucket(bucket_bounds(bucket)), []
        months.append((bucket, lo, hi, old, repair))
    first, last = months[0][1], months[-1][2]
    if scanned is not None and (first < job.start or last > job.end):
        scanned = scan_range(view.source, con, read_start(view, first), last)
    # a long range is evaluated in chunks sized by its source rows per month (sparse history
    # costs a few evaluations, not one per month); a short one month by month
    if len(months) > MONTHS_ONE_BY_ONE:
        chunks = _chunks(months, month_counts(view, con, first, last, scanned))
    else:
        chunks = [[month] for month in months]
    written: list[_Written] = []
    computed = 0  # rows evaluated in [start, end); files also carry the month's other rows
    for chunk in chunks:
        # a chunk of consecutive months is evaluated at once (the result does not depend
        # on how a range is split: see check_row_context), then written month by month
        rows_all = evaluate_view(view, con, chunk[0][1], chunk[-1][2], job.features, scanned)
        if rows_all.height == 0:
            by_month: dict[Any, pl.DataFrame] = {}
        elif len(chunk) == 1:
            by_month = {(chunk[0][0],): rows_all}
        else:
            by_month = rows_all.with_columns(
                pl.col(TS).dt.strftime("%Y-%m").alias(MONTH)
            ).partition_by(MONTH, as_dict=True, include_key=False)
        for bucket, lo, hi, old, repair in chunk:
            rows = by_month.get((bucket,))
            if rows is None:
                if not (old or repair):
                    if on_bucket:
                        on_bucket(view.name, bucket)
                    continue
                rows = rows_all.clear()
            elif lo < job.start or hi > job.end:  # a repaired month reaches past the range
                computed += rows.filter((pl.col(TS) >= job.start) & (pl.col(TS) < job.end)).height
            else:
                computed += rows.height
            if rows.height or old or repair:
                staged = stage / f"{bucket}.parquet"
                try:
                    count, lo_ts, hi_ts = _write_bucket(
                        con, view, names, rows, [p for p, _ in old], lo, hi, staged
                    )
                except duckdb.OutOfMemoryException as exc:
                    need = max(rows.estimated_size("mb") * 4, 64)
                    raise MaterializationError(
                        f"feature view {view.name!r}: month {bucket} ({rows.height:,} rows) "
                        f"does not fit in DuckDB's memory_limit ({str(exc).splitlines()[0]}); give "
                        f"FeatureStore(memory_limit=...) at least about {need:,.0f}MB"
                    ) from exc
                written.append(
                    _Written(bucket, staged, count, lo_ts or lo, hi_ts or lo, staged.stat().st_size)
                )
            if on_bucket:
                on_bucket(view.name, bucket)
    _check_unchanged(view, inputs)
    published: list[Path] = []
    finals = []
    try:
        for item in written:
            final = offline.final_path(view.name, view.version, item.bucket, run_id)
            if item.rows:
                offline.publish(item.staged, final)
                published.append(final)
            finals.append(final)
    except BaseException:
        for path in published:
            path.unlink(missing_ok=True)
        raise
    run = MaterializationRun(
        run_id=run_id,
        view=view.name,
        view_version=view.version,
        start=job.start,
        end=job.end,
        rows=computed,
        files=tuple(offline.relative(p) for p in published),
        inputs=tuple(inputs),
        started_at=started,
        finished_at=utc_now(),
    )
    return _Prepared(job, run, written, finals)


CHUNK_ROWS = 1_000_000
MONTHS_ONE_BY_ONE = 24
MONTH = "__fs_month"


def _chunks(months: list[Any], counts: dict[str, int]) -> list[list[Any]]:
    """Consecutive months grouped so a chunk holds about CHUNK_ROWS source rows (a big
    month is a chunk of its own): sparse history costs a few evaluations, not one per
    month."""
    chunks: list[list[Any]] = []
    size = 0
    for month in months:
        n = counts.get(month[0], 0)
        if not chunks or size + n > CHUNK_ROWS:
            chunks.append([])
            size = 0
        chunks[-1].append(month)
        size += n
    return chunks


def _damaged(path: Path, row: Any, columns: list[str]) -> bool:
    """Whether an active offline file is not what the catalog recorded: gone, another
    size or content, an unreadable footer, or a column missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return True
    if stat.st_size != row["bytes"]:
        return True
    if (
        row["mtime_ns"] is not None
        and stat.st_mtime_ns != row["mtime_ns"]
        and (row["sha256"] is None or file_sha256(str(path)) != row["sha256"])
    ):
        return True
    try:
        found = set(pq.ParquetFile(path).schema_arrow.names)
    except (OSError, pa.ArrowException):
        return True
    return not set(columns) <= found


def _active_files(
    catalog: Catalog, offline: OfflineStore, view: FeatureView
) -> dict[str, list[tuple[Path, Any]]]:
    """The active files of a view version, by month."""
    rows = catalog.all(
        "SELECT path, bucket, bytes, mtime_ns, sha256 FROM files WHERE view = ? AND "
        "view_version = ? AND active = 1 ORDER BY bucket, path",
        (view.name, view.version),
    )
    out: dict[str, list[tuple[Path, Any]]] = {}
    for r in rows:
        out.setdefault(r["bucket"], []).append((offline.absolute(r["path"]), r))
    return out


def _record(
    tx: Tx,
    run: MaterializationRun,
    view: FeatureView,
    written: list[_Written],
    finals: list[Path],
    offline: OfflineStore,
) -> None:
    now = iso(run.finished_at)
    body: dict[str, Any] = {
        "run_id": run.run_id,
        "view": run.view,
        "view_version": run.view_version,
        "start": iso(run.start),
        "end": iso(run.end),
        "rows": run.rows,
        "files": list(run.files),
        "inputs": [
            {
                "path": i.path,
                "size": i.size,
                "mtime_ns": i.mtime_ns,
                "rows": i.rows,
                "sha256": i.sha256,
            }
            for i in run.inputs
        ],
        "started_at": iso(run.started_at),
        "finished_at": now,
    }
    import json

    tx.execute(
        "INSERT INTO runs (run_id, view, view_version, start_ts, end_ts, rows, started_at, "
        "finished_at, body) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            run.run_id,
            run.view,
            run.view_version,
            iso(run.start),
            iso(run.end),
            run.rows,
            iso(run.started_at),
            now,
            json.dumps(body, sort_keys=True),
        ),
    )
    for item in written:
        tx.execute(
            "UPDATE files SET active = 0, superseded_at = ? WHERE view = ? AND view_version = ? "
            "AND bucket = ? AND active = 1",
            (now, view.name, view.version, item.bucket),
        )
    for item, final in zip(written, finals, strict=True):
        if item.rows == 0:
            continue
        stat = os.stat(final)
        tx.execute(
            "INSERT INTO files (path, view, view_version, bucket, min_ts, max_ts, rows, bytes, "
            "run_id, active, mtime_ns, sha256) VALUES (?,?,?,?,?,?,?,?,?,1,?,?)",
            (
                offline.relative(final),
                view.name,
                view.version,
                item.bucket,
                iso(item.min_ts),
                iso(item.max_ts),
                item.rows,
                stat.st_size,
                run.run_id,
                stat.st_mtime_ns,
                file_sha256(str(final)),
            ),
        )
    for i in run.inputs:
        tx.execute(
            "INSERT OR REPLACE INTO run_inputs (run_id, path, size, mtime_ns, rows, sha256) "
            "VALUES (?,?,?,?,?,?)",
            (run.run_id, i.path, i.size, i.mtime_ns, i.rows, i.sha256),
        )
    view_node = f"view:{view.name}@{view.version}"
    tx.add_node(
        run.id,
        "materialization_run",
        view.name,
        now,
        {
            "view_version": view.version,
            "start": iso(run.start),
            "end": iso(run.end),
            "rows": run.rows,
            "files": list(run.files),
        },
    )
    edges = [(view_node, run.id, "materialized_by")]
    source_node = f"source:{view.source.name}"
    for i in run.inputs:
        file_node = f"file:{i.path}@{(i.sha256 or '')[:12]}"
        tx.add_node(
            file_node,
            "source_file",
            i.path,
            now,
            {
                "path": i.path,
                "size": i.size,
                "mtime_ns": i.mtime_ns,
                "rows": i.rows,
                "sha256": i.sha256,
                "source": view.source.name,
            },
        )
        edges += [(source_node, file_node, "has_snapshot"), (file_node, run.id, "read_by")]
    tx.add_edges(edges)


def _collect_view_garbage(
    view: str, catalog: Catalog, offline: OfflineStore, *, staging: bool = True
) -> list[str]:
    """Under the view's lock: drop expired superseded files, then unlisted files (and,
    with ``staging``, dead runs' staging directories). Never follows a link: one found
    raises StorageError.

    Returns the store-relative paths removed (offline files and staging directories)."""
    cutoff = iso(utc_now() - SUPERSEDED_GRACE)
    with catalog.transaction() as tx:
        tx.execute(
            "DELETE FROM files WHERE view = ? AND active = 0 AND superseded_at < ?", (view, cutoff)
        )
    live = {r["path"] for r in catalog.all("SELECT path FROM files WHERE view = ?", (view,))}
    removed = offline.collect_orphans(view, live)
    return removed + offline.collect_staging() if staging else removed
