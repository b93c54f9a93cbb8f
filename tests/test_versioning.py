"""Content versions: stable across processes, sensitive to what defines a view, blind to
cosmetics; old versions stay readable.

What counts as "the same code" (documented behaviour, asserted below): a transform's
identity is its source parsed with :mod:`ast` and printed back (``ast.unparse``) without
its docstring or decorators, plus the values it reads: module globals, closure variables
and default arguments (constants, and containers of them item by item; the rest is in
``featstore.versioning`` and tests/test_hardening_versions.py). Hence
comments, docstrings, blank lines, line breaks, indentation, trailing commas, redundant
parentheses and quote style never change a version; any change to the syntax tree (an
edited expression, a renamed variable, a changed literal) or to a constant it reads
does. Description, owner and tags are metadata, not identity.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from helpers import END, START, make_events, run_python, stored_rows
from polars.testing import assert_frame_equal

import featstore as fs

BASE = '''\
"""Feature definitions, as a user would keep them in a module."""

from datetime import timedelta

import polars as pl

import featstore as fs

WINDOW = "30d"
MIN_AMOUNT = 0

customer = fs.Entity("customer", join_keys=["customer_id"])
tx = fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts")


@fs.feature_view(entity=customer, source=tx, ttl=timedelta(days=90), lookback=timedelta(days=30))
def spending(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Trailing spend per customer."""
    return tx.filter(pl.col("amount") > MIN_AMOUNT).sort("customer_id", "ts").rolling(
        "ts", period=WINDOW, group_by="customer_id"
    ).agg(pl.col("amount").sum().alias("spend"))
