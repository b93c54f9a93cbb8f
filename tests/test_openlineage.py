"""OpenLineage: events through the official client's typed classes, validated against
the RunEvent schema and each facet's own schema (tests/data, offline), the event graph
from raw files to predictions, live emission (HTTP, file transport), failures that must
not fail the operation, FAIL events, and the plain-dict fallback without the client."""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import json
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest
from jsonschema import Draft202012Validator
from lineage_helpers import (
    MAT_END,
    MAT_START,
    World,
    build_world,
    format_checker,
    openlineage_validator,
    world_fixture,
)
from openlineage.client import facet_v2
from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import featstore as fs
from featstore.lineage_events import OpenLineageWarning
from featstore.lineage_export import _typed
from featstore.lineage_export.openlineage import (
    DATASET_FACETS,
    JOB_FACETS,
    OUTPUT_FACETS,
    RUN_FACETS,
    run_uuid,
)

DATA = Path(__file__).resolve().parent / "data"
FACET_SCHEMAS = DATA / "openlineage_facets"
CORE_IDS = [
    f"https://openlineage.io/spec/{v}/OpenLineage.json"
    for v in ("1-0-1", "1-0-2", "1-0-3", "2-0-2")
]

world = world_fixture("openlineage")


@pytest.fixture(scope="module")
def events(world: World) -> list[dict[str, Any]]:
    return world.store.lineage.openlineage_events()


def _by(events: list[dict[str, Any]], job: str, kind: str = "COMPLETE") -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] == job and e["eventType"] == kind]


