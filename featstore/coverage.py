"""How much of a retrieval found data: per view, the share of entity rows that matched
and the materialized time range against the one the entity rows reach.

An all-null feature column is never silent: a requested view with no materialized data
in reach of the entity rows, or with no entity row matched, gives a
:class:`~featstore.errors.CoverageWarning` naming the view, its version and the fix, or
with ``strict=True`` a :class:`~featstore.errors.CoverageError`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from featstore.errors import CoverageError, CoverageWarning

__all__ = ["ViewCoverage", "report"]


@dataclass(frozen=True, slots=True)
class ViewCoverage:
    """Coverage of one requested view version in one retrieval.

    ``matched_rows`` of ``entity_rows`` got a value (a candidate within the TTL).
    ``requested_start`` / ``requested_end`` bound the event times the entity rows can
    reach (``requested_start`` is None without a TTL: all history); ``materialized_start``
    / ``materialized_end`` bound this version's materialization runs (None: never
    materialized). ``files`` counts the offline files in reach.
    """

    view: str
    version: str
    entity_rows: int
    matched_rows: int
    files: int
    requested_start: datetime | None
    requested_end: datetime | None
    materialized_start: datetime | None
    materialized_end: datetime | None
    other_versions_materialized: tuple[str, ...] = ()

    @property
    def matched_share(self) -> float | None:
        """Share of entity rows that matched (None for an empty entity frame)."""
        return self.matched_rows / self.entity_rows if self.entity_rows else None

    @property
    def empty(self) -> bool:
        """True when entity rows exist but none of them got a value from this view."""
        return self.entity_rows > 0 and self.matched_rows == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "version": self.version,
            "entity_rows": self.entity_rows,
            "matched_rows": self.matched_rows,
            "matched_share": self.matched_share,
            "files": self.files,
            "requested": [_iso(self.requested_start), _iso(self.requested_end)],
            "materialized": [_iso(self.materialized_start), _iso(self.materialized_end)],
        }

    def line(self) -> str:
        """One line for people: ``spending@3f2a1c9b0d4e: 98.2% of 1,000 rows matched ...``."""
        share = "no rows" if self.matched_share is None else f"{self.matched_share:.1%}"
        mat = (
            "never materialized"
            if self.materialized_start is None
            else f"materialized [{_iso(self.materialized_start)}, {_iso(self.materialized_end)})"
        )
        reach = f"[{_iso(self.requested_start) or '-inf'}, {_iso(self.requested_end)}]"
        return (
            f"{self.view}@{self.version}: {share} of {self.entity_rows:,} rows matched; "
            f"entity rows reach {reach}, {mat}"
        )

    def problem(self) -> str | None:
        """Why this view gave no values, with the fix; None when it gave some."""
        if not self.empty:
            return None
        where = f"feature view {self.view!r} (version {self.version})"
        if self.materialized_start is None:
            older = (
                f"; versions {list(self.other_versions_materialized)!r} are materialized, "
                f"but this version was applied since"
                if self.other_versions_materialized
                else ""
            )
            return (
                f"{where} has no materialized data{older}: every value is null. Materialize "
                f"it: store.materialize(start, end, views=[{self.view!r}])"
            )
        reach = f"[{_iso(self.requested_start) or 'the beginning'}, {_iso(self.requested_end)}]"
        if self.files == 0:
            return (
                f"{where}: no materialized rows in reach of the entity rows {reach} (its runs "
                f"cover [{_iso(self.materialized_start)}, {_iso(self.materialized_end)})): "
                f"every value is null. Materialize the range the entity rows need, or check "
                f"their timestamps (and as_of)"
            )
        return (
            f"{where}: none of the {self.entity_rows:,} entity rows matched a feature row "
            f"(materialized over [{_iso(self.materialized_start)}, "
            f"{_iso(self.materialized_end)}), entity rows reach {reach}): every value is null. "
            f"Check the join keys' values and the entity timestamps"
        )


def report(coverage: list[ViewCoverage], *, strict: bool) -> None:
    """Warn (or with ``strict`` raise) about every view that gave no values."""
    problems = [p for p in (c.problem() for c in coverage) if p]
    if not problems:
        return
    if strict:
        raise CoverageError("; ".join(problems))
    for problem in problems:
        warnings.warn(problem, CoverageWarning, stacklevel=4)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(sep=" ")
