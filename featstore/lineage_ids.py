"""Lineage identity: the kinds of nodes and edges, and the one spelling of a node id.

Every lineage node id is ``<prefix>:<parts>``; stores already hold these strings, so
they never change. The prefix is not always the kind's name:

===================  ===============================================
kind                 id (the prefix is everything before the ``:``)
===================  ===============================================
source               ``source:<name>``
source_file          ``file:<path>@<sha256[:12]>``
feature_view         ``view:<name>@<version>``
feature_service      ``service:<name>@<version>``
materialization_run  ``run:<run_id>``
training_set         ``training_set:<name>@<content_id>``
model_version        ``model:<name>@<version>`` (a version number)
prediction_batch     ``prediction_batch:<batch_id>``
label_batch          ``label_batch:<batch_id>``
drift_report         ``drift_report:<report_id>``
skew_report          ``skew_report:<report_id>``
evaluation           ``evaluation:<evaluation_id>``
===================  ===============================================

An id is read back by its prefix (up to the first ``:``) and, for two-part ids, by the
*last* ``@``: the first part may hold anything (a file path may contain ``:`` and ``@``),
the last part never holds ``@``. :func:`node_id` refuses parts that would not read back,
and :func:`parse_node_id` refuses text that is not an id; both raise LineageError.

Build ids only here (``node_id(NodeKind.FEATURE_VIEW, name, version)``) and read them
only here (``parse_node_id(text)``), so that one module knows how they are spelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from featstore.errors import LineageError, did_you_mean

__all__ = [
    "EDGE_KINDS",
    "NODE_KINDS",
    "EdgeKind",
    "NodeKind",
    "ParsedNodeId",
    "has_known_prefix",
    "has_prefix",
    "match_prefix",
    "node_id",
    "parse_node_id",
    "prefix_names",
    "strip_prefix",
]


class NodeKind(StrEnum):
    """The kind of a lineage node; each value is the ``kind`` the catalog stores."""

    SOURCE = "source"
    SOURCE_FILE = "source_file"
    FEATURE_VIEW = "feature_view"
    FEATURE_SERVICE = "feature_service"
    MATERIALIZATION_RUN = "materialization_run"
    TRAINING_SET = "training_set"
    MODEL_VERSION = "model_version"
    PREDICTION_BATCH = "prediction_batch"
    LABEL_BATCH = "label_batch"
    DRIFT_REPORT = "drift_report"
    SKEW_REPORT = "skew_report"
    EVALUATION = "evaluation"

    @property
    def prefix(self) -> str:
        """What the ids of this kind start with, e.g. ``"view:"`` for feature views."""
        return _SPECS[self].prefix

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the parts of an id of this kind, e.g. ``("name", "version")``."""
        return _SPECS[self].parts

    @property
    def template(self) -> str:
        """How an id of this kind looks, e.g. ``"view:<name>@<version>"``."""
        return self.prefix + "@".join(f"<{part}>" for part in self.parts)


class EdgeKind(StrEnum):
    """The kind of a lineage edge (edges point downstream, from what was read to what
    was produced); each value is the ``kind`` the catalog stores."""

    HAS_SNAPSHOT = "has_snapshot"
    """source -> source_file: a file of the source, as a run read it."""
    FEEDS = "feeds"
    """source -> feature_view."""
    READ_BY = "read_by"
    """source_file -> materialization_run; materialization_run -> training_set or
    prediction_batch (the offline files a retrieval read)."""
    MATERIALIZED_BY = "materialized_by"
    """feature_view -> materialization_run."""
    SELECTED_BY = "selected_by"
    """feature_view -> feature_service; feature_service -> training_set or
    prediction_batch."""
    FEATURES_OF = "features_of"
    """feature_view -> training_set or prediction_batch."""
    TRAINED = "trained"
    """training_set -> model_version."""
    PREDICTED = "predicted"
    """model_version -> prediction_batch."""
    LABELED_BY = "labeled_by"
    """prediction_batch -> label_batch: ground truth for the batch's predictions."""
    COMPARED_IN = "compared_in"
    """training_set, prediction_batch, feature_view or materialization_run -> drift_report
    (either side of a drift check)."""
    CHECKED_IN = "checked_in"
    """prediction_batch -> skew_report."""
    EVALUATED_IN = "evaluated_in"
    """model_version -> evaluation; training_set (the eval set) -> evaluation."""


