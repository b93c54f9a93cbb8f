"""The ``featstore`` command line.

Two layers, as in Hamilton's CLI: the functions in :mod:`featstore.cli.actions` take a
:class:`~featstore.FeatureStore` (or a path) and return plain data (dicts, lists,
strings); the click commands in :mod:`featstore.cli.commands` parse arguments, call one
of them and render the result, as rich tables for people or as JSON with ``--json``.

Definitions are code and are never loaded from storage: commands that need them
(``apply``, ``materialize``, ``materialize-incremental``) import the user's
definitions file by path. Errors featstore raises are printed as ``error: <message>``
with exit status 1; usage errors exit with status 2.

    featstore --store feature_repo init
    featstore apply features.py
    featstore materialize 2024-01-01 2024-07-01 --defs features.py
    featstore historical labels.parquet --service churn_v1 --out train.parquet
    featstore lineage downstream source:transactions --kind model_version --json
"""

from __future__ import annotations

from featstore.cli.actions import (
    apply_definitions,
    explain_row,
    gc_store,
    historical_features,
    init_store,
    latest_features,
    lineage_export,
    lineage_path,
    lineage_walk,
    list_objects,
    load_definitions,
    materialize_incremental_views,
    materialize_views,
    model_details,
    open_store,
    openlineage_events,
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
    "init_store",
    "latest_features",
    "lineage_export",
    "lineage_path",
    "lineage_walk",
    "list_objects",
    "load_definitions",
    "main",
    "materialize_incremental_views",
    "materialize_views",
    "model_details",
    "open_store",
    "openlineage_events",
    "resolve_node",
    "rollback_alias",
    "set_alias",
    "view_details",
]
