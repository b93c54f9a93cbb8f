"""The data layer of the ``featstore`` command line: plain functions that take a
:class:`~featstore.FeatureStore` (or a path) and return plain data (dicts, lists,
strings). :mod:`featstore.cli.commands` renders them."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

import featstore as fs
from featstore.cli.project import scaffold_project
from featstore.config import CONFIG_FILE
from featstore.errors import (
    ConfigError,
    DefinitionError,
    LineageError,
    NotFoundError,
    PointInTimeError,
)
from featstore.lineage import Node
from featstore.lineage_export import format_names
from featstore.lineage_ids import NodeKind, match_prefix, node_id, strip_prefix
from featstore.materialize import MaterializationRun
from featstore.timeutil import iso

Definition = fs.Entity | fs.Source | fs.FeatureView | fs.FeatureService
DEFINITION_TYPES = (fs.Entity, fs.Source, fs.FeatureView, fs.FeatureService)
CATALOG_KINDS = ("entity", "source", "feature_view", "feature_service")
LISTABLE = ("entities", "sources", "views", "services", "runs", "training-sets", "models")
EXPORT_FORMATS = format_names()  # json, graphml, dot, mermaid: featstore.lineage_export
DEFAULT_STORE = "feature_repo"
PREVIEW_ROWS = 10


# -- stores --------------------------------------------------------------------------


def init_store(path: str | os.PathLike[str], *, catalog: str | None = None) -> dict[str, Any]:
    """Create a store at ``path`` (or open an existing one); ``created`` says which.
    ``catalog``: a PostgreSQL URL for the new store's catalog (default: SQLite)."""
    target = Path(path).absolute()
    existed = (target / CONFIG_FILE).is_file()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"cannot create a store at {str(target)!r}: it is a file")
    if not existed and target.is_dir() and any(target.iterdir()):
        raise ConfigError(
            f"cannot create a store at {str(target)!r}: the directory is not empty and holds "
            f"no {CONFIG_FILE}; pick an empty or new directory"
        )
    with fs.FeatureStore(target, progress=False, catalog=catalog if not existed else None) as s:
        location = s.catalog.location
    return {"path": str(target), "created": not existed, "catalog": location}


def init_project(
    directory: str | os.PathLike[str], *, catalog: str | None = None
) -> dict[str, Any]:
    """Scaffold a runnable project in ``directory`` (see
    :func:`featstore.cli.project.scaffold_project`) and create its store; an existing
    project is kept as it is. ``catalog`` as for :func:`init_store`."""
    info = scaffold_project(directory)
    store = init_store(info["store"], catalog=catalog)
    return {**info, "store_created": store["created"], "catalog": store["catalog"]}


def open_store(
    path: str | os.PathLike[str], *, progress: bool | None = None, read_only: bool = False
) -> fs.FeatureStore:
    """Open the existing store at ``path``; ConfigError if there is none (a FeatureStore
    would silently create one). ``read_only`` opens it without writing anything."""
    target = Path(path).absolute()
    if not (target / CONFIG_FILE).is_file():
        raise ConfigError(
            f"no feature store at {str(target)!r}; create one with 'featstore --store "
            f"{path} init --store-only' (or a whole project with 'featstore init DIR'), or "
            f"point --store (or FEATSTORE_STORE) at an existing store"
        )
    return fs.FeatureStore(target, progress=progress, read_only=read_only)


# -- definitions ---------------------------------------------------------------------


def _catalog_kind(obj: Definition) -> str:
    if isinstance(obj, fs.Entity):
        return "entity"
    if isinstance(obj, fs.Source):
        return "source"
    if isinstance(obj, fs.FeatureView):
        return "feature_view"
    return "feature_service"


