"""The monitoring commands of the ``featstore`` command line: statistics, drift, skew,
labels, performance over time, evaluation and comparison, and a promotion gate on
``featstore models alias``.

:func:`register` adds them to the ``featstore`` group (:mod:`featstore.cli.commands`
calls it). This module does not import that one, so the two stay free of an import
cycle; it keeps its own small rendering helpers in the same style (rich tables for
people, one JSON document with ``--json``). Errors featstore raises are mapped to
``error: <message>`` and exit status 1 by the group.

Exit status, for every command here: 0 ok, 1 error, 2 usage error, 3 a threshold was
breached (``--fail-on-drift``, ``--fail-on-skew``, a failed ``--require``).

Drift sides (REF, CUR) are a saved training set (name or ``training_set:NAME@ID``), a
prediction batch (``prediction_batch:ID`` or its id), a feature view window
``window:VIEW[@VERSION]:START..END`` (ISO 8601 bounds, END excluded), or a Parquet or
CSV file.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import polars as pl

from featstore.cli.actions import open_store
from featstore.errors import GateError, MonitoringError, NotFoundError, did_you_mean
from featstore.lineage_ids import NodeKind, has_prefix
from featstore.monitoring import html as reports
from featstore.monitoring.drift import DEFAULT_THRESHOLDS
from featstore.monitoring.evaluation import OPERATORS, check_gate, parse_requirement
from featstore.monitoring.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

if TYPE_CHECKING:
    from featstore.monitoring.drift import DriftReport
    from featstore.monitoring.evaluation import Comparison, Evaluation
    from featstore.monitoring.performance import PerformanceReport
    from featstore.monitoring.skew import SkewReport
    from featstore.monitoring.stats import Statistics
    from featstore.store import FeatureStore

__all__ = [
    "EXIT_BREACHED",
    "WINDOW_PREFIX",
    "store_path",
    "parse_requirements",
    "parse_window",
    "register",
]

EXIT_BREACHED = 3
"""The exit status when a threshold is breached (drift, skew, a --require)."""
WINDOW_PREFIX = "window:"
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
EXIT_HELP = "\b\nExit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error,\n3 {what}."
_REQUIRE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")


# -- rendering (the style of featstore.cli.commands) -------------------------------------


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: NaN as null, infinities as the strings ``"inf"`` and
    ``"-inf"``, instants as ISO 8601 text, tuples as lists."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [_jsonable(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # a numpy scalar
        return _jsonable(value.item())
    return str(value)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(_jsonable(data), indent=2, allow_nan=False))


def _console() -> Any:
    from rich.console import Console

    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(highlight=False, width=None if wide else 160)


def _cell(value: Any) -> Any:
    from rich.text import Text

    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        value = "yes" if value else ""
    elif isinstance(value, float):
        value = f"{value:.6g}"
    elif isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, datetime):
        value = value.isoformat(sep=" ").removesuffix(".000000")
    return Text(str(value))


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console = _console()
    if title:
        console.print(Text(title, style="bold"))
    console.print(table)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _write_html(path: Path | None, text: str, what: str) -> None:
    if path is None:
        return
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {what} to {path}", err=True)


def _breached(ctx: click.Context, message: str) -> None:
    click.echo(message, err=True)
    ctx.exit(EXIT_BREACHED)


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON document instead of tables (NaN as null, infinities as "inf" / "-inf").',
)
html_option = click.option(
    "--html",
    "html_out",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML report (inline SVG charts, works offline) to FILE.",
)


def store_path(ctx: click.Context) -> Path:
    """The root group's --store (featstore.cli.commands defines it)."""
    root = ctx.find_root()
    found = getattr(root.obj, "store_path", None)  # --store, else the project's store
    if found is None:
        found = root.params.get("store_path")
    if found is None:
        raise click.UsageError("no store: pass --store (or set FEATSTORE_STORE)")
    return Path(found)


