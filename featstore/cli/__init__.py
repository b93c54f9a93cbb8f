"""The ``featstore`` command line.

Two layers, as in Hamilton's CLI: the functions in :mod:`featstore.cli.actions` take a
:class:`~featstore.FeatureStore` (or a path) and return plain data (dicts, lists,
strings); the click commands in :mod:`featstore.cli.commands` parse arguments, call one
of them and render the result, as rich tables for people or as JSON with ``--json``.

``featstore init`` scaffolds a project (:mod:`featstore.cli.project`): a
``featstore.toml`` naming the store and the definitions file, found from any
subdirectory, so commands need neither ``--store`` nor a definitions path.
Definitions are code and are never loaded from storage: commands that need them
(``plan``, ``apply``, ``materialize``, ``materialize-incremental``) import the
definitions file by path. Errors featstore raises are printed as ``error: <message>``
with exit status 1 (under ``--json``, as ``{"error": ..., "type": ...}``); usage errors
exit with status 2. docs/cli.md describes every command.

    featstore init shop && cd shop
    featstore plan
    featstore apply
    featstore materialize 2024-01-01 2024-04-01
    featstore historical data/entities.parquet -f spending:spend_30d --save-as train
    featstore models register churn --training-set train --metric auc=0.8
    featstore lineage downstream source:transactions --kind model_version --json
"""

from __future__ import annotations

from featstore.cli.actions import (
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
    plan_definitions,
    register_model_version,
    resolve_model,
    resolve_node,
    rollback_alias,
    set_alias,
    view_details,
)
from featstore.cli.commands import cli, main

__all__ = [
    "apply_definitions",
    "cli",
    "explain_row",
    "gc_store",
    "historical_features",
    "init_project",
    "init_store",
    "latest_features",
    "lineage_export",
    "lineage_path",
    "lineage_walk",
    "list_objects",
    "load_definitions",
    "log_prediction_batch",
    "main",
    "materialize_incremental_views",
    "materialize_views",
    "model_details",
    "open_store",
    "openlineage_events",
    "plan_definitions",
    "register_model_version",
    "resolve_model",
    "resolve_node",
    "rollback_alias",
    "set_alias",
    "view_details",
]
