"""Parsing and resolving feature references against the registered views.

A reference is ``"view:feature"``, ``"view@version:feature"``, ``"view:*"``, a
FeatureView (all its features), ``view[["a", "b"]]``, or a FeatureService (its list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from featstore.definitions import FeatureSelection, FeatureService, FeatureView
from featstore.errors import DefinitionError, NotFoundError, PointInTimeError, did_you_mean

__all__ = ["Requested", "resolve_refs"]


@dataclass(frozen=True, slots=True)
class Requested:
    """The features wanted from one view version, in request order."""

    view: str
    version: str
    features: tuple[str, ...]
    record: dict[str, Any]


def _parse(ref: object) -> list[tuple[str, str | None, str | None]]:
    """``(view, version or None, feature or None for all)`` triples."""
    if isinstance(ref, FeatureView):
        return [(ref.name, ref.version, None)]
    if isinstance(ref, FeatureSelection):
        return [(ref.view.name, ref.view.version, f) for f in ref.features]
    if isinstance(ref, str):
        view, sep, feature = ref.partition(":")
        if not sep or not view or not feature:
            raise DefinitionError(
                f"feature reference {ref!r} is not 'view:feature' (or 'view:*' for all)"
            )
        name, _, version = view.partition("@")
        return [(name, version or None, None if feature == "*" else feature)]
    raise DefinitionError(
        f"feature reference {ref!r} must be 'view:feature', a FeatureView or view[['a']]"
    )


def flatten(features: Sequence[object] | FeatureService) -> list[object]:
    if isinstance(features, FeatureService):
        return list(features.features)
    if isinstance(features, str | FeatureView | FeatureSelection):
        return [features]
    return list(features)


def resolve_refs(
    features: Sequence[object] | FeatureService,
    lookup: Callable[[str, str | None], dict[str, Any]],
    view_names: Callable[[], list[str]],
    prefetch: Callable[[list[tuple[str, str | None]]], dict[tuple[str, str | None], Any]]
    | None = None,
) -> list[Requested]:
    """Group references by view version, checking every view and feature exists.

    The one resolution path: Python retrieval, the CLI, training-set rebuilds and
    feature services all come here. ``lookup(name, version)`` returns a view record
    (current version when ``None``) or raises NotFoundError; ``prefetch``, given every
    ``(name, version)`` asked for, returns the records it finds in a constant number of
    catalog queries, so ``lookup`` only runs for what it missed (to raise its error).
    """
    refs = flatten(features)
    if not refs:
        raise PointInTimeError("no features requested; pass feature references or a service")
    parsed = [(ref, _parse(ref)) for ref in refs]
    order: list[tuple[str, str]] = []
    wanted: dict[tuple[str, str], list[str]] = {}
    chosen_set: dict[tuple[str, str], set[str]] = {}
    records: dict[tuple[str, str], dict[str, Any]] = {}
    # One lookup per (view, version) asked, and one list of a record's feature names: a
    # request for N features of one view costs O(N), not N lookups of an N-feature record.
    looked_up: dict[tuple[str, str | None], dict[str, Any]] = {}
    if prefetch is not None:
        asked = list(dict.fromkeys((n, v) for _, triples in parsed for n, v, _ in triples))
        looked_up.update(prefetch(asked))
    known_of: dict[tuple[str, str], list[str]] = {}
    for ref, triples in parsed:
        for name, version, feature in triples:
            record = looked_up.get((name, version))
            if record is None:
                try:
                    record = lookup(name, version)
                except NotFoundError:
                    if version is None:
                        raise NotFoundError(
                            f"unknown feature view {name!r} in reference {ref!r}"
                            + did_you_mean(name, view_names())
                        ) from None
                    raise
                looked_up[(name, version)] = record
            key = (name, record["version"])
            if key not in wanted:
                order.append(key)
                wanted[key] = []
                chosen_set[key] = set()
                records[key] = record
                known_of[key] = list(record.get("feature_names") or record["features"])
            known = known_of[key]
            stored = records[key]["features"]
            chosen = known if feature is None else [feature]
            for f in chosen:
                if f not in stored:
                    raise NotFoundError(
                        f"feature view {name!r} has no feature {f!r}" + did_you_mean(f, known)
                    )
                if f not in chosen_set[key]:
                    chosen_set[key].add(f)
                    wanted[key].append(f)
    versions: dict[str, str] = {}
    for name, version in order:
        if name in versions and versions[name] != version:
            raise PointInTimeError(
                f"feature view {name!r} requested at two versions ({versions[name]} and "
                f"{version}); request one version per view"
            )
        versions[name] = version
    return [Requested(n, v, tuple(wanted[(n, v)]), records[(n, v)]) for n, v in order]
