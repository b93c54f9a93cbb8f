"""featstore's OpenLineage event dicts as the official client's typed objects
(``openlineage.client.event_v2`` and ``facet_v2``), and back through its serialiser.

Only imported where ``openlineage-python`` is wanted; :func:`available` says whether it
is installed. A facet featstore does not write is refused (a LineageError), never
dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from featstore.errors import LineageError

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

__all__ = ["available", "through_client", "typed_event"]


def available() -> bool:
    """Whether ``openlineage-python`` can be imported."""
    try:
        import openlineage.client.event_v2
        import openlineage.client.facet_v2
        import openlineage.client.serde  # noqa: F401
    except ImportError:
        return False
    return True


def _body(facet: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return str(facet["_producer"]), {
        k: v for k, v in facet.items() if k not in ("_producer", "_schemaURL")
    }


def _builders() -> dict[str, dict[str, Callable[..., Any]]]:
    from openlineage.client import facet_v2 as f

    def schema(producer: str, fields: list[dict[str, Any]]) -> Any:
        return f.schema_dataset.SchemaDatasetFacet(
            fields=[
                f.schema_dataset.SchemaDatasetFacetFields(
                    name=c["name"], type=c.get("type"), fields=None
                )
                for c in fields
            ],
            producer=producer,
        )

    def column_lineage(producer: str, fields: dict[str, Any]) -> Any:
        cl = f.column_lineage_dataset
        return cl.ColumnLineageDatasetFacet(
            fields={
                column: cl.Fields(
                    inputFields=[
                        cl.InputField(
                            namespace=i["namespace"],
                            name=i["name"],
                            field=i["field"],
                            transformations=None,
                        )
                        for i in body["inputFields"]
                    ]
                )
                for column, body in fields.items()
            },
            dataset=None,
            producer=producer,
        )

    def ownership(producer: str, owners: list[dict[str, Any]]) -> Any:
        o = f.ownership_job
        return o.OwnershipJobFacet(
            owners=[o.Owner(name=x["name"], type=x.get("type")) for x in owners],
            producer=producer,
        )

    def tags(producer: str, tags: list[dict[str, Any]]) -> Any:
        t = f.tags_job
        return t.TagsJobFacet(
            tags=[
                t.TagsJobFacetFields(key=x["key"], value=x["value"], source=x.get("source"))
                for x in tags
            ],
            producer=producer,
        )

    def plain(cls: Callable[..., Any]) -> Callable[..., Any]:
        return lambda producer, **body: cls(**body, producer=producer)

    return {
        "dataset": {
            "schema": schema,
            "version": plain(f.dataset_version_dataset.DatasetVersionDatasetFacet),
            "documentation": plain(f.documentation_dataset.DocumentationDatasetFacet),
            "columnLineage": column_lineage,
        },
        "output": {
            "outputStatistics": plain(
                f.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
            ),
        },
        "job": {
            "jobType": plain(f.job_type_job.JobTypeJobFacet),
            "sourceCode": plain(f.source_code_job.SourceCodeJobFacet),
            "documentation": plain(f.documentation_job.DocumentationJobFacet),
            "ownership": ownership,
            "tags": tags,
        },
        "run": {
            "nominalTime": plain(f.nominal_time_run.NominalTimeRunFacet),
            "processing_engine": plain(f.processing_engine_run.ProcessingEngineRunFacet),
            "errorMessage": plain(f.error_message_run.ErrorMessageRunFacet),
        },
    }


def _facets(
    where: str, facets: Mapping[str, Any] | None, builders: Mapping[str, Callable[..., Any]]
) -> dict[str, Any] | None:
    if facets is None:
        return None
    out = {}
    for key, facet in facets.items():
        build = builders.get(key)
        if build is None:
            raise LineageError(
                f"OpenLineage {where} facet {key!r} is not one featstore writes; "
                f"expected one of {sorted(builders)}"
            )
        producer, body = _body(facet)
        out[key] = build(producer, **body)
    return out


def typed_event(event: Mapping[str, Any]) -> RunEvent:
    """The client's typed RunEvent of one of featstore's event dicts."""
    from openlineage.client import event_v2 as ev

    b = _builders()
    run, job = event["run"], event["job"]
    return ev.RunEvent(
        eventType=ev.RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=ev.Run(runId=run["runId"], facets=_facets("run", run.get("facets"), b["run"])),
        job=ev.Job(
            namespace=job["namespace"],
            name=job["name"],
            facets=_facets("job", job.get("facets"), b["job"]),
        ),
        inputs=[
            ev.InputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=_facets("dataset", d.get("facets"), b["dataset"]),
                inputFacets=None,
            )
            for d in event.get("inputs", [])
        ],
        outputs=[
            ev.OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=_facets("dataset", d.get("facets"), b["dataset"]),
                outputFacets=_facets("output", d.get("outputFacets"), b["output"]),
            )
            for d in event.get("outputs", [])
        ],
    )


def through_client(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as the client serialises it (:func:`typed_event`, then ``Serde``)."""
    from openlineage.client.serde import Serde

    return Serde.to_dict(typed_event(event))