def _store(ctx: click.Context) -> FeatureStore:
    """The store named by --store, closed when the command ends."""
    return ctx.with_resource(open_store(store_path(ctx)))


# -- parsing -----------------------------------------------------------------------------


def _split(values: Iterable[str]) -> list[str]:
    """``a,b`` and repeated options as one list, in order, without duplicates."""
    out: list[str] = []
    for value in values:
        out += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(out))


def _ints(values: Iterable[str], param: str) -> list[int]:
    out = []
    for v in _split(values):
        try:
            out.append(int(v))
        except ValueError:
            raise click.BadParameter(
                f"{v!r} is not a version number; write e.g. 1,2", param_hint=param
            ) from None
    return out


def _metrics(values: Iterable[str]) -> list[str] | None:
    names = _split(values)
    for name in names:
        if name not in METRICS:
            raise click.BadParameter(
                f"unknown metric {name!r}{did_you_mean(name, METRICS)}; the metrics are "
                f"{', '.join(METRICS)}",
                param_hint="--metrics",
            )
    return names or None


def parse_window(text: str) -> tuple[str, str | None, str, str]:
    """``window:VIEW[@VERSION]:START..END`` as ``(view, version, start, end)``;
    MonitoringError saying the syntax when ``text`` does not follow it."""
    example = "window:VIEW:START..END (or window:VIEW@VERSION:START..END), e.g. "
    example += "window:stats:2024-05-01..2024-06-01"
    body = text.removeprefix(WINDOW_PREFIX)
    view, sep, span = body.partition(":")
    start, dots, end = span.partition("..")
    name, at, version = view.partition("@")
    if (
        not text.startswith(WINDOW_PREFIX)
        or not sep
        or not name
        or (at and not version)
        or not dots
        or ".." in end
        or not start.strip()
        or not end.strip()
    ):
        raise MonitoringError(f"malformed window {text!r}: write {example}")
    return name, version or None, start.strip(), end.strip()


def parse_requirements(
    values: Iterable[str], param: str = "--require"
) -> list[tuple[str, str, float]]:
    """``auc>=0.8`` options as ``(metric, op, bound)``; click.BadParameter (exit status
    2) for one that is not ``METRIC OP NUMBER`` with OP one of >=, <=, ==, !=, >, <."""
    out = []
    for value in values:
        found = _REQUIRE.fullmatch(value)
        if found is None:
            raise click.BadParameter(
                f"{value!r} is not METRIC OP NUMBER (OP one of >=, <=, ==, !=, >, <), e.g. "
                f"'auc>=0.8'",
                param_hint=param,
            )
        metric, op, number = found.groups()
        if metric not in METRICS:
            raise click.BadParameter(
                f"unknown metric {metric!r}{did_you_mean(metric, METRICS)}; the metrics are "
                f"{', '.join(METRICS)}",
                param_hint=param,
            )
        try:
            op, bound = parse_requirement(metric, f"{op} {number}")
        except GateError:
            raise click.BadParameter(
                f"{value!r}: {number!r} is not a number", param_hint=param
            ) from None
        out.append((metric, op, bound))
    return out