def load_definitions(path: str | os.PathLike[str]) -> list[Definition]:
    """Import the Python file at ``path`` and return its definitions.

    The list named ``definitions`` if the module has one, else every Entity, Source,
    FeatureView and FeatureService bound at module level, in definition order. The file's
    directory is on ``sys.path`` while it is imported, so it may import its neighbours.
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise DefinitionError(f"definitions file {str(path)!r} does not exist")
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:8]
    module_name = f"_featstore_defs_{file.stem.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot import {str(path)!r} as Python; is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    finders_before = set(sys.path_importer_cache)
    # registered while it runs (dataclasses and typing look a class's module up there),
    # forgotten afterwards, on every path: loading leaves no module behind
    sys.modules[module_name] = module
    sys.path.insert(0, str(file.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        where = _user_frame(exc, file)
        raise DefinitionError(
            f"cannot load definitions from {str(path)!r}: {type(exc).__name__}: {exc}{where}"
        ) from exc
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(file.parent))
        _forget_modules(module_name, before, file.parent)
        if str(file.parent) not in finders_before:
            sys.path_importer_cache.pop(str(file.parent), None)

    listed = getattr(module, "definitions", None)
    if listed is not None:
        if isinstance(listed, str | bytes) or not isinstance(listed, Iterable):
            raise DefinitionError(
                f"{str(path)!r}: 'definitions' must be a list of entities, sources, feature "
                f"views and services; found {type(listed).__name__}"
            )
        found = list(listed)
        for i, obj in enumerate(found):
            if not isinstance(obj, DEFINITION_TYPES):
                raise DefinitionError(
                    f"{str(path)!r}: definitions[{i}] is a {type(obj).__name__}, not an Entity, "
                    f"Source, FeatureView or FeatureService"
                )
    else:
        found = [v for v in vars(module).values() if isinstance(v, DEFINITION_TYPES)]
    unique: dict[int, Definition] = {}
    for obj in found:
        unique.setdefault(id(obj), obj)
    if not unique:
        raise DefinitionError(
            f"no definitions found in {str(path)!r}: define Entity, Source, FeatureView or "
            f"FeatureService objects at module level, or a list named 'definitions'"
        )
    return list(unique.values())


def _forget_modules(module_name: str, before: set[str], folder: Path) -> None:
    """Remove from ``sys.modules`` what loading a definitions file added: its own module
    and the modules it imported from its directory (``folder``, on ``sys.path`` while it
    ran), with their submodules. Libraries it imported for the first time stay: they are
    not the user's, and extension modules cannot be imported twice."""
    sys.modules.pop(module_name, None)
    added = [name for name in list(sys.modules) if name not in before]
    local: set[str] = set()
    for top in {name.partition(".")[0] for name in added} - before:
        spec = getattr(sys.modules.get(top), "__spec__", None)
        places = [getattr(spec, "origin", None)]
        places += getattr(spec, "submodule_search_locations", None) or ()
        # folder/<top>.py, folder/<top>/__init__.py, or the package folder/<top> itself
        if any(isinstance(p, str) and Path(p).parent in (folder, folder / top) for p in places):
            local.add(top)
    for name in added:
        if name.partition(".")[0] in local:
            sys.modules.pop(name, None)


