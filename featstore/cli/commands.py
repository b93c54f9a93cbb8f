"""The render layer of the ``featstore`` command line: click commands that parse
arguments, call one function of :mod:`featstore.cli.actions` and render the result, as
rich tables for people or as JSON with ``--json`` for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

import featstore as fs
from featstore.cli.actions import (
    DEFAULT_STORE,
    EXPORT_FORMATS,
    LISTABLE,
    PREVIEW_ROWS,
    apply_definitions,
    explain_row,
    gc_store,
    historical_features,
    init_project,
    init_store,
    latest_features,
    lineage_export,
    lineage_path,
    lineage_walk,
    list_objects,
    load_definitions,
    log_prediction_batch,
    materialize_incremental_views,
    materialize_views,
    model_details,
    open_store,
    openlineage_events,
    parse_json_object,
    parse_pairs,
    plan_definitions,
    register_model_version,
    rollback_alias,
    set_alias,
    view_details,
)
from featstore.cli.project import PROJECT_FILE, Project, find_project
from featstore.errors import ConfigError, FeatstoreError
from featstore.lineage import NODE_KINDS


class _ReportedError(click.ClickException):
    """A featstore error shown as ``error: <message>`` with exit status 1, or under
    ``--json`` as ``{"error": <message>, "type": <class>}`` on stderr."""

    exit_code = 1

    def __init__(self, message: str, *, kind: str, as_json: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        if self.as_json:
            error = {"error": self.format_message(), "type": self.kind}
            click.echo(json.dumps(error), err=True)
        else:
            click.echo(f"error: {self.format_message()}", err=True)


class _ReportedUsageError(_ReportedError):
    """A usage error under ``--json``: exit status 2, like click's own."""

    exit_code = 2


class _Group(click.Group):
    """Turns featstore errors (and OS errors such as an unwritable --out) into
    ``error: ...`` lines instead of tracebacks, and every error into one JSON line on
    stderr when ``--json`` was asked for (exit statuses unchanged)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # a usage error can come before the subcommand has parsed --json itself
        options = args[: args.index("--")] if "--" in args else args
        ctx.meta[_JSON_IN_ARGS] = "--json" in options
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeatstoreError as exc:
            raise _ReportedError(
                str(exc), kind=type(exc).__name__, as_json=_json_asked(ctx)
            ) from exc
        except BrokenPipeError:
            # the reader went away (`featstore list | head`): stop quietly, as a shell
            # tool does, with stdout pointed at nothing so its flush at exit cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            ctx.exit(141)
        except OSError as exc:
            where = f": {exc.filename!r}" if exc.filename else ""
            raise _ReportedError(
                f"{exc.strerror or exc}{where}", kind=type(exc).__name__, as_json=_json_asked(ctx)
            ) from exc
        except click.UsageError as exc:
            if not _json_asked(ctx):
                raise
            raise _ReportedUsageError(
                exc.format_message(), kind="UsageError", as_json=True
            ) from exc


_JSON_IN_ARGS = "featstore.json_in_args"


def _json_asked(ctx: click.Context) -> bool:
    """Whether the command was given --json: as parsed (by the option's callback), or
    as found among the arguments (a usage error can come before --json is parsed, and
    the monitoring commands parse their own)."""
    state = ctx.find_object(_State)
    if state is not None and state.json:
        return True
    return bool(ctx.meta.get(_JSON_IN_ARGS))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _emit(as_json: bool, data: Any, render: Callable[[Any], None]) -> None:
    if as_json:
        _echo_json(data)
    else:
        render(data)


def _console() -> Any:
    from rich.console import Console

    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(highlight=False, width=None if wide else 160)


def _cell(value: Any) -> Any:
    from rich.text import Text

    if value is None:
        return Text("-", style="dim")
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, float):
        value = f"{value:.6g}"
    return Text(str(value))


def _print(title: str | None, table: Any) -> None:
    from rich.text import Text

    console = _console()
    if title:
        console.print(Text(title, style="bold"))
    console.print(table)


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    _print(title, table)


def _pairs(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """A title and aligned ``key  value`` lines."""
    click.echo(click.style(title, bold=True))
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        click.echo(f"{click.style(key.ljust(width), bold=True)}  {_cell(value).plain}")


def _n(count: int, noun: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _instant(text: str | None) -> str | None:
    """An event-time bound for people: ``2024-04-01 00:00:00`` (microseconds if any)."""
    if text is None:
        return None
    text = text.replace("T", " ")
    return text.removesuffix(".000000")


def _clock(text: str | None) -> str | None:
    """A wall-clock record time for people, to the second."""
    return None if text is None else text.replace("T", " ")[:19]


def _duration(us: int | None) -> str | None:
    """``30d``, ``1d 6h``, ``90m``: a TTL or lookback in microseconds, for people."""
    if us is None:
        return None
    left, parts = us, []
    for unit, size in (
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
    ):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left or not parts:
        parts.append(f"{left}us")
    return " ".join(parts)


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Note on the context object that --json was asked for: errors are JSON too."""
    state = ctx.find_object(_State)
    if value and state is not None:
        state.json = True
    return value


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    callback=_remember_json,
    help="Print machine-readable JSON instead of tables (errors too, on stderr).",
)
defs_option = click.option(
    "--defs",
    "defs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Python file of definitions to apply first (definitions are code, never read "
    f"from the store; default: the project's, from {PROJECT_FILE}).",
)
views_option = click.option(
    "--view",
    "views",
    multiple=True,
    metavar="NAME",
    help="Only this view (repeatable; default: every view DEFS defines).",
)