def _thresholds(values: Iterable[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for value in values:
        key, sep, number = value.partition("=")
        key, number = key.strip(), number.strip()
        if not sep or not key or not number:
            raise click.BadParameter(
                f"{value!r} is not METRIC=VALUE (e.g. psi=0.1, or ks=off)",
                param_hint="--threshold",
            )
        if number.lower() in ("off", "none"):
            out[key] = None
            continue
        try:
            limit = float(number)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: {number!r} is not a number or 'off'", param_hint="--threshold"
            ) from None
        if math.isnan(limit):
            raise click.BadParameter(f"{value!r}: NaN is not a threshold", param_hint="--threshold")
        out[key] = limit
    return out


def _read_frame(path: Path, what: str) -> pl.DataFrame:
    """A Parquet or CSV file (by its suffix) as a frame."""
    if not path.is_file():
        raise MonitoringError(f"{what}: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return pl.read_csv(
                path, try_parse_dates=True, separator="\t" if suffix == ".tsv" else ","
            )
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "CSV" if suffix in (".csv", ".tsv") else "Parquet"
        raise MonitoringError(f"{what}: cannot read {str(path)!r} as {kind}: {exc}") from None


def _looks_like_file(text: str) -> bool:
    return Path(text).suffix.lower() in (".parquet", ".pq", ".csv", ".tsv") or os.sep in text


def _side(store: FeatureStore, text: str, role: str) -> Any:
    """What REF or CUR names, as something :meth:`FeatureStore.drift` takes."""
    if text.startswith(WINDOW_PREFIX):
        view, version, start, end = parse_window(text)
        return store.window(view, start, end, version=version)
    if _looks_like_file(text) or Path(text).is_file():
        return _read_frame(Path(text), role)
    if has_prefix(NodeKind.PREDICTION_BATCH, text):
        return store.get_prediction_batch(text)
    if has_prefix(NodeKind.TRAINING_SET, text):
        return store.get_training_set(text)
    try:
        return store.get_training_set(text)
    except NotFoundError:
        pass
    try:
        return store.get_prediction_batch(text)
    except NotFoundError:
        pass
    names = sorted({ts.name for ts in store.list_training_sets() if ts.name})
    raise NotFoundError(
        f"{role} {text!r} is not a saved training set (name or id), a prediction batch id, "
        f"a window ({WINDOW_PREFIX}VIEW:START..END) or a Parquet or CSV file"
        + did_you_mean(text, names)
    )


# -- stats -------------------------------------------------------------------------------


def _statistics_json(stats: Statistics) -> dict[str, Any]:
    columns = []
    for col in stats.columns:
        data = col.to_json()
        data.pop("sketch", None)
        data.pop("hasher", None)
        columns.append(data)
    return {
        "target": stats.target,
        "rows": stats.rows,
        "parts": stats.parts,
        "exact": stats.exact,
        "columns": columns,
    }


def _render_statistics(stats: Statistics) -> None:
    rows = []
    for c in stats.columns:
        top = ", ".join(f"{v}: {n:,}" for v, n in (c.top or ())[:3])
        if c.top and len(c.top) > 3:
            top += ", ..."
        rows.append(
            [c.name, c.kind, c.dtype.split("(")[0], c.count, c.nulls, c.null_rate, c.distinct,
             c.min, c.mean, c.std, c.quantile(0.5), c.max, top or None]
        )  # fmt: skip
    merged = "" if stats.exact else f", merged from {_n(stats.parts, 'part')}"
    _table(
        f"statistics of {stats.target}: {_n(stats.rows, 'row')}{merged}",
        ["column", "kind", "dtype", "count", "nulls", "null rate", "distinct", "min", "mean",
         "std", "median", "max", "top values"],
        rows,
    )  # fmt: skip


@click.command("stats")
@click.argument("target")
@click.option(
    "--version", "version", metavar="VERSION", help="With a view: this version (default: current)."
)
@click.option("--start", metavar="TS", help="With a view: only rows at or after TS (ISO 8601).")
@click.option("--end", metavar="TS", help="With a view: only rows before TS (ISO 8601).")
@json_option
@html_option
@click.pass_context
def stats_command(
    ctx: click.Context,
    target: str,
    version: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    html_out: Path | None,
) -> None:
    """Recorded column statistics of TARGET.

    TARGET is a feature view name (its current version, or --version; all its rows, or
    those in [--start, --end)), run:<id>, a training set (training_set:NAME@ID or its
    name: the newest) or prediction_batch:<id>.

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error.
    """
    store = _store(ctx)
    if version is not None or start is not None or end is not None:
        views = {v.name for v in store.list_feature_views()}
        if target not in views:
            raise click.UsageError(
                f"--version, --start and --end apply to a feature view; {target!r} is not one"
                + did_you_mean(target, views)
            )
    stats = store.statistics(target, version=version, start=start, end=end)
    _write_html(html_out, reports.statistics_html(stats), "the statistics report")
    if as_json:
        _echo_json(_statistics_json(stats))
    else:
        _render_statistics(stats)


# -- drift -------------------------------------------------------------------------------


def _drift_json(report: DriftReport) -> dict[str, Any]:
    return {
        "id": report.id,
        **report.to_json(),
        "drifted": report.drifted,
        "drifted_features": report.drifted_features,
    }


def _render_drift(report: DriftReport) -> None:
    drifted = report.drifted_features
    _table(
        f"drift: {report.reference} -> {report.current}: "
        f"{len(drifted)} of {_n(len(report.features), 'feature')} drifted",
        ["feature", "kind", "psi", "jensen shannon", "ks", "wasserstein", "chi2 p",
         "null rate change", "drifted", "reasons"],
        [
            [f.feature, f.kind, f.psi, f.jensen_shannon, f.ks, f.wasserstein, f.chi2_pvalue,
             f.null_rate_change, "DRIFTED" if f.drifted else "", "; ".join(f.reasons) or f.note]
            for f in report.features
        ],
    )  # fmt: skip
    limits = ", ".join(
        f"{k} {'off' if v is None else format(v, 'g')}" for k, v in report.thresholds.items()
    )
    click.echo(f"thresholds: {limits}")
    click.echo(f"saved as {report.id}")


@click.command("drift")
@click.argument("reference", metavar="REF")
@click.argument("current", metavar="CUR")
@click.option(
    "--features",
    "features",
    multiple=True,
    metavar="A,B",
    help="Only these features (comma-separated or repeated; default: the numeric and "
    "categorical columns both sides share).",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Override a threshold (repeatable): "
    + ", ".join(f"{k}={'off' if v is None else v}" for k, v in DEFAULT_THRESHOLDS.items())
    + " by default; VALUE 'off' turns a test off.",
)
@json_option
@html_option
@click.option("--fail-on-drift", is_flag=True, help="Exit with status 3 when a feature drifted.")
@click.pass_context
def drift_command(
    ctx: click.Context,
    reference: str,
    current: str,
    features: tuple[str, ...],
    thresholds: tuple[str, ...],
    as_json: bool,
    html_out: Path | None,
    fail_on_drift: bool,
) -> None:
    """Drift of each feature from REF to CUR; the report is saved (a lineage node).

    \b
    REF and CUR are each one of:
      a saved training set   NAME (the newest) or training_set:NAME@ID
      a prediction batch     prediction_batch:ID or ID
      a view window          window:VIEW:START..END or window:VIEW@VERSION:START..END
                             (ISO 8601 bounds, END excluded), e.g.
                             window:stats:2024-05-01..2024-06-01
      a file                 PATH.parquet or PATH.csv

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error,
    3 a feature drifted (with --fail-on-drift).
    """
    limits = _thresholds(thresholds)
    names = _split(features) or None
    store = _store(ctx)
    ref = _side(store, reference, "reference")
    cur = _side(store, current, "current")
    report = store.drift(ref, cur, features=names, thresholds=limits)
    _write_html(html_out, reports.drift_html(report), "the drift report")
    if as_json:
        _echo_json(_drift_json(report))
    else:
        _render_drift(report)
    if fail_on_drift and report.drifted:
        drifted = report.drifted_features
        _breached(ctx, f"drift: {_n(len(drifted), 'feature')} drifted: {', '.join(drifted)}")


# -- skew --------------------------------------------------------------------------------


def _skew_json(report: SkewReport) -> dict[str, Any]:
    data = report.to_json()
    for item, f in zip(data["features"], report.features, strict=True):
        item["share"] = f.share
    return {"id": report.id, **data, "skewed": report.skewed}


def _render_skew(report: SkewReport) -> None:
    skewed = [f for f in report.features if f.differing]
    _table(
        f"skew of {report.batch} (tolerance {report.tolerance:g}): "
        f"{len(skewed)} of {_n(len(report.features), 'served feature')} "
        f"{'differs' if len(skewed) == 1 else 'differ'}",
        ["column", "feature", "rows", "differing", "share", "served only", "recomputed only",
         "max difference"],
        [
            [f.column, f.feature, f.rows, f.differing, f"{f.share:.1%}", f.served_only,
             f.recomputed_only, f.max_difference]
            for f in report.features
        ],
    )  # fmt: skip
    click.echo(f"saved as {report.id}")


@click.command("skew")
@click.argument("batch")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Numeric values differing by at most this count as equal.",
)
@click.option(
    "--bitemporal", is_flag=True, help="Recompute hiding values created after each as_of."
)
@json_option
@html_option
@click.option(
    "--fail-on-skew", is_flag=True, help="Exit with status 3 when any served value differs."
)
@click.pass_context
def skew_command(
    ctx: click.Context,
    batch: str,
    tolerance: float,
    bitemporal: bool,
    as_json: bool,
    html_out: Path | None,
    fail_on_skew: bool,
) -> None:
    """Training/serving skew of prediction batch BATCH (prediction_batch:ID or ID): the
    features it was served, recomputed point-in-time for the same keys and instants.

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error,
    3 a served value differs (with --fail-on-skew).
    """
    store = _store(ctx)
    report = store.skew(batch, tolerance=tolerance, bitemporal=bitemporal)
    _write_html(html_out, reports.skew_html(report), "the skew report")
    if as_json:
        _echo_json(_skew_json(report))
    else:
        _render_skew(report)
    if fail_on_skew and report.skewed:
        skewed = [f.column for f in report.features if f.differing]
        verb = "differs" if len(skewed) == 1 else "differ"
        _breached(ctx, f"skew: {_n(len(skewed), 'served feature')} {verb}: {', '.join(skewed)}")


