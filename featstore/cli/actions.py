"""The data layer of the ``featstore`` command line: plain functions that take a
:class:`~featstore.FeatureStore` (or a path) and return plain data (dicts, lists,
strings). :mod:`featstore.cli.commands` renders them."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import featstore as fs
from featstore.config import CONFIG_FILE
from featstore.errors import ConfigError, DefinitionError, LineageError
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


def open_store(path: str | os.PathLike[str], *, progress: bool | None = None) -> fs.FeatureStore:
    """Open the existing store at ``path``; ConfigError if there is none (a FeatureStore
    would silently create one)."""
    target = Path(path).absolute()
    if not (target / CONFIG_FILE).is_file():
        raise ConfigError(
            f"no feature store at {str(target)!r}; create one with 'featstore --store "
            f"{path} init', or point --store (or FEATSTORE_STORE) at an existing store"
        )
    return fs.FeatureStore(target, progress=progress)


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


def apply_definitions(
    store: fs.FeatureStore, definitions: Sequence[Definition]
) -> list[dict[str, Any]]:
    """Apply ``definitions`` and report, for each registered object (sources that views
    bring along included), its kind, name, version and whether it is new, updated or
    unchanged."""
    before = {(k, r.name): r.version for k in CATALOG_KINDS for r in store.list_definitions(k)}
    touched: dict[tuple[str, str], None] = {}
    for obj in definitions:
        touched[(_catalog_kind(obj), obj.name)] = None
        if isinstance(obj, fs.FeatureView):
            touched[("source", obj.source.name)] = None
    store.apply(definitions)
    after = {(k, r.name): r.version for k in CATALOG_KINDS for r in store.list_definitions(k)}
    out = []
    for kind, name in sorted(touched, key=lambda t: (CATALOG_KINDS.index(t[0]), t[1])):
        version = after[(kind, name)]
        previous = before.get((kind, name))
        status = "new" if previous is None else "unchanged" if previous == version else "updated"
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


def _retrieval_summary(result: fs.RetrievalResult, out: Path) -> dict[str, Any]:
    frame = result.frame
    manifest = result.manifest
    feature_columns = [c for item in manifest["features"] for c in item["columns"]]
    return {
        "out": str(out),
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
    out: str | os.PathLike[str],
    *,
    features: Sequence[str] = (),
    service: str | None = None,
    full_feature_names: bool = False,
    bitemporal: bool = False,
    timestamp_column: str | None = None,
    save_as: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Point-in-time join of the entity Parquet file with ``features`` (``view:feature``
    references) or a registered ``service``; writes ``out`` and optionally saves a named
    training set. Returns a summary of what was written."""
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
    target = result.to_parquet(Path(out))
    summary = _retrieval_summary(result, target)
    if save_as is not None:
        summary["training_set"] = store.save_training_set(result, save_as).id
    return summary


def latest_features(
    store: fs.FeatureStore,
    keys: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    features: Sequence[str] = (),
    service: str | None = None,
    as_of: str | None = None,
    full_feature_names: bool = False,
    strict: bool = False,
) -> dict[str, Any]:
    """Each key's latest feature values as of ``as_of`` (default: now), written to ``out``."""
    request = _feature_request(store, features, service)
    result = _retrieving(
        lambda: store.get_latest_features(
            Path(keys), request, as_of=as_of, full_feature_names=full_feature_names, strict=strict
        )
    )
    return _retrieval_summary(result, result.to_parquet(Path(out)))


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
