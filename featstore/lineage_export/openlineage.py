"""OpenLineage RunEvents read from the catalog: a START and a COMPLETE event per
materialization run, saved training set, registered model version and prediction batch
(``featstore lineage openlineage`` writes them as JSON lines; docs/openlineage.md).

The events are built here as plain JSON dicts, with no dependency; with
``openlineage-python`` installed (``featstore[openlineage]``) :func:`openlineage_events`
passes each through the client's typed classes (:mod:`._typed`) and its serialiser, which
give the same dicts. Datasets keep one name across versions (``offline/<view>``,
``training_sets/<name>``, ``models/<name>``, ``predictions/<model>``; source files are
namespace ``file``, named by path); the version is in the ``version`` facet. A dataset
written by one event is read by the next under the same namespace and name, so the event
graph runs source file -> view -> training set -> model -> predictions.
"""

from __future__ import annotations

import importlib.metadata
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from featstore._version import __version__
from featstore.catalog import Catalog
from featstore.lineage_ids import NodeKind, node_id

__all__ = [
    "DATASET_FACETS",
    "JOB_FACETS",
    "OPENLINEAGE_SCHEMA",
    "OUTPUT_FACETS",
    "PRODUCER",
    "RUN_FACETS",
    "EventBuilder",
    "openlineage_events",
    "run_uuid",
]

PRODUCER = "https://pypi.org/project/featstore/"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
INTEGRATION = "FEATSTORE"

_F = "https://openlineage.io/spec/facets/"
DATASET_FACETS = {
    "schema": _F + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "version": _F + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "documentation": _F + "1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
    "columnLineage": _F + "1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
}
"""The dataset facets featstore writes, by key: the ``_schemaURL`` of each."""
OUTPUT_FACETS = {
    "outputStatistics": _F + "1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet",
}
"""The output dataset facets featstore writes."""
JOB_FACETS = {
    "jobType": _F + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "sourceCode": _F + "1-0-1/SourceCodeJobFacet.json#/$defs/SourceCodeJobFacet",
    "documentation": _F + "1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
    "ownership": _F + "1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
    "tags": _F + "1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet",
}
"""The job facets featstore writes."""
RUN_FACETS = {
    "nominalTime": _F + "1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
    "processing_engine": _F + "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    "errorMessage": _F + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
}
"""The run facets featstore writes."""

# job types (the jobType facet's jobType) and job name prefixes
MATERIALIZATION = "MATERIALIZATION"
TRAINING_SET = "TRAINING_SET"
MODEL_REGISTRATION = "MODEL_REGISTRATION"
PREDICTION = "PREDICTION"
_PHASE = {"START": 0, "COMPLETE": 1, "FAIL": 1}


