"""Issue 8, items 7, 8, 18 (frame hashing) and "relative source paths": a version changes
when the output can change, a path means that path, and the same repository run from
another working directory reads the same files with the same versions.

Each test reproduces a failure of the code before the fix: a transformation reading a
module-level dict item or a default argument kept its version when its output changed;
a ``functools.partial`` got a new version in every process; a path with glob characters
read a sibling; a relative path was read from whatever the working directory was.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from helpers import START, catalog_snapshot, files_under, make_events, run_python, stored_rows

import featstore as fs
from featstore.compute import resolve_files, scan_source
from featstore.versioning import frame_digest

HEAD = """\
import enum
import functools
import math
import threading
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

import featstore as fs

customer = fs.Entity("customer", join_keys=["customer_id"])
tx = fs.ParquetSource("tx", path="tx.parquet", timestamp_column="ts")
"""


def _view_module(body: str, transform: str = "t", name: str = "v") -> str:
    return (
        HEAD + body + f"\n\nview = fs.FeatureView({name!r}, entity=customer, source=tx, "
        f"transform={transform}, features=['out'])\n"
    )


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Import module text from its own file under a fresh name (so no stale linecache or
    sys.modules entry hides an edit); ``extra`` files are written next to it first."""
    count = 0

    def _load(text: str, extra: dict[str, str] | None = None) -> ModuleType:
        nonlocal count
        count += 1
        folder = tmp_path / f"mod{count}"
        folder.mkdir()
        for filename, content in (extra or {}).items():
            (folder / filename).write_text(content)
        monkeypatch.syspath_prepend(str(folder))
        name = f"fs_hardening_{tmp_path.name}_{count}"
        path = folder / f"{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return _load


def _version(load: Callable[..., ModuleType], text: str, **kw: dict[str, str]) -> str:
    version: str = load(text, **kw).view.version
    return version


def _versions_in_new_processes(tmp_path: Path, text: str, count: int = 2) -> list[str]:
    folder = tmp_path / "proc_defs"
    folder.mkdir(exist_ok=True)
    (folder / "proc_features.py").write_text(text)
    code = f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        import proc_features
        print(proc_features.view.version)
    """
    return [run_python(code).strip().splitlines()[-1] for _ in range(count)]


# -- a version changes when the output can change ---------------------------------------

DICT_ITEM = """
THRESHOLDS = {{"amount": {limit}, "other": 1}}


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns((pl.col("amount") > THRESHOLDS["amount"]).alias("out"))
"""


def test_version_changes_when_a_global_dict_item_changes(load: Callable[..., ModuleType]) -> None:
    ten = _version(load, _view_module(DICT_ITEM.format(limit=10)))
    assert _version(load, _view_module(DICT_ITEM.format(limit=10))) == ten
    assert _version(load, _view_module(DICT_ITEM.format(limit=20))) != ten


NESTED = """
RULES = [("amount", {{"min": {low}, "tags": {{"a", "b"}}}}), ("fee", {{"min": 0, "tags": set()}})]


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    column, rule = RULES[0]
    return frame.with_columns((pl.col(column) > rule["min"]).alias("out"))
"""


def test_version_changes_when_a_nested_global_item_changes(load: Callable[..., ModuleType]) -> None:
    base = _version(load, _view_module(NESTED.format(low=1)))
    assert _version(load, _view_module(NESTED.format(low=1))) == base
    assert _version(load, _view_module(NESTED.format(low=2))) != base


DEFAULTS = """
LIMIT = {limit}
LABEL = "{label}"


def t(frame: pl.LazyFrame, limit: int = LIMIT, *, label: str = LABEL) -> pl.LazyFrame:
    return frame.with_columns((pl.col("amount") > limit).alias("out"), pl.lit(label))