def _user_frame(exc: BaseException, file: Path) -> str:
    """`` (at file:line)`` for the deepest traceback frame in the definitions file."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return ""  # its message already names the file and line
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == file]
    if not frames:
        return ""
    return f" (at {file.name}:{frames[-1].lineno})"


def _current_versions(store: fs.FeatureStore) -> dict[tuple[str, str], str]:
    return {(k, r.name): r.version for k in CATALOG_KINDS for r in store.list_definitions(k)}


def _changes(
    touched: Iterable[tuple[str, str]],
    before: Mapping[tuple[str, str], str],
    after: Mapping[tuple[str, str], str],
    changed: str,
) -> list[dict[str, Any]]:
    """Per definition, in kind then name order: its version, the one registered before,
    and ``new``, ``unchanged`` or ``changed`` (the word passed)."""
    out = []
    for kind, name in sorted(set(touched), key=lambda t: (CATALOG_KINDS.index(t[0]), t[1])):
        version = after[(kind, name)]
        previous = before.get((kind, name))
        status = "new" if previous is None else "unchanged" if previous == version else changed
        out.append(
            {
                "kind": kind,
                "name": name,
                "version": version,
                "previous_version": previous,
                "status": status,
            }
        )
    return out


def apply_definitions(
    store: fs.FeatureStore, definitions: Sequence[Definition]
) -> list[dict[str, Any]]:
    """Apply ``definitions`` and report, for each registered object (sources that views
    bring along included), its kind, name, version and whether it is new, updated or
    unchanged."""
    before = _current_versions(store)
    touched: dict[tuple[str, str], None] = {}
    for obj in definitions:
        touched[(_catalog_kind(obj), obj.name)] = None
        if isinstance(obj, fs.FeatureView):
            touched[("source", obj.source.name)] = None
    store.apply(definitions)
    return _changes(touched, before, _current_versions(store), "updated")


def plan_definitions(
    store: fs.FeatureStore, definitions: Sequence[Definition]
) -> list[dict[str, Any]]:
    """What applying ``definitions`` would change, writing nothing: per definition (the
    sources views bring along included) its version, the registered one, and ``new``,
    ``changed`` or ``unchanged``. Validated as ``apply`` validates (the same records)."""
    records, _ = store.definitions.records(definitions)
    planned = {(rec["kind"], rec["name"]): rec["version"] for rec in records}
    return _changes(planned, _current_versions(store), planned, "changed")


# -- listings and records ------------------------------------------------------------


def _training_set_summary(ts: Any) -> dict[str, Any]:
    return {
        "id": ts.id,
        "name": ts.name,
        "content_id": ts.content_id,
        "rows": ts.rows,
        "created_at": ts.created_at,
        "path": str(ts.path),
        "manifest": dict(ts.manifest),
    }


def list_objects(store: fs.FeatureStore, what: str) -> list[dict[str, Any]]:
    """Records of one kind: ``entities``, ``sources``, ``views``, ``services``, ``runs``
    (newest first), ``training-sets`` (oldest first) or ``models`` (one per name)."""
    # records as their dict views (the catalog's JSON): what --json prints, tables show
    if what == "entities":
        return [dict(r) for r in store.list_definitions("entity")]
    if what == "sources":
        return [dict(r) for r in store.list_definitions("source")]
    if what == "views":
        return [dict(r) for r in store.list_definitions("feature_view")]
    if what == "services":
        return [dict(r) for r in store.list_definitions("feature_service")]
    if what == "runs":
        return [dict(r) for r in store.runs()]
    if what == "training-sets":
        return [_training_set_summary(ts) for ts in store.list_training_sets()]
    if what == "models":
        return [dict(m) for m in store.list_models()]
    raise DefinitionError(f"cannot list {what!r}; choose one of {', '.join(LISTABLE)}")


def view_details(store: fs.FeatureStore, name: str) -> dict[str, Any]:
    """A view's current catalog record with ``versions`` (every registered version,
    oldest first, ``current`` marking the one retrieval uses) and ``materialized`` (runs
    of the current version, rows written, the latest end)."""
    record = store.get_feature_view(name)
    versions = [
        {
            "version": v.version,
            "registered_at": v.registered_at,
            "current": v.version == record.version,
            "features": v["features"],
            "source_version": v["source_version"],
        }
        for v in store.versions("feature_view", name)
    ]
    runs = [r for r in store.runs(name) if r.view_version == record.version]
    materialized = {
        "runs": len(runs),
        "rows": sum(r.rows for r in runs),
        "until": max((iso(r.end) for r in runs), default=None),
    }
    return {**record, "versions": versions, "materialized": materialized}


def model_details(store: fs.FeatureStore, name: str) -> dict[str, Any]:
    """A model's versions (oldest first, each with the aliases naming it), its current
    aliases and each alias's history."""
    store.get_model(name)  # NotFoundError with a suggestion for an unknown name
    aliases: dict[str, int] = next(
        (dict(m.aliases) for m in store.list_models() if m.name == name), {}
    )
    versions = [
        {
            "id": mv.id,
            **mv.to_record(),
            "aliases": sorted(a for a, v in aliases.items() if v == mv.version),
        }
        for mv in store.list_model_versions(name)
    ]
    history = {
        a: [
            {"action": e.action, "version": e.version, "at": e.at}
            for e in store.alias_history(name, a)
        ]
        for a in sorted(aliases)
    }
    return {"name": name, "aliases": aliases, "alias_history": history, "versions": versions}


# -- materialization ---------------------------------------------------------------


def _run_record(run: MaterializationRun) -> dict[str, Any]:
    """A run in the shape of its catalog record (``featstore list runs --json``)."""
    return {
        "id": run.id,
        "run_id": run.run_id,
        "view": run.view,
        "view_version": run.view_version,
        "start": iso(run.start),
        "end": iso(run.end),
        "rows": run.rows,
        "files": list(run.files),
        "inputs": [dataclasses.asdict(i) for i in run.inputs],
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }


def _view_names(definitions: Sequence[Definition]) -> list[str]:
    return [d.name for d in definitions if isinstance(d, fs.FeatureView)]


def materialize_views(
    store: fs.FeatureStore,
    defs: str | os.PathLike[str],
    start: str,
    end: str,
    views: Sequence[str] = (),
) -> dict[str, Any]:
    """Load and apply the definitions in ``defs``, then materialize ``[start, end)``
    for ``views`` (default: every feature view ``defs`` defines)."""
    definitions = load_definitions(defs)
    applied = apply_definitions(store, definitions)
    runs = store.materialize(start, end, list(views) or _view_names(definitions))
    return {"applied": applied, "runs": [_run_record(r) for r in runs]}


