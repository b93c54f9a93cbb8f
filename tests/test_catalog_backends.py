"""The mechanism that runs whole test modules on both catalog backends
(``helpers.BOTH_CATALOGS``): stores a test creates use the module's backend, each its
own catalog, and processes started by a test follow."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import BOTH_CATALOGS, run_python
from lineage_helpers import World, world_fixture

import featstore as fs
from featstore.catalog import SQLiteCatalog
from featstore.catalog.postgres import PostgresCatalog

pytestmark = BOTH_CATALOGS

world = world_fixture("backends")

KIND = {"sqlite": SQLiteCatalog, "postgresql": PostgresCatalog}


def _recorded(store_dir: Path) -> str | None:
    catalog: str | None = json.loads((store_dir / "featstore.json").read_text()).get("catalog")
    return catalog


def test_new_stores_use_the_backend_each_with_its_own_catalog(
    tmp_path: Path, catalog_backend: str
) -> None:
    with fs.FeatureStore(tmp_path / "a", progress=False) as a:
        assert isinstance(a.catalog, KIND[catalog_backend])
        a.apply([fs.Entity("only_in_a", join_keys=["k"])])
    with fs.FeatureStore(tmp_path / "b", progress=False) as b:
        assert isinstance(b.catalog, KIND[catalog_backend])
        assert b.list_definitions("entity") == [], "two stores share one catalog"
    if catalog_backend == "postgresql":
        assert _recorded(tmp_path / "a") != _recorded(tmp_path / "b")
        assert not (tmp_path / "a" / "catalog.db").exists()
    else:
        assert _recorded(tmp_path / "a") is None
        assert (tmp_path / "a" / "catalog.db").is_file()


def test_processes_started_by_a_test_follow(tmp_path: Path, catalog_backend: str) -> None:
    with fs.FeatureStore(tmp_path / "mine", progress=False) as store:
        store.apply([fs.Entity("customer", join_keys=["customer_id"])])
    out = run_python(f"""
        import json
        import featstore as fs
        with fs.FeatureStore({str(tmp_path / "mine")!r}, progress=False) as old:
            names = [d["name"] for d in old.list_definitions("entity")]
            kind = type(old.catalog).__name__
        with fs.FeatureStore({str(tmp_path / "theirs")!r}, progress=False) as new:
            new_kind = type(new.catalog).__name__
            new_names = [d["name"] for d in new.list_definitions("entity")]
        print(json.dumps([kind, names, new_kind, new_names]))
    """)
    kind = KIND[catalog_backend].__name__
    assert json.loads(out.strip().splitlines()[-1]) == [kind, ["customer"], kind, []]


def test_the_module_world_is_on_the_backend(world: World, catalog_backend: str) -> None:
    assert isinstance(world.store.catalog, KIND[catalog_backend])
    assert world.store.get_model("churn").version == 1
    assert world.store.register_model("backend_probe", None).version == 1
