"""Loading a definitions file from the CLI has no process-wide side effects: neither the
file's module nor the modules it imports from its own directory stay in ``sys.modules``
(on success and on every error path), ``sys.path`` is restored, and the versions of its
views do not depend on the module staying registered."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import featstore as fs
from featstore.cli import load_definitions

HELPER = """
import dataclasses

SCALE = {scale}

@dataclasses.dataclass(frozen=True)
class Rule:
    column: str
    factor: float

def scaled(series):
    return series * SCALE
"""

DEFS = """
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import polars as pl

import featstore as fs
from fs_defs_helper import Rule, scaled
import fs_defs_pkg.sub

RULE = Rule("amount", 2.0)


@dataclasses.dataclass(frozen=True)
class Local:
    name: str


NAMES = Local("x")

customer = fs.Entity("customer", join_keys=["customer_id"])
tx = fs.DataFrameSource(
    "tx",
    data=pl.DataFrame(
        {{
            "customer_id": [1, 2],
            "amount": [1.0, 2.0],
            "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
        }}
    ),
    timestamp_column="ts",
)


def transform(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.select(
        "customer_id",
        "ts",
        (pl.col(RULE.column) * RULE.factor).alias("double"),
        pl.col("amount").map_batches(scaled, is_elementwise=True).alias("scaled"),
        pl.lit(NAMES.name + fs_defs_pkg.sub.TAG).alias("tag"),
    )


view = fs.FeatureView(
    "amounts", entity=customer, source=tx, transform=transform, ttl=timedelta(days=30){extra}
)
{tail}
"""


def _write(folder: Path, *, scale: int = 3, extra: str = "", tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fs_defs_helper.py").write_text(HELPER.format(scale=scale))
    (folder / "fs_defs_pkg").mkdir(exist_ok=True)
    (folder / "fs_defs_pkg" / "__init__.py").write_text("")
    (folder / "fs_defs_pkg" / "sub.py").write_text("TAG = '!'\n")
    defs = folder / "defs.py"
    defs.write_text(DEFS.format(extra=extra, tail=textwrap.dedent(tail)))
    return defs


@pytest.fixture
def clean_modules() -> Iterator[set[str]]:
    """The names in sys.modules before the test; the test checks none of the user's
    were added (and any left behind are removed, so one failure does not leak)."""
    before = set(sys.modules)
    path = list(sys.path)
    yield before
    for name in set(sys.modules) - before:
        if name.startswith(("_featstore_defs_", "fs_defs_")):
            del sys.modules[name]
    sys.path[:] = path


def _user_modules(before: set[str]) -> list[str]:
    return sorted(
        n for n in set(sys.modules) - before if n.startswith(("_featstore_defs_", "fs_defs_"))
    )


def test_a_loaded_file_leaves_no_module_behind(tmp_path: Path, clean_modules: set[str]) -> None:
    path = list(sys.path)
    found = load_definitions(_write(tmp_path / "proj"))
    assert {d.name for d in found} == {"customer", "tx", "amounts"}
    assert _user_modules(clean_modules) == []
    assert sys.path == path


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        ("raise RuntimeError('boom')", r"RuntimeError: boom \(at defs\.py:\d+\)"),
        ("definitions = 'not a list'", r"'definitions' must be a list"),
        ("definitions = [1]", r"definitions\[0\] is a int"),
        ("import fs_defs_missing", r"ModuleNotFoundError"),
    ],
)
def test_a_file_that_fails_leaves_no_module_behind(
    tmp_path: Path, clean_modules: set[str], tail: str, error: str
) -> None:
    with pytest.raises(fs.DefinitionError, match=error):
        load_definitions(_write(tmp_path / "proj", tail=tail))
    assert _user_modules(clean_modules) == []


@pytest.mark.parametrize(
    ("tail", "raised"),
    [("import sys\nsys.exit(3)", SystemExit), ("raise KeyboardInterrupt", KeyboardInterrupt)],
)
def test_an_exit_or_interrupt_while_loading_leaves_no_module_behind(
    tmp_path: Path, clean_modules: set[str], tail: str, raised: type[BaseException]
) -> None:
    with pytest.raises(raised):
        load_definitions(_write(tmp_path / "proj", tail=tail))
    assert _user_modules(clean_modules) == []


def test_libraries_imported_for_the_first_time_stay(
    tmp_path: Path, clean_modules: set[str]
) -> None:
    """Only the user's modules are forgotten: a library (here a standard one not yet
    imported) stays, since extension modules cannot be imported twice."""
    candidates = ["colorsys", "sched", "tabnanny", "netrc", "wave", "quopri", "filecmp"]
    fresh = next((m for m in candidates if m not in sys.modules), None)
    if fresh is None:
        pytest.skip("every candidate standard module is already imported")
    load_definitions(_write(tmp_path / "proj", tail=f"import {fresh}"))
    assert fresh in sys.modules
    assert _user_modules(clean_modules) == []


def test_versions_do_not_depend_on_the_module_staying_registered(
    tmp_path: Path, clean_modules: set[str]
) -> None:
    """The view's version is computed while its module is registered; recomputing it
    after the module is forgotten (check_unchanged, as apply does) gives the same, and so
    does loading the file again."""
    defs = _write(tmp_path / "proj")
    (view,) = [d for d in load_definitions(defs) if isinstance(d, fs.FeatureView)]
    view.check_unchanged()
    (again,) = [d for d in load_definitions(defs) if isinstance(d, fs.FeatureView)]
    assert again.version == view.version
    assert again is not view  # the file ran again: no stale module was reused


def test_an_edited_neighbour_is_read_again(tmp_path: Path, clean_modules: set[str]) -> None:
    """A neighbour module left in sys.modules would hide an edit from the next load in
    the same process (its old code and constants, under the old version)."""
    folder = tmp_path / "proj"
    (first,) = [
        d for d in load_definitions(_write(folder, scale=3)) if isinstance(d, fs.FeatureView)
    ]
    (second,) = [
        d for d in load_definitions(_write(folder, scale=4)) if isinstance(d, fs.FeatureView)
    ]
    assert second.version != first.version


def test_a_forgotten_module_still_applies_and_materializes(
    tmp_path: Path, clean_modules: set[str]
) -> None:
    """After loading, apply (which re-fingerprints the transform and inspects its plan,
    map_batches callback included) and materialization work without the module."""
    found = load_definitions(_write(tmp_path / "proj"))  # no lookback: the plan is read
    assert _user_modules(clean_modules) == []
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply(found)
        store.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
        entities = pl.DataFrame(
            {"customer_id": [1, 2], "event_timestamp": [datetime(2024, 1, 3)] * 2}
        )
        result = store.get_historical_features(
            entities, features=["amounts:double", "amounts:scaled", "amounts:tag"]
        )
        assert result.frame.sort("customer_id")["scaled"].to_list() == [3.0, 6.0]
        assert result.frame["tag"].to_list() == ["x!", "x!"]