def materialize_incremental_views(
    store: fs.FeatureStore,
    defs: str | os.PathLike[str],
    end: str,
    views: Sequence[str] = (),
) -> dict[str, Any]:
    """Load and apply ``defs``, then materialize each view from where it stopped to ``end``."""
    definitions = load_definitions(defs)
    applied = apply_definitions(store, definitions)
    runs = store.materialize_incremental(end, list(views) or _view_names(definitions))
    return {"applied": applied, "runs": [_run_record(r) for r in runs]}


# -- retrieval -----------------------------------------------------------------------


def _feature_request(
    store: fs.FeatureStore, features: Sequence[str], service: str | None
) -> list[str]:
    if service is None:
        return list(features)
    store.get_feature_service(service)  # NotFoundError with a suggestion
    # the registered record, with its pinned view versions
    return [NodeKind.FEATURE_SERVICE.prefix + service]


def _json_value(value: Any) -> Any:
    """A preview cell as JSON: instants and dates as ISO text, NaN as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _preview(frame: pl.DataFrame, rows: int) -> dict[str, Any]:
    head = frame.head(rows)
    return {
        "columns": head.columns,
        "dtypes": [str(d) for d in head.dtypes],
        "rows": [[_json_value(v) for v in row] for row in head.iter_rows()],
    }


def _retrieval_summary(
    result: fs.RetrievalResult, out: Path | None, preview_rows: int = PREVIEW_ROWS
) -> dict[str, Any]:
    frame = result.frame
    manifest = result.manifest
    feature_columns = [c for item in manifest["features"] for c in item["columns"]]
    return {
        "out": str(out) if out is not None else None,
        "preview": _preview(frame, preview_rows) if out is None else None,
        "rows": frame.height,
        "columns": frame.columns,
        "content_id": result.content_id,
        "mode": manifest["mode"],
        "as_of": manifest.get("as_of"),
        "features": [
            {"column": c, "dtype": str(frame.schema[c]), "nulls": frame[c].null_count()}
            for c in feature_columns
        ],
        "views": [{"view": i["view"], "version": i["version"]} for i in manifest["features"]],
        "files_read": len(manifest["files"]),
        "coverage": [c.to_dict() | {"line": c.line()} for c in result.coverage],
        "warnings": [p for p in (c.problem() for c in result.coverage) if p],
        "training_set": None,
    }


def _retrieving(call: Callable[[], fs.RetrievalResult]) -> fs.RetrievalResult:
    """Run a retrieval; coverage warnings are reported in its summary, not on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fs.CoverageWarning)
        return call()


def historical_features(
    store: fs.FeatureStore,
    entity: str | os.PathLike[str],
    out: str | os.PathLike[str] | None,
    *,
    features: Sequence[str] = (),
    service: str | None = None,
    full_feature_names: bool = False,
    bitemporal: bool = False,
    timestamp_column: str | None = None,
    save_as: str | None = None,
    strict: bool = False,
    preview_rows: int = PREVIEW_ROWS,
) -> dict[str, Any]:
    """Point-in-time join of the entity Parquet file with ``features`` (``view:feature``
    references) or a registered ``service``; writes ``out`` (or, when it is None, returns
    the first ``preview_rows`` rows as ``preview``) and optionally saves a named training
    set. Returns a summary of the result."""
    request = _feature_request(store, features, service)
    result = _retrieving(
        lambda: store.get_historical_features(
            Path(entity),
            request,
            full_feature_names=full_feature_names,
            bitemporal=bitemporal,
            timestamp_column=timestamp_column,
            strict=strict,
        )
    )
    target = result.to_parquet(Path(out)) if out is not None else None
    summary = _retrieval_summary(result, target, preview_rows)
    if save_as is not None:
        summary["training_set"] = store.save_training_set(result, save_as).id
    return summary


def latest_features(
    store: fs.FeatureStore,
    keys: str | os.PathLike[str],
    out: str | os.PathLike[str] | None,
    *,
    features: Sequence[str] = (),
    service: str | None = None,
    as_of: str | None = None,
    full_feature_names: bool = False,
    strict: bool = False,
    preview_rows: int = PREVIEW_ROWS,
) -> dict[str, Any]:
    """Each key's latest feature values as of ``as_of`` (default: now), written to ``out``
    (or, when it is None, the first ``preview_rows`` rows returned as ``preview``)."""
    request = _feature_request(store, features, service)
    result = _retrieving(
        lambda: store.get_latest_features(
            Path(keys), request, as_of=as_of, full_feature_names=full_feature_names, strict=strict
        )
    )
    target = result.to_parquet(Path(out)) if out is not None else None
    return _retrieval_summary(result, target, preview_rows)


