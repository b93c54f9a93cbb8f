"""Validation and quoting of names that reach SQL text and file paths.

Definition names (entities, sources, views, services, models) become directory names
and catalog keys, so they are restricted to a safe alphabet. Column names are free-form
and are only ever used in SQL through :func:`quote_ident`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable

from featstore.errors import DefinitionError

__all__ = [
    "RESERVED_PREFIX",
    "case_twins",
    "quote_file",
    "quote_ident",
    "quote_literal",
    "reserved",
    "validate_name",
]

# featstore's own columns and SQL aliases start with this; users' columns may not, in any
# case (SQL identifiers compare case-insensitively: '__FS_TS' is '__fs_ts' to DuckDB)
RESERVED_PREFIX = "__fs_"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*")
MAX_NAME_LENGTH = 128


def validate_name(name: object, what: str) -> str:
    """Return ``name`` if it is a safe definition name, else raise DefinitionError.

    A safe name starts with a letter or underscore, then letters, digits, underscores,
    and single dots or hyphens between them; at most 128 characters.

    >>> validate_name("customer_stats", "feature view")
    'customer_stats'
    """
    if not isinstance(name, str):
        raise DefinitionError(f"{what} name must be a string; found {type(name).__name__}")
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise DefinitionError(
            f"{what} name {shown!r} is not allowed: use letters, digits and underscores "
            f"(dots or hyphens between them), starting with a letter or underscore, "
            f"at most {MAX_NAME_LENGTH} characters"
        )
    return name


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for DuckDB or SQLite.

    >>> quote_ident('we"ird')
    '"we""ird"'
    """
    if "\x00" in name:
        raise DefinitionError(f"column name {name!r} contains a null byte; rename the column")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote an SQL string literal.

    >>> quote_literal("it's")
    "'it''s'"
    """
    if "\x00" in value:
        raise DefinitionError(f"value {value!r} contains a null byte")
    return "'" + value.replace("'", "''") + "'"


def quote_file(path: str) -> str:
    """Quote a file path for DuckDB's readers as that literal file: DuckDB expands ``*``,
    ``?`` and ``[...]`` in reader paths, so they are escaped (a store under ``data[1]``
    never reads ``data1``).

    >>> quote_file("/s/data[1]/x.parquet")
    "'/s/data[[]1]/x.parquet'"
    """
    return quote_literal(glob.escape(path))


def reserved(names: Iterable[str]) -> list[str]:
    """The names that start with featstore's reserved prefix, in any case."""
    return [n for n in names if n.lower().startswith(RESERVED_PREFIX)]


def case_twins(names: Iterable[str]) -> list[str]:
    """The names that equal another one but for case (SQL engines do not tell them apart).

    >>> case_twins(["a", "A", "b"])
    ['A', 'a']
    """
    items = list(names)
    lowered = [n.lower() for n in items]
    return sorted({n for n in items if lowered.count(n.lower()) > 1})
