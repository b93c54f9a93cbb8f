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

import json
import os
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from featstore.aggregations import column_kind, index_columns
from featstore.catalog import Catalog, WriteOps
from featstore.columns import CREATED, RANK, TS
from featstore.compute import (
    InputFile,
    evaluate_view,
    file_sha256,
    month_counts,
    read_start,
    reads_once,
    scan_range,
    source_inputs,
)
from featstore.definitions import FeatureView
from featstore.dtypes import NAIVE_KEY, file_metadata, naive_utc_columns
from featstore.engine import BucketWrite, Engine, engine_name
from featstore.engine.base import BucketStats, ViewRows
from featstore.errors import EngineError, EngineMemoryError, FeatstoreError, MaterializationError
from featstore.lineage_ids import EdgeKind, NodeKind, node_id
from featstore.monitoring.recording import file_statistics
from featstore.offline import OfflineStore, new_id
from featstore.records import Run as MaterializationRun  # a run as recorded: one class
from featstore.timeutil import bucket_bounds, bucket_of, iso, next_bucket, utc_now
from featstore.writers import exclusive

__all__ = ["MaterializationRun", "ViewJob", "materialize_views"]

SUPERSEDED_GRACE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class _Written:
    bucket: str
    staged: Path
    rows: int
    min_ts: datetime
    max_ts: datetime
    size: int
    statistics: str | None = None  # the file's column statistics (JSON), if recorded


def _fingerprints(view: FeatureView) -> list[InputFile]:
    """Fingerprints of what a run reads. File contents are hashed as they are at the
    run's start (no cache: a same-size rewrite with its mtime restored is still seen), and
    :func:`_check_unchanged` makes sure they did not change while the run read them."""
    return source_inputs(view.source)


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


def _written(
    bucket: str, staged: Path, stats: BucketStats, lo: datetime, names: list[str], statistics: bool
) -> _Written:
    """What a month's write left in ``staged``, with its column statistics if asked."""
    return _Written(
        bucket,
        staged,
        stats.rows,
        stats.min_ts or lo,
        stats.max_ts or lo,
        staged.stat().st_size,
        file_statistics(staged, names) if statistics and stats.rows else None,
    )


def _bucket_plan(
    view: FeatureView,
    features: list[str],
    schema: pl.Schema,
    old_files: list[Path],
    lo: datetime,
    hi: datetime,
    target: Path,
    run_id: str,
    bucket_name: str,
) -> BucketWrite:
    """The plan of one month's write (:class:`featstore.engine.BucketWrite`; its SQL:
    :func:`featstore.engine.sql_bucket.bucket_sql`): the month's new rows (of ``schema``)
    and its old rows outside [lo, hi), ranked and sorted. Naive timestamps (event and
    created times, naive features) are written UTC-adjusted; the file's key-value metadata
    names featstore's version, the view version, the run and the month (docs/files.md)."""
    written = {*view.join_keys, TS, CREATED, *features}
    utc = [c for c in naive_utc_columns(schema) if c in written]
    metadata = file_metadata(
        view=view.name, view_version=view.version, run_id=run_id, bucket=bucket_name
    )
    metadata[NAIVE_KEY] = json.dumps(utc)
    return BucketWrite(
        keys=tuple(view.join_keys),
        features=tuple(features),
        old_files=tuple(str(p) for p in old_files),
        start=lo,
        end=hi,
        target=str(target),
        utc_columns=tuple(utc),
        metadata=tuple(sorted(metadata.items())),
        index=index_columns(tuple(view.aggregations)) if view.aggregations else (),
        index_kinds=tuple((c, column_kind(schema[c])) for c in view.aggregated_columns),
    )


@dataclass(frozen=True, slots=True)
class ViewJob:
    """One view to materialize over ``[start, end)``, with its stored feature dtypes and
    the id its run will have (known before it starts, for lineage events)."""

    view: FeatureView
    features: dict[str, pl.DataType]
    start: datetime
    end: datetime
    run_id: str = field(default_factory=new_id)


@dataclass(slots=True)
class _Prepared:
    job: ViewJob
    run: MaterializationRun
    written: list[_Written]
    finals: list[Path]


