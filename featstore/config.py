"""A store's configuration file, ``featstore.json``: its format version, who created it,
which catalog it uses, and (optionally, written by the user) where its OpenLineage events
go (``"openlineage"``: the client's config, docs/openlineage.md).

The file is written last when a store is created (a store with a config has a complete
catalog) and never holds a password: a PostgreSQL catalog is recorded by its URL without
one, and the password comes from ``PGPASSWORD``, ``~/.pgpass`` or the URL passed again to
:class:`~featstore.FeatureStore`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featstore._version import __version__
from featstore.catalog import FORMAT_VERSION, Catalog, is_url, open_catalog, redact
from featstore.engine import ENGINES
from featstore.errors import ConfigError
from featstore.offline import new_id

__all__ = [
    "CATALOG_ENV",
    "CONFIG_FILE",
    "ENGINES",
    "StoreConfig",
    "catalog_spec",
    "check_openlineage",
    "open_store",
    "prepare_directory",
]

CONFIG_FILE = "featstore.json"


@dataclass(frozen=True)
class StoreConfig:
    """What ``featstore.json`` says (None: no store there yet)."""

    format_version: int
    created_by: str
    catalog: str | None  # None: the embedded SQLite file
    openlineage: Mapping[str, Any] | None = None  # the OpenLineage client's config, if any
    engine: str | None = None  # the query engine: "duckdb" (the default) or "spark"
    spark: Mapping[str, Any] | None = None  # the Spark engine's settings (docs/spark.md)

    @staticmethod
    def read(store: Path) -> StoreConfig | None:
        """The store's config, or None when the directory holds no store yet."""
        config = store / CONFIG_FILE
        if not config.exists() and not config.is_symlink():
            return None

        def refuse(value: object) -> None:
            raise ValueError(f"{value} is not a JSON number featstore writes")

        try:
            data = json.loads(config.read_text(), parse_constant=refuse)
            found = data["format_version"]
            if type(found) is not int or not 1 <= found < 2**31:
                raise ValueError(f"format_version {found!r} is not a format number")
            catalog = data.get("catalog")
            if catalog is not None and not (isinstance(catalog, str) and is_url(catalog)):
                raise ValueError(f"catalog {catalog!r} is not a PostgreSQL URL")
            openlineage = data.get("openlineage")
            if openlineage is not None:
                openlineage = check_openlineage(openlineage, f"{CONFIG_FILE} 'openlineage'")
            engine = data.get("engine")
            if engine is not None and engine not in ENGINES:
                raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
            spark = data.get("spark")
            if spark is not None and not isinstance(spark, dict):
                raise ValueError(f"'spark' must be an object of Spark settings; found {spark!r}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) else exc
            raise ConfigError(
                f"store {str(store)!r}: {CONFIG_FILE} is not a featstore config "
                f"({detail}); is this the right directory?"
            ) from exc
        if found > FORMAT_VERSION:
            raise ConfigError(
                f"store {str(store)!r} was written by featstore "
                f"{data.get('created_by', '?')} (format {found}); this featstore "
                f"{__version__} reads format {FORMAT_VERSION}: upgrade featstore"
            )
        created_by = str(data.get("created_by", "?"))
        return StoreConfig(found, created_by, catalog, openlineage, engine, spark)

    def write(self, store: Path) -> None:
        """Write the config atomically, never through a link planted at its name."""
        config = store / CONFIG_FILE
        data: dict[str, object] = {
            "format_version": self.format_version,
            "created_by": self.created_by,
        }
        if self.catalog is not None:
            data["catalog"] = redact(self.catalog)
        if self.openlineage is not None:
            data["openlineage"] = dict(self.openlineage)
        if self.engine is not None:
            data["engine"] = self.engine
        if self.spark is not None:
            data["spark"] = dict(self.spark)
        tmp = config.with_name(f".{CONFIG_FILE}.{new_id()}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(tmp, flags, 0o644)  # O_EXCL: never through a planted link
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(data, sort_keys=True))
            os.replace(tmp, config)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(
                f"cannot write {CONFIG_FILE} in store {str(store)!r}: {exc.strerror}"
            ) from exc


CATALOG_ENV = "FEATSTORE_CATALOG"


def catalog_spec(store: Path, found: StoreConfig | None, asked: str | None) -> str | None:
    """The catalog to open: the one the config names, which ``asked`` (if given) must be.
    A new store without ``asked`` uses ``$FEATSTORE_CATALOG`` if set, else SQLite."""
    if found is None and asked is None:
        asked = os.environ.get(CATALOG_ENV) or None
    if asked is not None and asked != "sqlite" and not is_url(asked):
        raise ConfigError(
            f"unknown catalog {asked!r}: use 'sqlite' (the default, a file in the store "
            f"directory) or a PostgreSQL URL such as 'postgresql://user@host:5432/db'"
        )
    wanted = None if asked in (None, "sqlite") else asked
    if found is None:
        return wanted
    if asked is not None and (redact(wanted) if wanted else None) != found.catalog:
        recorded = found.catalog or "the embedded SQLite file"
        raise ConfigError(
            f"store {str(store)!r} keeps its catalog in {recorded}, not "
            f"{redact(asked)!r}: omit catalog= to use the recorded one"
        )
    return wanted if wanted is not None else found.catalog


def prepare_directory(path: Path, *, create: bool, read_only: bool) -> StoreConfig | None:
    """Check that ``path`` can hold a store and read its config; create the directory
    for a new store (never in read-only mode, which needs an existing store)."""
    # a directory, or nothing yet: never a file, nor a path under one
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "" if existing == path else f" is under {str(existing)!r}, which"
        raise ConfigError(
            f"{str(path)!r}{where} is a file, not a store directory; give "
            f"FeatureStore the path of a directory (a missing one is created)"
        )
    if (read_only or not create) and not (path / CONFIG_FILE).exists():
        hint = (
            "read_only=True opens an existing store only"
            if read_only
            else "create one with FeatureStore(path) or `featstore init`"
        )
        raise ConfigError(f"no feature store at {str(path)!r}; {hint}")
    if not read_only:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the store directory {str(path)!r}: {exc.strerror}; "
                f"choose a writable location"
            ) from exc
    return StoreConfig.read(path)


