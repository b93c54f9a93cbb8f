"""What Spark's Python workers run for the Spark engine: featstore's own kernels over one
partition of the work, so both engines compute the same values the same way.

This module imports no Spark: it is shipped to the workers with the tasks, which need
only featstore and its core dependencies there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from featstore.aggregations import WindowQuery
from featstore.columns import CREATED, TS

__all__ = ["WindowTask", "naive"]


def naive(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """``table`` with its zoned timestamp ``columns`` as naive UTC (the same instants)."""
    for name in columns:
        if name not in table.column_names:
            continue
        i = table.column_names.index(name)
        kind = table.schema.field(i).type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            table = table.set_column(i, name, pc.cast(table.column(i), pa.timestamp(kind.unit)))
    return table


@dataclass(frozen=True)
class WindowTask:
    """One window plan (``"index"`` or ``"range"``) of ``part`` over a partition of the
    entity rows and the stored rows of the same keys: the result rows of those entity
    rows (``__fs_row``, the outputs, the matched flag), ``schema`` typed."""

    plan: str
    part: WindowQuery
    schema: pa.Schema | None = None
    ignore: tuple[str, ...] = ()
    """Columns of both inputs the kernel does not read (the partition column)."""

    def __call__(self, entity: pa.Table, rows: pa.Table) -> pa.Table:
        from featstore.engine.duckdb import DuckDBEngine

        entity = entity.drop_columns([c for c in self.ignore if c in entity.column_names])
        rows = rows.drop_columns([c for c in self.ignore if c in rows.column_names])
        if self.schema is not None and entity.num_rows == 0:
            return self.schema.empty_table()
        entity = naive(entity, (TS,))
        rows = naive(rows, (TS, CREATED))
        engine = DuckDBEngine(threads=1)
        try:
            out = engine.window_part(self.plan, self.part, entity, rows)
        finally:
            engine.close()
        return out if self.schema is None else out.cast(self.schema)

    @property
    def run(self) -> Callable[[pa.Table, pa.Table], pa.Table]:
        """The task as a function of two tables (Spark reads a callable's arity to tell
        whether it takes the group's key)."""

        def run(entity: pa.Table, rows: pa.Table) -> pa.Table:
            return self(entity, rows)

        return run
