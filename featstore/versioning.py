"""Content versions: stable hashes of what defines a definition.

A version is the first 12 hex digits of a SHA-256 over canonical JSON. Transformation
functions contribute their source code normalised through :mod:`ast` (so comments,
formatting and the docstring do not matter) plus the values of the simple constants they
read from globals or closures. Same definition, same version, in any process.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
import types
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

__all__ = ["content_hash", "function_fingerprint"]

VERSION_LENGTH = 12
_SIMPLE = (str, int, float, bool, type(None), timedelta, datetime, date)


def _default(value: object) -> object:
    if isinstance(value, timedelta):
        return {"timedelta_us": value // timedelta(microseconds=1)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    return repr(value)


def canonical_json(payload: object) -> str:
    """JSON with sorted keys and no whitespace: the input of every content hash."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default)


def content_hash(payload: object, length: int = VERSION_LENGTH) -> str:
    """Hex digest of the canonical JSON of ``payload``.

    >>> content_hash({"a": 1}) == content_hash({"a": 1})
    True
    """
    digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    return digest[:length]


def _strip_docstring(node: ast.AST) -> None:
    for child in ast.walk(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = child.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                child.body = body[1:] or [ast.Pass()]
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                child.decorator_list = []


def _normalised_source(func: Callable[..., Any]) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        # No source file (REPL, exec): fall back to the bytecode, stable per Python version.
        code = getattr(func, "__code__", None)
        return _code_text(code) if code is not None else repr(func)
    _strip_docstring(tree)
    return ast.unparse(tree)


def _code_text(code: types.CodeType) -> str:
    """Bytecode plus the names and constants it uses (recursively): ``co_code`` alone
    does not change when only a literal or an attribute name does."""
    consts = [
        _code_text(c)
        if isinstance(c, types.CodeType)
        else repr(sorted(map(repr, c)))
        if isinstance(c, frozenset)
        else repr(c)
        for c in code.co_consts
    ]
    return json.dumps([code.co_code.hex(), list(code.co_names), list(code.co_varnames), consts])


def _global_names(code: types.CodeType) -> list[str]:
    """Names ``code`` and the code nested in it (lambdas, inner functions) look up."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def _referenced_constants(
    func: Callable[..., Any], _seen: set[int] | None = None
) -> dict[str, object]:
    code = getattr(func, "__code__", None)
    if code is None:
        return {}
    seen = {id(func)} if _seen is None else _seen
    found: dict[str, object] = {}
    globals_ = getattr(func, "__globals__", {})
    for name in _global_names(code):
        value = globals_.get(name)
        if isinstance(value, _SIMPLE):
            found[f"global:{name}"] = value
        elif (
            isinstance(value, types.FunctionType)
            and value.__module__ == getattr(func, "__module__", None)
            and id(value) not in seen
        ):
            # a helper defined next to the transform is part of its code
            seen.add(id(value))
            found[f"global:{name}"] = {
                "source": _normalised_source(value),
                "constants": _referenced_constants(value, seen),
            }
    closure = getattr(func, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure, strict=False):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, _SIMPLE):
            found[f"closure:{name}"] = value
        elif isinstance(value, types.FunctionType):
            found[f"closure:{name}"] = _normalised_source(value)
    return found


def function_fingerprint(func: Callable[..., Any]) -> dict[str, object]:
    """What identifies a transformation: normalised source and the simple constants it reads."""
    return {"source": _normalised_source(func), "constants": _referenced_constants(func)}


def function_source(func: Callable[..., Any]) -> str:
    """The function's source text for display (never executed back)."""
    try:
        return textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return f"<source unavailable for {getattr(func, '__qualname__', repr(func))}>"
