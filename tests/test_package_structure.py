"""The package's structure stays what docs/architecture.md says: no import cycles, each
driver behind its seam, no process-wide side effects, importable without POSIX-only
modules."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "featstore"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> set[str]:
    """featstore modules that ``module`` imports when it runs: at import time or inside
    functions, but not under ``if TYPE_CHECKING``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(t for a in node.names if (t := _resolve(a.name)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in MODULES else _resolve(base)
                if target:
                    found.add(target)
        todo.extend(ast.iter_child_nodes(node))
    found.discard(module)
    return {m for m in found if m.startswith("featstore")}


def test_no_import_cycles() -> None:
    graph = nx.DiGraph()
    for module, path in MODULES.items():
        graph.add_node(module)
        graph.add_edges_from((module, target) for target in _imports(module, path))
    assert graph.number_of_edges() > 50  # the walk found the imports
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _importers(name: str) -> list[str]:
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Import)
                and any(a.name.split(".")[0] == name for a in node.names)
            ) or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == name):
                out.append(module)
    return sorted(set(out))


@pytest.mark.parametrize(
    ("driver", "owners"),
    [
        ("duckdb", ["featstore.engine.duckdb"]),
        ("sqlite3", ["featstore.catalog.sqlite"]),
        ("psycopg", ["featstore.catalog.postgres"]),
        # the engine, and its point-in-time plan as DataFrame operations
        (
            "pyspark",
            [
                "featstore.engine.spark",
                "featstore.engine.spark_pit",
                "featstore.engine.spark_views",
            ],
        ),
        ("fcntl", []),
        ("msvcrt", []),
        ("pickle", []),
    ],
)
def test_each_driver_is_imported_only_by_its_own_modules(driver: str, owners: list[str]) -> None:
    assert _importers(driver) == owners


# The CLI's definitions loader registers the user's module while it runs (a module's
# dataclasses and decorators look themselves up there) and removes it, and the modules it
# brought along, on every path: tests/test_cli_definitions_loading.py checks that.
_LOADS_USER_MODULES = {"featstore.cli.actions"}


def test_no_process_wide_side_effects() -> None:
    """No garbage collector switches, no writes to sys.modules or the environment."""
    bad = []
    for module, path in MODULES.items():
        if module in _LOADS_USER_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = ast.unparse(node) if isinstance(node, ast.expr | ast.stmt) else ""
            if isinstance(node, ast.Call) and text.startswith(("gc.disable", "gc.enable")):
                bad.append(f"{module}: {text}")
            if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = (
                    node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                )
                for target in targets:
                    shown = ast.unparse(target)
                    if shown.startswith(("sys.modules[", "os.environ[")):
                        bad.append(f"{module}: {shown}")
            if isinstance(node, ast.Call) and text.startswith(
                ("sys.modules.pop", "sys.modules.setdefault", "os.environ.setdefault", "os.putenv")
            ):
                bad.append(f"{module}: {text}")
    assert not bad


def test_import_works_without_posix_only_modules() -> None:
    """As on Windows: fcntl, pwd and grp do not exist."""
    code = (
        "import sys\n"
        "for name in ('fcntl', 'pwd', 'grp', 'termios'):\n"
        "    sys.modules[name] = None\n"
        "import featstore, featstore.cli, featstore.locks\n"
        "print(featstore.FeatureStore.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FeatureStore"


def _featstore_types(hint: object) -> list[type]:
    out: list[type] = []
    todo = [hint]
    while todo:
        t = todo.pop()
        todo.extend(typing.get_args(t))
        if isinstance(t, type) and t.__module__.startswith("featstore"):
            out.append(t)
    return out


def test_the_package_exports_every_type_a_public_method_returns() -> None:
    import featstore as fs

    missing = []
    checked = 0
    for name, member in inspect.getmembers(fs.FeatureStore):
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        returned = typing.get_type_hints(function).get("return")
        for t in _featstore_types(returned):
            checked += 1
            if getattr(fs, t.__name__, None) is not t:
                missing.append(f"FeatureStore.{name} -> {t.__module__}.{t.__name__}")
    assert checked > 20  # the hints were read
    assert not missing