def materialize_views(
    jobs: list[ViewJob],
    *,
    engine: Engine,
    catalog: Catalog,
    offline: OfflineStore,
    on_bucket: Callable[[str, str], None] | None = None,
    statistics: bool = True,
) -> list[MaterializationRun]:
    """Materialize several views following the commit protocol above, all in one commit:
    readers see every view's new rows or none of them. ``on_bucket(view, month)`` is
    called as each month is evaluated. With ``statistics``, each file's column
    statistics are recorded in the same commit."""
    prepared: list[_Prepared] = []
    with ExitStack() as held:
        for name in sorted({job.view.name for job in jobs}):  # one order: no deadlocks
            held.enter_context(exclusive(offline, catalog, name))
        current = jobs[0] if jobs else None
        try:
            for job in jobs:
                current = job
                _collect_view_garbage(job.view.name, catalog, offline)
                stage = held.enter_context(offline.staging(job.run_id))
                prepared.append(
                    _prepare(job, stage, engine, catalog, offline, on_bucket, statistics)
                )
            with catalog.transaction() as tx:
                for item in prepared:
                    _record(
                        tx,
                        item.run,
                        item.job.view,
                        item.written,
                        item.finals,
                        offline,
                        engine_name(engine),
                    )
        except BaseException as exc:
            for item in prepared:
                for rel in item.run.files:
                    offline.absolute(rel).unlink(missing_ok=True)
            # an engine failure is a FeatstoreError that says nothing of the view: name it
            engine_failed = isinstance(exc, EngineError)
            if isinstance(exc, KeyboardInterrupt | SystemExit) or (
                isinstance(exc, FeatstoreError) and not engine_failed
            ):
                raise
            if current is not None and (
                engine_failed or isinstance(exc, pl.exceptions.PolarsError | OSError)
            ):
                raise MaterializationError(
                    f"feature view {current.view.name!r}: materialization of "
                    f"[{current.start}, {current.end}) failed: {exc}"
                ) from exc
            raise
        for name in sorted({item.job.view.name for item in prepared}):
            _sync_active(name, catalog, offline)
    return [item.run for item in prepared]


def _prepare(
    job: ViewJob,
    stage: Path,
    engine: Engine,
    catalog: Catalog,
    offline: OfflineStore,
    on_bucket: Callable[[str, str], None] | None,
    statistics: bool = True,
) -> _Prepared:
    """Evaluate one view chunk by chunk, write it month by month into ``stage``, and
    publish its files (unlisted).

    A month whose active file is damaged (gone, truncated, rewritten, missing a column)
    is evaluated whole from the source and replaces it: re-materializing repairs it.
    """
    view, started, run_id = job.view, utc_now(), stage.name
    names = list(job.features)
    inputs = _fingerprints(view)
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
    scanned = None
    if reads_once(view.source):  # run the query once for the whole job, never per month
        scanned = scan_range(view.source, engine, read_start(view, first), last)
    written: list[_Written] = []
    computed = 0  # rows evaluated in [start, end); files also carry the month's other rows
    bounds = {month[0]: month for month in months}

    def plan_of(bucket: str, schema: pl.Schema) -> BucketWrite:
        _, lo, hi, old, _ = bounds[bucket]
        staged = stage / f"{bucket}.parquet"
        return _bucket_plan(
            view, names, schema, [p for p, _ in old], lo, hi, staged, run_id, bucket
        )

    # a long range is evaluated in chunks sized by its source rows per month (sparse history
    # costs a few evaluations, not one per month); a short one month by month
    if len(months) > MONTHS_ONE_BY_ONE:
        chunks = _chunks(months, month_counts(view, engine, first, last, scanned))
    else:
        chunks = [[month] for month in months]
    # the engine may evaluate the same chunks and write the months itself (the Spark
    # engine, in its tasks)
    done = None
    if scanned is None:
        pieces = tuple((chunk[0][1], chunk[-1][2]) for chunk in chunks)
        job_rows = ViewRows(view, first, last, read_start(view, first), job.features, pieces)
        must = {bucket: bool(old or repair) for bucket, _, _, old, repair in months}
        done = engine.write_view(job_rows, must, plan_of, (job.start, job.end))
    if done is not None:
        chunks = []
        for bucket, lo, *_ in months:
            if bucket in done:
                new, stats = done[bucket]
                computed += new
                staged = stage / f"{bucket}.parquet"
                written.append(_written(bucket, staged, stats, lo, names, statistics))
            if on_bucket:
                on_bucket(view.name, bucket)
    for chunk in chunks:
        # a chunk of consecutive months is evaluated at once (the result does not depend
        # on how a range is split: see check_row_context), then written month by month
        rows_all = evaluate_view(view, engine, chunk[0][1], chunk[-1][2], job.features, scanned)
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
                plan = _bucket_plan(
                    view, names, rows.schema, [p for p, _ in old], lo, hi, staged, run_id, bucket
                )
                try:
                    stats = engine.write_bucket(rows, plan)
                except EngineMemoryError as exc:
                    need = max(rows.estimated_size("mb") * 4, 64)
                    raise MaterializationError(
                        f"feature view {view.name!r}: month {bucket} ({rows.height:,} rows) "
                        f"does not fit in DuckDB's memory_limit ({str(exc).splitlines()[0]}); give "
                        f"FeatureStore(memory_limit=...) at least about {need:,.0f}MB"
                    ) from exc
                written.append(_written(bucket, staged, stats, lo, names, statistics))
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
    out: dict[str, list[tuple[Path, Any]]] = {}
    for r in catalog.active_files(view.name, view.version):
        out.setdefault(r["bucket"], []).append((offline.absolute(r["path"]), r))
    return out