NODE_KINDS: tuple[str, ...] = tuple(kind.value for kind in NodeKind)
"""The node kinds' values (plain strings), in the order queries return nodes."""
EDGE_KINDS: tuple[str, ...] = tuple(kind.value for kind in EdgeKind)
"""The edge kinds' values (plain strings)."""


@dataclass(frozen=True, slots=True)
class _Spec:
    prefix: str
    parts: tuple[str, ...]
    last_may_be_empty: bool = False  # a source file whose sha256 was not recorded
    last_pattern: re.Pattern[str] | None = None


_SPECS: dict[NodeKind, _Spec] = {
    NodeKind.SOURCE: _Spec("source:", ("name",)),
    NodeKind.SOURCE_FILE: _Spec("file:", ("path", "sha256[:12]"), last_may_be_empty=True),
    NodeKind.FEATURE_VIEW: _Spec("view:", ("name", "version")),
    NodeKind.FEATURE_SERVICE: _Spec("service:", ("name", "version")),
    NodeKind.MATERIALIZATION_RUN: _Spec("run:", ("run_id",)),
    NodeKind.TRAINING_SET: _Spec("training_set:", ("name", "content_id")),
    NodeKind.MODEL_VERSION: _Spec("model:", ("name", "version"), last_pattern=re.compile("[0-9]+")),
    NodeKind.PREDICTION_BATCH: _Spec("prediction_batch:", ("batch_id",)),
    NodeKind.LABEL_BATCH: _Spec("label_batch:", ("batch_id",)),
    NodeKind.DRIFT_REPORT: _Spec("drift_report:", ("report_id",)),
    NodeKind.SKEW_REPORT: _Spec("skew_report:", ("report_id",)),
    NodeKind.EVALUATION: _Spec("evaluation:", ("evaluation_id",)),
}
_BY_PREFIX: dict[str, NodeKind] = {spec.prefix: kind for kind, spec in _SPECS.items()}
_PREFIX_NAMES = ", ".join(spec.prefix[:-1] for spec in _SPECS.values())


class ParsedNodeId(NamedTuple):
    """A node id read back: its kind and its parts (``("name", "version")`` for a view)."""

    kind: NodeKind
    parts: tuple[str, ...]


def _kind(kind: NodeKind | str) -> NodeKind:
    try:
        return NodeKind(kind)
    except ValueError:
        raise LineageError(
            f"unknown node kind {kind!r}" + did_you_mean(str(kind), NODE_KINDS)
        ) from None


def _check_parts(kind: NodeKind, parts: tuple[str, ...], shown: str) -> None:
    """LineageError unless ``parts`` spell an id of ``kind`` that reads back as them."""
    spec = _SPECS[kind]
    if len(parts) != len(spec.parts):
        raise LineageError(
            f"{shown}: a {kind.value} id has {len(spec.parts)} part(s) "
            f"({kind.template!r}), found {len(parts)}"
        )
    if not parts[0]:
        raise LineageError(f"{shown}: the {spec.parts[0]} of a {kind.value} id is empty")
    if len(parts) == 1:
        return
    last, what = parts[-1], spec.parts[-1]
    if "@" in last:
        raise LineageError(f"{shown}: the {what} of a {kind.value} id may not contain '@'")
    if not last and not spec.last_may_be_empty:
        raise LineageError(f"{shown}: the {what} of a {kind.value} id is empty")
    if spec.last_pattern is not None and not spec.last_pattern.fullmatch(last):
        raise LineageError(
            f"{shown}: the {what} of a {kind.value} id must be a number, found {last!r}"
        )