def open_store(path: Path, *, create: bool, read_only: bool, catalog: str | None) -> Catalog:
    """Open (or create) the store at ``path`` and return its catalog. A new store's
    config is written last: a store with a config always has a complete catalog; a
    store whose config exists has a catalog, and a missing, empty or foreign one is
    damaged, never initialised afresh (CatalogError, nothing written)."""
    existed = path.exists()
    found = prepare_directory(path, create=create, read_only=read_only)
    try:
        spec = catalog_spec(path, found, catalog)
        opened = open_catalog(spec, path, create=found is None, read_only=read_only)
    except BaseException:
        if not existed:  # leave nothing behind: remove the directory made for the store
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty
        raise
    if not opened.read_only and (found is None or found.format_version < FORMAT_VERSION):
        try:
            kept = (
                (found.openlineage, found.engine, found.spark) if found is not None else (None,) * 3
            )
            StoreConfig(FORMAT_VERSION, __version__, spec, *kept).write(path)
        except BaseException:
            opened.close()
            raise
    return opened


# what the OpenLineage config may hold: a namespace and a transport of a built-in type.
# Keys and types that name Python code for the client to import (a dotted class path, a
# filesystem or transformer factory) are refused: featstore never runs code read from
# storage.
_OPENLINEAGE_KEYS = ("namespace", "transport")
_TRANSPORT_TYPES = ("http", "async_http", "file", "console", "kafka", "composite", "noop")
_AUTH_TYPES = ("api_key", "jwt", "oauth2")
_CODE_KEYS = ("filesystem", "transformer_class", "transformer_properties", "fs_kwargs")


def _check_transport(transport: object, where: str) -> None:
    if not isinstance(transport, dict) or not isinstance(transport.get("type"), str):
        raise ValueError(f"{where} must be an object with a 'type' string")
    kind = transport["type"]
    if kind not in _TRANSPORT_TYPES:
        raise ValueError(
            f"{where} has type {kind!r}; expected one of {list(_TRANSPORT_TYPES)} "
            f"(a class path would be code read from storage)"
        )
    code = sorted(set(transport) & set(_CODE_KEYS))
    if code:
        raise ValueError(f"{where} names code to import ({code[0]!r}); remove it")
    auth = transport.get("auth")
    if auth is not None and (
        not isinstance(auth, dict) or auth.get("type", "api_key") not in _AUTH_TYPES
    ):
        raise ValueError(f"{where} 'auth' must have a type among {list(_AUTH_TYPES)}")
    if kind == "composite":
        inner = transport.get("transports")
        items = inner.items() if isinstance(inner, dict) else enumerate(inner or [])
        if not isinstance(inner, dict | list) or not inner:
            raise ValueError(f"{where} is composite: give its 'transports' (a list or object)")
        for key, sub in items:
            _check_transport(sub, f"{where} transports[{key!r}]")


def check_openlineage(value: object, where: str) -> dict[str, Any]:
    """The OpenLineage config ``value`` (from ``featstore.json`` or ``openlineage=``) if
    it is usable: an object with an optional non-empty ``namespace`` string and an
    optional ``transport`` of a built-in type. ValueError (naming ``where``) otherwise."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, found {type(value).__name__}")
    unknown = sorted(set(value) - set(_OPENLINEAGE_KEYS))
    if unknown:
        raise ValueError(
            f"{where} has unknown key {unknown[0]!r}; expected {list(_OPENLINEAGE_KEYS)}"
        )
    namespace = value.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str)
        or not namespace.strip()
        or any(ord(c) < 32 for c in namespace)
    ):
        raise ValueError(f"{where} 'namespace' must be a non-empty one-line string")
    if "transport" in value:
        _check_transport(value["transport"], f"{where} 'transport'")
    copy: dict[str, Any] = json.loads(json.dumps(value))  # a plain copy, JSON values only
    return copy
