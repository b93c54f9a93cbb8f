"""Notebook displays: ``_repr_html_`` is well-formed, escaped HTML holding the object's
values (never a base64 blob), ``__repr__`` is one short line, and the list and dict
subclasses lineage queries return still equal what they returned before."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import types
from collections import Counter
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import networkx as nx
import polars as pl
import pytest
from lineage_helpers import World, world_fixture

import featstore as fs
from featstore import display, progress
from featstore.coverage import ViewCoverage
from featstore.dtypes import encode_schema
from featstore.lineage_ids import NODE_KINDS

world = world_fixture("display")

HOSTILE = "<script>alert('x')</script>"
VOID = {"br", "hr", "img", "meta", "input", "link", "col", "wbr"}
BLOB = re.compile(r"[A-Za-z0-9+/]{60,}={0,2}")
HEX = re.compile(r"[0-9a-f]+")


class _Tables(HTMLParser):
    """Checks that tags balance, and collects every table as rows of cell texts (the
    text of a cell includes the text of tables nested in it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._open: list[list[list[str]]] = []  # the tables being read, innermost last
        self._cells: list[list[str]] = []  # the open cells' texts
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self._open.append([])
        elif tag == "tr" and self._open:
            self._open[-1].append([])
        elif tag in ("td", "th"):
            self._cells.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "table":
            self.tables.append(self._open.pop())
        elif tag in ("td", "th"):
            text = "".join(self._cells.pop())
            for outer in self._cells:
                outer.append(text)
            if self._open and self._open[-1]:
                self._open[-1][-1].append(text)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cells:
            self._cells[-1].append(data)


def parse(markup: str) -> _Tables:
    """The parsed display; fails unless it is well-formed, escaped and blob-free."""
    parser = _Tables()
    parser.feed(markup)
    parser.close()
    assert not parser.errors, parser.errors
    assert not parser.stack, f"unclosed tags: {parser.stack}"
    assert "<script" not in markup
    blobs = [m for m in BLOB.findall(markup) if not HEX.fullmatch(m)]
    assert not blobs, blobs
    return parser


def table_with(parsed: _Tables, *header: str) -> list[list[str]]:
    """The first table whose first row starts with ``header``."""
    for rows in parsed.tables:
        if rows and rows[0][: len(header)] == list(header):
            return rows
    raise AssertionError(f"no table with header {header}: {[t[:1] for t in parsed.tables]}")


def kv(parsed: _Tables) -> dict[str, str]:
    """Every key/value row of every table (two cells), first occurrence wins."""
    out: dict[str, str] = {}
    for rows in parsed.tables:
        for row in rows:
            if len(row) == 2:
                out.setdefault(row[0], row[1])
    return out


def check_repr(obj: object) -> str:
    text = repr(obj)
    assert "\n" not in text
    assert len(text) < 200, text
    return text


# -- the helpers ---------------------------------------------------------------------


def test_helpers_escape_format_and_count() -> None:
    markup = display.table(["a", HOSTILE], [[HOSTILE, 1234567], [None, 0.5]], total=5)
    parsed = parse(markup)
    rows = parsed.tables[0]
    assert rows[0] == ["a", HOSTILE]
    assert rows[1] == [HOSTILE, "1,234,567"]
    assert rows[2] == [display.NULL, "0.5"]
    assert "3 more rows" in rows[3][0]
    nested = parse(display.kv_table([("outer", {"inner": HOSTILE, "n": [1, 2]})]))
    assert kv(nested)["inner"] == HOSTILE
    assert kv(nested)["n"] == "1, 2"
    assert display.shape_line(1, 3) == "1 row \u00d7 3 columns"
    assert display.fmt(datetime(2024, 1, 2)) == "2024-01-02"
    assert display.fmt("QUJD" * 30).startswith("(base64 data")
    assert display.fmt("ab" * 40) == "ab" * 40  # a hex digest is no blob
    assert display.one_line("a\nb" + "c" * 300).startswith("a b")
    assert len(display.one_line("x" * 300)) == display.REPR_LIMIT


# -- RetrievalResult -----------------------------------------------------------------


def test_retrieval_result(world: World) -> None:
    result = world.result
    frame = result.to_polars()
    parsed = parse(result._repr_html_())
    text = "".join(parsed.text)
    assert display.shape_line(frame.height, frame.width) in text
    coverage = table_with(parsed, "view", "version", "rows with a value")
    shown = {row[0]: row for row in coverage[1:]}
    for item in result.manifest["features"]:
        # independently: the rows with a value in any of the view's columns
        matched = frame.select(pl.any_horizontal(pl.col(item["columns"]).is_not_null())).sum()
        assert shown[item["view"]][1] == item["version"]
        assert shown[item["view"]][2] == str(matched.item())
        assert shown[item["view"]][3] == str(frame.height)
    assert [r[2] for r in coverage[1:]] == ["4", "5"]  # customer 2 before any transaction
    first = table_with(parsed, *frame.columns)
    assert first[1] == [display.fmt(v) for v in frame.row(0)]
    assert len(first) == 1 + frame.height
    line = check_repr(result)
    assert f"{frame.height:,} rows" in line
    assert result.content_id in line


def test_retrieval_result_shows_only_the_head(world: World) -> None:
    frame = pl.DataFrame({HOSTILE: list(range(25_000)), "v": [0.5] * 25_000})
    cov = ViewCoverage(HOSTILE, "abc", 25_000, 12_345, 1, None, None, None, None)
    big = fs.RetrievalResult(frame, {"content_id": HOSTILE, "mode": "historical"}, (cov,))
    parsed = parse(big._repr_html_())
    first = table_with(parsed, HOSTILE, "v")
    assert len(first) == 1 + 10 + 1  # header, ten rows, the "more rows" note
    assert "24,990 more rows" in first[-1][0]
    assert table_with(parsed, "view")[1][:4] == [HOSTILE, "abc", "12,345", "25,000"]
    assert check_repr(big).startswith("RetrievalResult(25,000 rows x 2 columns")


# -- FeatureView ---------------------------------------------------------------------


def test_feature_view(world: World) -> None:
    view = fs.FeatureView(
        "spend_hostile",
        entity=world.customer,
        source=world.txn_source,
        features=["amount", HOSTILE],
        schema={"amount": pl.Int64, HOSTILE: pl.Float32},
        ttl=timedelta(days=30),
        description=HOSTILE,
        owner="ana@example.com",
        tags={"team": HOSTILE},
    )
    parsed = parse(view._repr_html_())
    facts = kv(parsed)
    assert facts["version"] == view.version
    assert facts["entity"] == "customer (keys: customer_id)"
    assert facts["source"] == "txns (parquet)"
    assert facts["ttl"] == "30 days, 0:00:00"
    assert facts["description"] == HOSTILE
    assert facts["team"] == HOSTILE
    assert table_with(parsed, "feature", "dtype")[1:] == [["amount", "Int64"], [HOSTILE, "Float32"]]
    line = check_repr(view)
    assert view.version in line
    assert "amount" in line
    plain = parse(world.spend._repr_html_())
    assert table_with(plain, "feature", "dtype")[1] == ["amount", display.NULL]


# -- TrainingSet and ModelVersion ----------------------------------------------------


def test_training_set(world: World) -> None:
    ts = world.training_set
    parsed = parse(ts._repr_html_())
    facts = kv(parsed)
    assert facts["name"] == ts.name
    assert facts["content id"] == ts.content_id
    assert facts["rows"] == str(ts.rows)
    assert facts["feature columns"] == ", ".join(ts.manifest.columns)
    manifest = table_with(parsed, "view", "version", "features", "columns", "runs")
    runs = {r.view: r.run_id for r in world.runs.values()}
    expected = [
        [f.view, f.version, ", ".join(f.features), ", ".join(f.columns), runs[f.view], "3"]
        for f in ts.manifest.features
    ]
    assert manifest[1:] == expected
    hostile = dataclasses.replace(ts, relative_path=HOSTILE)
    assert kv(parse(hostile._repr_html_()))["file"] == HOSTILE
    assert ts.content_id in check_repr(ts)


def test_model_version(world: World) -> None:
    model = world.model
    parsed = parse(model._repr_html_())
    facts = kv(parsed)
    assert facts["name"] == "churn"
    assert facts["version"] == "1"
    assert facts["training set"] == world.training_set.id
    assert facts["registered at"].startswith(model.created_at[:10])
    assert facts["aliases"].startswith("not looked up")
    assert table_with(parsed, "metric", "value")[1:] == [["auc", "0.81"], ["logloss", "0.4"]]
    known = dataclasses.replace(model, aliases=("production", HOSTILE))
    assert kv(parse(known._repr_html_()))["aliases"] == f"production, {HOSTILE}"
    assert known == model  # aliases are not part of the identity
    assert known.to_json() == model.to_json()
    tagged = dataclasses.replace(model, tags={HOSTILE: "x"}, params={"p": HOSTILE})
    facts = kv(parse(tagged._repr_html_()))
    assert facts[HOSTILE] == "x"
    assert facts["p"] == HOSTILE
    line = check_repr(model)
    assert "model:churn@1" in line
    assert "auc=0.81" in line


# -- lineage: NodeList, Node, Explanation --------------------------------------------


def _old_upstream(world: World, node_id: str) -> list[fs.Node]:
    """The plain list the query returned before: ancestors in kind order, then id."""
    graph = world.store.lineage.graph
    ids = sorted(
        nx.ancestors(graph, node_id), key=lambda i: (NODE_KINDS.index(graph.nodes[i]["kind"]), i)
    )
    return [world.store.lineage.node(i) for i in ids]


def test_node_list_is_the_old_list(world: World) -> None:
    lineage = world.store.lineage
    found = lineage.upstream(world.batch.id)
    old = _old_upstream(world, world.batch.id)
    assert type(found) is fs.NodeList
    assert isinstance(found, list)
    assert found == old
    assert old == found
    assert lineage.upstream(world.batch.id, kinds=[]) == []
    assert type(lineage.downstream("source:txns", kinds="model_version")) is fs.NodeList
    lineage.load()
    try:
        loaded = lineage.upstream(world.batch.id)
        assert type(loaded) is fs.NodeList
        assert loaded == old
    finally:
        lineage.unload()


def test_node_list_display(world: World) -> None:
    found = world.store.lineage.upstream(world.batch.id)
    rows = table_with(parse(found._repr_html_()), "kind", "id", "name", "created")[1:]
    assert [r[:3] for r in rows] == [[n.kind, n.id, n.name] for n in found]
    assert all(r[3] == n.created_at.replace("T", " ") for r, n in zip(rows, found, strict=True))
    line = check_repr(found)
    counts = Counter(n.kind for n in found)
    assert line.startswith(f"NodeList({len(found)} nodes: {counts['source']} source, ")
    assert f"{counts['source_file']} source_file" in line
    assert found[0].id in line
    assert repr(fs.NodeList()) == "NodeList(0 nodes)"


def test_node_display_decodes_schemas_and_hides_blobs() -> None:
    schema = encode_schema({"amount": pl.Int64(), HOSTILE: pl.Datetime("us", "UTC")})
    other = "QUJD" * 40  # base64, but no schema
    node = fs.Node(
        "view:spend@abc123",
        "feature_view",
        HOSTILE,
        "2024-01-31T00:00:00.000000",
        {"arrow_schema": schema, "blob": other, "nested": {"k": [1, 2]}},
    )
    markup = node._repr_html_()
    assert schema not in markup
    assert other not in markup
    parsed = parse(markup)
    facts = kv(parsed)
    assert facts["name"] == HOSTILE
    assert facts["created"] == "2024-01-31 00:00:00"
    assert facts["amount"] == "Int64"
    assert facts[HOSTILE] == "Datetime(time_unit='us', time_zone='UTC')"
    assert facts["blob"] == f"(base64 data, {len(other)} characters)"
    assert facts["k"] == "1, 2"
    assert node.attrs["arrow_schema"] == schema  # the node itself is unchanged


def test_node_display_of_every_kind(world: World) -> None:
    for node in world.store.lineage.upstream(world.batch.id):
        facts = kv(parse(node._repr_html_()))
        assert facts["id"] == node.id
        assert facts["kind"] == node.kind


def test_explanation(world: World) -> None:
    ex = world.store.lineage.explain(world.batch.id, 0)
    assert type(ex) is fs.Explanation
    assert isinstance(ex, dict)
    plain = dict(ex)
    assert ex == plain
    assert json.dumps(ex, default=str, sort_keys=True) == json.dumps(
        plain, default=str, sort_keys=True
    )
    assert json.loads(json.dumps(ex, default=str)) == json.loads(json.dumps(plain, default=str))
    parsed = parse(ex._repr_html_())
    facts = kv(parsed)
    assert facts["id"] == "model:churn@1"
    header = ["feature", "view", "value", "event time", "view version", "run", "source files"]
    rows = table_with(parsed, *header)[1:]
    assert len(rows) == len(ex["features"])
    by_path = {f["path"]: f for f in ex["source_files"]}
    for row, item in zip(rows, ex["features"], strict=True):
        assert row[:6] == [
            item["feature"],
            item["view"],
            display.fmt(item["value"]),
            display.fmt(item["event_timestamp"]),
            item["view_version"],
            item["run"],
        ]
        raw = world.raw_files[{"spend": "txns", "profile": "profiles"}[item["view"]]]
        files = [p for p in by_path if p.startswith(str(raw))]
        assert files
        for path in files:  # each raw file with its fingerprint and whether it is unchanged
            assert path in row[6]
            assert by_path[path]["sha256"][:12] in row[6]
            assert "yes" in row[6]
    files = table_with(parsed, "file", "size", "rows", "sha256", "unchanged")[1:]
    assert sorted(r[0] for r in files) == sorted(by_path)
    assert world.training_set.id in "".join(parsed.text)
    assert "model:churn@1" in check_repr(ex)


# -- monitoring reports --------------------------------------------------------------


def test_monitoring_reports(world: World) -> None:
    store = world.store
    reports = [
        world.extra["drift"],
        world.extra["skew"],
        world.extra["evaluation"],
        store.statistics(world.training_set),
        store.performance("churn", every="1w"),
        store.compare([world.model], world.training_set, n_boot=20),
    ]
    for report in reports:
        parse(report._repr_html_())
        check_repr(report)


# -- progress ------------------------------------------------------------------------


def test_text_progress_writes_at_most_one_line_per_interval() -> None:
    out = io.StringIO()
    with progress.progress_bars(
        {"spend": 100, HOSTILE: 2}, mode="text", stream=out, interval=60
    ) as advance:
        for _ in range(100):
            advance("spend")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first step, then the final state
    assert lines[0].startswith("materialize spend: 1/100 (1%)")
    assert lines[-1].startswith(f"materialize spend: 100/100 (100%); {HOSTILE}: 0/2 (0%)")


def test_notebook_progress_without_ipython_is_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    assert not progress.in_notebook()
    out = io.StringIO()
    with progress.progress_bars({"v": 1}, mode="notebook", stream=out) as advance:
        advance("v")
    assert out.getvalue().startswith("materialize v: 1/1 (100%)")


def test_notebook_progress_updates_an_html_display(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(obj.data)

    class HTML:
        def __init__(self, data: str) -> None:
            self.data = data

    def show(obj: HTML, display_id: bool) -> Handle:
        assert display_id
        shown.append(obj.data)
        return Handle()

    kernel = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: kernel  # type: ignore[attr-defined]
    ipy_display = types.ModuleType("IPython.display")
    ipy_display.HTML = HTML  # type: ignore[attr-defined]
    ipy_display.display = show  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipy_display)
    assert progress.in_notebook()
    assert progress.wanted(io.StringIO())
    with progress.progress_bars({HOSTILE: 3}, interval=60) as advance:
        for _ in range(3):
            advance(HOSTILE)
    assert len(shown) == 3  # the empty bar, the first step, the final state
    for markup in shown:
        parse(markup)
    assert '<progress max="3" value="0">' in shown[0]
    assert '<progress max="3" value="3">' in shown[-1]
    assert "3/3 (100%)" in shown[-1]