# -- labels ------------------------------------------------------------------------------


@click.command("labels")
@click.argument("file", metavar="LABELS", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    metavar="NAME",
    help="Match by this model's entity keys and time (needed without a prediction_id column).",
)
@click.option(
    "--label-column",
    default="label",
    show_default=True,
    metavar="COLUMN",
    help="The ground-truth column.",
)
@click.option(
    "--timestamp-column",
    metavar="COLUMN",
    help="When each label's keys were observed (matching by keys; default: event_timestamp, "
    "or the only datetime column).",
)
@click.option(
    "--skip-unmatched",
    is_flag=True,
    help="Log the labels that match a prediction and count the others (default: refuse all).",
)
@json_option
@click.pass_context
def labels_command(
    ctx: click.Context,
    file: Path,
    model: str | None,
    label_column: str,
    timestamp_column: str | None,
    skip_unmatched: bool,
    as_json: bool,
) -> None:
    """Log ground truth from the Parquet or CSV file LABELS for logged predictions,
    matched by its prediction_id column, or with --model by entity keys and time.

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error.
    """
    frame = _read_frame(file, "labels")
    store = _store(ctx)
    batch = store.log_labels(
        frame,
        model=model,
        label_column=label_column,
        timestamp_column=timestamp_column,
        skip_unmatched=skip_unmatched,
    )
    if as_json:
        _echo_json({"id": batch.id, **batch.to_json()})
        return
    unmatched = f" ({_n(batch.unmatched, 'label')} matched none)" if batch.unmatched else ""
    click.echo(
        f"logged {_n(batch.rows, 'label')} for model {batch.model!r}{unmatched} as {batch.id}, "
        f"across {_n(len(batch.batches), 'prediction batch')}"
    )


