"""Layout helpers for generated SQL: one clause per line, subqueries indented.

A statement is built as a list of logical lines and joined with newlines once, at the
end. Nested blocks are indented by prefixing each *logical* line; text is never split on
newlines, so a quoted identifier or literal that holds a newline (a hostile column name,
a file path) stays byte for byte what :mod:`featstore.names` quoted. Whitespace is the
only thing the layout adds: the statement means what the one-line form meant.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["INDENT", "Lines", "indent", "render", "select", "subquery"]

INDENT = "  "

Lines = list[str]


def indent(lines: Sequence[str], depth: int = 1) -> Lines:
    """``lines`` with ``depth`` levels of indentation prepended to each logical line."""
    return [INDENT * depth + line for line in lines]


def subquery(body: Sequence[str], alias: str | None = None) -> Lines:
    """``(`` + the indented ``body`` + ``)``, with ``AS alias`` when given."""
    return ["(", *indent(body), ")" + (f" AS {alias}" if alias else "")]


def _with_commas(items: Sequence[str]) -> Lines:
    return [f"{item}," for item in items[:-1]] + list(items[-1:])


def select(
    columns: Sequence[str],
    source: Sequence[str],
    *,
    joins: Sequence[Sequence[str]] = (),
    where: Sequence[str] = (),
    group_by: Sequence[str] = (),
    qualify: str | None = None,
    order_by: Sequence[str] = (),
) -> Lines:
    """A SELECT statement laid out one clause per line.

    ``source`` is the FROM item's lines (one line for a table, the lines of
    :func:`subquery` for a subquery); each join is its own lines, starting with the
    join keyword. ``where`` conditions are joined with ``AND``, one per line.

    >>> print(render(select(["a", "b"], ["t"], where=["a > 1", "b < 2"])))
    SELECT
      a,
      b
    FROM t
    WHERE a > 1
      AND b < 2
    """
    star = list(columns) == ["*"]
    lines = ["SELECT *"] if star else ["SELECT", *indent(_with_commas(columns))]
    lines += ["FROM " + source[0], *source[1:]]
    for join in joins:
        lines += join
    if where:
        lines.append(f"WHERE {where[0]}")
        lines += indent([f"AND {cond}" for cond in where[1:]])
    if group_by:
        lines.append("GROUP BY " + ", ".join(group_by))
    if qualify is not None:
        lines.append(f"QUALIFY {qualify}")
    if order_by:
        lines.append("ORDER BY " + ", ".join(order_by))
    return lines


def render(lines: Sequence[str]) -> str:
    """The statement's text: its logical lines joined by newlines."""
    return "\n".join(lines)