"""


@pytest.mark.parametrize(
    ("changed", "kind"),
    [({"limit": 20, "label": "x"}, "positional"), ({"limit": 10, "label": "y"}, "keyword-only")],
)
def test_version_changes_when_a_default_argument_changes(
    load: Callable[..., ModuleType], changed: dict[str, object], kind: str
) -> None:
    """The source text says ``limit=LIMIT`` either way: only the value tells them apart."""
    base = _version(load, _view_module(DEFAULTS.format(limit=10, label="x")))
    assert _version(load, _view_module(DEFAULTS.format(limit=10, label="x"))) == base
    assert _version(load, _view_module(DEFAULTS.format(**changed))) != base, kind


PARTIAL = """
def scale(frame: pl.LazyFrame, factor: int) -> pl.LazyFrame:
    return frame.with_columns((pl.col("amount") * factor).alias("out"))


t = functools.partial(scale, factor={factor})
"""


def test_partial_gets_the_same_version_in_every_process(
    tmp_path: Path, load: Callable[..., ModuleType]
) -> None:
    """Before: the version hashed the partial's repr, which holds a memory address."""
    text = _view_module(PARTIAL.format(factor=3))
    here = _version(load, text)
    assert _versions_in_new_processes(tmp_path, text) == [here, here]


def test_version_changes_when_a_partial_argument_or_its_function_changes(
    load: Callable[..., ModuleType],
) -> None:
    base = _version(load, _view_module(PARTIAL.format(factor=3)))
    assert _version(load, _view_module(PARTIAL.format(factor=3))) == base
    assert _version(load, _view_module(PARTIAL.format(factor=4))) != base
    edited = PARTIAL.replace('* factor).alias("out")', '+ factor).alias("out")')
    assert _version(load, _view_module(edited.format(factor=3))) != base


CALLABLE = """
@dataclass(frozen=True)
class Scale:
    factor: int

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns((pl.col("amount") {op} self.factor).alias("out"))


class Shift:
    def __init__(self, by: int) -> None:
        self.by = by

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns((pl.col("amount") + self.by).alias("out"))


t = {make}
"""


def test_a_callable_objects_version_follows_its_code_and_its_state(
    tmp_path: Path, load: Callable[..., ModuleType]
) -> None:
    """Before: a dataclass instance was hashed by its repr (blind to ``__call__``), a plain
    object by a repr holding its address (a new version in every process)."""
    base = _version(load, _view_module(CALLABLE.format(op="*", make="Scale(3)")))
    assert _version(load, _view_module(CALLABLE.format(op="*", make="Scale(4)"))) != base
    assert _version(load, _view_module(CALLABLE.format(op="-", make="Scale(3)"))) != base
    plain = _view_module(CALLABLE.format(op="*", make="Shift(2)"))
    here = _version(load, plain)
    assert _version(load, _view_module(CALLABLE.format(op="*", make="Shift(5)"))) != here
    assert _versions_in_new_processes(tmp_path, plain) == [here, here]


EXPRESSION = """
PREDICATE = pl.col("amount") > {limit}
CUTOFF = datetime(2024, 1, 1, tzinfo=ZoneInfo("{zone}"))


class Level(enum.Enum):
    LOW = {low}
    HIGH = 100


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(
        (PREDICATE & (pl.col("ts") > CUTOFF) & (pl.col("amount") > Level.LOW.value)).alias("out")
    )
"""


BASE_EXPRESSION = {"limit": 10, "zone": "Europe/London", "low": 1}


@pytest.mark.parametrize(
    "changed",
    [{"limit": 20}, {"zone": "Europe/Lisbon"}, {"low": 2}],
    ids=["polars-expression", "datetime-time-zone", "enum-member"],
)
def test_version_changes_when_a_global_expression_datetime_or_enum_changes(
    tmp_path: Path, load: Callable[..., ModuleType], changed: dict[str, object]
) -> None:
    """London and Lisbon share the offset on 1 January (the same ISO text), not the rules."""
    text = _view_module(EXPRESSION.format(**BASE_EXPRESSION))
    base = _version(load, text)
    assert _version(load, _view_module(EXPRESSION.format(**{**BASE_EXPRESSION, **changed}))) != base
    if "limit" in changed:  # a serialized expression is the same in another process
        assert _versions_in_new_processes(tmp_path, text, count=1) == [base]