# -- performance -------------------------------------------------------------------------


def _performance_json(report: PerformanceReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "every": report.every,
        "task": report.task,
        "metrics": list(report.metrics),
        "labelled": report.labelled,
        "unlabelled": report.unlabelled,
        "registered": {str(v): dict(m) for v, m in report.registered.items()},
        "buckets": report.frame.to_dicts(),
    }


def _render_performance(report: PerformanceReport) -> None:
    frame = report.frame
    _table(
        f"performance of model {report.model!r} every {report.every} ({report.task}): "
        f"{_n(report.labelled, 'labelled prediction')}, {report.unlabelled:,} without labels",
        [c.replace("_", " ") for c in frame.columns],
        frame.rows(),
    )


@click.command("performance")
@click.argument("model")
@click.option(
    "--every",
    default="1w",
    show_default=True,
    metavar="INTERVAL",
    help="Bucket width, a Polars interval: 1d, 1w, 1mo, ...",
)
@click.option("--versions", multiple=True, metavar="1,2", help="Only these versions.")
@click.option(
    "--metrics",
    "metric_names",
    multiple=True,
    metavar="A,B",
    help="These metrics (default: auc, log_loss, accuracy, precision, recall, f1 for 0/1 "
    "labels; rmse, mae, r2 otherwise).",
)
@click.option(
    "--prediction-column",
    metavar="COLUMN",
    help="The batches' prediction column (default: their one non-key, non-feature column).",
)
@click.option(
    "--threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Classification threshold for accuracy, precision, recall and f1.",
)
@json_option
@html_option
@click.pass_context
def performance_command(
    ctx: click.Context,
    model: str,
    every: str,
    versions: tuple[str, ...],
    metric_names: tuple[str, ...],
    prediction_column: str | None,
    threshold: float,
    as_json: bool,
    html_out: Path | None,
) -> None:
    """Metrics of MODEL's labelled predictions per version and time bucket, beside the
    metrics each version was registered with.

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error.
    """
    chosen_versions = _ints(versions, "--versions") or None
    chosen_metrics = _metrics(metric_names)
    store = _store(ctx)
    report = store.performance(
        model,
        every=every,
        versions=chosen_versions,
        metrics=chosen_metrics,
        prediction_column=prediction_column,
        threshold=threshold,
    )
    _write_html(html_out, reports.performance_html(report), "the performance report")
    if as_json:
        _echo_json(_performance_json(report))
    else:
        _render_performance(report)


