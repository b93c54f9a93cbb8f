"""Content versions: stable hashes of what defines a definition.

A version is the first 12 hex digits of a SHA-256 over canonical JSON. A transformation
contributes its source code normalised through :mod:`ast` (so comments, formatting and
the docstring do not matter) plus the *values* it reads: the module globals and closure
variables it names (constants, dicts, lists, tuples and sets of them, item by item), its
default arguments, the functions it calls from the user's code (recursively, by their
own source and values), the arguments of a :func:`functools.partial`, the state of a
callable object, Polars expressions (serialized), frames (by :func:`frame_digest`),
dates, enums and featstore definitions (by version). Library modules, classes and
functions (``pl``, ``math``, ``np.log``) count by their qualified name. Anything else
cannot be fingerprinted stably, so it is refused with a
:class:`~featstore.errors.DefinitionError` rather than hashed by a ``repr`` that differs
in every process. Same definition, same version, in any process.

:func:`frame_digest` hashes a Polars frame from a canonical Arrow encoding that depends
on neither the Polars version nor numpy.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import dis
import enum
import functools
import hashlib
import inspect
import json
import logging
import numbers
import operator
import os
import re
import site
import sys
import sysconfig
import textwrap
import types
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from featstore.errors import DefinitionError, SchemaError

__all__ = ["canonical_json", "content_hash", "frame_digest", "function_fingerprint"]

VERSION_LENGTH = 12


def _default(value: object) -> object:
    if isinstance(value, timedelta):
        return {"timedelta_us": value // timedelta(microseconds=1)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    text = repr(value)
    if " at 0x" in text:
        # an address differs in every process: such a hash would never be stable
        raise TypeError(
            f"cannot hash a {type(value).__qualname__} stably: its only representation "
            f"holds a memory address ({text})"
        )
    return text


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


# -- transformation fingerprints --------------------------------------------------------


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
        if code is None:
            raise DefinitionError(
                f"cannot read the code of {_label(func)}; define it in a Python file"
            ) from None
        return _code_text(code)
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


_GLOBAL_OPS = frozenset({"LOAD_GLOBAL"})
# class bodies: a global or a class-local name
_NAME_OPS = frozenset({"LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})


def _global_names(code: types.CodeType) -> tuple[list[str], set[str]]:
    """Names ``code`` and the code nested in it (lambdas, comprehensions, inner functions
    and classes) look up as globals, in first-use order; the second set holds the names
    looked up by class bodies, which may also be class-local."""
    names: list[str] = []
    maybe: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in _GLOBAL_OPS or ins.opname in _NAME_OPS:
            name = str(ins.argval)
            if name not in names:
                names.append(name)
            if ins.opname in _NAME_OPS:
                maybe.add(name)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner, inner_maybe = _global_names(const)
            names += [n for n in inner if n not in names]
            maybe |= inner_maybe
    return names, maybe


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """Where installed libraries and the standard library live (their code is identified
    by name, not by source); featstore itself counts as a library."""
    dirs: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(path)
    with contextlib.suppress(AttributeError):  # missing in some embedded interpreters
        dirs.update(site.getsitepackages())
    dirs.add(site.getusersitepackages())
    dirs.add(os.path.dirname(os.path.abspath(__file__)))
    return tuple(sorted({os.path.realpath(d) for d in dirs if d}))


def _is_library_file(filename: str | None) -> bool:
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    return any(path == d or path.startswith(d + os.sep) for d in _library_dirs())


def _is_library_module(module_name: str | None) -> bool:
    if not module_name or module_name == "__main__":
        return False  # exec'd code, a script, a REPL or a notebook
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return True
    if top == "featstore":
        return True
    module = sys.modules.get(module_name)
    if module is None:
        return False
    filename = getattr(module, "__file__", None)
    if filename is None:
        return True  # a built-in or namespace module
    return _is_library_file(filename)


def _importable_name(obj: object) -> str | None:
    """``module.qualname`` if importing it gives back ``obj`` itself, else None."""
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return None
    if "<" in qualname:
        return None
    target: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return f"{module_name}.{qualname}" if target is obj else None


def _label(value: object) -> str:
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if isinstance(name, str) and not isinstance(value, str):
        return f"a {kind} named {name!r}"
    return f"a value of type {kind!r}"


_FIX = (
    "copy the values it needs into module-level constants of simple values (numbers, "
    "strings, dates, and lists, tuples, dicts or sets of them) and read those, or pass "
    "them as default arguments"
)

_EXPR_FIX = "build that expression inside the transformation"
_BEHAVIOUR_DUNDERS = frozenset(
    {
        "__call__",
        "__getitem__",
        "__getattr__",
        "__getattribute__",
        "__iter__",
        "__contains__",
        "__len__",
        "__bool__",
    }
)
_PICKLE_MARKS = (b"\x80\x04\x95", b"\x80\x05\x95", b"PLPYFN")


class _Fingerprinter:
    """Turns the values a transformation reads into JSON-able, process-independent data."""

    def __init__(self) -> None:
        self.active: set[int] = set()  # objects being fingerprinted (cycle guard)

    def refuse(self, where: str, value: object, why: str = "", fix: str = "") -> DefinitionError:
        why = why or (
            "featstore knows no representation of it that is the same in every process "
            "(its repr may hold a memory address), so the version could not follow its value"
        )
        return DefinitionError(
            f"{where} is {_label(value)}, which cannot be part of the view's version: {why}; "
            f"{fix or _FIX}"
        )

    # functions ------------------------------------------------------------------------

    def function(self, func: types.FunctionType, where: str, *, root: bool = False) -> object:
        code = func.__code__
        if not root and _is_library_file(code.co_filename):
            return self.library_function(func, where)
        if id(func) in self.active:
            return {"recursive": func.__qualname__}
        self.active.add(id(func))
        try:
            return {
                "source": _normalised_source(func),
                "constants": self.constants(func, where),
                "defaults": self.defaults(func, where),
            }
        finally:
            self.active.discard(id(func))

    def library_function(self, func: types.FunctionType, where: str) -> object:
        """A library's function counts by name (its code and defaults come with the
        library's version); one a library made at run time (a decorator's wrapper, a
        factory's closure) also by what it wraps and closes over."""
        out: dict[str, object] = {"ref": f"{func.__module__}.{func.__qualname__}"}
        wrapped = getattr(func, "__wrapped__", None)
        if wrapped is not None:
            out["wrapped"] = self.value(wrapped, f"{where} → the function it wraps")
        if func.__closure__ and "<locals>" in func.__qualname__:
            out["closure"] = self.closure(func, where)
        return out

    def constants(self, func: types.FunctionType, where: str) -> dict[str, object]:
        found: dict[str, object] = {}
        names, maybe = _global_names(func.__code__)
        globals_ = func.__globals__
        namespace = getattr(func, "__builtins__", None)  # Python 3.10+
        builtins_ = namespace if isinstance(namespace, dict) else {}
        for name in names:
            if name in globals_:
                value = globals_[name]
            elif name in builtins_ or hasattr(builtins, name) or name in maybe:
                continue  # a builtin (len, range) or a class-local name
            else:
                raise DefinitionError(
                    f"{where} → global {name!r} is not defined when the view is "
                    f"created, so its value cannot be part of the version; define it above "
                    f"the view"
                )
            if isinstance(value, types.ModuleType):
                continue  # a library: not folded
            found[f"global:{name}"] = self.value(value, f"{where} → global {name!r}")
        for name, fp in self.closure(func, where).items():
            found[f"closure:{name}"] = fp
        return found

    def closure(self, func: types.FunctionType, where: str) -> dict[str, object]:
        found: dict[str, object] = {}
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet
                continue
            if isinstance(value, types.ModuleType):
                continue
            found[name] = self.value(value, f"{where} → closure variable {name!r}")
        return found

    def defaults(self, func: types.FunctionType, where: str) -> object:
        code = func.__code__
        positional = code.co_varnames[: code.co_argcount]
        out: dict[str, object] = {}
        for name, value in zip(
            positional[len(positional) - len(func.__defaults__ or ()) :],
            func.__defaults__ or (),
            strict=True,
        ):
            out[name] = self.value(value, f"{where} → default of argument {name!r}")
        for name, value in (func.__kwdefaults__ or {}).items():
            out[name] = self.value(value, f"{where} → default of argument {name!r}")
        return out or None

    # classes and objects --------------------------------------------------------------

    def class_(self, cls: type, where: str) -> object:
        if issubclass(cls, pl.DataType):
            return {"polars_dtype_class": cls.__name__}
        if _is_library_module(cls.__module__):
            return {"ref": f"{cls.__module__}.{cls.__qualname__}"}
        if id(cls) in self.active:
            return {"recursive": cls.__qualname__}
        self.active.add(id(cls))
        try:
            label = f"{where} → class {cls.__qualname__!r}"
            members: dict[str, object] = {}
            if issubclass(cls, enum.Enum):
                for name, member in cls.__members__.items():
                    members[name] = self.value(member.value, f"{label}.{name}")
            for name, attr in sorted(vars(cls).items()):
                if name.startswith("__") and name not in _BEHAVIOUR_DUNDERS:
                    continue
                if name.startswith("_abc_") or (
                    issubclass(cls, enum.Enum) and (name in cls.__members__ or name.endswith("_"))
                ):
                    continue
                members[name] = self.member(attr, f"{label}.{name}")
            bases = [self.class_(b, label) for b in cls.__bases__ if b is not object]
            return {
                # not the module's name: a definitions file imported under another name
                # (the CLI names it after its path) keeps its versions
                "class": cls.__qualname__,
                "bases": bases,
                "members": members,
            }
        finally:
            self.active.discard(id(cls))

    def member(self, attr: object, where: str) -> object:
        if isinstance(attr, staticmethod | classmethod):
            return {type(attr).__name__: self.value(attr.__func__, where)}
        if isinstance(attr, property):
            return {
                "property": [
                    self.value(f, where) if f is not None else None
                    for f in (attr.fget, attr.fset, attr.fdel)
                ]
            }
        if isinstance(attr, functools.cached_property):
            return {"cached_property": self.value(attr.func, where)}
        return self.value(attr, where)

    def instance(self, value: object, where: str) -> object:
        cls = type(value)
        if dataclasses.is_dataclass(value):
            fields = [
                [f.name, self.value(getattr(value, f.name), f"{where}.{f.name}")]
                for f in dataclasses.fields(value)
            ]
            return {"object": self.class_(cls, where), "fields": fields}
        if _is_library_module(cls.__module__):
            raise self.refuse(where, value)
        state: dict[str, object] = {}
        for name, attr in sorted(getattr(value, "__dict__", {}).items()):
            state[name] = self.value(attr, f"{where}.{name}")
        for klass in cls.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                    state[name] = self.value(getattr(value, name), f"{where}.{name}")
        return {"object": self.class_(cls, where), "state": dict(sorted(state.items()))}

    # values ---------------------------------------------------------------------------

    def value(self, value: object, where: str) -> object:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, enum.Enum):
            return {
                "enum": self.class_(type(value), where),
                "name": value.name,
                "value": self.value(value.value, f"{where}.value"),
            }
        if isinstance(value, numbers.Integral):  # also numpy integers
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        scalar = _scalar(value)
        if scalar is not None:
            return scalar
        if isinstance(value, list | tuple | set | frozenset | dict | types.MappingProxyType):
            if id(value) in self.active:
                raise self.refuse(where, value, "it contains itself")
            self.active.add(id(value))
            try:
                return self.container(value, where)
            finally:
                self.active.discard(id(value))
        if isinstance(value, type):
            return self.class_(value, where)
        if isinstance(value, types.ModuleType):
            return {"module": value.__name__}
        if isinstance(value, types.FunctionType):
            return self.function(value, where)
        if isinstance(value, functools.partial):
            return {
                "partial": self.value(value.func, f"{where} → function of the partial"),
                "args": [
                    self.value(a, f"{where} → partial argument {i}")
                    for i, a in enumerate(value.args)
                ],
                "keywords": {
                    k: self.value(v, f"{where} → partial keyword {k!r}")
                    for k, v in sorted(value.keywords.items())
                },
            }
        if isinstance(value, types.MethodType):
            return {
                "method": self.value(value.__func__, where),
                "self": self.value(value.__self__, f"{where} → object of the method"),
            }
        if isinstance(value, types.BuiltinFunctionType):
            owner = value.__self__
            if owner is None or isinstance(owner, types.ModuleType):
                return {"ref": f"{value.__module__}.{value.__qualname__}"}
            return {"method": value.__name__, "self": self.value(owner, where)}
        if isinstance(value, types.MethodDescriptorType | types.WrapperDescriptorType):
            return {"method": value.__name__, "of": self.class_(value.__objclass__, where)}
        if isinstance(value, operator.itemgetter | operator.attrgetter | operator.methodcaller):
            reduced: tuple[Any, ...] = value.__reduce__()  # type: ignore[assignment]
            made, args = reduced[:2]
            return {"reduce": [self.value(made, where), self.value(args, where)]}
        if isinstance(value, pl.Expr):
            return self.expression(value, where)
        if isinstance(value, pl.DataType):
            return {"polars_dtype": repr(value)}
        if isinstance(value, pl.DataFrame | pl.Series):
            frame = value if isinstance(value, pl.DataFrame) else value.to_frame()
            try:
                digest = frame_digest(frame)
            except SchemaError as exc:
                raise self.refuse(where, value, str(exc), "convert those columns") from exc
            return {"polars_frame": digest, "series": isinstance(value, pl.Series)}
        if isinstance(value, pl.LazyFrame):
            raise self.refuse(
                where,
                value,
                "a LazyFrame's rows are only known when it is collected",
                "collect it into a DataFrame (fingerprinted by its content) or make it a "
                "source of its own",
            )
        if type(value).__module__ == "featstore.definitions" and isinstance(
            getattr(value, "version", None), str
        ):
            return {
                "definition": type(value).__name__,
                "name": getattr(value, "name", None),
                "version": getattr(value, "version", None),
            }
        if isinstance(value, logging.Logger):
            return {"logger": value.name}
        if isinstance(value, types.SimpleNamespace):
            return {"namespace": self.value(dict(sorted(vars(value).items())), where)}
        if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
            array: Any = value  # numpy is not imported here: read through its own methods
            return {
                "ndarray": self.value(array.tolist(), where),
                "dtype": str(array.dtype),
                "shape": list(array.shape),
            }
        name = _importable_name(value)
        if name is not None and _is_library_module(getattr(value, "__module__", None)):
            return {"ref": name}  # np.log, a library's singleton
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None and callable(value) and not isinstance(value, type):
            # functools.cache / lru_cache around a function
            return {
                "wrapper": self.class_(type(value), where),
                "wrapped": self.value(wrapped, where),
            }
        return self.instance(value, where)

    def container(self, value: object, where: str) -> object:
        if isinstance(value, dict | types.MappingProxyType):
            items = [
                [self.value(k, f"{where} → a key"), self.value(v, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
            out: dict[str, object] = {"dict": items}  # insertion order: iteration sees it
        elif isinstance(value, set | frozenset):
            members = [self.value(v, f"{where} → an item") for v in value]
            tag = "frozenset" if isinstance(value, frozenset) else "set"
            out = {tag: sorted(members, key=canonical_json)}
        else:
            assert isinstance(value, list | tuple)
            tag = "list" if isinstance(value, list) else "tuple"
            out = {tag: [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if type(value) not in (dict, list, tuple, set, frozenset, types.MappingProxyType):
            out["type"] = self.class_(type(value), where)  # a namedtuple, an OrderedDict
        return out

    def expression(self, expr: pl.Expr, where: str) -> object:
        try:
            binary = expr.meta.serialize()
            text = expr.meta.serialize(format="json")
        except Exception as exc:  # Polars raises several kinds
            raise self.refuse(
                where, expr, f"Polars cannot serialize it ({exc})", _EXPR_FIX
            ) from exc
        if any(mark in binary for mark in _PICKLE_MARKS):
            raise self.refuse(
                where,
                expr,
                "it holds a Python function (map_elements, map_batches, a fold, name.map), "
                "which Polars can only pickle, not describe",
                "build that expression inside the transformation, where its code is part "
                "of the version",
            )
        return {"polars_expr": json.loads(text)}


def _scalar(value: object) -> object:
    """The tagged JSON form of a simple non-JSON scalar, or None."""
    if isinstance(value, datetime):
        tz = value.tzinfo
        if tz is None or isinstance(tz, timezone):
            return {"datetime": value.isoformat()}
        return {"datetime": value.isoformat(), "tz": str(tz)}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, time):
        return {
            "time": value.isoformat(),
            "tz": None if value.tzinfo is None else str(value.tzinfo),
        }
    if isinstance(value, timedelta):
        return {"timedelta_us": value // timedelta(microseconds=1)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, complex):
        return {"complex": [value.real, value.imag]}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, PurePath):
        return {"path": str(value), "flavour": type(value).__name__}
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, re.Pattern):
        pattern = value.pattern
        return {
            "regex": pattern if isinstance(pattern, str) else {"bytes": pattern.hex()},
            "flags": value.flags,
        }
    return None


def function_fingerprint(func: Callable[..., Any]) -> dict[str, object]:
    """What identifies a transformation: its normalised source and the values it reads.

    Raises DefinitionError naming what it reads that cannot be fingerprinted stably.
    """
    fp = _Fingerprinter()
    if isinstance(func, types.FunctionType):
        name = f"transform {func.__qualname__!r}"
        return fp.function(func, name, root=True)  # type: ignore[return-value]
    if isinstance(func, functools.partial):
        name = f"transform functools.partial({getattr(func.func, '__qualname__', '...')}, ...)"
    elif isinstance(func, types.MethodType):
        name = f"transform {func.__qualname__!r}"
    else:
        name = f"transform {type(func).__qualname__}(...)"
    return {"callable": fp.value(func, name)}


def function_source(func: Callable[..., Any]) -> str:
    """The function's source text for display (never executed back)."""
    if isinstance(func, functools.partial):
        args = ", ".join([*map(repr, func.args), *(f"{k}={v!r}" for k, v in func.keywords.items())])
        return f"# functools.partial(..., {args}) of:\n{function_source(func.func)}"
    target: object = func
    if not isinstance(func, types.FunctionType | types.MethodType | type) and callable(func):
        target = type(func)  # a callable object: show its class
    try:
        return textwrap.dedent(inspect.getsource(target))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return f"<source unavailable for {getattr(func, '__qualname__', type(func).__qualname__)}>"


# -- frame digests ----------------------------------------------------------------------

FRAME_DIGEST_FORMAT = "featstore-frame-1"


def frame_digest(frame: pl.DataFrame) -> str:
    """SHA-256 (hex) of a frame's schema and values, from a canonical byte encoding.

    The frame goes to Arrow and is normalised: every column becomes flat, null-free
    Arrow arrays (a validity byte per slot, then the values with null slots zeroed;
    strings and binaries as large types; dictionaries decoded; lists as lengths plus
    their values; structs field by field), each written as an Arrow IPC record-batch
    message, after a canonical JSON of the column names, types and row count. So equal
    frames give equal digests whatever lies under their null slots or how they are
    chunked, and any change of a value, the row order, a name or a dtype changes it.
    Neither the Polars version nor numpy is involved. Raises SchemaError for a column
    of Python objects (dtype Object), whose only export is their memory addresses.

    >>> frame_digest(pl.DataFrame({"a": [1, None]})) == frame_digest(
    ...     pl.DataFrame({"a": [1, None]})
    ... )
    True
    """
    for name, dtype in frame.schema.items():
        bad = _unhashable(dtype, top=True)
        if bad:
            raise SchemaError(
                f"cannot hash column {name!r}: its dtype {dtype} holds {bad}, which have no "
                f"canonical encoding; cast it to a plain Polars type (e.g. pl.String) first"
            )
    wide = [
        name for name, dtype in frame.schema.items() if dtype in (pl.Int128, pl.UInt128)
    ]  # Arrow has no 128-bit integers: their decimal text, marked in the header
    if wide:
        frame = frame.with_columns(pl.col(wide).cast(pl.String))
    table = frame.to_arrow()
    columns: list[list[object]] = []
    arrays: list[pa.Array] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        description = _describe(array.type)
        if field.name in wide:
            description = {"text_of": str(frame.schema[field.name]).lower()}
        elif pa.types.is_dictionary(array.type) and array.type.ordered:
            # an Enum: its categories are part of its dtype
            assert isinstance(description, dict)
            description["categories"] = array.dictionary.to_pylist()
        columns.append([field.name, description])
        _flatten(array, arrays)
    header = canonical_json(
        {"format": FRAME_DIGEST_FORMAT, "rows": frame.height, "columns": columns}
    ).encode()
    digest = hashlib.sha256(header)
    digest.update(b"\0")
    for array in arrays:  # one message each: a list's values are not as long as its rows
        message = pa.RecordBatch.from_arrays([array], names=["v"]).serialize()
        digest.update(memoryview(message))
    return digest.hexdigest()


def _unhashable(dtype: pl.DataType, *, top: bool = False) -> str | None:
    """What in ``dtype`` frame_digest cannot encode: Python objects (Polars exports
    their addresses), 128-bit integers inside nested types."""
    if isinstance(dtype, pl.Object):
        return "Python objects"
    if not top and isinstance(dtype, pl.Int128 | pl.UInt128):
        return "128-bit integers"
    if isinstance(dtype, pl.List | pl.Array):
        return _unhashable(dtype.inner)  # type: ignore[arg-type]
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            found = _unhashable(field.dtype)  # type: ignore[arg-type]
            if found:
                return found
    return None


def _describe(t: pa.DataType) -> object:
    """A canonical description of an Arrow type, independent of its physical variant."""
    if pa.types.is_dictionary(t):
        return {"dictionary": _describe(t.value_type), "ordered": t.ordered}
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_fixed_size_list(t):
        return {"array": _describe(t.value_type), "size": t.list_size}
    if _is_list(t):
        return {"list": _describe(t.value_type)}
    if pa.types.is_struct(t):
        return {
            "struct": [[t.field(i).name, _describe(t.field(i).type)] for i in range(t.num_fields)]
        }
    return str(t)


def _is_list(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


_INT_OF_WIDTH = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}


def _flatten(array: pa.Array, out: list[pa.Array]) -> None:
    """Append null-free arrays that encode ``array`` canonically."""
    t = array.type
    out.append(pc.cast(pc.is_valid(array), pa.uint8()))
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_null(t):
        return
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        out.append(pc.fill_null(pc.cast(array, pa.large_string()), ""))
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        out.append(pc.fill_null(pc.cast(array, pa.large_binary()), b""))
    elif pa.types.is_boolean(t):
        out.append(pc.fill_null(pc.cast(array, pa.uint8()), 0))
    elif pa.types.is_fixed_size_list(t) or _is_list(t):
        listed = (
            array if not pa.types.is_fixed_size_list(t) else array.cast(pa.large_list(t.value_type))
        )
        lengths = pc.fill_null(pc.list_value_length(listed), 0)
        out.append(pc.cast(lengths, pa.int64()))
        _flatten(listed.flatten(), out)
    elif pa.types.is_struct(t):
        for child in array.flatten():  # the struct's nulls merged into each field
            _flatten(child, out)
    elif pa.types.is_fixed_size_binary(t) or pa.types.is_decimal(t):
        width = t.byte_width
        raw = array.view(pa.binary(width)) if pa.types.is_decimal(t) else array
        out.append(pc.fill_null(raw, b"\0" * width))
    elif t.bit_width in _INT_OF_WIDTH:
        # numbers, dates, times, datetimes, durations: their bits as integers
        out.append(pc.fill_null(array.view(_INT_OF_WIDTH[t.bit_width]), 0))
    else:
        raise TypeError(f"frame_digest: cannot encode Arrow type {t}")