class _State:
    """What the root group parsed, shared with every command through ``ctx.obj``."""

    def __init__(self, store_path: Path, *, store_given: bool) -> None:
        self.given_store = store_path
        self.store_given = store_given  # --store or FEATSTORE_STORE, not the default
        self.json = False
        self._project: Project | None = None
        self._looked = False

    @property
    def project(self) -> Project | None:
        """The project around the current directory (read once), or None."""
        if not self._looked:
            self._project = find_project()
            self._looked = True
        return self._project

    @property
    def store_path(self) -> Path:
        """--store (or FEATSTORE_STORE) when given, else the project's store, else the
        default ``feature_repo``."""
        if self.store_given or self.project is None:
            return self.given_store
        return self.project.store

    def definitions(self, given: Path | None) -> Path:
        """The definitions file: ``given``, else the project's."""
        if given is not None:
            return given
        if self.project is None:
            raise ConfigError(
                f"no definitions file: pass one (DEFS or --defs), or run inside a featstore "
                f"project (a directory with a {PROJECT_FILE}, created by 'featstore init')"
            )
        if not self.project.definitions.is_file():
            raise ConfigError(
                f"project file {str(self.project.file)!r} names the definitions file "
                f"{str(self.project.definitions)!r}, which does not exist; create it or fix "
                f"the key 'definitions'"
            )
        return self.project.definitions


def _state(ctx: click.Context) -> _State:
    state = ctx.find_object(_State)
    assert state is not None
    return state


def _store(ctx: click.Context, *, read_only: bool = False) -> fs.FeatureStore:
    """The store named by --store (or the project), closed when the command ends."""
    return ctx.with_resource(open_store(_state(ctx).store_path, read_only=read_only))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_path",
    envvar="FEATSTORE_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    show_envvar=True,
    type=click.Path(path_type=Path),
    help=f"The store directory (default: the store of the {PROJECT_FILE} project around "
    "the current directory, else feature_repo).",
)
@click.version_option(fs.__version__, prog_name="featstore")
@click.pass_context
def cli(ctx: click.Context, store_path: Path) -> None:
    """featstore: Polars feature definitions, a Parquet offline store, point-in-time
    training sets, a model registry and lineage."""
    source = ctx.get_parameter_source("store_path")
    given = source not in (None, click.core.ParameterSource.DEFAULT)
    ctx.obj = _State(store_path, store_given=given)


# -- init / apply ----------------------------------------------------------------------


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--store-only",
    is_flag=True,
    help="Create only a store at PATH (default: --store), no project files.",
)
@click.option(
    "--catalog",
    metavar="URL",
    envvar="FEATSTORE_CATALOG",
    help="Keep the catalog in PostgreSQL (postgresql://user@host:port/db) instead of "
    "the embedded SQLite file; recorded without its password.",
)
@json_option
@click.pass_context
def init(
    ctx: click.Context, path: Path | None, store_only: bool, catalog: str | None, as_json: bool
) -> None:
    """Create a project in PATH (default: the current directory): featstore.toml,
    features.py, sample data under data/ and an empty store.

    With --store-only, with --catalog, or with --store (or FEATSTORE_STORE) and no PATH,
    create only a store, at PATH or --store (a project's store takes FEATSTORE_CATALOG).
    An existing project or store is left as it is; a non-empty directory that is neither
    is refused.
    """
    state = _state(ctx)
    catalog_given = ctx.get_parameter_source("catalog") is click.core.ParameterSource.COMMANDLINE
    if store_only or catalog_given or (path is None and state.store_given):
        info = init_store(path if path is not None else state.given_store, catalog=catalog)
        if as_json:
            _echo_json(info)
        elif info["created"]:
            click.echo(f"created feature store at {info['path']}")
        else:
            click.echo(f"feature store at {info['path']} already exists")
        return
    info = init_project(path if path is not None else Path.cwd(), catalog=catalog)
    _emit(as_json, info, _render_project)


