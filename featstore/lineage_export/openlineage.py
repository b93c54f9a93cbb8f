"""OpenLineage RunEvents: one COMPLETE event per materialization run, saved training set
and prediction batch, read from the catalog (not a graph format: ``featstore lineage
openlineage`` writes them as JSON lines)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from featstore.catalog import Catalog

__all__ = ["OPENLINEAGE_SCHEMA", "PRODUCER", "openlineage_events"]

PRODUCER = "https://pypi.org/project/featstore/"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _run_uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"featstore:{text}"))


def _time(text: str) -> str:
    return text + "Z" if not text.endswith("Z") else text


def _dataset(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = {
            key: {"_producer": PRODUCER, "_schemaURL": url, **body}
            for key, (url, body) in facets.items()
        }
    return out


def _event(
    namespace: str, job: str, run_key: str, at: str, inputs: list[Any], outputs: list[Any]
) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": _time(at),
        "producer": PRODUCER,
        "schemaURL": OPENLINEAGE_SCHEMA,
        "run": {"runId": _run_uuid(run_key), "facets": {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
    }


def openlineage_events(catalog: Catalog, namespace: str) -> list[dict[str, Any]]:
    """One OpenLineage COMPLETE RunEvent per materialization run, saved training set and
    prediction batch, oldest first."""
    events: list[tuple[str, dict[str, Any]]] = []
    for body in reversed(catalog.run_bodies()):
        run = json.loads(body)
        inputs = [
            _dataset("file", i["path"])
            if not i["path"].startswith(("memory:", "sql:"))
            else _dataset(namespace, i["path"])
            for i in run["inputs"]
        ]
        output = _dataset(namespace, f"offline/{run['view']}/{run['view_version']}")
        events.append(
            (
                run["finished_at"],
                _event(
                    namespace,
                    f"materialize.{run['view']}",
                    run["run_id"],
                    run["finished_at"],
                    inputs,
                    [output],
                ),
            )
        )
    for row in catalog.training_sets():
        manifest = json.loads(row["manifest"])
        inputs = [
            _dataset(namespace, f"offline/{f['view']}/{f['version']}") for f in manifest["features"]
        ]
        events.append(
            (
                row["created_at"],
                _event(
                    namespace,
                    f"training_set.{row['name']}",
                    row["id"],
                    row["created_at"],
                    inputs,
                    [_dataset(namespace, row["path"])],
                ),
            )
        )
    for row in catalog.prediction_batches():
        body = json.loads(row["body"])
        retrieval = body.get("retrieval") or {}
        inputs = [
            _dataset(namespace, f"offline/{f['view']}/{f['version']}")
            for f in retrieval.get("features", [])
        ]
        inputs.append(_dataset(namespace, f"models/{row['model']}/{row['model_version']}"))
        events.append(
            (
                row["created_at"],
                _event(
                    namespace,
                    f"predict.{row['model']}",
                    row["batch_id"],
                    row["created_at"],
                    inputs,
                    [_dataset(namespace, row["path"])],
                ),
            )
        )
    return [event for _, event in sorted(events, key=lambda e: e[0])]