def run_uuid(key: str) -> str:
    """The OpenLineage runId of a featstore run, training set, model version or batch:
    a UUID5 of its featstore id, the same in every event and every export."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"featstore:{key}"))


def _time(text: str) -> str:
    """A catalog time (naive UTC ISO text) as RFC 3339 UTC."""
    return text if text.endswith("Z") else text + "Z"


def _facet(table: Mapping[str, str], key: str, **body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": table[key], **body}


def _engine_version() -> str:
    try:
        return importlib.metadata.version("duckdb")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return "unknown"


def _fields(columns: Iterable[tuple[str, str | None]]) -> list[dict[str, Any]]:
    out = []
    for name, dtype in columns:
        field: dict[str, Any] = {"name": name}
        if dtype is not None:
            field["type"] = dtype
        out.append(field)
    return out


def _dataset(
    namespace: str,
    name: str,
    *,
    schema: Iterable[tuple[str, str | None]],
    version: str | None,
    description: str = "",
    lineage: Mapping[str, list[tuple[str, str, str]]] | None = None,
    rows: int | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    facets: dict[str, Any] = {"schema": _facet(DATASET_FACETS, "schema", fields=_fields(schema))}
    if version is not None:
        facets["version"] = _facet(DATASET_FACETS, "version", datasetVersion=version)
    if description:
        facets["documentation"] = _facet(DATASET_FACETS, "documentation", description=description)
    if lineage:
        facets["columnLineage"] = _facet(
            DATASET_FACETS,
            "columnLineage",
            fields={
                column: {
                    "inputFields": [{"namespace": ns, "name": n, "field": f} for ns, n, f in src]
                }
                for column, src in lineage.items()
            },
        )
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if rows is not None:
        stats: dict[str, Any] = {"rowCount": int(rows)}
        if size is not None:
            stats["size"] = int(size)
        out["outputFacets"] = {
            "outputStatistics": _facet(OUTPUT_FACETS, "outputStatistics", **stats)
        }
    return out


def _without_output_facets(dataset: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dataset.items() if k != "outputFacets"}


class EventBuilder:
    """Builds the events of one store from its catalog (definition records and
    statistics are read once each)."""

    def __init__(self, catalog: Catalog, namespace: str) -> None:
        self.catalog = catalog
        self.namespace = namespace
        self._views: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._columns: dict[str, list[tuple[str, str | None]] | None] = {}

    # -- what the catalog knows ----------------------------------------------------------

    def view(self, name: str, version: str) -> dict[str, Any] | None:
        key = (name, version)
        if key not in self._views:
            body = self.catalog.definition("feature_view", name, version)
            self._views[key] = json.loads(body) if body is not None else None
        return self._views[key]

    def _dtype(self, view: str, version: str, feature: str) -> str | None:
        record = self.view(view, version)
        dtype = (record or {}).get("features", {}).get(feature)
        return str(dtype) if dtype is not None else None

    def _recorded_columns(self, subject: str) -> list[tuple[str, str | None]] | None:
        """The columns and dtypes of a training set or batch, from its statistics."""
        if subject not in self._columns:
            body = self.catalog.statistics_bodies([subject]).get(subject)
            columns: list[tuple[str, str | None]] | None = None
            if body is not None:
                try:
                    columns = [
                        (str(c["name"]), str(c["dtype"])) for c in json.loads(body)["columns"]
                    ]
                except (KeyError, TypeError, ValueError):
                    columns = None
            self._columns[subject] = columns
        return self._columns[subject]

    def _view_schema(self, record: Mapping[str, Any]) -> list[tuple[str, str | None]]:
        """An offline view dataset's columns: join keys, then features."""
        keys = [(k, record.get("key_dtypes", {}).get(k)) for k in record.get("join_keys", [])]
        order = record.get("feature_names") or list(record.get("features", {}))
        return keys + [(f, record["features"].get(f)) for f in order]

    @staticmethod
    def _source_schema(record: Mapping[str, Any]) -> list[tuple[str, str | None]]:
        """The source columns a view reads by name. Typed only for a plain selection,
        which passes its columns through unchanged."""
        selection = record.get("selection")
        typed = selection is not None
        keys = [
            (k, record.get("key_dtypes", {}).get(k) if typed else None)
            for k in record.get("join_keys", [])
        ]
        cols = [(record["timestamp_column"], None)] if record.get("timestamp_column") else []
        if record.get("created_timestamp_column"):
            cols.append((record["created_timestamp_column"], None))
        picked = [(c, record.get("features", {}).get(c)) for c in selection or ()]
        return keys + cols + [c for c in picked if c[0] not in {n for n, _ in cols}]

    # -- datasets --------------------------------------------------------------------------

    def view_dataset(self, name: str, version: str, **extra: Any) -> dict[str, Any]:
        record = self.view(name, version) or {}
        return _dataset(
            self.namespace,
            f"offline/{name}",
            schema=self._view_schema(record) if record else [],
            version=version,
            description=str(record.get("description") or ""),
            **extra,
        )

    def _input_dataset(self, fingerprint: Mapping[str, Any], record: Mapping[str, Any]) -> Any:
        path = str(fingerprint["path"])
        namespace = self.namespace if path.startswith(("memory:", "sql:")) else "file"
        sha = fingerprint.get("sha256")
        return _dataset(
            namespace,
            path,
            schema=self._source_schema(record) if record else [],
            version=str(sha) if sha else None,
        )

    def training_set_dataset(self, ts_id: str, **extra: Any) -> dict[str, Any]:
        name, _, content_id = ts_id.split(":", 1)[1].rpartition("@")
        row = self.catalog.training_set(ts_id)
        schema = self._recorded_columns(ts_id)
        if schema is None and row is not None:
            manifest = json.loads(row["manifest"])
            schema = [(str(manifest.get("timestamp_column", "event_timestamp")), None)]
            for f in manifest.get("features", []):
                for column, feature in zip(f["columns"], f["features"], strict=False):
                    schema.append((column, self._dtype(f["view"], f["version"], feature)))
        return _dataset(
            self.namespace,
            f"training_sets/{name}",
            schema=schema or [],
            version=content_id,
            **extra,
        )

    def model_dataset(self, model: Mapping[str, Any]) -> dict[str, Any]:
        """A model version as a dataset: its schema is the feature columns it reads."""
        schema = [
            (column, self._dtype(f["view"], f["version"], feature))
            for f in model.get("features") or []
            for column, feature in zip(f["columns"], f["features"], strict=False)
        ]
        return _dataset(
            self.namespace,
            f"models/{model['name']}",
            schema=schema,
            version=str(model["version"]),
        )

    # -- events ----------------------------------------------------------------------------

    def _event(
        self,
        event_type: str,
        at: str,
        job: str,
        run_key: str,
        *,
        job_facets: dict[str, Any],
        run_facets: dict[str, Any],
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return {
            "eventType": event_type,
            "eventTime": _time(at),
            "producer": PRODUCER,
            "schemaURL": OPENLINEAGE_SCHEMA,
            "run": {"runId": run_uuid(run_key), "facets": run_facets},
            "job": {"namespace": self.namespace, "name": job, "facets": job_facets},
            "inputs": inputs or [],
            "outputs": outputs or [],
        }

    def _pair(
        self, at_start: str, at_end: str, job: str, key: str, **parts: Any
    ) -> list[dict[str, Any]]:
        start = dict(parts, inputs=None, outputs=None)
        return [
            self._event("START", at_start, job, key, **start),
            self._event("COMPLETE", at_end, job, key, **parts),
        ]

    @staticmethod
    def _job_type(kind: str) -> dict[str, Any]:
        return {
            "jobType": _facet(
                JOB_FACETS, "jobType", processingType="BATCH", integration=INTEGRATION, jobType=kind
            )
        }

    def _view_job_facets(self, record: Mapping[str, Any]) -> dict[str, Any]:
        facets = self._job_type(MATERIALIZATION)
        if record.get("transform_source"):
            facets["sourceCode"] = _facet(
                JOB_FACETS, "sourceCode", language="python", sourceCode=record["transform_source"]
            )
        if record.get("description"):
            facets["documentation"] = _facet(
                JOB_FACETS, "documentation", description=record["description"]
            )
        if record.get("owner"):
            facets["ownership"] = _facet(
                JOB_FACETS, "ownership", owners=[{"name": record["owner"]}]
            )
        if record.get("tags"):
            facets["tags"] = _facet(
                JOB_FACETS,
                "tags",
                tags=[
                    {"key": k, "value": v, "source": INTEGRATION}
                    for k, v in sorted(record["tags"].items())
                ],
            )
        return facets

    @staticmethod
    def _engine() -> dict[str, Any]:
        return {
            "processing_engine": _facet(
                RUN_FACETS,
                "processing_engine",
                name="duckdb",
                version=_engine_version(),
                openlineageAdapterVersion=__version__,
            )
        }

    def _materialization_run_facets(self, start: str, end: str) -> dict[str, Any]:
        return {
            "nominalTime": _facet(
                RUN_FACETS, "nominalTime", nominalStartTime=_time(start), nominalEndTime=_time(end)
            ),
            **self._engine(),
        }

    def run_events(self, run: Mapping[str, Any]) -> list[dict[str, Any]]:
        """START and COMPLETE of one recorded materialization run."""
        view, version = str(run["view"]), str(run["view_version"])
        record = self.view(view, version) or {}
        inputs = [self._input_dataset(i, record) for i in run["inputs"]]
        lineage: dict[str, list[tuple[str, str, str]]] = {}
        if record.get("selection") is not None:  # a plain selection: columns pass through
            for column, _ in self._view_schema(record):
                lineage[column] = [(i["namespace"], i["name"], column) for i in inputs]
        files = self.catalog.files(list(run.get("files", [])))
        size = sum(int(f["bytes"]) for f in files.values()) if files else None
        output = self.view_dataset(
            view, version, lineage=lineage if inputs else None, rows=run["rows"], size=size
        )
        return self._pair(
            str(run["started_at"]),
            str(run["finished_at"]),
            f"materialize.{view}",
            str(run["run_id"]),
            job_facets=self._view_job_facets(record),
            run_facets=self._materialization_run_facets(str(run["start"]), str(run["end"])),
            inputs=inputs,
            outputs=[output],
        )

    def materialization_start(
        self, view: str, version: str, run_id: str, start: str, end: str, at: str
    ) -> dict[str, Any]:
        """The START of a materialization run that is about to begin."""
        record = self.view(view, version) or {}
        return self._event(
            "START",
            at,
            f"materialize.{view}",
            run_id,
            job_facets=self._view_job_facets(record),
            run_facets=self._materialization_run_facets(start, end),
        )

    def materialization_fail(
        self, view: str, version: str, run_id: str, start: str, end: str, at: str, error: str
    ) -> dict[str, Any]:
        """The FAIL of a materialization run that raised (and recorded nothing)."""
        record = self.view(view, version) or {}
        facets = self._materialization_run_facets(start, end)
        facets["errorMessage"] = _facet(
            RUN_FACETS, "errorMessage", message=error, programmingLanguage="python"
        )
        return self._event(
            "FAIL",
            at,
            f"materialize.{view}",
            run_id,
            job_facets=self._view_job_facets(record),
            run_facets=facets,
        )

    def training_set_events(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        manifest = (
            json.loads(row["manifest"]) if isinstance(row["manifest"], str) else row["manifest"]
        )
        inputs = [self.view_dataset(f["view"], f["version"]) for f in manifest["features"]]
        lineage = {
            column: [(self.namespace, f"offline/{f['view']}", feature)]
            for f in manifest["features"]
            for column, feature in zip(f["columns"], f["features"], strict=False)
        }
        output = self.training_set_dataset(str(row["id"]), lineage=lineage, rows=row["rows"])
        at = str(row["created_at"])
        return self._pair(
            at,
            at,
            f"training_set.{row['name']}",
            str(row["id"]),
            job_facets=self._job_type(TRAINING_SET),
            run_facets=self._engine(),
            inputs=inputs,
            outputs=[output],
        )

    def model_events(self, model: Mapping[str, Any]) -> list[dict[str, Any]]:
        ts = model.get("training_set")
        inputs = [self.training_set_dataset(str(ts))] if ts else []
        at = str(model["created_at"])
        return self._pair(
            at,
            at,
            f"register_model.{model['name']}",
            node_id(NodeKind.MODEL_VERSION, str(model["name"]), str(model["version"])),
            job_facets=self._job_type(MODEL_REGISTRATION),
            run_facets={},
            inputs=inputs,
            outputs=[self.model_dataset(model)],
        )

    def prediction_events(self, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        model_body = self.catalog.model_version_body(
            str(batch["model"]), int(batch["model_version"])
        )
        model = (
            json.loads(model_body)
            if model_body is not None
            else {"name": batch["model"], "version": batch["model_version"]}
        )
        retrieval = batch.get("retrieval") or {}
        inputs = [self.model_dataset(model)]
        inputs += [
            self.view_dataset(f["view"], f["version"]) for f in retrieval.get("features", [])
        ]
        lineage: dict[str, list[tuple[str, str, str]]] = {}
        for column, ref in sorted((batch.get("served_features") or {}).items()):
            view_part, _, feature = str(ref).rpartition(":")
            view = view_part.split("@", 1)[0]
            lineage[column] = [(self.namespace, f"offline/{view}", feature)]
        subject = node_id(NodeKind.PREDICTION_BATCH, str(batch["batch_id"]))
        # every column written, typed where its statistics say (the user's columns)
        dtypes = dict(self._recorded_columns(subject) or [])
        schema = [(str(c), dtypes.get(str(c))) for c in batch.get("columns", [])]
        output = _dataset(
            self.namespace,
            f"predictions/{batch['model']}",
            schema=schema,
            version=str(batch["batch_id"]),
            lineage=lineage,
            rows=batch.get("rows"),
        )
        at = str(batch["created_at"])
        return self._pair(
            at,
            at,
            f"predict.{batch['model']}",
            str(batch["batch_id"]),
            job_facets=self._job_type(PREDICTION),
            run_facets={},
            inputs=inputs,
            outputs=[output],
        )

    def all_events(self) -> list[dict[str, Any]]:
        """Every event of the store, oldest first (START before COMPLETE)."""
        events: list[dict[str, Any]] = []
        for body in self.catalog.run_bodies():
            events += self.run_events(json.loads(body))
        for row in self.catalog.training_sets():
            events += self.training_set_events(row)
        for body in self.catalog.model_version_bodies():
            events += self.model_events(json.loads(body))
        for row in self.catalog.prediction_batches():
            events += self.prediction_events(json.loads(row["body"]))
        return sorted(events, key=_order)


def _order(event: Mapping[str, Any]) -> tuple[str, int, str, str]:
    return (
        event["eventTime"],
        _PHASE[event["eventType"]],
        event["job"]["name"],
        event["run"]["runId"],
    )


def openlineage_events(catalog: Catalog, namespace: str) -> list[dict[str, Any]]:
    """A START and a COMPLETE OpenLineage RunEvent per materialization run, saved
    training set, model version and prediction batch, oldest first, as JSON dicts.

    With ``openlineage-python`` installed, each event goes through the client's typed
    classes and serialiser; without it, the same dicts are built directly."""
    events = EventBuilder(catalog, namespace).all_events()
    from featstore.lineage_export import _typed

    return [_typed.through_client(e) for e in events] if _typed.available() else events
