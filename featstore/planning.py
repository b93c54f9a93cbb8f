"""Planning materialization: which views, which ranges, then running the jobs (with
progress bars on a terminal) through :func:`featstore.materialize.materialize_views`,
with OpenLineage START before and COMPLETE or FAIL after (:mod:`featstore.lineage_events`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from featstore.catalog import Catalog
from featstore.compute import output_schema, read_start, scan_source, source_schema
from featstore.definitions import FeatureView
from featstore.engine import Engine
from featstore.errors import DefinitionError, MaterializationError
from featstore.lineage_events import Emitter
from featstore.materialize import MaterializationRun, ViewJob, materialize_views
from featstore.offline import OfflineStore
from featstore.registration import Definitions
from featstore.retrieval import stored_dtypes
from featstore.timeutil import as_utc, utc_expr

__all__ = ["Materializer"]


class Materializer:
    """Materializes a store's views."""

    def __init__(
        self,
        catalog: Catalog,
        offline: OfflineStore,
        definitions: Definitions,
        engine: Callable[[], Engine],
        *,
        progress: bool,
        statistics: bool = True,
        emitter: Emitter | None = None,
    ) -> None:
        self.catalog = catalog
        self.statistics = statistics  # record per-file column statistics as files are written
        self.offline = offline
        self.definitions = definitions
        self._engine = engine
        self._progress = progress
        self.emitter = emitter if emitter is not None else Emitter("featstore")

    def _executable_views(self, views: Sequence[str | FeatureView] | None) -> list[FeatureView]:
        if isinstance(views, str | FeatureView):
            views = [views]  # one view, not its name's characters
        elif views is not None:
            if isinstance(views, bytes | bytearray) or not isinstance(views, Iterable):
                raise MaterializationError(
                    f"materialize: views must be a view name, a FeatureView or a list of "
                    f"them; found {type(views).__name__}"
                )
            views = list(views)  # an iterator is read once
        if views is not None and not all(isinstance(v, str | FeatureView) for v in views):
            bad = next(v for v in views if not isinstance(v, str | FeatureView))
            raise MaterializationError(
                f"materialize: views must be view names or FeatureView objects; found {bad!r}"
            )
        if views is None:
            names = self.definitions.view_names()
        else:
            # a view named twice is materialized once (two jobs would collect each
            # other's uncommitted files)
            names = list(dict.fromkeys(v.name if isinstance(v, FeatureView) else v for v in views))
        # a FeatureView passed in is the one to run (never silently another version of it);
        # _job refuses it unless it is the catalog's current version
        given = {v.name: v for v in views or () if isinstance(v, FeatureView)}
        out = []
        for name in names:
            view = given.get(name) or self.definitions.views.get(name)
            if view is None:
                self.definitions.view_record(name)  # raises NotFoundError with a suggestion
                raise MaterializationError(
                    f"feature view {name!r} is registered, but its definition is code and is "
                    f"never loaded from storage: call store.apply([...]) with it in this "
                    f"process first"
                )
            out.append(view)
        return out

    def run(
        self,
        start: datetime | date | str,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Compute and store feature rows with event time in ``[start, end)``.

        Re-running a range replaces it. Each view is one run; the runs of one call are
        committed together, so readers see all of the views' new rows or none.
        """
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        if lo >= hi:
            raise MaterializationError(
                f"materialize: start {lo} is not before end {hi}; swap them or widen the range"
            )
        return self._run_jobs([self._job(v, lo, hi) for v in self._executable_views(views)])

    def incremental(
        self,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Materialize each view from where its last run ended (or its first row) to ``end``."""
        hi = as_utc(end, "end")
        jobs = []
        for view in self._executable_views(views):
            last = self.catalog.last_run_end(view.name, view.version)
            lo = datetime.fromisoformat(last) if last else self._first_event(view)
            if lo is None:
                continue
            if lo < hi:
                jobs.append(self._job(view, lo, hi))
        return self._run_jobs(jobs)

    def _first_event(self, view: FeatureView) -> datetime | None:
        frame = scan_source(view.source, self._engine())
        col = view.source.timestamp_column
        dtype = frame.collect_schema()[col]
        first = (
            frame.select(utc_expr(col, dtype, owner=f"source {view.source.name!r}").min())
            .collect()
            .item()
        )
        if not isinstance(first, datetime):
            return None
        return read_start(view, first)

    def _job(self, view: FeatureView, lo: datetime, hi: datetime) -> ViewJob:
        try:
            view.check_unchanged()
        except DefinitionError as exc:
            raise MaterializationError(str(exc)) from None
        record = self.definitions.view_record(view.name)
        if record["version"] != view.version:
            raise MaterializationError(
                f"feature view {view.name!r}: this process holds version {view.version}, the "
                f"catalog's current one is {record['version']}; apply it again"
            )
        features = stored_dtypes(record)
        if "stored_schema" not in record and len(features) != len(record["features"]):
            features = output_schema(view, source_schema(view.source, self._engine()))
        return ViewJob(view, features, lo, hi)

    def _run_jobs(self, jobs: list[ViewJob]) -> list[MaterializationRun]:
        if not jobs:
            return []
        self.emitter.materialization_started(jobs)
        try:
            runs = self._materialize(jobs)
        except Exception as exc:
            self.emitter.materialization_failed(jobs, exc)
            raise
        self.emitter.materialization_finished(runs)
        return runs

    def _materialize(self, jobs: list[ViewJob]) -> list[MaterializationRun]:
        kwargs: dict[str, Any] = {
            "engine": self._engine(),
            "catalog": self.catalog,
            "offline": self.offline,
            "statistics": self.statistics,
        }
        if not self._progress:
            return materialize_views(jobs, **kwargs)
        from featstore.progress import progress_bars

        totals = {job.view.name: _month_count(job.start, job.end) for job in jobs}
        with progress_bars(totals) as advance:
            return materialize_views(jobs, on_bucket=lambda view, _month: advance(view), **kwargs)


def _month_count(lo: datetime, hi: datetime) -> int:
    """The months ``[lo, hi)`` touches (one bucket each)."""
    last = hi - timedelta(microseconds=1)
    return max(1, (last.year - lo.year) * 12 + last.month - lo.month + 1)