FRAME_GLOBAL = """
RATES = pl.DataFrame({{"customer_id": [1, 2], "rate": [0.5, {rate}]}})


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    joined = frame.join(RATES.lazy(), on="customer_id", how="left")
    return joined.with_columns((pl.col("amount") * pl.col("rate")).alias("out"))
"""


def test_version_changes_when_a_global_lookup_frame_changes(
    load: Callable[..., ModuleType],
) -> None:
    base = _version(load, _view_module(FRAME_GLOBAL.format(rate=2.0)))
    assert _version(load, _view_module(FRAME_GLOBAL.format(rate=2.0))) == base
    assert _version(load, _view_module(FRAME_GLOBAL.format(rate=3.0))) != base


HELPER = """
import polars as pl

FACTOR = {factor}


def clean(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col("amount") > {threshold})
"""

USES_HELPER = """
from {module} import FACTOR, clean


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    return clean(frame).with_columns((pl.col("amount") * FACTOR).alias("out"))
"""


def test_version_changes_when_a_helper_in_another_user_module_changes(
    load: Callable[..., ModuleType],
) -> None:
    """Before: only helpers of the transform's own module were part of its version."""
    seen = []
    for i, (factor, threshold) in enumerate([(2, 0), (2, 0), (2, 100), (3, 0)]):
        module = f"user_helpers_{i}"
        extra = {f"{module}.py": HELPER.format(factor=factor, threshold=threshold)}
        seen.append(_version(load, _view_module(USES_HELPER.format(module=module)), extra=extra))
    assert seen[0] == seen[1]
    assert len(set(seen[1:])) == 3


LIBRARY = """
FUNC = math.{func}


def t(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.col("amount").map_elements(FUNC, return_dtype=pl.Float64).alias("out"))
"""


def test_library_functions_count_by_their_qualified_name(
    tmp_path: Path, load: Callable[..., ModuleType]
) -> None:
    """``math`` and ``pl`` are libraries (not folded); a library function a global holds
    is identified by its module and name, the same in every process."""
    sqrt = _view_module(LIBRARY.format(func="sqrt"))
    base = _version(load, sqrt)
    assert _version(load, _view_module(LIBRARY.format(func="log"))) != base
    assert _versions_in_new_processes(tmp_path, sqrt, count=1) == [base]


