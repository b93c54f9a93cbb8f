"""Definitions in the catalog: applying them (validated, all or nothing) and reading
their records back, current or by version."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from featstore.aggregations import output_dtype
from featstore.catalog import Catalog, WriteOps
from featstore.compute import check_output, check_row_context, source_schema, transform_output
from featstore.definitions import Entity, FeatureService, FeatureView, Source
from featstore.dtypes import encode_schema
from featstore.engine import Engine
from featstore.errors import CatalogError, DefinitionError, NotFoundError, did_you_mean
from featstore.lineage_ids import EdgeKind, NodeKind, node_id
from featstore.records import damage, definition_from_json
from featstore.refs import resolve_refs
from featstore.retrieval import service_spec
from featstore.timeutil import iso, timedelta_us, utc_now
from featstore.versioning import content_hash, function_source

__all__ = ["DEFINITION_KINDS", "Definition", "Definitions"]

DEFINITION_KINDS = ("entity", "source", "feature_view", "feature_service")
Definition = Entity | Source | FeatureView | FeatureService


class Definitions:
    """The store's definitions: records in the catalog, and the FeatureView objects
    applied in this process (their code is never loaded from storage)."""

    def __init__(self, catalog: Catalog, engine: Callable[[], Engine]) -> None:
        self.catalog = catalog
        self._engine = engine
        self.views: dict[str, FeatureView] = {}

    def apply(self, objects: Sequence[Definition]) -> None:
        """Validate and register definitions, all or nothing.

        Sources referenced by views are registered with them. A view's entity must be in
        ``objects`` or already registered. Checks the source columns and the view's
        output schema (reading only schemas, not data).
        """
        records, views = self.records(objects)
        now = iso(utc_now())
        with self.catalog.transaction() as tx:
            for rec in records:
                body = json.dumps(rec, sort_keys=True)
                # same version, same definition: the body is rewritten (it repairs a
                # damaged record and keeps descriptions current); created_at is kept
                tx.put_definition(rec["kind"], rec["name"], rec["version"], body, now)
                _record_definition_lineage(tx, rec, now)
        self.views.update(views)

    def records(
        self, objects: Sequence[Definition]
    ) -> tuple[list[dict[str, Any]], dict[str, FeatureView]]:
        """The catalog records ``apply`` would write for ``objects`` (sources that views
        bring along included), and their views by name; validated the same way, writing
        nothing."""
        entities: dict[str, Entity] = {}
        sources: dict[str, Source] = {}
        views: dict[str, FeatureView] = {}
        services: dict[str, FeatureService] = {}
        buckets: list[tuple[type, dict[str, Any]]] = [
            (Entity, entities),
            (Source, sources),
            (FeatureView, views),
            (FeatureService, services),
        ]
        for obj in objects:
            bucket = next((b for kind, b in buckets if isinstance(obj, kind)), None)
            if bucket is None:
                raise DefinitionError(
                    f"cannot apply {obj!r}: expected Entity, a Source, FeatureView or "
                    f"FeatureService"
                )
            other = bucket.get(obj.name)
            if other is not None and other is not obj:
                kind = type(obj).__name__
                raise DefinitionError(f"two different {kind}s are named {obj.name!r}; rename one")
            bucket[obj.name] = obj
        for view in views.values():
            src = sources.setdefault(view.source.name, view.source)
            if src is not view.source and src.version != view.source.version:
                raise DefinitionError(
                    f"feature view {view.name!r} uses source {view.source.name!r}, but a "
                    f"different source of that name is being applied; rename one of them"
                )
            ent = entities.get(view.entity.name)
            if ent is None:
                registered = self.current("entity", view.entity.name)
                if registered is None or registered["version"] != view.entity.version:
                    raise DefinitionError(
                        f"feature view {view.name!r} uses entity {view.entity.name!r}, which is "
                        f"not registered; apply it together with the view"
                    )
            elif ent.version != view.entity.version:
                raise DefinitionError(
                    f"feature view {view.name!r} uses an entity {view.entity.name!r} that "
                    f"differs from the one being applied"
                )
        records: list[dict[str, Any]] = [e.to_record() for e in entities.values()]
        schemas = {}
        for src in sources.values():
            schemas[src.name] = source_schema(src, self._engine())
            records.append(src.to_record())
        view_records = {
            v.name: self._view_record(v, schemas[v.source.name]) for v in views.values()
        }
        records += view_records.values()
        for service in services.values():
            records.append(self._service_record(service, view_records))
        return records, views

    def _view_record(self, view: FeatureView, schema: pl.Schema) -> dict[str, Any]:
        view.check_unchanged()
        out_schema = transform_output(view, schema).collect_schema()
        features = check_output(view, out_schema)
        check_row_context(view, schema)
        created = view.source.created_timestamp_column
        stored: dict[str, Any] = {}
        if view.aggregations:
            stored = {
                "stored_schema": encode_schema(features),
                "aggregations": [
                    {"name": a.name, "column": a.column, "fn": a.fn, "window_us": a.window_us}
                    for a in view.aggregations
                ],
            }
            features = {a.name: output_dtype(a.fn, features[a.column]) for a in view.aggregations}
        return {
            **stored,
            "kind": "feature_view",
            "name": view.name,
            "version": view.version,
            "entity": view.entity.name,
            "join_keys": list(view.join_keys),
            # keyed by the type the transformation outputs (it may cast the key)
            "key_dtypes": {k: _dtype_name(out_schema[k]) for k in view.join_keys},
            # without it, when a value became known is not recorded: no bitemporal reads
            "has_created": created is not None and created in out_schema,
            "source": view.source.name,
            "source_version": view.source.version,
            "timestamp_column": view.source.timestamp_column,
            "created_timestamp_column": view.source.created_timestamp_column,
            "features": {f: _dtype_name(d) for f, d in features.items()},
            "arrow_schema": encode_schema(features),
            "feature_names": list(features),
            "ttl_us": timedelta_us(view.ttl) if view.ttl else None,
            "lookback_us": None if view.lookback is None else timedelta_us(view.lookback),
            "selection": list(view.features) if view.features is not None else None,
            "transform_source": function_source(view.transform) if view.transform else None,
            "description": view.description,
            "owner": view.owner,
            "tags": dict(view.tags or ()),
        }

    def _service_record(
        self, service: FeatureService, applying: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        def lookup(name: str, version: str | None) -> dict[str, Any]:
            rec = applying.get(name)
            if rec is not None and version in (None, rec["version"]):
                return rec
            return self.view_record(name, version)

        try:
            resolved = resolve_refs(service, lookup, self.view_names)
        except NotFoundError as exc:
            raise DefinitionError(f"feature service {service.name!r}: {exc}") from exc
        items = [
            {"view": r.view, "version": r.version, "features": list(r.features)} for r in resolved
        ]
        return {
            "kind": "feature_service",
            "name": service.name,
            "version": content_hash({"name": service.name, "features": items}),
            "features": items,
            # the references as written: a FeatureService object passed to retrieval must
            # match them, and then resolves through this record like "service:NAME"
            "spec": service_spec(service),
            "description": service.description,
            "owner": service.owner,
            "tags": dict(service.tags or ()),
        }

    def current(self, kind: str, name: str) -> dict[str, Any] | None:
        body = self.catalog.current_definition(kind, name)
        return _load_record(body, kind, name) if body is not None else None

    def view_names(self) -> list[str]:
        return self.catalog.current_names("feature_view")

    def view_record(self, name: str, version: str | None = None) -> dict[str, Any]:
        if version is None:
            rec = self.current("feature_view", name)
        else:
            body = self.catalog.definition("feature_view", name, version)
            rec = _load_record(body, "feature_view", name) if body is not None else None
        if rec is None:
            what = f"feature view {name!r}" + (f" at version {version!r}" if version else "")
            known = [v["version"] for v in self.versions("feature_view", name)] if version else []
            if known:
                raise NotFoundError(
                    f"unknown {what}; its versions are {known!r}: use one of them, or omit "
                    f"'@{version}' for the current one"
                )
            raise NotFoundError(f"unknown {what}" + did_you_mean(name, self.view_names()))
        return rec

    def view_records(
        self, keys: list[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], dict[str, Any]]:
        """The records of the views ``(name, version or None for current)`` that exist,
        in two catalog queries whatever their number."""
        with self.catalog.snapshot() as snap:
            current = snap.current_definitions_named(
                "feature_view", [n for n, v in keys if v is None]
            )
            pinned = snap.definitions_versioned(
                "feature_view", [(n, v) for n, v in keys if v is not None]
            )
        out: dict[tuple[str, str | None], dict[str, Any]] = {}
        for name, body in current.items():
            out[(name, None)] = _load_record(body, "feature_view", name)
        for (name, version), body in pinned.items():
            out[(name, version)] = _load_record(body, "feature_view", name)
        return out

    def of_kind(self, kind: str = "feature_view") -> list[dict[str, Any]]:
        """Current definitions of a kind (``entity``, ``source``, ``feature_view``,
        ``feature_service``) as catalog records, sorted by name."""
        if kind not in DEFINITION_KINDS:
            raise NotFoundError(
                f"unknown definition kind {kind!r}" + did_you_mean(kind, DEFINITION_KINDS)
            )
        return [_load_record(b, kind, "?") for b in self.catalog.current_definitions(kind)]

    def service_record(self, name: str) -> dict[str, Any]:
        """A feature service's catalog record."""
        rec = self.current("feature_service", name)
        if rec is None:
            names = [r["name"] for r in self.of_kind("feature_service")]
            raise NotFoundError(f"unknown feature service {name!r}" + did_you_mean(name, names))
        return rec

    def versions(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Every registered version of a definition, oldest first."""
        return [
            {**_load_record(body, kind, name), "registered_at": at}
            for body, at in self.catalog.definition_history(kind, name)
        ]


def _load_record(body: str, kind: str, name: str) -> dict[str, Any]:
    """A definition record from the catalog, as a plain dict, checked by its codec
    (:func:`featstore.records.definition_from_json`): a damaged one is a CatalogError
    naming the kind and name of its catalog row."""
    try:
        rec = json.loads(body)
        checked = definition_from_json(rec)
    except (ValueError, RecursionError) as exc:  # not JSON
        problem = f"not JSON: {exc}"
    except CatalogError as exc:
        problem = damage(exc)
    else:
        if kind == checked.KIND:
            return rec  # type: ignore[no-any-return]
        problem = f"it is a {checked.KIND} record"
    raise CatalogError(
        f"the catalog record of {kind} {name!r} is damaged ({problem}); apply the "
        f"definition again to rewrite it, or restore catalog.db from a backup"
    ) from None


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype)


def _record_definition_lineage(tx: WriteOps, rec: dict[str, Any], now: str) -> None:
    kind = rec["kind"]
    if kind == "source":
        tx.add_node(
            node_id(NodeKind.SOURCE, rec["name"]),
            NodeKind.SOURCE,
            rec["name"],
            now,
            {k: rec.get(k) for k in ("source_kind", "path", "query", "timestamp_column")},
        )
    elif kind == "feature_view":
        node = node_id(NodeKind.FEATURE_VIEW, rec["name"], rec["version"])
        tx.add_node(
            node,
            NodeKind.FEATURE_VIEW,
            rec["name"],
            now,
            {
                "version": rec["version"],
                "features": rec["features"],
                "entity": rec["entity"],
                "source_version": rec["source_version"],
            },
        )
        tx.add_edges([(node_id(NodeKind.SOURCE, rec["source"]), node, EdgeKind.FEEDS)])
    elif kind == "feature_service":
        node = node_id(NodeKind.FEATURE_SERVICE, rec["name"], rec["version"])
        tx.add_node(node, NodeKind.FEATURE_SERVICE, rec["name"], now, {"features": rec["features"]})
        tx.add_edges(
            [
                (
                    node_id(NodeKind.FEATURE_VIEW, i["view"], i["version"]),
                    node,
                    EdgeKind.SELECTED_BY,
                )
                for i in rec["features"]
            ]
        )