# -- models --------------------------------------------------------------------------


def _alias_of(store: fs.FeatureStore, name: str, alias: str) -> int | None:
    return next((m.aliases.get(alias) for m in store.list_models() if m.name == name), None)


def set_alias(store: fs.FeatureStore, name: str, alias: str, version: int) -> dict[str, Any]:
    """Point ``alias`` of model ``name`` at ``version``."""
    previous = _alias_of(store, name, alias)
    store.set_alias(name, alias, version)
    return {"name": name, "alias": alias, "version": version, "previous_version": previous}


def rollback_alias(store: fs.FeatureStore, name: str, alias: str) -> dict[str, Any]:
    """Move ``alias`` of model ``name`` back to the version it named before."""
    previous = _alias_of(store, name, alias)
    mv = store.rollback(name, alias)
    return {"name": name, "alias": alias, "version": mv.version, "previous_version": previous}


def parse_pairs(pairs: Sequence[str], what: str, *, numbers: bool) -> dict[str, Any]:
    """``["auc=0.8", "f1=0.5"]`` as ``{"auc": 0.8, "f1": 0.5}``: values as numbers with
    ``numbers``, else as JSON when they parse (``depth=3`` is 3) and as text otherwise."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise DefinitionError(
                f"{what} {pair!r} is not NAME=VALUE; write it like {what}=auc=0.8 without "
                f"spaces around '='"
            )
        if numbers:
            try:
                out[key.strip()] = float(text)
            except ValueError:
                raise DefinitionError(
                    f"{what} {key.strip()!r}: {text!r} is not a number; pass e.g. {key.strip()}=0.8"
                ) from None
        else:
            try:
                out[key.strip()] = json.loads(text)
            except ValueError:
                out[key.strip()] = text
    return out


def parse_json_object(text: str | None, what: str) -> dict[str, Any]:
    """``'{"auc": 0.8}'`` as a dict; DefinitionError for other JSON or none."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(
            f"{what} {text!r} is not JSON ({exc}); pass an object such as '{{\"auc\": 0.8}}'"
        ) from None
    if not isinstance(value, dict):
        raise DefinitionError(
            f"{what} must be a JSON object such as '{{\"auc\": 0.8}}'; found "
            f"{type(value).__name__} {text!r}"
        )
    return value