UNFINGERPRINTABLE = {
    "arbitrary-object": (
        'CONFIG = object()\n\n\ndef t(frame):\n    return frame.with_columns(pl.lit(str(CONFIG)).alias("out"))\n',
        r"feature view 'v': transform 't' → global 'CONFIG' is a value of type 'object', which "
        r"cannot be part of the view's version: .*memory address.*copy the values it needs "
        r"into module-level constants of simple values",
    ),
    "object-inside-a-dict": (
        'RULES = {"lock": threading.Lock()}\n\n\ndef t(frame):\n    return frame.with_columns(pl.lit(str(RULES["lock"])).alias("out"))\n',
        r"feature view 'v': transform 't' → global 'RULES'\['lock'\] is a value of type "
        r"'_thread.lock', which cannot be part of the view's version",
    ),
    "lazy-frame": (
        'LOOKUP = pl.LazyFrame({"customer_id": [1]})\n\n\ndef t(frame):\n    return frame.join(LOOKUP, on="customer_id").with_columns(pl.lit(1).alias("out"))\n',
        r"feature view 'v': transform 't' → global 'LOOKUP' is a value of type "
        r"'polars.*LazyFrame'.*collect it into a DataFrame",
    ),
    "expression-with-a-python-function": (
        'DOUBLE = pl.col("amount").map_batches(lambda s: s * 2, return_dtype=pl.Int64)\n\n\ndef t(frame):\n    return frame.with_columns(DOUBLE.alias("out"))\n',
        r"feature view 'v': transform 't' → global 'DOUBLE' is .*holds a Python function.*"
        r"build that expression inside the transformation",
    ),
    "default-argument": (
        'def t(frame, cfg=object()):\n    return frame.with_columns(pl.lit(str(cfg)).alias("out"))\n',
        r"feature view 'v': transform 't' → default of argument 'cfg' is a value of type "
        r"'object', which cannot be part of the view's version",
    ),
    "closure-variable": (
        'def make(cfg):\n    def t(frame):\n        return frame.with_columns(pl.lit(str(cfg)).alias("out"))\n    return t\n\n\nt = make(object())\n',
        r"feature view 'v': transform 'make.<locals>.t' → closure variable 'cfg' is a value "
        r"of type 'object'",
    ),
    "partial-argument": (
        'def scale(frame, cfg):\n    return frame.with_columns(pl.lit(str(cfg)).alias("out"))\n\n\nt = functools.partial(scale, cfg=object())\n',
        r"feature view 'v': transform functools.partial\(scale, ...\) → partial keyword 'cfg' "
        r"is a value of type 'object'",
    ),
    "helper-reading-an-object": (
        'STATE = threading.Lock()\n\n\ndef helper(frame):\n    return frame.with_columns(pl.lit(str(STATE)).alias("out"))\n\n\ndef t(frame):\n    return helper(frame)\n',
        r"feature view 'v': transform 't' → global 'helper' → global 'STATE' is a value of "
        r"type '_thread.lock'",
    ),
    "name-defined-after-the-view": (
        "def t(frame):\n    return LATER(frame)\n",
        r"feature view 'v': transform 't' → global 'LATER' is not defined when the view is "
        r"created.*define it above the view",
    ),
}


@pytest.mark.parametrize("case", list(UNFINGERPRINTABLE))
def test_what_cannot_be_fingerprinted_is_refused_naming_the_view_and_the_fix(
    load: Callable[..., ModuleType], case: str
) -> None:
    """Before: these were silently left out of the version (or hashed by an address)."""
    body, message = UNFINGERPRINTABLE[case]
    with pytest.raises(fs.DefinitionError, match=message) as info:
        load(_view_module(body))
    assert " at 0x" not in str(info.value)


def test_a_decorated_view_that_reads_an_object_is_refused_by_its_name(
    load: Callable[..., ModuleType],
) -> None:
    body = (
        "HANDLE = object()\n\n\n"
        "@fs.feature_view(entity=customer, source=tx)\n"
        "def spending(frame):\n"
        '    return frame.with_columns(pl.lit(str(HANDLE)).alias("out"))\n'
    )
    with pytest.raises(
        fs.DefinitionError,
        match=r"^feature view 'spending': transform 'spending' → global 'HANDLE' is",
    ):
        load(HEAD + body)


# -- frames are hashed from a canonical encoding ----------------------------------------

GOLDEN_FRAME = pl.DataFrame(
    {
        "id": [1, 2, None, 4],
        "x": [0.5, None, -2.25, float("nan")],
        "s": ["a", None, "ü", ""],
        "ts": [datetime(2024, 1, 1), None, datetime(2024, 2, 29, 12, 30), datetime(1969, 7, 20)],
    },
    schema={"id": pl.Int64, "x": pl.Float64, "s": pl.String, "ts": pl.Datetime("us")},
)
GOLDEN_DIGEST = "f9da8400d654ca63dd5866308bf20cc68111d0c6cd313aa44f9cdb52987b980b"


def test_frame_digest_is_pinned_by_a_golden_value() -> None:
    """A change of the encoding (and so of every content id) is a reviewed change."""
    assert frame_digest(GOLDEN_FRAME) == GOLDEN_DIGEST


