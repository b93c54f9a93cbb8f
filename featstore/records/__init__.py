"""Typed records: what the catalog stores and the API returns, each with one JSON codec.

Every record is a frozen, slotted dataclass (a :class:`Record`) with ``to_json() ->
dict`` and ``from_json(dict)``, and ``dumps()`` / ``loads()`` to and from text. ``dumps`` writes
what the catalog writes (``json.dumps(..., sort_keys=True)``), so a body read from the
catalog and written back is byte-identical. Sequences are tuples and mappings are
:class:`FrozenMap` (read-only, hashable, equal to a ``dict`` with the same items), so
records are hashable; JSON gets lists and objects on the way out. Attributes are the
typed API; ``record["key"]``, ``record.get("key")`` and ``"key" in record`` read the JSON
document (the *dict view*, see :class:`Record`), as the dicts featstore returned before.
Lineage nodes are :class:`Node`, a lighter class with the same codec.

``from_json`` checks what it reads: a key that is missing, unknown, or of the wrong type
raises :class:`~featstore.errors.CatalogError` naming the record and the key (the
catalog is damaged), never ``KeyError``. Keys that featstore added in later releases
(``has_created``, ``arrow_schema``, ``feature_names``, ``spec``, ``result_hash``,
``content_hash``) may be absent, as they are in bodies written before them; an absent
one reads as ``None`` and is left out again on the way out.

Encodings, one per kind of value:

- instants: fixed-width ISO text in UTC without offset (``2024-01-31T00:00:00.000000``,
  :func:`featstore.timeutil.iso`). Records keep the text, except :class:`Run`, which
  holds naive UTC ``datetime``.
- feature dtypes: exactly, as ``arrow_schema`` (base64 Arrow IPC, see
  :mod:`featstore.dtypes`); :attr:`ViewRecord.schema` decodes it to a ``pl.Schema``.
  Dtype *names* (``str(dtype)``, :func:`dtype_name`) are kept beside it for people
  (``features``, ``key_dtypes``, a dataframe source's ``schema``): they are Polars'
  ``repr`` of the dtype, which no Polars function parses back and which may change
  between Polars versions, so only the few without parameters are read back
  (:attr:`ViewRecord.schema` of a record without ``arrow_schema``).
- store files: the store-relative path with ``/``, as the catalog stores it;
  :class:`TrainingSet` and :class:`PredictionBatch` resolve it against the store
  directory they were read from (``root``).

>>> run = Run.loads(
...     '{"end": "2024-02-01T00:00:00.000000", "files": [], "finished_at": '
...     '"2024-03-01T00:00:00.000000", "inputs": [], "rows": 0, "run_id": "' + "0" * 32 + '", '
...     '"start": "2024-01-01T00:00:00.000000", "started_at": "2024-03-01T00:00:00.000000", '
...     '"view": "spend", "view_version": "3f2a1c9b0d4e"}'
... )
>>> run.start
datetime.datetime(2024, 1, 1, 0, 0)
>>> Run.from_json(run.to_json()) == run
True
"""

from __future__ import annotations

from featstore.lineage_ids import NODE_KINDS
from featstore.records._codec import Record
from featstore.records._reader import damage
from featstore.records._values import FrozenMap, freeze_json, thaw_json
from featstore.records.definitions import (
    DefinitionRecord,
    DefinitionVersion,
    EntityRecord,
    ServiceRecord,
    SourceRecord,
    ViewSelection,
    definition_from_json,
)
from featstore.records.lineage import Explanation, Node, NodeList
from featstore.records.manifests import (
    ManifestFile,
    RetrievedFeatures,
    ServiceRef,
    TrainingSetManifest,
)
from featstore.records.models import AliasEvent, CodeVersion, ModelSummary, ModelVersion
from featstore.records.predictions import PredictionBatch
from featstore.records.runs import OfflineFile, Run, RunInput
from featstore.records.training import TrainingSet, TrainingSetCheck, read_verified
from featstore.records.views import ViewRecord, dtype_name

__all__ = [
    # values
    "FrozenMap",
    "Record",
    "dtype_name",
    "freeze_json",
    "thaw_json",
    # definitions
    "DefinitionRecord",
    "DefinitionVersion",
    "EntityRecord",
    "ServiceRecord",
    "SourceRecord",
    "ViewRecord",
    "ViewSelection",
    "damage",
    "definition_from_json",
    # materialization
    "OfflineFile",
    "Run",
    "RunInput",
    # retrieval and registry
    "CodeVersion",
    "ManifestFile",
    "ModelSummary",
    "ModelVersion",
    "PredictionBatch",
    "RetrievedFeatures",
    "ServiceRef",
    "TrainingSet",
    "TrainingSetCheck",
    "TrainingSetManifest",
    "read_verified",
    # history and lineage
    "NODE_KINDS",
    "AliasEvent",
    "Explanation",
    "Node",
    "NodeList",
]