def register_model_version(
    store: fs.FeatureStore,
    name: str,
    training_set: str | None,
    *,
    artifact: str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Register a new version of model ``name`` against the saved training set
    ``training_set`` (an id or a name: the newest of that name); an ``artifact`` that is
    a local path is recorded absolute; ``description`` is kept as the tag
    ``description``. Returns the version's record with its id."""
    all_tags = {k: str(v) for k, v in (tags or {}).items()}
    if artifact is not None and os.path.exists(artifact):
        artifact = Path(artifact).absolute()  # the same file from any directory
    if description is not None:
        all_tags["description"] = description
    mv = store.register_model(
        name,
        store.get_training_set(training_set) if training_set is not None else None,
        artifact=artifact,
        params=params or None,
        metrics=metrics or None,
        tags=all_tags or None,
    )
    return {"id": mv.id, **mv.to_json()}


def resolve_model(store: fs.FeatureStore, ref: str) -> Any:
    """The model version ``ref`` names: ``NAME`` (the latest version), ``NAME@3``,
    ``NAME:production`` (an alias), or the lineage id ``model:NAME@3``."""
    text = strip_prefix(NodeKind.MODEL_VERSION, ref)
    if "@" in text:
        name, _, version = text.partition("@")
        if not version.isdecimal():
            raise NotFoundError(
                f"model reference {ref!r}: {version!r} is not a version number; write "
                f"NAME@3, NAME:ALIAS or NAME"
            )
        return store.get_model(name, int(version))
    name, sep, alias = text.partition(":")
    if sep:
        return store.get_model(name, alias=alias)
    return store.get_model(name)


def log_prediction_batch(
    store: fs.FeatureStore,
    model: str,
    predictions: str | os.PathLike[str],
    *,
    features: Sequence[str] = (),
    service: str | None = None,
    as_of: str | None = None,
    timestamp_column: str | None = None,
) -> dict[str, Any]:
    """Record the predictions in the Parquet file ``predictions`` as a batch of ``model``
    (see :func:`resolve_model`). With ``features`` (or a ``service``), the predictions
    were scored from those features' latest values as of ``as_of``: they are retrieved
    again for the frame's keys, which pins the exact feature files for explain and
    skew. Returns the batch's record with its id and row count."""
    path = Path(predictions)
    if not path.is_file():
        raise PointInTimeError(
            f"predictions file {str(path)!r} does not exist; pass a Parquet file of entity "
            f"keys and predictions"
        )
    frame = pl.read_parquet(path)
    mv = resolve_model(store, model)
    served = None
    if features or service:
        request = _feature_request(store, features, service)
        served = _retrieving(lambda: store.get_latest_features(frame, request, as_of=as_of))
    batch = store.log_predictions(
        mv,
        frame,
        features=served,
        timestamp_column=timestamp_column,
        as_of=None if served is not None else as_of,
    )
    return {"id": batch.id, **batch.to_json(), "model_id": mv.id, "path": str(batch.path)}


# -- lineage -------------------------------------------------------------------------


def _node_record(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "kind": node.kind,
        "name": node.name,
        "created_at": node.created_at,
        "attrs": node.attrs,
    }


def resolve_node(store: fs.FeatureStore, node: str) -> str:
    """The id of lineage node ``node``, which may omit the version: ``view:NAME`` and
    ``service:NAME`` name the current version, ``model:NAME`` the latest version and
    ``training_set:NAME`` the newest training set of that name."""
    try:
        return store.lineage.node(node).id
    except LineageError:
        found = match_prefix(node)
        if found is None or "@" in found[1] or not found[1]:
            raise
        kind, rest = found
        if kind is NodeKind.FEATURE_VIEW:
            return node_id(kind, rest, store.get_feature_view(rest).version)
        if kind is NodeKind.FEATURE_SERVICE:
            return node_id(kind, rest, store.get_feature_service(rest).version)
        if kind is NodeKind.MODEL_VERSION:
            return store.get_model(rest).id
        if kind is NodeKind.TRAINING_SET:
            return store.get_training_set(rest).id
        raise


def lineage_walk(
    store: fs.FeatureStore,
    node: str,
    *,
    direction: str,
    kinds: Sequence[str] = (),
    count: bool = False,
) -> dict[str, Any]:
    """The ancestors (``direction="upstream"``) or descendants of ``node``; with
    ``count``, only how many of each kind (cheap even when there are millions)."""
    node_id = resolve_node(store, node)
    up = direction == "upstream"
    if count:
        counts = (store.lineage.upstream_counts if up else store.lineage.downstream_counts)(node_id)
        if kinds:
            counts = {k: n for k, n in counts.items() if k in kinds}
        return {"node": node_id, "direction": direction, "counts": counts}
    walk = store.lineage.upstream if up else store.lineage.downstream
    nodes = walk(node_id, list(kinds) or None)
    return {"node": node_id, "direction": direction, "nodes": [_node_record(n) for n in nodes]}


def lineage_path(store: fs.FeatureStore, source: str, target: str) -> list[str]:
    """A shortest directed path of node ids from ``source`` to ``target``."""
    return store.lineage.path(resolve_node(store, source), resolve_node(store, target))


def explain_row(store: fs.FeatureStore, batch: str, row: int) -> dict[str, Any]:
    """Explain one prediction row (see :meth:`featstore.lineage.Lineage.explain`)."""
    return store.lineage.explain(strip_prefix(NodeKind.PREDICTION_BATCH, batch), row)


def lineage_export(
    store: fs.FeatureStore, fmt: str, *, node: str | None = None, direction: str = "both"
) -> dict[str, Any]:
    """The lineage graph (whole, or around ``node``) as ``fmt`` text, with its size."""
    if node is None:
        graph = store.lineage.graph
    else:
        graph = store.lineage.subgraph(resolve_node(store, node), direction=direction)
    text = store.lineage.export(fmt, graph)
    return {
        "format": fmt,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "text": text,
    }


def openlineage_events(store: fs.FeatureStore) -> list[dict[str, Any]]:
    """OpenLineage RunEvents, oldest first."""
    return store.lineage.openlineage_events()


# -- maintenance ---------------------------------------------------------------------


def gc_store(store: fs.FeatureStore) -> dict[str, Any]:
    """Delete files no reader can see; returns what was removed."""
    return {"removed": store.gc()}