def _with_garbage_under_nulls(value: int, text: bytes) -> pl.DataFrame:
    """A frame [1, null, 3] / ["x", null, "z"] whose null slots hold ``value`` and
    ``text`` in their buffers (as an Arrow producer may leave them)."""
    validity = pa.py_buffer(bytes([0b101]))
    ints = pa.Array.from_buffers(
        pa.int64(), 3, [validity, pa.py_buffer(struct.pack("<3q", 1, value, 3))]
    )
    offsets = struct.pack("<4q", 0, 1, 1 + len(text), 2 + len(text))
    strings = pa.Array.from_buffers(
        pa.large_string(), 3, [validity, pa.py_buffer(offsets), pa.py_buffer(b"x" + text + b"z")]
    )
    lists = pa.LargeListArray.from_buffers(
        pa.large_list(pa.int64()),
        3,
        [validity, pa.py_buffer(struct.pack("<4q", 0, 1, 1 + len(text), 2 + len(text)))],
        children=[pa.array([1, *([value] * len(text)), 2], pa.int64())],
    )
    frame = pl.from_arrow(pa.table({"i": ints, "s": strings, "l": lists}))
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_equal_frames_give_equal_digests_whatever_lies_under_null_slots_or_chunks() -> None:
    clean, dirty = _with_garbage_under_nulls(0, b""), _with_garbage_under_nulls(999, b"junk")
    assert clean.equals(dirty)
    assert frame_digest(clean) == frame_digest(dirty)
    chunked = pl.concat([GOLDEN_FRAME.head(2), GOLDEN_FRAME.tail(2)], rechunk=False)
    assert chunked.n_chunks() == 2
    assert frame_digest(chunked) == frame_digest(GOLDEN_FRAME)
    assert frame_digest(GOLDEN_FRAME.tail(2)) == frame_digest(GOLDEN_FRAME.tail(2).clone())


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.with_columns(pl.when(pl.col("id") == 4).then(5).otherwise("id").alias("id")),
        lambda f: f.with_columns(pl.col("s").fill_null("")),
        lambda f: f.reverse(),
        lambda f: f.rename({"x": "y"}),
        lambda f: f.select("x", "id", "s", "ts"),
        lambda f: f.with_columns(pl.col("id").cast(pl.Int32)),
        lambda f: f.with_columns(pl.col("s").cast(pl.Categorical)),
        lambda f: f.with_columns(pl.col("ts").dt.replace_time_zone("UTC")),
        lambda f: f.with_columns(pl.col("ts").cast(pl.Datetime("ns"))),
        lambda f: f.head(3),
    ],
    ids=[
        "value",
        "null-to-empty",
        "row-order",
        "column-name",
        "column-order",
        "dtype",
        "categorical",
        "time-zone",
        "time-unit",
        "row-dropped",
    ],
)
def test_any_change_of_value_order_name_or_dtype_changes_the_digest(
    change: Callable[[pl.DataFrame], pl.DataFrame],
) -> None:
    assert frame_digest(change(GOLDEN_FRAME)) != frame_digest(GOLDEN_FRAME)


def test_a_column_of_python_objects_is_refused_not_hashed_by_its_addresses() -> None:
    """Polars exports an Object column as the objects' memory addresses."""
    frame = pl.DataFrame({"o": pl.Series([object(), object()], dtype=pl.Object)})
    with pytest.raises(
        fs.SchemaError,
        match=r"cannot hash column 'o': its dtype Object holds Python objects, which have no "
        r"canonical encoding; cast it to a plain Polars type",
    ):
        frame_digest(frame)


# -- a path means that path --------------------------------------------------------------