'''

_TRANSFORM = BASE[BASE.index("@fs.feature_view") :]


def _edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


COSMETIC = {
    "comments": _edit(
        '    """Trailing spend per customer."""\n',
        '    """Trailing spend per customer."""\n    # spend over the window  (a comment)\n',
    ).replace('.alias("spend"))', '.alias("spend"))  # trailing comment'),
    "docstring-changed": _edit(
        '"""Trailing spend per customer."""',
        '"""Something else entirely.\n\n    Two paragraphs now.\n    """',
    ),
    "docstring-removed": _edit('    """Trailing spend per customer."""\n', ""),
    "reformatted": BASE.replace(
        _TRANSFORM,
        "@fs.feature_view(\n"
        "    entity=customer,\n"
        "    source=tx,\n"
        "    ttl=timedelta(days=90),\n"
        "    lookback=timedelta(days=30),\n"
        ")\n"
        "def spending(tx: pl.LazyFrame) -> pl.LazyFrame:\n"
        "    '''Trailing spend per customer.'''\n"
        "\n"
        "    return (\n"
        "        tx.filter((pl.col('amount') > MIN_AMOUNT))\n"
        "        .sort('customer_id', 'ts')\n"
        "        .rolling('ts', period=WINDOW, group_by='customer_id',)\n"
        "        .agg(\n"
        "            pl.col('amount').sum().alias('spend'),\n"
        "        )\n"
        "    )\n",
    ),
    "blank-lines-and-module-docstring": ("\n\n# leading comment\n" + BASE).replace(
        '"""Feature definitions, as a user would keep them in a module."""', '"""Other words."""'
    ),
}

CODE_EDITS = {
    "sum-to-mean": _edit(".sum()", ".mean()"),
    "extra-filter": _edit(
        '.sort("customer_id", "ts")',
        '.filter(pl.col("ts").is_not_null()).sort("customer_id", "ts")',
    ),
    "literal-changed": _edit('pl.col("amount") > MIN_AMOUNT', 'pl.col("amount") >= MIN_AMOUNT'),
    "output-renamed": _edit('.alias("spend")', '.alias("spend_total")'),
    "local-variable-renamed": _edit(
        "def spending(tx: pl.LazyFrame) -> pl.LazyFrame:",
        "def spending(frame: pl.LazyFrame) -> pl.LazyFrame:",
    ).replace("    return tx.filter", "    return frame.filter"),
    "global-window-changed": _edit('WINDOW = "30d"', 'WINDOW = "7d"'),
    "global-threshold-changed": _edit("MIN_AMOUNT = 0", "MIN_AMOUNT = 10"),
    "ttl-changed": _edit("ttl=timedelta(days=90)", "ttl=timedelta(days=91)"),
    "lookback-changed": _edit("lookback=timedelta(days=30)", "lookback=timedelta(days=31)"),
    "source-path-changed": _edit('path="data/tx.parquet"', 'path="data/tx2.parquet"'),
    "entity-keys-changed": _edit(
        'join_keys=["customer_id"]', 'join_keys=["customer_id", "shop_id"]'
    ),
}


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Import module text from its own file (a fresh name each time, so no stale
    linecache / sys.modules entry can hide an edit)."""
    count = 0

    def _load(text: str) -> ModuleType:
        nonlocal count
        count += 1
        name = f"fs_defs_{tmp_path.name}_{count}"
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return _load


def _versions(module: ModuleType) -> dict[str, str]:
    return {
        "entity": module.customer.version,
        "source": module.tx.version,
        "view": module.spending.version,
    }


# -- stability --------------------------------------------------------------------------


def _make_view(window: str = "30d", ttl_days: int = 90) -> fs.FeatureView:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts")

    def spending(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.rolling("ts", period=window, group_by="customer_id").agg(
            pl.col("amount").sum().alias("spend")
        )

    return fs.FeatureView(
        "spending", entity=customer, source=tx, transform=spending, ttl=timedelta(days=ttl_days)
    )


def test_same_definition_gives_the_same_version() -> None:
    a, b = _make_view(), _make_view()
    assert a is not b
    assert a.transform is not b.transform
    assert a.version == b.version
    assert len(a.version) == 12
    assert int(a.version, 16) >= 0
    assert a.entity.version == b.entity.version
    assert a.source.version == b.source.version


def test_closure_constant_changes_the_version() -> None:
    assert _make_view(window="30d").version != _make_view(window="7d").version
    assert _make_view(ttl_days=90).version != _make_view(ttl_days=30).version


def test_same_version_in_a_new_process(tmp_path: Path, load: Callable[[str], ModuleType]) -> None:
    here = _versions(load(BASE))
    module_dir = tmp_path / "defs"
    module_dir.mkdir()
    (module_dir / "user_features.py").write_text(BASE)
    code = f"""
        import json, sys
        sys.path.insert(0, {str(module_dir)!r})
        import user_features as m
        print(json.dumps({{"entity": m.customer.version, "source": m.tx.version,
                          "view": m.spending.version}}))
    """
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outputs = [
        json.loads(run_python(code, cwd=cwd).strip().splitlines()[-1])
        for cwd in (tmp_path, elsewhere)
    ]
    assert outputs == [here, here]


@pytest.mark.parametrize("variant", list(COSMETIC))
def test_cosmetic_changes_keep_the_version(load: Callable[[str], ModuleType], variant: str) -> None:
    text = COSMETIC[variant]
    assert text != BASE
    assert _versions(load(text)) == _versions(load(BASE))


@pytest.mark.parametrize("variant", list(CODE_EDITS))
def test_code_and_parameter_edits_change_the_version(
    load: Callable[[str], ModuleType], variant: str
) -> None:
    base = _versions(load(BASE))
    edited = _versions(load(CODE_EDITS[variant]))
    assert edited["view"] != base["view"]
    if variant == "source-path-changed":
        assert edited["source"] != base["source"]
    if variant == "entity-keys-changed":
        assert edited["entity"] != base["entity"]


_ENTITY = fs.Entity("customer", join_keys=["customer_id"])
_SOURCE = fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts")
_VIEW_ARGS: dict[str, Any] = {
    "entity": _ENTITY,
    "source": _SOURCE,
    "features": ["amount", "fee"],
    "ttl": timedelta(days=7),
}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"ttl": timedelta(days=8)}, False),
        ({"ttl": None}, False),
        ({"features": ["amount"]}, False),
        ({"features": ["fee", "amount"]}, False),
        ({"lookback": timedelta(days=1)}, False),
        ({"schema": {"amount": pl.Int64}}, False),
        (
            {"source": fs.ParquetSource("tx", path="data/other.parquet", timestamp_column="ts")},
            False,
        ),
        (
            {"source": fs.ParquetSource("tx", path="data/tx.parquet", timestamp_column="event_ts")},
            False,
        ),
        ({"source": fs.CsvSource("tx", path="data/tx.parquet", timestamp_column="ts")}, False),
        ({"entity": fs.Entity("customer", join_keys=["cust_id"])}, False),
        ({"entity": fs.Entity("client", join_keys=["customer_id"])}, False),
        ({"description": "now documented", "owner": "ml-team", "tags": {"tier": "gold"}}, True),
        ({"entity": fs.Entity("customer", join_keys=["customer_id"], description="new")}, True),
    ],
    ids=[
        "ttl",
        "ttl-removed",
        "features-dropped",
        "features-reordered",
        "lookback",
        "schema",
        "source-path",
        "source-timestamp",
        "source-kind",
        "entity-keys",
        "entity-name",
        "metadata-only",
        "entity-description",
    ],
)
def test_definition_parameters_and_the_version(change: dict[str, Any], same: bool) -> None:
    base = fs.FeatureView("v", **_VIEW_ARGS)
    changed = fs.FeatureView("v", **{**_VIEW_ARGS, **change})
    assert (changed.version == base.version) is same
    assert fs.FeatureView("w", **_VIEW_ARGS).version != base.version  # the name is identity too


# -- what the transform reads -----------------------------------------------------------

HELPER_MODULE = """\
import polars as pl
import featstore as fs

FACTOR = {factor}

def _clean(frame):
    return frame.filter(pl.col("amount") > {threshold})

def scaled(frame: pl.LazyFrame) -> pl.LazyFrame:
    return _clean(frame).with_columns(
        pl.col("amount").map_elements(lambda a: a * FACTOR, return_dtype=pl.Int64).alias("scaled")
    )

view = fs.FeatureView(
    "scaled",
    entity=fs.Entity("customer", join_keys=["customer_id"]),
    source=fs.ParquetSource("tx", path="tx.parquet", timestamp_column="ts"),
    transform=scaled,
    features=["scaled"],
)
"""


def test_global_constant_read_inside_a_lambda_changes_the_version(
    load: Callable[[str], ModuleType],
) -> None:
    a = load(HELPER_MODULE.format(factor=2, threshold=0)).view
    b = load(HELPER_MODULE.format(factor=3, threshold=0)).view
    same = load(HELPER_MODULE.format(factor=2, threshold=0)).view
    assert a.version == same.version
    assert a.version != b.version


def test_editing_a_module_helper_the_transform_calls_changes_the_version(
    load: Callable[[str], ModuleType],
) -> None:
    a = load(HELPER_MODULE.format(factor=2, threshold=0)).view
    b = load(HELPER_MODULE.format(factor=2, threshold=100)).view
    assert a.version != b.version


def _exec_transform(body: str) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """A transform with no source file (as typed at a plain REPL or built with exec)."""
    namespace: dict[str, Any] = {"pl": pl}
    exec(f"def t(frame):\n    return {body}\n", namespace)  # noqa: S102 (the point of the test)
    return namespace["t"]


@pytest.mark.parametrize(
    "edited",
    [
        'frame.with_columns(pl.col("amount").alias("b"))',  # another column name
        'frame.with_columns((pl.col("amount") * 3).alias("a"))',  # another literal
        'frame.with_columns((pl.col("amount") * 2).alias("a")).head()',  # another method
    ],
)
def test_functions_without_source_still_change_version_with_their_code(edited: str) -> None:
    original = 'frame.with_columns((pl.col("amount") * 2).alias("a"))'

    def view(body: str) -> fs.FeatureView:
        return fs.FeatureView("v", entity=_ENTITY, source=_SOURCE, transform=_exec_transform(body))

    assert view(original).version == view(original).version
    assert view(edited).version != view(original).version


# -- old versions stay readable ---------------------------------------------------------


def test_old_versions_stay_readable(tmp_path: Path) -> None:
    events = make_events(150, seed=11)
    events.write_parquet(tmp_path / "tx.parquet")
    events = events.filter(pl.col("ts") < END)  # what [START, END) materializes
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource("tx", path=tmp_path / "tx.parquet", timestamp_column="ts")

    def scaled(factor: int) -> fs.FeatureView:
        def amounts(frame: pl.LazyFrame) -> pl.LazyFrame:
            return frame.with_columns((pl.col("amount") * factor).alias("value"))

        return fs.FeatureView(
            "amounts", entity=customer, source=tx, transform=amounts, features=["value"]
        )

    v1, v2 = scaled(1), scaled(10)
    assert v1.version != v2.version
    entity_rows = events.select("customer_id", pl.col("ts").alias("event_timestamp"))
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([customer, v1])
        store.materialize(START, END)
        store.apply([v2])
        assert store.get_feature_view("amounts")["version"] == v2.version
        assert store.get_feature_view("amounts", v1.version)["version"] == v1.version
        store.materialize(START, END)

        old = store.get_historical_features(entity_rows, [f"amounts@{v1.version}:value"])
        new = store.get_historical_features(entity_rows, ["amounts:value"])
        assert old.frame["value"].to_list() == events["amount"].to_list()
        assert new.frame["value"].to_list() == (events["amount"] * 10).to_list()
        assert old.manifest["features"][0]["version"] == v1.version
        assert new.manifest["features"][0]["version"] == v2.version
        # both versions' files are on disk, each in its own folder
        for v in (v1, v2):
            assert (store.path / "offline" / "amounts" / v.version).is_dir()
            assert stored_rows(store, "amounts", v.version).height == events.height
        assert [r["version"] for r in store.versions("feature_view", "amounts")] == [
            v1.version,
            v2.version,
        ]
        # one version per view per request
        with pytest.raises(fs.PointInTimeError, match="two versions"):
            store.get_historical_features(
                entity_rows, [f"amounts@{v1.version}:value", "amounts:value"]
            )
        # re-applying v1 makes it current again, its data untouched
        store.apply([v1])
        again = store.get_historical_features(entity_rows, ["amounts:value"])
        assert_frame_equal(again.frame, old.frame)
        assert store.runs("amounts")[0]["view_version"] == v2.version
        assert {r["view_version"] for r in store.runs("amounts")} == {v1.version, v2.version}


def test_unknown_version_reference_is_not_found(tmp_path: Path) -> None:
    events = make_events(20)
    customer = fs.Entity("customer", join_keys=["customer_id"])
    src = fs.DataFrameSource("tx", data=events, timestamp_column="ts")
    view = fs.FeatureView("amounts", entity=customer, source=src, features=["amount"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([customer, view])
        entity_rows = pl.DataFrame({"customer_id": [1], "event_timestamp": [datetime(2024, 2, 1)]})
        with pytest.raises(fs.NotFoundError, match="'amounts' at version 'abcdef123456'"):
            store.get_historical_features(entity_rows, ["amounts@abcdef123456:amount"])


def test_materialize_refuses_a_view_object_that_is_not_the_applied_version(tmp_path: Path) -> None:
    """Passing an edited (not applied) FeatureView never materializes another version in
    its place."""
    events = make_events(30)
    customer = fs.Entity("customer", join_keys=["customer_id"])
    src = fs.DataFrameSource("tx", data=events, timestamp_column="ts")
    v1 = fs.FeatureView("amounts", entity=customer, source=src, features=["amount"])
    v2 = fs.FeatureView(
        "amounts", entity=customer, source=src, features=["amount"], ttl=timedelta(days=1)
    )
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([customer, v1])
        with pytest.raises(
            fs.MaterializationError,
            match=f"holds version {v2.version}, the catalog's current one is {v1.version}",
        ):
            store.materialize(START, END, views=[v2])
        assert store.runs() == []
        (run,) = store.materialize(START, END, views=[v1])
        assert run.view_version == v1.version
