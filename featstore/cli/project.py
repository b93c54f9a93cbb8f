"""The project file of the ``featstore`` command line: ``featstore.toml``.

A project is a directory with a ``featstore.toml`` that names its store directory and
its definitions file, both relative to the project::

    store = "store"
    definitions = "features.py"

Commands run anywhere inside the project (the file is looked for in the current
directory and then its parents, like git) use them, so ``featstore apply`` and
``featstore materialize START END`` need neither ``--store`` nor a definitions path. An
explicit ``--store`` (or ``FEATSTORE_STORE``) and an explicit definitions path win.
"""

from __future__ import annotations

import os
import random
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from featstore.errors import ConfigError

__all__ = [
    "KEYS",
    "PROJECT_FILE",
    "SAMPLE_FEATURES",
    "Project",
    "find_project",
    "read_project",
    "sample_entities",
    "sample_transactions",
    "scaffold_project",
]

PROJECT_FILE = "featstore.toml"
KEYS: dict[str, str] = {
    "store": 'the store directory, relative to the project (e.g. "store")',
    "definitions": 'the Python file of definitions, relative to the project (e.g. "features.py")',
}
"""Every key a project file may have, with what it means."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A project: its directory, its file, and the store and definitions it names
    (absolute paths)."""

    root: Path
    file: Path
    store: Path
    definitions: Path


def read_project(file: str | os.PathLike[str]) -> Project:
    """Read and check the project file ``file``.

    ConfigError naming the file, the key and the fix for a file that is not TOML, an
    unknown key, a value that is not a non-empty string, or an absolute path.
    """
    path = Path(file).absolute()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"project file {str(path)!r} is not valid TOML: {exc}; fix the line it names"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"project file {str(path)!r} is not UTF-8 text: {exc}") from exc
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"project file {str(path)!r}: unknown key {unknown[0]!r}; the keys are "
            f"{', '.join(repr(k) for k in KEYS)}: remove or rename it"
        )
    values: dict[str, Path] = {}
    for key, default in (("store", "store"), ("definitions", "features.py")):
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"project file {str(path)!r}: key {key!r} must be a non-empty string, "
                f"{KEYS[key]}; found {_type_name(value)} {value!r}"
            )
        relative = Path(value)
        if relative.is_absolute():
            raise ConfigError(
                f"project file {str(path)!r}: key {key!r} must be relative to the project "
                f"directory; found the absolute path {value!r}"
            )
        values[key] = path.parent / relative
    return Project(
        root=path.parent, file=path, store=values["store"], definitions=values["definitions"]
    )


def find_project(start: str | os.PathLike[str] | None = None) -> Project | None:
    """The project whose directory is ``start`` (default: the current directory) or
    its nearest parent with a ``featstore.toml``; None outside any project."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return read_project(candidate)
    return None


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


# -- scaffolding ---------------------------------------------------------------------

SAMPLE_FEATURES = ("spending:spend_30d", "spending:purchases_30d", "purchases:amount")
"""The features the scaffolded project's ``historical`` command asks for."""
_SAMPLE_START = datetime(2024, 1, 1)
_SAMPLE_DAYS = 91  # 2024-01-01 up to 2024-04-01
_CUSTOMERS = 20
_IGNORED = frozenset({".git"})  # a fresh repository is still an empty directory

_PROJECT_TEXT = """\
# A featstore project: the commands find this file in the current directory or a parent.
store = "store"              # the store directory (Parquet offline store and catalog)
definitions = "features.py"  # the Python file of feature definitions
"""


def sample_transactions(rows: int = 300) -> pl.DataFrame:
    """The scaffold's purchases: ``rows`` rows over 20 customers from 2024-01-01 up to
    2024-04-01, the same on every machine (distinct minutes, so no two rows tie)."""
    rng = random.Random(20240101)  # noqa: S311 (sample data, not secrets)
    minutes = sorted(rng.sample(range(_SAMPLE_DAYS * 24 * 60), rows))
    return pl.DataFrame(
        {
            "customer_id": [rng.randint(1, _CUSTOMERS) for _ in minutes],
            "ts": [_SAMPLE_START + timedelta(minutes=m) for m in minutes],
            "amount": [round(rng.uniform(2.0, 120.0), 2) for _ in minutes],
            "n_items": [rng.randint(1, 6) for _ in minutes],
        },
        schema={
            "customer_id": pl.Int64,
            "ts": pl.Datetime("us"),
            "amount": pl.Float64,
            "n_items": pl.Int64,
        },
    )


def sample_entities(rows: int = 60) -> pl.DataFrame:
    """The scaffold's labelled entity rows for historical retrieval: customers 1-22 (21
    and 22 never bought anything) at instants from 2024-02-01 into April, with a label."""
    rng = random.Random(20240201)  # noqa: S311 (sample data, not secrets)
    return pl.DataFrame(
        {
            "customer_id": [rng.randint(1, _CUSTOMERS + 2) for _ in range(rows)],
            "event_timestamp": [
                datetime(2024, 2, 1) + timedelta(hours=rng.randrange(70 * 24)) for _ in range(rows)
            ],
            "churned": [rng.random() < 0.3 for _ in range(rows)],
        },
        schema={
            "customer_id": pl.Int64,
            "event_timestamp": pl.Datetime("us"),
            "churned": pl.Boolean,
        },
    )


def _template(name: str) -> str:
    return resources.files("featstore.cli").joinpath("scaffold", name).read_text(encoding="utf-8")


def scaffold_project(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Write a runnable project into ``directory`` (created if missing): the project
    file, ``features.py``, and sample data under ``data/``. An existing project is left
    as it is (``created`` False); a non-empty directory that is not a project is a
    ConfigError. Returns the project's paths, the sample data's event-time range and
    the next commands to run. The store itself is created by the caller."""
    root = Path(directory).absolute()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"cannot create a project at {str(root)!r}: it is a file")
    existing = root / PROJECT_FILE
    created = not existing.is_file()
    if created and root.is_dir():
        others = sorted(p.name for p in root.iterdir() if p.name not in _IGNORED)
        if others:
            raise ConfigError(
                f"cannot create a project in {str(root)!r}: the directory is not empty "
                f"(it holds {others[0]!r}) and has no {PROJECT_FILE}; pick an empty or new "
                f"directory, or pass --store-only to create only a store"
            )
    if created:
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        sample_transactions().write_parquet(data / "transactions.parquet")
        sample_entities().write_parquet(data / "entities.parquet")
        (root / "features.py").write_text(_template("features.py.tmpl"), encoding="utf-8")
        (root / ".gitignore").write_text("/store/\n", encoding="utf-8")
        existing.write_text(_PROJECT_TEXT, encoding="utf-8")  # last: a project only if whole
    project = read_project(existing)
    start = _SAMPLE_START.date().isoformat()
    end = (_SAMPLE_START + timedelta(days=_SAMPLE_DAYS)).date().isoformat()
    features = " ".join(f"--feature {f}" for f in SAMPLE_FEATURES)
    return {
        "path": str(root),
        "created": created,
        "project_file": str(project.file),
        "store": str(project.store),
        "definitions": str(project.definitions),
        "sample_range": {"start": start, "end": end},
        "next": [
            "featstore apply",
            f"featstore materialize {start} {end}",
            f"featstore historical data/entities.parquet {features}",
        ],
    }