def _facets_of(event: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, key, facet) of every facet in an event."""
    for key, facet in event["run"]["facets"].items():
        yield "run", key, facet
    for key, facet in event["job"]["facets"].items():
        yield "job", key, facet
    for dataset in event["inputs"] + event["outputs"]:
        for key, facet in dataset.get("facets", {}).items():
            yield "dataset", key, facet
        for key, facet in dataset.get("outputFacets", {}).items():
            yield "output", key, facet


# -- the official client's typed classes ----------------------------------------------------

_CLASSES = {
    ("dataset", "schema"): facet_v2.schema_dataset.SchemaDatasetFacet,
    ("dataset", "version"): facet_v2.dataset_version_dataset.DatasetVersionDatasetFacet,
    ("dataset", "documentation"): facet_v2.documentation_dataset.DocumentationDatasetFacet,
    ("dataset", "columnLineage"): facet_v2.column_lineage_dataset.ColumnLineageDatasetFacet,
    ("output", "outputStatistics"): (
        facet_v2.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
    ),
    ("job", "jobType"): facet_v2.job_type_job.JobTypeJobFacet,
    ("job", "sourceCode"): facet_v2.source_code_job.SourceCodeJobFacet,
    ("job", "documentation"): facet_v2.documentation_job.DocumentationJobFacet,
    ("job", "ownership"): facet_v2.ownership_job.OwnershipJobFacet,
    ("job", "tags"): facet_v2.tags_job.TagsJobFacet,
    ("run", "nominalTime"): facet_v2.nominal_time_run.NominalTimeRunFacet,
    ("run", "processing_engine"): facet_v2.processing_engine_run.ProcessingEngineRunFacet,
    ("run", "errorMessage"): facet_v2.error_message_run.ErrorMessageRunFacet,
}


def test_schema_urls_are_the_clients() -> None:
    tables = {"dataset": DATASET_FACETS, "output": OUTPUT_FACETS, "job": JOB_FACETS}
    tables["run"] = RUN_FACETS
    written = {(where, key): url for where, table in tables.items() for key, url in table.items()}
    assert set(written) == set(_CLASSES)
    for where_key, cls in _CLASSES.items():
        assert written[where_key] == cls._get_schema(), where_key


def _typed_facets(typed: RunEvent) -> Iterator[tuple[str, str, Any]]:
    for key, facet in (typed.run.facets or {}).items():
        yield "run", key, facet
    for key, facet in (typed.job.facets or {}).items():
        yield "job", key, facet
    for dataset in [*(typed.inputs or []), *(typed.outputs or [])]:
        for key, facet in (dataset.facets or {}).items():
            yield "dataset", key, facet
        for key, facet in (getattr(dataset, "outputFacets", None) or {}).items():
            yield "output", key, facet


def test_every_event_round_trips_through_the_typed_classes(
    events: list[dict[str, Any]],
) -> None:
    kinds = set()
    for event in events:
        typed = _typed.typed_event(event)
        assert isinstance(typed, RunEvent)
        for where, key, facet in _typed_facets(typed):
            assert type(facet) is _CLASSES[(where, key)], (where, key)
            kinds.add((where, key))
        assert Serde.to_dict(typed) == event  # nothing lost, nothing added
        assert json.loads(Serde.to_json(typed)) == event
    # the world's events use all but the facets of definitions it lacks and of failures
    assert kinds == set(_CLASSES) - {
        ("job", "sourceCode"),
        ("job", "documentation"),
        ("job", "ownership"),
        ("job", "tags"),
        ("dataset", "documentation"),
        ("run", "errorMessage"),
    }


def test_a_facet_featstore_does_not_write_is_refused(events: list[dict[str, Any]]) -> None:
    event = json.loads(json.dumps(events[0]))
    event["run"]["facets"]["spark_version"] = {
        "_producer": "https://x.example/p",
        "_schemaURL": "https://x.example/s",
    }
    with pytest.raises(
        fs.LineageError, match="run facet 'spark_version' is not one featstore writes"
    ):
        _typed.typed_event(event)


# -- JSON schemas ---------------------------------------------------------------------------


@functools.cache
def _registry() -> Registry:
    core = json.loads((DATA / "openlineage_runevent.schema.json").read_text())
    resources = [
        (uri, Resource.from_contents(core, default_specification=DRAFT202012))
        for uri in [*CORE_IDS, core["$id"]]
    ]
    for path in sorted(FACET_SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        resources.append(
            (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        )
    return Registry().with_resources(resources)


def facet_validator(schema_url: str) -> Draft202012Validator:
    """The validator of a facet named by its ``_schemaURL``: the vendored schema of the
    same name (tests/data/openlineage_facets), at the definition the URL points to."""
    document, _, pointer = schema_url.partition("#")
    file_name = document.rpartition("/")[2]
    vendored = json.loads((FACET_SCHEMAS / file_name).read_text())
    return Draft202012Validator(
        {"$ref": vendored["$id"] + "#" + pointer},
        registry=_registry(),
        format_checker=format_checker(),
    )


def test_every_event_and_facet_validates(events: list[dict[str, Any]]) -> None:
    validator = openlineage_validator()
    checked = 0
    for event in events:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(event)]
        assert errors == [], event
        for where, key, facet in _facets_of(event):
            found = [e.message for e in facet_validator(facet["_schemaURL"]).iter_errors(facet)]
            assert found == [], (where, key, facet)
            checked += 1
    assert checked >= 60


@pytest.mark.parametrize(
    ("url_key", "facet"),
    [
        ("schema", {"fields": [{"type": "Int64"}]}),  # a field without a name
        ("version", {}),
        ("columnLineage", {"fields": {"a": {"inputFields": [{"namespace": "n", "name": "x"}]}}}),
        ("outputStatistics", {"rowCount": "5"}),
        ("jobType", {"processingType": "BATCH"}),  # no integration
        ("nominalTime", {"nominalStartTime": "yesterday"}),
        ("errorMessage", {"message": "boom"}),  # no programmingLanguage
        ("sourceCode", {"language": "python"}),
        ("processing_engine", {"name": "duckdb"}),  # no version
    ],
)
def test_facet_schemas_are_not_vacuous(url_key: str, facet: dict[str, Any]) -> None:
    url = {**DATASET_FACETS, **OUTPUT_FACETS, **JOB_FACETS, **RUN_FACETS}[url_key]
    validator = facet_validator(url)
    assert not validator.is_valid({"_producer": "https://x.example/p", "_schemaURL": url, **facet})
    assert not validator.is_valid({"_schemaURL": url})  # no _producer


# -- what the events say --------------------------------------------------------------------


def test_start_and_complete_share_a_stable_run_id(
    world: World, events: list[dict[str, Any]]
) -> None:
    runs: dict[str, list[str]] = {}
    for e in events:
        runs.setdefault(e["run"]["runId"], []).append(e["eventType"])
    assert all(types == ["START", "COMPLETE"] for types in runs.values()), runs
    # 2 runs, a training set, a model version, 2 batches
    assert len(runs) == 6
    spend = world.runs["spend"].run_id
    assert {e["run"]["runId"] for e in events if e["job"]["name"] == "materialize.spend"} == {
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"featstore:{spend}"))
    }
    assert run_uuid(spend) == str(uuid.uuid5(uuid.NAMESPACE_URL, f"featstore:{spend}"))
    assert world.store.lineage.openlineage_events() == events


def test_namespace_is_the_store_name_and_names_are_stable(
    world: World, events: list[dict[str, Any]]
) -> None:
    assert {e["job"]["namespace"] for e in events} == {"featstore://store"}
    names = {(d["namespace"], d["name"]) for e in events for d in e["inputs"] + e["outputs"]}
    ours = {n for ns, n in names if ns == "featstore://store"}
    assert ours == {
        "offline/spend",
        "offline/profile",
        "training_sets/churn_train",
        "models/churn",
        "predictions/churn",
    }
    assert {n for ns, n in names if ns == "file"} == {
        str(p) for p in [*world.txn_files, world.profile_file]
    }
    assert str(world.store_path) not in json.dumps([e["job"] for e in events])


def test_materialization_facets(world: World, events: list[dict[str, Any]]) -> None:
    (done,) = _by(events, "materialize.spend")
    (start,) = _by(events, "materialize.spend", "START")
    run = world.runs["spend"]
    assert start["inputs"] == start["outputs"] == []
    assert start["run"]["facets"] == done["run"]["facets"]
    facets = done["run"]["facets"]
    assert (
        facets["nominalTime"]["nominalStartTime"]
        == MAT_START.isoformat(timespec="microseconds") + "Z"
    )
    assert (
        facets["nominalTime"]["nominalEndTime"] == MAT_END.isoformat(timespec="microseconds") + "Z"
    )
    engine = facets["processing_engine"]
    assert (engine["name"], engine["version"]) == ("duckdb", importlib.metadata.version("duckdb"))
    job_type = done["job"]["facets"]["jobType"]
    assert (job_type["processingType"], job_type["integration"], job_type["jobType"]) == (
        "BATCH",
        "FEATSTORE",
        "MATERIALIZATION",
    )
    (output,) = done["outputs"]
    assert output["facets"]["version"]["datasetVersion"] == world.spend.version
    assert output["facets"]["schema"]["fields"] == [
        {"name": "customer_id", "type": "Int64"},
        {"name": "amount", "type": "Int64"},
    ]
    stats = output["outputFacets"]["outputStatistics"]
    files = [world.store.offline.absolute(f) for f in run.files]
    assert stats == {**stats, "rowCount": 9, "size": sum(f.stat().st_size for f in files)}
    txns = sorted(("file", str(p)) for p in world.txn_files)
    lineage = output["facets"]["columnLineage"]["fields"]
    assert set(lineage) == {"customer_id", "amount"}
    assert sorted((i["namespace"], i["name"]) for i in lineage["amount"]["inputFields"]) == txns
    assert {i["field"] for i in lineage["amount"]["inputFields"]} == {"amount"}
    inputs = {i["name"]: i for i in done["inputs"]}
    assert sorted(("file", n) for n in inputs) == txns
    for path in world.txn_files:
        facet = inputs[str(path)]["facets"]
        assert facet["version"]["datasetVersion"] == _sha256(path)
        assert [f["name"] for f in facet["schema"]["fields"]] == ["customer_id", "ts", "amount"]


def _no_zone(dtype: str) -> str:
    return re.sub(r", time_zone=[^)]*", "", dtype)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_set_model_and_prediction_facets(
    world: World, events: list[dict[str, Any]]
) -> None:
    (ts,) = _by(events, "training_set.churn_train")
    (out,) = ts["outputs"]
    assert out["facets"]["version"]["datasetVersion"] == world.training_set.content_id
    frame = pl.read_parquet(world.store.offline.absolute(world.training_set.path))
    # the dtypes recorded with its statistics (a time zone aside: see the report of
    # statistics for how instants are profiled)
    assert [(f["name"], _no_zone(f["type"])) for f in out["facets"]["schema"]["fields"]] == [
        (name, _no_zone(str(dtype))) for name, dtype in frame.schema.items()
    ]
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == frame.height == 5
    assert {
        k: [(i["name"], i["field"]) for i in v["inputFields"]]
        for k, v in out["facets"]["columnLineage"]["fields"].items()
    } == {
        "amount": [("offline/spend", "amount")],
        "age": [("offline/profile", "age")],
    }
    assert {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in ts["inputs"]} == {
        ("offline/spend", world.spend.version),
        ("offline/profile", world.profile.version),
    }
    (model,) = _by(events, "register_model.churn")
    assert model["job"]["facets"]["jobType"]["jobType"] == "MODEL_REGISTRATION"
    assert [(i["name"], i["facets"]["version"]["datasetVersion"]) for i in model["inputs"]] == [
        ("training_sets/churn_train", world.training_set.content_id)
    ]
    (model_out,) = model["outputs"]
    assert (model_out["name"], model_out["facets"]["version"]["datasetVersion"]) == (
        "models/churn",
        "1",
    )
    assert [f["name"] for f in model_out["facets"]["schema"]["fields"]] == ["amount", "age"]
    batches = {
        e["outputs"][0]["facets"]["version"]["datasetVersion"]: e
        for e in _by(events, "predict.churn")
    }
    assert set(batches) == {world.batch.batch_id, world.ts_batch.batch_id}
    served = batches[world.batch.batch_id]
    assert served["job"]["facets"]["jobType"]["jobType"] == "PREDICTION"
    assert {i["name"] for i in served["inputs"]} == {
        "models/churn",
        "offline/spend",
        "offline/profile",
    }
    pred = served["outputs"][0]
    assert pred["outputFacets"]["outputStatistics"]["rowCount"] == world.batch.rows == 3
    written = pl.read_parquet(world.store.offline.absolute(world.batch.path))
    fields = pred["facets"]["schema"]["fields"]
    assert [f["name"] for f in fields] == written.columns
    typed = {f["name"]: f["type"] for f in fields if "type" in f}
    assert typed == {"customer_id": "Int64", "score": "Float64", "amount": "Int64", "age": "Int64"}
    assert pred["facets"]["columnLineage"]["fields"]["age"]["inputFields"] == [
        {"namespace": "featstore://store", "name": "offline/profile", "field": "age"}
    ]
    plain = batches[world.ts_batch.batch_id]
    assert [i["name"] for i in plain["inputs"]] == ["models/churn"]
    assert "columnLineage" not in plain["outputs"][0]["facets"]


def test_event_graph_connects_source_files_to_predictions(
    world: World, events: list[dict[str, Any]]
) -> None:
    graph = nx.DiGraph()
    for e in events:
        job = ("job", e["job"]["namespace"], e["job"]["name"])
        for d in e["inputs"]:
            graph.add_edge(("dataset", d["namespace"], d["name"]), job)
        for d in e["outputs"]:
            graph.add_edge(job, ("dataset", d["namespace"], d["name"]))
    ns = "featstore://store"
    chain = [
        ("dataset", "file", str(world.txn_files[0])),
        ("dataset", ns, "offline/spend"),
        ("dataset", ns, "training_sets/churn_train"),
        ("dataset", ns, "models/churn"),
        ("dataset", ns, "predictions/churn"),
    ]
    for a, b in itertools.pairwise(chain):
        assert nx.has_path(graph, a, b), (a, b)
    # one path runs through every step, by the jobs that wrote them
    through = [
        [n[2] for n in path if n[0] == "job"]
        for path in nx.all_simple_paths(graph, chain[0], chain[-1])
        if all(step in path for step in chain)
    ]
    assert through == [
        ["materialize.spend", "training_set.churn_train", "register_model.churn", "predict.churn"]
    ]
    assert nx.has_path(graph, ("dataset", "file", str(world.profile_file)), chain[-1])


# -- a small store with a transformation ------------------------------------------------------


def _raw(root: Path, amounts: list[int]) -> Path:
    path = root / "raw.parquet"
    pl.DataFrame(
        {
            "customer_id": list(range(len(amounts))),
            "ts": [datetime(2024, 1, 5)] * len(amounts),
            "amount": amounts,
        }
    ).write_parquet(path)
    return path


def _definitions(raw: Path) -> list[Any]:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.ParquetSource("txns", path=raw, timestamp_column="ts")

    @fs.feature_view(entity=customer, source=source, owner="team:growth", tags={"tier": "gold"})
    def small(df: pl.LazyFrame) -> pl.LazyFrame:
        """Amounts as small integers."""
        return df.select("customer_id", "ts", pl.col("amount").cast(pl.UInt8).alias("small"))

    return [customer, source, small]


def test_transformation_facets_from_the_definition_record(tmp_path: Path) -> None:
    raw = _raw(tmp_path, [1, 2])
    with fs.FeatureStore(tmp_path / "s", progress=False, threads=1, statistics=False) as store:
        store.apply(_definitions(raw))
        store.materialize("2024-01-01", "2024-02-01")
        record = store.get_feature_view("small")
        (done,) = _by(store.lineage.openlineage_events(), "materialize.small")
    facets = done["job"]["facets"]
    assert record.transform_source
    assert "cast(pl.UInt8)" in record.transform_source
    assert facets["sourceCode"]["sourceCode"] == record.transform_source
    assert facets["sourceCode"]["language"] == "python"
    assert facets["documentation"]["description"] == "Amounts as small integers."
    assert facets["ownership"]["owners"] == [{"name": "team:growth"}]
    assert facets["tags"]["tags"] == [{"key": "tier", "value": "gold", "source": "FEATSTORE"}]
    (output,) = done["outputs"]
    assert "columnLineage" not in output["facets"]  # a transformation: featstore does not know
    assert output["facets"]["documentation"]["description"] == "Amounts as small integers."
    for where, key, facet in _facets_of(done):
        assert facet_validator(facet["_schemaURL"]).is_valid(facet), (where, key)


# -- live emission ------------------------------------------------------------------------


def _ours(event: dict[str, Any]) -> dict[str, Any]:
    """A sent event without the run ``tags`` facet the client adds (its own version)."""
    facets = dict(event["run"]["facets"])
    tags = facets.pop("tags", {"tags": []})["tags"]
    assert all(t["source"] == "OPENLINEAGE_CLIENT" for t in tags)
    return {**event, "run": {**event["run"], "facets": facets}}


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(  # type: ignore[attr-defined]
            (self.path, json.loads(body))
        )
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _http(server: HTTPServer) -> dict[str, Any]:
    return {
        "namespace": "team-a",
        "transport": {
            "type": "http",
            "url": f"http://127.0.0.1:{server.server_address[1]}",
            "timeout": 5,
            "retry": {"total": 0},
        },
    }


def test_live_emission_over_http(tmp_path: Path, receiver: HTTPServer) -> None:
    raw = _raw(tmp_path, [1, 2])
    validator = openlineage_validator()
    with fs.FeatureStore(
        tmp_path / "s", progress=False, threads=1, statistics=False, openlineage=_http(receiver)
    ) as store:
        store.apply(_definitions(raw))
        (run,) = store.materialize("2024-01-01", "2024-02-01")
        exported = store.lineage.openlineage_events()
    received = receiver.received  # type: ignore[attr-defined]
    assert [p for p, _ in received] == ["/api/v1/lineage"] * 2
    for _, event in received:
        assert validator.is_valid(event)
    start, done = (_ours(e) for _, e in received)
    assert (start["eventType"], done["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"] == run_uuid(run.run_id)
    assert start["eventTime"] <= done["eventTime"]
    assert {start["job"]["namespace"], done["job"]["namespace"]} == {"team-a"}
    assert done == exported[1]  # the live COMPLETE is the exported one
    assert {k: v for k, v in start.items() if k != "eventTime"} == {
        k: v for k, v in exported[0].items() if k != "eventTime"
    }


def test_fail_event_for_a_failed_materialization(tmp_path: Path, receiver: HTTPServer) -> None:
    raw = _raw(tmp_path, [1, 300])  # 300 does not fit in a UInt8: the run raises
    with fs.FeatureStore(
        tmp_path / "s", progress=False, threads=1, statistics=False, openlineage=_http(receiver)
    ) as store:
        store.apply(_definitions(raw))
        with pytest.raises(fs.MaterializationError):
            store.materialize("2024-01-01", "2024-02-01")
        assert store.runs() == []
        assert store.lineage.openlineage_events() == []  # nothing was recorded
    start, fail = (_ours(e) for _, e in receiver.received)  # type: ignore[attr-defined]
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert start["run"]["runId"] == fail["run"]["runId"]
    error = fail["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python"
    assert "MaterializationError" in error["message"]
    assert "small" in error["message"]
    assert openlineage_validator().is_valid(fail)
    assert facet_validator(error["_schemaURL"]).is_valid(error)
    assert Serde.to_dict(_typed.typed_event(fail)) == fail


def test_a_failing_transport_does_not_fail_the_operation(
    tmp_path: Path, receiver: HTTPServer
) -> None:
    receiver.status = 500  # type: ignore[attr-defined]
    raw = _raw(tmp_path, [1, 2])
    with fs.FeatureStore(
        tmp_path / "s", progress=False, threads=1, statistics=False, openlineage=_http(receiver)
    ) as store:
        store.apply(_definitions(raw))
        with pytest.warns(
            OpenLineageWarning, match="materialization of 'small' were not sent"
        ) as caught:
            (run,) = store.materialize("2024-01-01", "2024-02-01")
        assert len(caught) == 2  # START and COMPLETE, each refused
        assert [r.run_id for r in store.runs()] == [run.run_id]
        assert store.get_latest_features({"customer_id": [1]}, ["small:small"]).frame[
            "small"
        ].to_list() == [2]
    assert len(receiver.received) == 2  # type: ignore[attr-defined]


def test_live_emission_through_the_file_transport_from_featstore_json(tmp_path: Path) -> None:
    """Configured in featstore.json: every operation of the world sends its events, and
    they are the exported ones (a START's time aside: it is sent before the run)."""
    log = tmp_path / "events.jsonl"
    fs.FeatureStore(tmp_path / "store").close()
    config_file = tmp_path / "store" / "featstore.json"
    config = json.loads(config_file.read_text())
    config["openlineage"] = {
        "transport": {"type": "file", "log_file_path": str(log), "append": True}
    }
    config_file.write_text(json.dumps(config))
    w = build_world(tmp_path)
    try:
        exported = w.store.lineage.openlineage_events()
    finally:
        w.store.close()
    assert "openlineage" in json.loads(config_file.read_text())  # kept
    sent = [_ours(json.loads(line)) for line in log.read_text().splitlines()]
    assert len(sent) == len(exported) == 12

    def key(e: dict[str, Any]) -> tuple[str, str]:
        return e["run"]["runId"], e["eventType"]

    exported_by = {key(e): e for e in exported}
    assert {key(e) for e in sent} == set(exported_by)
    for e in sent:
        if e["eventType"] == "START" and e["job"]["name"].startswith("materialize."):
            e = {**e, "eventTime": exported_by[key(e)]["eventTime"]}
        assert e == exported_by[key(e)]


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"transport": {"type": "mymodule.Transport"}}, "class path would be code"),
        ({"transport": {"type": "file", "log_file_path": "x", "filesystem": "m.fs"}}, "names code"),
        ({"transport": {"type": "http", "url": "http://x", "auth": {"type": "m.Auth"}}}, "'auth'"),
        (
            {"transport": {"type": "composite", "transports": [{"type": "m.T"}]}},
            "transports\\[0\\]",
        ),
        ({"namespace": ""}, "non-empty"),
        ({"url": "http://x"}, "unknown key 'url'"),
    ],
)
def test_openlineage_config_is_checked(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(fs.ConfigError, match=message):
        fs.FeatureStore(tmp_path / "s", openlineage=config)
    assert not (tmp_path / "s").exists()  # refused before anything is created
    store_dir = tmp_path / "t"
    fs.FeatureStore(store_dir).close()
    data = json.loads((store_dir / "featstore.json").read_text())
    (store_dir / "featstore.json").write_text(json.dumps({**data, "openlineage": config}))
    with pytest.raises(fs.ConfigError, match=r"featstore\.json 'openlineage'"):
        fs.FeatureStore(store_dir)


def test_namespace_from_featstore_json(tmp_path: Path) -> None:
    raw = _raw(tmp_path, [1])
    store_dir = tmp_path / "s"
    fs.FeatureStore(store_dir).close()
    data = json.loads((store_dir / "featstore.json").read_text())
    (store_dir / "featstore.json").write_text(
        json.dumps({**data, "openlineage": {"namespace": "prod-features"}})
    )
    with fs.FeatureStore(store_dir, progress=False, threads=1, statistics=False) as store:
        store.apply(_definitions(raw))
        store.materialize("2024-01-01", "2024-02-01")
        events = store.lineage.openlineage_events()
        assert not store.lineage_events.enabled  # a namespace only: nothing is sent
    assert {e["job"]["namespace"] for e in events} == {"prod-features"}
    assert {d["namespace"] for e in events for d in e["outputs"]} == {"prod-features"}


# -- without openlineage-python -------------------------------------------------------------


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "openlineage" or m.startswith("openlineage.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "openlineage", None)


def test_plain_dict_fallback_without_the_client(
    world: World, events: list[dict[str, Any]], no_client: None
) -> None:
    assert not _typed.available()
    with pytest.raises(ImportError):
        import openlineage.client  # noqa: F401
    assert world.store.lineage.openlineage_events() == events
    validator = openlineage_validator()
    assert all(validator.is_valid(e) for e in events)


def test_live_emission_without_the_client_warns_and_carries_on(
    tmp_path: Path, no_client: None
) -> None:
    raw = _raw(tmp_path, [1])
    config = {"transport": {"type": "file", "log_file_path": str(tmp_path / "e.jsonl")}}
    with fs.FeatureStore(
        tmp_path / "s", progress=False, threads=1, statistics=False, openlineage=config
    ) as store:
        store.apply(_definitions(raw))
        with pytest.warns(OpenLineageWarning, match="pip install 'featstore\\[openlineage\\]'"):
            runs = store.materialize("2024-01-01", "2024-02-01")
        assert len(runs) == 1
        assert len(store.runs()) == 1
    assert not (tmp_path / "e.jsonl").exists()


def test_a_training_set_saved_by_register_model_is_sent_once_first(tmp_path: Path) -> None:
    raw = _raw(tmp_path, [1, 2])
    log = tmp_path / "events.jsonl"
    config = {"transport": {"type": "file", "log_file_path": str(log), "append": True}}
    entity = pl.DataFrame({"customer_id": [0, 1], "event_timestamp": [datetime(2024, 1, 9)] * 2})
    with fs.FeatureStore(
        tmp_path / "s", progress=False, threads=1, statistics=False, openlineage=config
    ) as store:
        store.apply(_definitions(raw))
        store.materialize("2024-01-01", "2024-02-01")
        result = store.get_historical_features(entity, ["small:small"])
        model = store.register_model("m", result)  # saves the training set through the store
        exported = store.lineage.openlineage_events()
    sent = [_ours(json.loads(line)) for line in log.read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in sent[2:]] == [
        ("training_set.m_training", "START"),
        ("training_set.m_training", "COMPLETE"),
        ("register_model.m", "START"),
        ("register_model.m", "COMPLETE"),
    ]
    assert sent[2:] == exported[2:]
    assert (
        sent[-1]["inputs"][0]["facets"]["version"]["datasetVersion"]
        == (model.training_set.rpartition("@")[2])
    )