def _record(
    tx: WriteOps,
    run: MaterializationRun,
    view: FeatureView,
    written: list[_Written],
    finals: list[Path],
    offline: OfflineStore,
    engine: str,
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
    tx.add_run(
        run_id=run.run_id,
        view=run.view,
        view_version=run.view_version,
        start_ts=iso(run.start),
        end_ts=iso(run.end),
        rows=run.rows,
        started_at=iso(run.started_at),
        finished_at=now,
        body=json.dumps(body, sort_keys=True),
    )
    for item in written:
        tx.supersede_bucket(view.name, view.version, item.bucket, now)
    for item, final in zip(written, finals, strict=True):
        if item.rows == 0:
            continue
        stat = os.stat(final)
        tx.add_file(
            path=offline.relative(final),
            view=view.name,
            view_version=view.version,
            bucket=item.bucket,
            min_ts=iso(item.min_ts),
            max_ts=iso(item.max_ts),
            rows=item.rows,
            bytes=stat.st_size,
            run_id=run.run_id,
            mtime_ns=stat.st_mtime_ns,
            sha256=file_sha256(str(final)),
        )
        if item.statistics is not None:
            tx.add_statistics(offline.relative(final), "offline_file", item.statistics)
    tx.add_run_inputs(
        run.run_id, [(i.path, i.size, i.mtime_ns, i.rows, i.sha256) for i in run.inputs]
    )
    view_node = node_id(NodeKind.FEATURE_VIEW, view.name, view.version)
    tx.add_node(
        run.id,
        NodeKind.MATERIALIZATION_RUN,
        view.name,
        now,
        {
            "view_version": view.version,
            "start": iso(run.start),
            "end": iso(run.end),
            "rows": run.rows,
            "files": list(run.files),
            "engine": engine,
        },
    )
    edges = [(view_node, run.id, EdgeKind.MATERIALIZED_BY)]
    source_node = node_id(NodeKind.SOURCE, view.source.name)
    for i in run.inputs:
        file_node = node_id(NodeKind.SOURCE_FILE, i.path, (i.sha256 or "")[:12])
        tx.add_node(
            file_node,
            NodeKind.SOURCE_FILE,
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
        edges += [
            (source_node, file_node, EdgeKind.HAS_SNAPSHOT),
            (file_node, run.id, EdgeKind.READ_BY),
        ]
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
        tx.delete_superseded_files(view, cutoff)
    live = catalog.file_paths(view)
    removed = offline.collect_orphans(view, live)
    removed += _sync_active(view, catalog, offline)
    return removed + offline.collect_staging() if staging else removed


def _sync_active(view: str, catalog: Catalog, offline: OfflineStore) -> list[str]:
    """Under the view's lock, after a commit: make ``active/<view>/`` match the catalog's
    active files (:meth:`OfflineStore.sync_active`), every version. The commit stands
    whatever happens here: a failure warns, and the next run of the view or ``gc()``
    brings the glob up to date."""
    try:
        rows = catalog.files(sorted(catalog.file_paths(view))).values()
        files = {
            (str(r["view_version"]), str(r["bucket"])): offline.absolute(str(r["path"]))
            for r in rows
            if r["active"]
        }
        return offline.sync_active(view, files)
    except (OSError, FeatstoreError) as exc:
        warnings.warn(
            f"feature view {view!r}: the run is committed, but its active-file glob "
            f"'active/{view}/<version>/*.parquet' could not be updated ({exc}); other "
            f"engines reading the glob see the previous files until store.gc() runs",
            RuntimeWarning,
            stacklevel=3,
        )
        return []