# -- evaluate / compare ------------------------------------------------------------------


def _requirement_results(
    evaluation: Evaluation, requirements: Sequence[tuple[str, str, float]]
) -> list[dict[str, Any]]:
    out = []
    for metric, op, bound in requirements:
        if metric not in evaluation.metrics:
            raise MonitoringError(
                f"--require {metric}{op}{bound:g}: the evaluation has no metric {metric!r} "
                f"(it has {sorted(evaluation.metrics)}); pass --metrics with it"
            )
        value = float(evaluation.metrics[metric])
        out.append(
            {
                "metric": metric,
                "op": op,
                "bound": bound,
                "value": value,
                "passed": bool(OPERATORS[op](value, bound)),
            }
        )
    return out


@click.command("evaluate")
@click.argument("model_version", metavar="MODEL@VERSION")
@click.argument("eval_set")
@click.option(
    "--predictions",
    "predictions_file",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet (or CSV) file of predictions, one per row of EVAL_SET, in its order.",
)
@click.option(
    "--column",
    metavar="COLUMN",
    help="The predictions column (default: the file's only column, or 'prediction').",
)
@click.option("--label-column", required=True, metavar="COLUMN", help="EVAL_SET's label column.")
@click.option("--metrics", "metric_names", multiple=True, metavar="A,B", help="These metrics.")
@click.option(
    "--threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Classification threshold for accuracy, precision, recall and f1.",
)
@click.option(
    "--require",
    "requires",
    multiple=True,
    metavar="METRIC>=VALUE",
    help="A requirement such as 'auc>=0.8' (quote it; repeatable; ops >=, <=, ==, !=, >, <).",
)
@json_option
@click.pass_context
def evaluate_command(
    ctx: click.Context,
    model_version: str,
    eval_set: str,
    predictions_file: Path,
    column: str | None,
    label_column: str,
    metric_names: tuple[str, ...],
    threshold: float,
    requires: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate MODEL@VERSION (e.g. churn@3) on the saved training set EVAL_SET with the
    predictions in --predictions; recorded, and repeatable bit for bit.

    With --require, checks the evaluation's metrics; a failed requirement exits with
    status 3 (the evaluation is recorded, nothing else is written).

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error,
    3 a --require failed.
    """
    requirements = parse_requirements(requires)
    chosen = _metrics(metric_names)
    if chosen is not None:
        missing = [m for m, _, _ in requirements if m not in chosen]
        if missing:
            raise click.BadParameter(
                f"requires {missing[0]!r}, which --metrics does not compute",
                param_hint="--require",
            )
    frame = _read_frame(predictions_file, "predictions")
    if column is not None and column not in frame.columns:
        raise MonitoringError(
            f"predictions: {str(predictions_file)!r} has no column {column!r}; its columns are "
            f"{frame.columns}"
        )
    if column is None and frame.width > 1 and "prediction" not in frame.columns:
        raise MonitoringError(
            f"predictions: {str(predictions_file)!r} has columns {frame.columns}; name the "
            f"predictions column with --column"
        )
    store = _store(ctx)
    evaluation = store.evaluate(
        model_version,
        eval_set,
        predictions=frame,
        label_column=label_column,
        metrics=chosen,
        threshold=threshold,
        prediction_column=column,
    )
    results = _requirement_results(evaluation, requirements)
    failed = [r for r in results if not r["passed"]]
    if as_json:
        _echo_json(
            {
                "id": evaluation.id,
                "model_id": evaluation.model_id,
                **evaluation.to_json(),
                "requirements": results,
                "passed": not failed,
            }
        )
    else:
        checks: dict[str, list[str]] = {}
        for r in results:
            mark = "ok" if r["passed"] else "FAILED"
            checks.setdefault(r["metric"], []).append(f"{r['op']} {r['bound']:g} {mark}")
        _table(
            f"evaluation of {evaluation.model_id} on {evaluation.eval_set} "
            f"({_n(evaluation.rows, 'row')}, {evaluation.task})",
            ["metric", "value", "requirement"],
            [[k, v, "; ".join(checks.get(k, [])) or None] for k, v in evaluation.metrics.items()],
        )
        click.echo(f"recorded as {evaluation.id}")
    if failed:
        shown = "; ".join(
            f"{r['metric']} {r['value']:.6g} {r['op']} {r['bound']:g}" for r in failed
        )
        _breached(ctx, f"requirement failed: {shown}")


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "eval_set": c.eval_set,
        "baseline": c.baseline,
        "metrics": list(c.metrics),
        "n_boot": c.n_boot,
        "seed": c.seed,
        "confidence": c.confidence,
        "versions": c.frame.to_dicts(),
    }


def _render_comparison(c: Comparison) -> None:
    rows = []
    for r in c.frame.iter_rows(named=True):
        for metric in c.metrics:
            rows.append(
                [metric, r["model"], r[metric], r[f"{metric}_diff"], r[f"{metric}_low"],
                 r[f"{metric}_high"]]
            )  # fmt: skip
    level = f"{c.confidence:.0%}"
    _table(
        f"comparison on {c.eval_set}: baseline {c.baseline}, {level} paired-bootstrap "
        f"intervals ({c.n_boot:,} resamples, seed {c.seed})",
        ["metric", "model", "value", "diff", "low", "high"],
        rows,
    )


@click.command("compare")
@click.argument("model_versions", nargs=-1, required=True, metavar="MODEL@VERSION...")
@click.option("--eval-set", required=True, metavar="NAME", help="The saved training set.")
@click.option("--metrics", "metric_names", multiple=True, metavar="A,B", help="These metrics.")
@click.option(
    "--n-boot",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Paired bootstrap resamples.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Interval level.",
)
@json_option
@html_option
@click.pass_context
def compare_command(
    ctx: click.Context,
    model_versions: tuple[str, ...],
    eval_set: str,
    metric_names: tuple[str, ...],
    n_boot: int,
    seed: int,
    confidence: float,
    as_json: bool,
    html_out: Path | None,
) -> None:
    """Recorded evaluations of MODEL@VERSION... (e.g. churn@1 churn@2) on --eval-set
    side by side, with paired-bootstrap intervals of each one's difference from the
    first.

    \b
    Exit status: 0 ok, 1 error (printed as 'error: ...'), 2 usage error.
    """
    chosen = _metrics(metric_names)
    store = _store(ctx)
    comparison = store.compare(
        list(model_versions),
        eval_set,
        metrics=chosen,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    _write_html(html_out, reports.evaluation_html(comparison), "the comparison report")
    if as_json:
        _echo_json(_comparison_json(comparison))
    else:
        _render_comparison(comparison)


# -- the promotion gate on `featstore models alias` --------------------------------------


def _gated(original: Callable[..., Any]) -> Callable[..., Any]:
    """``models alias`` with ``--require`` and ``--eval-set``: the requirements are
    checked against the version's latest evaluation before the alias moves."""

    @functools.wraps(original)
    def command(*args: Any, requires: tuple[str, ...], eval_set: str | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if eval_set is not None and not requires:
            raise click.UsageError("--eval-set applies to --require; pass a requirement too")
        if requires:
            requirements = parse_requirements(requires)
            with open_store(store_path(ctx)) as store:
                name, version = kwargs["name"], kwargs["version"]
                store.get_model(name, version)  # NotFoundError for an unknown version
                try:
                    for metric, op, bound in requirements:
                        check_gate(store, name, version, {metric: f"{op} {bound!r}"}, eval_set)
                except GateError as exc:
                    _breached(ctx, f"error: {exc}")
        return original(*args, **kwargs)

    return command


def _add_gate(group: click.Group) -> None:
    models = group.commands.get("models")
    alias = models.commands.get("alias") if isinstance(models, click.Group) else None
    if alias is None or alias.callback is None or any(p.name == "requires" for p in alias.params):
        return
    alias.params += [
        click.Option(
            ["--require", "requires"],
            multiple=True,
            metavar="METRIC>=VALUE",
            help="Move only if the version's latest evaluation meets this, e.g. 'auc>=0.8' "
            "(repeatable); a refusal exits with status 3 and the alias stays.",
        ),
        click.Option(
            ["--eval-set"],
            metavar="NAME",
            help="With --require: the latest evaluation on this saved training set.",
        ),
    ]
    alias.callback = _gated(alias.callback)
    alias.help = (alias.help or "").rstrip() + (
        "\n\nWith --require, the version's latest recorded evaluation (on --eval-set, when "
        "given) must meet every requirement, or the alias does not move.\n\n"
        + EXIT_HELP.format(what="a --require refused the move")
    )


COMMANDS: tuple[click.Command, ...] = (
    stats_command,
    drift_command,
    skew_command,
    labels_command,
    performance_command,
    evaluate_command,
    compare_command,
)


def register(group: click.Group) -> None:
    """Add the monitoring commands to ``group`` (the ``featstore`` group), and
    ``--require`` / ``--eval-set`` to its ``models alias`` command."""
    for command in COMMANDS:
        group.add_command(command)
    _add_gate(group)