def _render_project(info: dict[str, Any]) -> None:
    root = Path(info["path"])
    if info["created"]:
        click.echo(f"created featstore project in {root}")
        for name in (PROJECT_FILE, "features.py", "data/transactions.parquet"):
            click.echo(f"  {name}")
        click.echo("  data/entities.parquet")
        click.echo(f"  {Path(info['store']).relative_to(root)}/  (the store)")
    else:
        click.echo(f"featstore project in {root} already exists (nothing changed)")
    click.echo("next:")
    if root != Path.cwd().absolute():
        click.echo(f"  cd {root}")
    for command in info["next"]:
        click.echo(f"  {command}")


def _render_applied(applied: list[dict[str, Any]]) -> None:
    counts = {s: sum(a["status"] == s for a in applied) for s in ("new", "updated", "unchanged")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    _table(
        f"applied {_n(len(applied), 'definition')} ({summary})",
        ["kind", "name", "version", "status"],
        [
            [
                a["kind"],
                a["name"],
                a["version"],
                f"updated from {a['previous_version']}"
                if a["status"] == "updated"
                else a["status"],
            ]
            for a in applied
        ],
    )


defs_argument = click.argument(
    "defs", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@cli.command()
@defs_argument
@json_option
@click.pass_context
def apply(ctx: click.Context, defs: Path | None, as_json: bool) -> None:
    """Register the definitions in the Python file DEFS (default: the project's).

    Applies the list named `definitions` if DEFS has one, else every Entity, Source,
    FeatureView and FeatureService at module level.
    """
    definitions = load_definitions(_state(ctx).definitions(defs))
    applied = apply_definitions(_store(ctx), definitions)
    if as_json:
        _echo_json(applied)
    else:
        _render_applied(applied)


def _render_plan(planned: list[dict[str, Any]]) -> None:
    counts = {s: sum(a["status"] == s for a in planned) for s in ("new", "changed", "unchanged")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    _table(
        f"apply would register {_n(len(planned), 'definition')} ({summary})",
        ["kind", "name", "status", "version"],
        [
            [
                a["kind"],
                a["name"],
                a["status"],
                f"{a['previous_version']} -> {a['version']}"
                if a["status"] == "changed"
                else a["version"],
            ]
            for a in planned
        ],
    )
    if not any(a["status"] != "unchanged" for a in planned):
        click.echo("nothing to change")


@cli.command()
@defs_argument
@json_option
@click.pass_context
def plan(ctx: click.Context, defs: Path | None, as_json: bool) -> None:
    """Show what `apply` would change, writing nothing: each definition in DEFS (default:
    the project's) as new, changed (old -> new version) or unchanged."""
    definitions = load_definitions(_state(ctx).definitions(defs))
    planned = plan_definitions(_store(ctx, read_only=True), definitions)
    _emit(as_json, planned, _render_plan)


# -- list / show -----------------------------------------------------------------------


_LIST_COLUMNS: dict[str, tuple[list[str], Callable[[dict[str, Any]], list[Any]]]] = {
    "entities": (
        ["name", "version", "join keys", "description"],
        lambda r: [r["name"], r["version"], r["join_keys"], r["description"] or None],
    ),
    "sources": (
        ["name", "version", "kind", "location", "timestamp", "created timestamp"],
        lambda r: [
            r["name"],
            r["version"],
            r["source_kind"],
            r.get("path") or r.get("query") or "(in memory)",
            r["timestamp_column"],
            r["created_timestamp_column"],
        ],
    ),
    "views": (
        ["name", "version", "entity", "source", "features", "ttl"],
        lambda r: [
            r["name"],
            r["version"],
            r["entity"],
            r["source"],
            list(r["features"]),
            _duration(r["ttl_us"]),
        ],
    ),
    "services": (
        ["name", "version", "features"],
        lambda r: [
            r["name"],
            r["version"],
            [f"{i['view']}:{f}" for i in r["features"] for f in i["features"]],
        ],
    ),
    "runs": (
        ["run", "view", "version", "start", "end", "rows", "finished"],
        lambda r: [
            r["run_id"],
            r["view"],
            r["view_version"],
            _instant(r["start"]),
            _instant(r["end"]),
            r["rows"],
            _clock(r["finished_at"]),
        ],
    ),
    "training-sets": (
        ["id", "rows", "mode", "features", "created"],
        lambda r: [
            r["id"],
            r["rows"],
            r["manifest"]["mode"],
            [f"{i['view']}:{f}" for i in r["manifest"]["features"] for f in i["features"]],
            _clock(r["created_at"]),
        ],
    ),
    "models": (
        ["name", "latest version", "versions", "aliases"],
        lambda r: [r["name"], r["latest_version"], r["versions"], r["aliases"] or None],
    ),
}


@cli.command("list")
@click.argument("what", type=click.Choice(LISTABLE), default="views", required=False)
@json_option
@click.pass_context
def list_command(ctx: click.Context, what: str, as_json: bool) -> None:
    """List entities, sources, views (the default), services, runs, training-sets or models."""
    records = list_objects(_store(ctx), what)
    if as_json:
        _echo_json(records)
        return
    if not records:
        click.echo(f"no {what.replace('-', ' ')} yet")
        return
    columns, row = _LIST_COLUMNS[what]
    _table(f"{what} ({len(records)})", columns, [row(r) for r in records])


@cli.group()
def show() -> None:
    """Show one view or model in detail."""


@show.command("view")
@click.argument("name")
@json_option
@click.pass_context
def show_view(ctx: click.Context, name: str, as_json: bool) -> None:
    """A feature view: its features and dtypes, TTL, and version history."""
    info = view_details(_store(ctx), name)
    if as_json:
        _echo_json(info)
        return
    done = info["materialized"]
    _pairs(
        f"feature view {info['name']}",
        [
            ("version", info["version"]),
            ("entity", f"{info['entity']} (join keys: {', '.join(info['join_keys'])})"),
            ("source", f"{info['source']}@{info['source_version']}"),
            ("timestamp", info["timestamp_column"]),
            (
                "created timestamp",
                f"{info['created_timestamp_column']} (not in the output: bitemporal reads refused)"
                if info["created_timestamp_column"] and info.get("has_created") is False
                else info["created_timestamp_column"],
            ),
            ("ttl", _duration(info["ttl_us"])),
            ("lookback", _duration(info["lookback_us"])),
            ("description", info["description"] or None),
            ("owner", info["owner"] or None),
            ("tags", info["tags"] or None),
            (
                "materialized",
                f"{_n(done['runs'], 'run')}, {_n(done['rows'], 'row')}, until "
                f"{_instant(done['until'])}"
                if done["runs"]
                else "never",
            ),
        ],
    )
    _table("features", ["feature", "dtype"], list(info["features"].items()))
    if info.get("aggregations"):
        _table(
            "aggregations (exact at each entity timestamp: docs/windows.md)",
            ["feature", "function", "column", "window"],
            [
                [a["name"], a["fn"], a["column"], _duration(a["window_us"])]
                for a in info["aggregations"]
            ],
        )
    _table(
        "versions",
        ["version", "registered", "current", "features"],
        [
            [
                v["version"],
                _clock(v["registered_at"]),
                "yes" if v["current"] else "",
                list(v["features"]),
            ]
            for v in info["versions"]
        ],
    )


@show.command("model")
@click.argument("name")
@json_option
@click.pass_context
def show_model(ctx: click.Context, name: str, as_json: bool) -> None:
    """A model: its versions with metrics and training sets, and its aliases (the same
    as `featstore models show`)."""
    _emit(as_json, model_details(_store(ctx), name), _render_model)


def _render_model(info: dict[str, Any]) -> None:
    metric_names = sorted({m for v in info["versions"] for m in v["metrics"]})
    _table(
        f"model {info['name']}",
        ["version", "created", *metric_names, "aliases", "training set"],
        [
            [
                v["version"],
                _clock(v["created_at"]),
                *(v["metrics"].get(m) for m in metric_names),
                v["aliases"] or None,
                v["training_set"],
            ]
            for v in info["versions"]
        ],
    )
    if info["aliases"]:
        _table(
            "aliases",
            ["alias", "version", "history"],
            [
                [a, v, " -> ".join(str(h["version"]) for h in info["alias_history"][a])]
                for a, v in sorted(info["aliases"].items())
            ],
        )


# -- materialize -----------------------------------------------------------------------


def _render_runs(result: dict[str, Any]) -> None:
    if any(a["status"] != "unchanged" for a in result["applied"]):
        _render_applied(result["applied"])
    if not result["runs"]:
        click.echo("nothing to materialize")
        return
    _table(
        f"materialized {_n(len(result['runs']), 'run')}",
        ["view", "version", "start", "end", "rows", "files", "run"],
        [
            [
                r["view"],
                r["view_version"],
                _instant(r["start"]),
                _instant(r["end"]),
                r["rows"],
                len(r["files"]),
                r["run_id"],
            ]
            for r in result["runs"]
        ],
    )


@cli.command()
@click.argument("start")
@click.argument("end")
@defs_option
@views_option
@json_option
@click.pass_context
def materialize(
    ctx: click.Context,
    start: str,
    end: str,
    defs: Path | None,
    views: tuple[str, ...],
    as_json: bool,
) -> None:
    """Compute and store feature rows with event time in [START, END) (ISO 8601)."""
    path = _state(ctx).definitions(defs)
    result = materialize_views(_store(ctx), path, start, end, views)
    _emit(as_json, result, _render_runs)


@cli.command("materialize-incremental")
@click.argument("end")
@defs_option
@views_option
@json_option
@click.pass_context
def materialize_incremental(
    ctx: click.Context, end: str, defs: Path | None, views: tuple[str, ...], as_json: bool
) -> None:
    """Materialize each view from where its last run ended (or its first event) to END."""
    path = _state(ctx).definitions(defs)
    result = materialize_incremental_views(_store(ctx), path, end, views)
    _emit(as_json, result, _render_runs)


# -- retrieval -------------------------------------------------------------------------


def _check_request(features: tuple[str, ...], service: str | None) -> None:
    if bool(features) == bool(service):
        raise click.UsageError("pass either --feature (one or more) or --service, not both")


def _render_retrieval(summary: dict[str, Any]) -> None:
    views = ", ".join(f"{v['view']}@{v['version']}" for v in summary["views"])
    when = f" as of {_instant(summary['as_of'])}" if summary["as_of"] else ""
    preview = summary["preview"]
    if preview is None:
        click.echo(f"wrote {summary['rows']} rows to {summary['out']}{when}")
    else:
        shown = len(preview["rows"])
        _table(
            f"{summary['rows']} rows x {len(summary['columns'])} columns{when} "
            f"(first {shown} shown; --out FILE writes them all)",
            preview["columns"],
            _preview_rows(preview),
        )
    click.echo(
        f"content id {summary['content_id']}; views {views}; "
        f"{summary['files_read']} offline files read"
    )
    _table(
        None,
        ["feature column", "dtype", "nulls"],
        [[f["column"], f["dtype"], f["nulls"]] for f in summary["features"]],
    )
    for cov in summary["coverage"]:
        click.echo(f"coverage {cov['line']}")
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if summary["training_set"]:
        click.echo(f"saved training set {summary['training_set']}")


def _preview_rows(preview: dict[str, Any]) -> list[list[Any]]:
    """Preview rows for people: instants as ``2024-03-02 14:00:00``."""
    instants = [d.startswith("Datetime") for d in preview["dtypes"]]
    return [
        [
            _instant(v) if is_instant and isinstance(v, str) else v
            for v, is_instant in zip(row, instants, strict=True)
        ]
        for row in preview["rows"]
    ]


feature_option = click.option(
    "--feature",
    "--features",
    "-f",
    "features",
    multiple=True,
    metavar="VIEW:FEATURE",
    help="A feature reference (view:feature, view@version:feature or view:*); repeatable.",
)
service_option = click.option("--service", metavar="NAME", help="A registered feature service.")
out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The Parquet file to write (default: print a preview of the first rows).",
)
rows_option = click.option(
    "--rows",
    "preview_rows",
    type=click.IntRange(min=0),
    default=PREVIEW_ROWS,
    show_default=True,
    help="Without --out: how many rows the preview shows.",
)
strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Fail instead of warning when a view gives every row a null (nothing materialized in reach).",
)
full_names_option = click.option(
    "--full-feature-names", is_flag=True, help="Name columns view__feature."
)


@cli.command()
@click.argument("entity", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@feature_option
@service_option
@out_option
@full_names_option
@click.option(
    "--bitemporal", is_flag=True, help="Also hide values created after each entity row's timestamp."
)
@click.option(
    "--timestamp-column",
    metavar="COLUMN",
    help="The entity timestamp column (default: event_timestamp, or the only Datetime column).",
)
@click.option("--save-as", metavar="NAME", help="Also save the result as a named training set.")
@strict_option
@rows_option
@json_option
@click.pass_context
def historical(
    ctx: click.Context,
    entity: Path,
    features: tuple[str, ...],
    service: str | None,
    out: Path | None,
    full_feature_names: bool,
    bitemporal: bool,
    timestamp_column: str | None,
    save_as: str | None,
    strict: bool,
    preview_rows: int,
    as_json: bool,
) -> None:
    """Point-in-time join of the ENTITY Parquet file (keys + timestamps) with features."""
    _check_request(features, service)
    summary = historical_features(
        _store(ctx),
        entity,
        out,
        features=features,
        service=service,
        full_feature_names=full_feature_names,
        bitemporal=bitemporal,
        timestamp_column=timestamp_column,
        save_as=save_as,
        strict=strict,
        preview_rows=preview_rows,
    )
    _emit(as_json, summary, _render_retrieval)


@cli.command()
@click.argument("keys", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@feature_option
@service_option
@click.option("--as-of", metavar="TS", help="ISO 8601 instant (default: now).")
@out_option
@full_names_option
@strict_option
@rows_option
@json_option
@click.pass_context
def latest(
    ctx: click.Context,
    keys: Path,
    features: tuple[str, ...],
    service: str | None,
    as_of: str | None,
    out: Path | None,
    full_feature_names: bool,
    strict: bool,
    preview_rows: int,
    as_json: bool,
) -> None:
    """Each key's latest feature values, for batch scoring; KEYS is a Parquet file of join keys."""
    _check_request(features, service)
    summary = latest_features(
        _store(ctx),
        keys,
        out,
        features=features,
        service=service,
        as_of=as_of,
        full_feature_names=full_feature_names,
        strict=strict,
        preview_rows=preview_rows,
    )
    _emit(as_json, summary, _render_retrieval)


# -- models ----------------------------------------------------------------------------


@cli.group()
def models() -> None:
    """The model registry: register versions, show them, move aliases (list models with
    `featstore list models`)."""


def _render_registered(info: dict[str, Any]) -> None:
    metrics = ", ".join(f"{k}={v:.6g}" for k, v in sorted(info["metrics"].items()))
    click.echo(f"registered {info['id']}" + (f" ({metrics})" if metrics else ""))
    if info["training_set"]:
        click.echo(f"training set {info['training_set']}")
    if info["artifact"]:
        sha = info["artifact_sha256"]
        click.echo(f"artifact {info['artifact']}" + (f" (sha256 {sha[:12]})" if sha else ""))


@models.command("register")
@click.argument("name")
@click.option(
    "--training-set",
    metavar="ID_OR_NAME",
    help="The saved training set it was fit on: an id, or a name (the newest of that name).",
)
@click.option(
    "--metrics", "metrics_json", metavar="JSON", help="Metrics as JSON: '{\"auc\": 0.8}'."
)
@click.option(
    "--metric", "metric_pairs", multiple=True, metavar="NAME=NUMBER", help="A metric; repeatable."
)
@click.option(
    "--params", "params_json", metavar="JSON", help="Parameters as JSON: '{\"depth\": 3}'."
)
@click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter (the value read as JSON when it is, else as text); repeatable.",
)
@click.option("--tag", "tag_pairs", multiple=True, metavar="NAME=VALUE", help="A tag; repeatable.")
@click.option(
    "--artifact",
    metavar="PATH_OR_URI",
    help="Where the trained model is: a local file (recorded as an absolute path, with "
    "its hash) or a URI such as s3://bucket/model.json.",
)
@click.option("--description", help="What this version is (kept as the tag 'description').")
@json_option
@click.pass_context
def models_register(
    ctx: click.Context,
    name: str,
    training_set: str | None,
    metrics_json: str | None,
    metric_pairs: tuple[str, ...],
    params_json: str | None,
    param_pairs: tuple[str, ...],
    tag_pairs: tuple[str, ...],
    artifact: str | None,
    description: str | None,
    as_json: bool,
) -> None:
    """Register a new version of model NAME (versions count up from 1 per name)."""
    metrics = parse_json_object(metrics_json, "--metrics")
    metrics |= parse_pairs(metric_pairs, "--metric", numbers=True)
    params = parse_json_object(params_json, "--params")
    params |= parse_pairs(param_pairs, "--param", numbers=False)
    tags = {k: str(v) for k, v in parse_pairs(tag_pairs, "--tag", numbers=False).items()}
    info = register_model_version(
        _store(ctx),
        name,
        training_set,
        artifact=artifact,
        params=params,
        metrics=metrics,
        tags=tags,
        description=description,
    )
    _emit(as_json, info, _render_registered)


@models.command("show")
@click.argument("name")
@json_option
@click.pass_context
def models_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A model: its versions with metrics and training sets, its aliases and their
    history."""
    _emit(as_json, model_details(_store(ctx), name), _render_model)


def _render_alias(info: dict[str, Any]) -> None:
    before = info["previous_version"]
    was = f" (was {before})" if before is not None else ""
    click.echo(f"model {info['name']!r}: alias {info['alias']!r} -> version {info['version']}{was}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@json_option
@click.pass_context
def models_alias(ctx: click.Context, name: str, alias: str, version: int, as_json: bool) -> None:
    """Point ALIAS (e.g. production) of model NAME at VERSION."""
    info = set_alias(_store(ctx), name, alias, version)
    _emit(as_json, info, _render_alias)


@models.command("rollback")
@click.argument("name")
@click.argument("alias")
@json_option
@click.pass_context
def models_rollback(ctx: click.Context, name: str, alias: str, as_json: bool) -> None:
    """Move ALIAS of model NAME back to the version it named before its latest change."""
    info = rollback_alias(_store(ctx), name, alias)
    _emit(as_json, info, _render_alias)


# -- predictions -----------------------------------------------------------------------


@cli.group()
def predictions() -> None:
    """Prediction batches: what a model version predicted, traced back by lineage."""


def _render_batch(info: dict[str, Any]) -> None:
    click.echo(f"logged {_n(info['rows'], 'prediction')} of {info['model_id']} as {info['id']}")
    click.echo(f"as of {_instant(info['as_of'])}; written to {info['path']}")
    if info["served_features"]:
        click.echo(f"served features recorded: {', '.join(info['served_features'].values())}")


@predictions.command("log")
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@feature_option
@service_option
@click.option(
    "--as-of",
    metavar="TS",
    help="The moment the predictions describe (ISO 8601); with --feature, the features' "
    "as-of time (default: now).",
)
@click.option(
    "--timestamp-column", metavar="COLUMN", help="A column holding each row's as-of time."
)
@json_option
@click.pass_context
def predictions_log(
    ctx: click.Context,
    model: str,
    file: Path,
    features: tuple[str, ...],
    service: str | None,
    as_of: str | None,
    timestamp_column: str | None,
    as_json: bool,
) -> None:
    """Record the predictions in the Parquet FILE (entity keys and predictions) as a
    batch of MODEL: NAME (its latest version), NAME@VERSION or NAME:ALIAS.

    With --feature (or --service), the predictions were scored from those features'
    latest values as of --as-of: they are looked up again for FILE's keys, which pins the
    feature files for `lineage explain` and `skew`.
    """
    if features and service:
        raise click.UsageError("pass either --feature (one or more) or --service, not both")
    info = log_prediction_batch(
        _store(ctx),
        model,
        file,
        features=features,
        service=service,
        as_of=as_of,
        timestamp_column=timestamp_column,
    )
    _emit(as_json, info, _render_batch)


# -- lineage ---------------------------------------------------------------------------


@cli.group()
def lineage() -> None:
    """Lineage queries and exports. NODE is a node id such as source:transactions,
    view:spending@3f2a1c9b0d4e or model:churn@3; view:NAME, service:NAME, model:NAME and
    training_set:NAME name the current, latest or newest one."""


kind_option = click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(NODE_KINDS),
    help="Only nodes of this kind (repeatable).",
)


def _render_nodes(info: dict[str, Any]) -> None:
    if "counts" in info:
        total = sum(info["counts"].values())
        _table(
            f"{info['direction']} of {info['node']} ({total:,})",
            ["kind", "nodes"],
            [[kind, f"{n:,}"] for kind, n in info["counts"].items()],
        )
        return
    if not info["nodes"]:
        click.echo(f"nothing {info['direction']} of {info['node']}")
        return
    _table(
        f"{info['direction']} of {info['node']} ({len(info['nodes'])})",
        ["node", "kind", "name", "created"],
        [[n["id"], n["kind"], n["name"], _clock(n["created_at"])] for n in info["nodes"]],
    )


def _walk_command(direction: str) -> Callable[..., None]:
    @click.argument("node")
    @kind_option
    @click.option("--count", is_flag=True, help="Only how many nodes of each kind.")
    @json_option
    @click.pass_context
    def command(
        ctx: click.Context, node: str, kinds: tuple[str, ...], count: bool, as_json: bool
    ) -> None:
        info = lineage_walk(_store(ctx), node, direction=direction, kinds=kinds, count=count)
        _emit(as_json, info, _render_nodes)

    return command


lineage.command("upstream", help="Everything NODE depends on (its ancestors).")(
    _walk_command("upstream")
)
lineage.command("downstream", help="Everything affected if NODE changes (its descendants).")(
    _walk_command("downstream")
)


@lineage.command("path")
@click.argument("source")
@click.argument("target")
@json_option
@click.pass_context
def lineage_path_command(ctx: click.Context, source: str, target: str, as_json: bool) -> None:
    """A shortest path from SOURCE down to TARGET."""
    path = lineage_path(_store(ctx), source, target)
    if as_json:
        _echo_json(path)
        return
    click.echo(path[0])
    for node in path[1:]:
        click.echo(f"  -> {node}")


@lineage.command("explain")
@click.argument("batch")
@click.argument("row", type=int)
@json_option
@click.pass_context
def lineage_explain(ctx: click.Context, batch: str, row: int, as_json: bool) -> None:
    """Explain prediction ROW of prediction batch BATCH: model, training set, each feature
    value with its event time and run, and the source files behind them."""
    info = explain_row(_store(ctx), batch, row)
    if as_json:
        _echo_json(info)
        return
    model = info["model_version"]
    _pairs(
        f"{info['prediction_batch']} row {info['row']}",
        [
            ("model", model["id"]),
            ("training set", info["training_set"]),
            ("as of", info["as_of"]),
            ("prediction", info["prediction"]),
        ],
    )
    _table(
        "features",
        ["view", "feature", "value", "event time", "run"],
        [
            [f["view_node"], f["feature"], f["value"], f["event_timestamp"], f["run"]]
            for f in info["features"]
        ],
    )
    if info["source_files"]:
        _table(
            "source files",
            ["path", "rows", "sha256", "unchanged"],
            [
                [
                    s["path"],
                    s.get("rows"),
                    (s.get("sha256") or "")[:12] or None,
                    {True: "yes", False: "NO", None: "?"}[s["unchanged"]],
                ]
                for s in info["source_files"]
            ],
        )


def _write_or_echo(text: str, out: Path | None, what: str) -> None:
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    out.write_text(text)
    click.echo(f"wrote {what} to {out}", err=True)


@lineage.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="json", show_default=True
)
@click.option("--node", metavar="NODE", help="Only this node and its neighbourhood.")
@click.option(
    "--direction",
    type=click.Choice(["up", "down", "both"]),
    default="both",
    show_default=True,
    help="With --node: ancestors, descendants or both.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.pass_context
def lineage_export_command(
    ctx: click.Context, fmt: str, node: str | None, direction: str, out: Path | None
) -> None:
    """Export the lineage graph as node-link JSON, GraphML, DOT or Mermaid."""
    info = lineage_export(_store(ctx), fmt, node=node, direction=direction)
    _write_or_echo(
        info["text"], out, f"{_n(info['nodes'], 'node')} and {_n(info['edges'], 'edge')}"
    )


@lineage.command("openlineage")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.pass_context
def lineage_openlineage(ctx: click.Context, out: Path | None) -> None:
    """OpenLineage RunEvents as JSON lines: START and COMPLETE of each materialization
    run, training set, model version and prediction batch (docs/openlineage.md)."""
    events = openlineage_events(_store(ctx))
    text = "".join(json.dumps(e, sort_keys=True, default=_json_default) + "\n" for e in events)
    _write_or_echo(text, out, _n(len(events), "event"))


# -- maintenance -----------------------------------------------------------------------


@cli.command()
@json_option
@click.pass_context
def gc(ctx: click.Context, as_json: bool) -> None:
    """Delete files no reader can see (dead runs' leftovers, expired superseded files)."""
    info = gc_store(_store(ctx))
    if as_json:
        _echo_json(info)
        return
    click.echo(f"removed {_n(len(info['removed']), 'file')}")
    for path in info["removed"]:
        click.echo(f"  {path}")


from featstore.cli.monitor import register as _register_monitoring  # noqa: E402

_register_monitoring(cli)  # stats, drift, skew, labels, performance, evaluate, compare

from featstore.cli.ui import register as _register_ui  # noqa: E402

_register_ui(cli)  # ui, lineage draw


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``featstore`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="featstore")
    raise SystemExit(0)  # cli.main always exits; this satisfies the type checker


if __name__ == "__main__":
    main()
