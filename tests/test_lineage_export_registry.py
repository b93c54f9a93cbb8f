"""The lineage export registry (featstore.lineage_export): one module per format,
registered by the package, listed by ``Lineage.export`` and ``featstore lineage export``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import click
import networkx as nx
import polars as pl
import pytest

import featstore as fs
import featstore.lineage_export as package
from featstore import exports
from featstore.cli import actions, commands
from featstore.lineage import Lineage
from featstore.lineage_export import (
    ExportFormat,
    _registry,
    export,
    format_names,
    get_format,
    register_format,
)

BUILTIN = ("json", "graphml", "dot", "mermaid")

UPPER_MODULE = """
\"\"\"A format from elsewhere: every node id, upper-cased, one a line.\"\"\"

from featstore.lineage_export import ExportFormat, register_format


def write(graph):
    return "".join(str(node).upper() + "\\n" for node in sorted(graph.nodes, key=str))


FORMAT = register_format(ExportFormat("upper", write, "node ids, upper-cased"))
"""


AT = "2024-01-01T00:00:00.000000"


def _graph() -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    graph.add_node("source:txns", kind="source", name="txns", created_at=AT, attrs={})
    graph.add_node("view:spend@1", kind="feature_view", name="spend", created_at=AT, attrs={})
    graph.add_edge("source:txns", "view:spend@1", key="feeds", kind="feeds")
    return graph


def test_builtin_formats_in_order() -> None:
    assert format_names() == BUILTIN
    assert Lineage.export_formats() == BUILTIN
    assert actions.EXPORT_FORMATS == BUILTIN


def test_cli_lists_the_registry() -> None:
    command = commands.lineage.commands["export"]
    option = next(p for p in command.params if p.name == "fmt")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == format_names()


def test_each_format_is_one_registered_module() -> None:
    """Every public module of the package that defines FORMAT is registered (a module
    added without its name in the package's __init__ fails here), and only those."""
    folder = Path(package.__file__).parent
    names = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert {"node_link", "graphml", "dot", "mermaid", "openlineage"} <= set(names)
    formats = {}
    for name in names:
        module = importlib.import_module(f"featstore.lineage_export.{name}")
        if hasattr(module, "FORMAT"):
            assert isinstance(module.FORMAT, ExportFormat)
            assert get_format(module.FORMAT.name) is module.FORMAT
            formats[name] = module.FORMAT.name
    assert formats == {
        "node_link": "json",
        "graphml": "graphml",
        "dot": "dot",
        "mermaid": "mermaid",
    }
    assert set(formats.values()) == set(format_names())


def test_writers_are_the_exports_functions() -> None:
    graph = _graph()
    assert export(graph, "dot") == exports.to_dot(graph)
    assert export(graph, "mermaid") == exports.to_mermaid(graph)
    assert export(graph, "graphml") == exports.to_graphml(graph)
    back = exports.from_node_link(json.loads(export(graph, "json")))
    assert nx.utils.graphs_equal(back, graph)


def test_unknown_format() -> None:
    with pytest.raises(fs.LineageError, match="unknown export format 'grapml'; did you mean"):
        get_format("grapml")
    with pytest.raises(fs.LineageError, match="unknown export format 'svg'; known: 'dot'"):
        export(_graph(), "svg")


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as it is, restored afterwards (by monkeypatch)."""
    monkeypatch.setattr(_registry, "_FORMATS", dict(_registry._FORMATS))


@pytest.mark.usefixtures("scratch_registry")
def test_register_format(tmp_path: Path) -> None:
    shout = ExportFormat("shout", lambda g: "!" * g.number_of_nodes(), "shout")
    assert register_format(shout) is shout
    assert register_format(shout) is shout  # the same again is fine
    assert format_names() == (*BUILTIN, "shout")
    assert export(_graph(), "shout") == "!!"
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        assert store.lineage.export_formats() == (*BUILTIN, "shout")
        assert store.lineage.export("shout", _graph()) == "!!"
    with pytest.raises(fs.LineageError, match="'json' is already registered"):
        register_format(ExportFormat("json", lambda g: "", "another json"))
    assert get_format("json") is package.node_link.FORMAT


def test_a_registered_format_reaches_the_cli(tmp_path: Path) -> None:
    (tmp_path / "upper_format.py").write_text(UPPER_MODULE)
    store = tmp_path / "store"
    raw = tmp_path / "txns.parquet"
    pl.DataFrame({"customer_id": [1], "ts": [datetime(2024, 1, 1)], "amount": [3]}).write_parquet(
        raw
    )
    with fs.FeatureStore(store, progress=False) as st:
        st.apply([fs.ParquetSource("txns", path=raw, timestamp_column="ts")])
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import upper_format  # registers "upper"
        from featstore.cli import main
        main(sys.argv[1:])
        """
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, "--store", str(store), "lineage", "export", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    helped = cli("--help")
    assert "json|graphml|dot|mermaid|upper" in helped.stdout, helped.stdout + helped.stderr
    exported = cli("--format", "upper")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == "SOURCE:TXNS\n"