def _write(path: Path, amount: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_events(12, seed=amount).with_columns(pl.lit(amount).alias("amount")).write_parquet(path)
    return path


def _amounts_read(source: fs.ParquetSource) -> set[int]:
    with duckdb.connect() as con:
        return set(scan_source(source, con).collect()["amount"].to_list())


def test_a_path_that_exists_is_literal_even_with_glob_characters(tmp_path: Path) -> None:
    """A directory named ``data[1]`` is that directory, not a pattern matching ``data1``:
    what is read and what lineage records are its files."""
    literal = _write(tmp_path / "data[1]" / "sub" / "part.parquet", 1)
    _write(tmp_path / "data1" / "sub" / "part.parquet", 2)
    source = fs.ParquetSource("tx", path=tmp_path / "data[1]", timestamp_column="ts")
    assert resolve_files(source) == [str(literal)]
    assert _amounts_read(source) == {1}

    customer = fs.Entity("customer", join_keys=["customer_id"])
    view = fs.FeatureView("amounts", entity=customer, source=source, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([customer, view])
        runs = store.materialize(START, datetime(2024, 6, 1))
        assert {i.path for r in runs for i in r.inputs} == {str(literal)}
        assert set(stored_rows(store, "amounts")["amount"].to_list()) == {1}


def test_a_file_whose_name_has_glob_characters_is_that_file(tmp_path: Path) -> None:
    """Before: ``x[1].parquet`` was globbed and read ``x1.parquet``."""
    literal = _write(tmp_path / "x[1].parquet", 1)
    _write(tmp_path / "x1.parquet", 2)
    source = fs.ParquetSource("tx", path=literal, timestamp_column="ts")
    assert resolve_files(source) == [str(literal)]
    assert _amounts_read(source) == {1}


def test_only_a_path_that_does_not_exist_is_a_glob(tmp_path: Path) -> None:
    star = _write(tmp_path / "d" / "*.parquet", 1)  # a file literally named '*.parquet'
    a, b = _write(tmp_path / "d" / "a.parquet", 2), _write(tmp_path / "d" / "b.parquet", 3)
    source = fs.ParquetSource("tx", path=tmp_path / "d" / "*.parquet", timestamp_column="ts")
    assert resolve_files(source) == [str(star)]
    star.unlink()
    assert resolve_files(source) == [str(a), str(b)]


def test_a_relative_glob_never_treats_the_definitions_directory_as_a_pattern(
    tmp_path: Path,
) -> None:
    ours = _write(tmp_path / "proj[1]" / "data" / "jan.parquet", 1)
    _write(tmp_path / "proj1" / "data" / "jan.parquet", 2)
    source = fs.ParquetSource(
        "tx", path="data/*.parquet", timestamp_column="ts", base_dir=tmp_path / "proj[1]"
    )
    assert resolve_files(source) == [str(ours)]
    csv = fs.CsvSource(
        "csv", path="data", timestamp_column="ts", base_dir=tmp_path / "proj[1]"
    )  # a directory holding no *.csv file
    with pytest.raises(
        fs.NotFoundError,
        match=r"source 'csv': directory 'data' holds no \*\.csv file \(a relative path, "
        r"resolved against '.*proj\[1\]'",
    ):
        resolve_files(csv)


# -- relative source paths ----------------------------------------------------------------

DEFINITIONS = """\
import featstore as fs

customer = fs.Entity("customer", join_keys=["customer_id"])
tx = fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts")
view = fs.FeatureView("amounts", entity=customer, source=tx, features=["amount"])
"""

REPORT = """
    import json, sys
    sys.path.insert(0, {folder!r})
    import {module} as m
    from featstore.compute import resolve_files
    print(json.dumps({{"files": resolve_files(m.tx), "base_dir": m.tx.base_dir,
                      "source": m.tx.version, "view": m.view.version}}))
"""


def test_relative_source_paths_resolve_against_the_definitions_directory(tmp_path: Path) -> None:
    """The same repository run from two working directories (each with a decoy
    ``data/tx.parquet``) reads the repository's file, with the same versions."""
    repo = tmp_path / "repo"
    ours = _write(repo / "data" / "tx.parquet", 1)
    (repo / "repo_features.py").write_text(DEFINITIONS)
    elsewhere = tmp_path / "elsewhere"
    for decoy in (tmp_path, elsewhere):
        _write(decoy / "data" / "tx.parquet", 2)
    code = REPORT.format(folder=str(repo), module="repo_features")
    outputs = [json.loads(run_python(code, cwd=cwd).strip()) for cwd in (tmp_path, elsewhere)]
    assert outputs[0] == outputs[1]
    assert outputs[0]["files"] == [str(ours)]
    assert outputs[0]["base_dir"] == str(repo)
    # hashed as written: the same definitions in another checkout keep their versions
    copy = tmp_path / "checkout2"
    copy.mkdir()
    (copy / "copy_features.py").write_text(DEFINITIONS)
    moved = json.loads(
        run_python(
            REPORT.format(folder=str(copy), module="copy_features").replace(
                "resolve_files(m.tx)", "[]"
            )
        ).strip()
    )
    assert (moved["source"], moved["view"]) == (outputs[0]["source"], outputs[0]["view"])


def test_a_source_built_without_a_file_resolves_against_the_working_directory(
    tmp_path: Path,
) -> None:
    """At a REPL or with ``python -c`` there is no definitions file: the working
    directory at construction is the base, and changing directory later changes nothing."""
    ours = _write(tmp_path / "data" / "tx.parquet", 1)
    later = tmp_path / "later"
    later.mkdir()
    code = f"""
        import json, os
        import featstore as fs
        from featstore.compute import resolve_files
        tx = fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts")
        os.chdir({str(later)!r})
        print(json.dumps({{"files": resolve_files(tx), "base_dir": tx.base_dir}}))
    """
    out = json.loads(run_python(code, cwd=tmp_path).strip())
    assert out == {"files": [str(ours)], "base_dir": str(tmp_path)}


def test_absolute_paths_and_path_objects_stay_as_they_are(tmp_path: Path) -> None:
    ours = _write(tmp_path / "abs" / "tx.parquet", 1)
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (ours, str(ours)):
        source = fs.ParquetSource("tx", path=path, timestamp_column="ts")
        assert source.path == str(ours)
        assert resolve_files(source) == [str(ours)]
    relative = fs.ParquetSource("tx", path=Path("data") / "tx.parquet", timestamp_column="ts")
    assert relative.path == os.path.join("data", "tx.parquet")
    assert relative.base_dir == here  # this test file's directory
    explicit = fs.CsvSource("c", path="x.csv", timestamp_column="ts", base_dir=tmp_path)
    assert explicit.resolved_path == str(tmp_path / "x.csv")
    assert explicit.version == fs.CsvSource("c", path="x.csv", timestamp_column="ts").version
    assert explicit == fs.CsvSource("c", path="x.csv", timestamp_column="ts")


def test_a_missing_relative_path_names_the_directory_it_was_resolved_against(
    tmp_path: Path,
) -> None:
    base = tmp_path / "project"
    base.mkdir()
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.ParquetSource("gone", path="data/tx.parquet", timestamp_column="ts", base_dir=base)
    view = fs.FeatureView("amounts", entity=customer, source=source, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        before = catalog_snapshot(store)
        files = files_under(store.path)
        with pytest.raises(
            fs.NotFoundError,
            match=r"source 'gone': path 'data/tx.parquet' matches no file \(a relative path, "
            rf"resolved against '{base}': the directory of the file that defines the source, "
            r"or its base_dir\); check the path",
        ):
            store.apply([customer, view])
        assert catalog_snapshot(store) == before
        assert files_under(store.path) == files


@pytest.mark.parametrize("bad", [None, 3, ""])
def test_a_source_without_a_usable_path_is_refused(bad: object) -> None:
    with pytest.raises(fs.DefinitionError, match=r"source 'tx' needs a path \(a file, a directory"):
        fs.ParquetSource("tx", path=bad, timestamp_column="ts")  # type: ignore[arg-type]