def node_id(kind: NodeKind | str, *parts: str | int) -> str:
    """The id of a lineage node: ``node_id(NodeKind.FEATURE_VIEW, "spend", "3f2a")`` is
    ``"view:spend@3f2a"``. Parts are strings (a model version may be an int).

    >>> node_id(NodeKind.MODEL_VERSION, "churn", 3)
    'model:churn@3'

    Raises LineageError for an unknown kind, the wrong number of parts, or parts that
    would not read back (an empty name, ``@`` in the last part of a two-part id).
    """
    nk = _kind(kind)
    text: list[str] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, str | int):
            raise LineageError(
                f"the parts of a {nk.value} id are strings, found {type(part).__name__} {part!r}"
            )
        text.append(str(part))
    _check_parts(nk, tuple(text), f"cannot build a {nk.value} id from {tuple(parts)!r}")
    return nk.prefix + "@".join(text)


def match_prefix(text: str) -> tuple[NodeKind, str] | None:
    """The kind whose prefix ``text`` starts with and the rest of the text, or None.

    >>> match_prefix("view:spend")
    (<NodeKind.FEATURE_VIEW: 'feature_view'>, 'spend')
    """
    head, sep, rest = text.partition(":")
    kind = _BY_PREFIX.get(head + sep) if sep else None
    return None if kind is None else (kind, rest)


def parse_node_id(text: str) -> ParsedNodeId:
    """The kind and parts of a node id: ``parse_node_id("view:spend@3f2a")`` is
    ``(NodeKind.FEATURE_VIEW, ("spend", "3f2a"))``; the inverse of :func:`node_id`.

    Raises LineageError if ``text`` is not a well-formed node id.
    """
    if not isinstance(text, str):
        raise LineageError(f"a lineage node id is a string, found {type(text).__name__}")
    found = match_prefix(text)
    if found is None:
        head = text.partition(":")[0]
        hint = (
            did_you_mean(head, [spec.prefix[:-1] for spec in _SPECS.values()])
            if ":" in text
            else f"; ids look like {_SPECS[NodeKind.SOURCE].prefix}<name>"
        )
        raise LineageError(
            f"malformed lineage node id {text!r}: it does not start with one of "
            f"{_PREFIX_NAMES} followed by ':'{hint}"
        )
    kind, rest = found
    if len(_SPECS[kind].parts) == 1:
        parts: tuple[str, ...] = (rest,)
    else:
        first, sep, last = rest.rpartition("@")
        if not sep:
            raise LineageError(
                f"malformed lineage node id {text!r}: a {kind.value} id looks like "
                f"{kind.template!r}"
            )
        parts = (first, last)
    _check_parts(kind, parts, f"malformed lineage node id {text!r}")
    return ParsedNodeId(kind, parts)


def has_prefix(kind: NodeKind, text: str) -> bool:
    """Whether ``text`` starts with the id prefix of ``kind`` (a cheap test, not a parse)."""
    return text.startswith(_SPECS[kind].prefix)


def strip_prefix(kind: NodeKind, text: str) -> str:
    """``text`` without the id prefix of ``kind``, if it has it: a reference that may be a
    node id or what follows the prefix (``"prediction_batch:7f3e"`` or ``"7f3e"``)."""
    return text.removeprefix(_SPECS[kind].prefix)


def has_known_prefix(text: str) -> bool:
    """Whether ``text`` is ``<prefix>:<something>`` with the prefix of some kind: the
    loose check of a node id that documents from elsewhere must pass."""
    found = match_prefix(text)
    return found is not None and bool(found[1])


def prefix_names() -> str:
    """The prefixes without their colon, comma-separated, in kind order (for messages)."""
    return _PREFIX_NAMES
