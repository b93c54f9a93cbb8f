"""Issue 8, item 17: malformed node-link documents, control characters in text exports,
and damaged Arrow schemas in catalog records all end in a FeatstoreError, never in a raw
exception, a Rust panic or a malformed file."""

from __future__ import annotations

import base64
import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import networkx as nx
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import featstore as fs
from featstore import dtypes, exports
from featstore.dtypes import decode_schema, encode_schema
from featstore.exports import GRAPHML_ESCAPE_MARKER, graphml_unescape
from featstore.lineage_export.graphml import from_graphml

AT = "2024-01-01T00:00:00.000000"
SOURCE = "source:txns"
VIEW = "view:spend@0123456789ab"

# every code point, lone surrogates included
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=20)
HOSTILE = [
    "\x00",
    "\x01",
    "\x1b",
    "\x0b",
    "\x0c",
    "\x7f",
    "\r",
    "\r\n",
    "\n",
    "\t",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\uffff",
    "\u2028",
    "\\",
    "\\u0001",
    '"',
    "'",
    "<&>]]>",
    "#quot;",
    "|`",
    GRAPHML_ESCAPE_MARKER,
]


def graph_with_path(path: str) -> nx.MultiDiGraph:
    """A source with one snapshot file at ``path`` (id, name and attrs carry the path)."""
    g = nx.MultiDiGraph()
    file_id = f"file:{path}@3f2a1c9b0d4e"
    g.add_node(SOURCE, kind="source", name="txns", created_at=AT, attrs={"path": path})
    g.add_node(file_id, kind="source_file", name=path, created_at=AT, attrs={"path": path})
    g.add_node(VIEW, kind="feature_view", name="spend", created_at=AT, attrs={})
    g.add_edge(SOURCE, file_id, key="has_snapshot", kind="has_snapshot")
    g.add_edge(SOURCE, VIEW, key="feeds", kind="feeds")
    return g


def node_link_document() -> dict[str, Any]:
    return json.loads(json.dumps(exports.to_node_link(graph_with_path("/d/t/a.parquet"))))


# -- node-link documents -----------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(doc: dict[str, Any]) -> Any:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return doc

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], Any]:
    def change(doc: dict[str, Any]) -> Any:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
        return doc

    return change


def _append(key: str, item: Any) -> Callable[[dict[str, Any]], Any]:
    def change(doc: dict[str, Any]) -> Any:
        doc[key].append(item(doc) if callable(item) else item)
        return doc

    return change


def _rename_edges(doc: dict[str, Any]) -> dict[str, Any]:
    doc["links"] = doc.pop("edges")
    return doc


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "json text": (
        json.dumps,
        r"must be a parsed JSON object \(dict\), found str; pass json\.loads",
    ),
    "bytes": (lambda d: json.dumps(d).encode(), r"found bytes; pass json\.loads"),
    "a list": (lambda d: [d], r"must be a JSON object \(dict\), found array"),
    "none": (lambda d: None, r"must be a JSON object \(dict\), found null"),
    "no nodes": (_delete(("nodes",)), r"^node-link document: missing 'nodes'$"),
    "no edges": (_delete(("edges",)), r"^node-link document: missing 'edges'$"),
    "links, not edges": (_rename_edges, r"missing 'edges'; found 'links'"),
    "nodes an object": (_set(("nodes",), {}), r"'nodes' must be an array, found object"),
    "edges a string": (_set(("edges",), "x"), r"'edges' must be an array, found string"),
    "directed false": (_set(("directed",), False), r"'directed' must be true, found False"),
    "no multigraph": (_delete(("multigraph",)), r"missing 'multigraph' \(must be true\)"),
    "graph a list": (_set(("graph",), []), r"'graph' must be an object, found array"),
    "version a number": (_set(("featstore_version",), 1), r"'featstore_version' must be a string"),
    "node a string": (
        _set(("nodes", 1), "source:x"),
        r"nodes\[1\] must be an object, found string",
    ),
    "node without id": (_delete(("nodes", 0, "id")), r"nodes\[0\] has no 'id'"),
    "numeric id": (
        _set(("nodes", 0, "id"), 7),
        r"nodes\[0\] 'id' must be a string, found number 7",
    ),
    "list id": (_set(("nodes", 0, "id"), ["a"]), r"nodes\[0\] 'id' must be a string, found array"),
    "id without prefix": (
        _set(("nodes", 0, "id"), "txns"),
        r"nodes\[0\] \(id 'txns'\) has an id that is not '<prefix>:<name>'",
    ),
    "duplicate id": (
        _set(("nodes", 2, "id"), "source:txns"),
        r"nodes\[2\] \(id 'source:txns'\) repeats the id of nodes\[0\]",
    ),
    "no kind": (_delete(("nodes", 1, "kind")), r"nodes\[1\] \(id 'file:[^)]*'\) has no 'kind'"),
    "unknown kind": (
        _set(("nodes", 0, "kind"), "sourc"),
        r"nodes\[0\] \(id 'source:txns'\) has unknown kind 'sourc'; did you mean 'source'\?",
    ),
    "name a number": (_set(("nodes", 0, "name"), 3), r"nodes\[0\] .*'name' must be a string"),
    "created_at a date": (
        _set(("nodes", 0, "created_at"), "2024-01-01"),
        r"nodes\[0\] .*'created_at' must be a UTC instant like '2024-01-01T00:00:00\.000000'",
    ),
    "attrs a list": (
        _set(("nodes", 2, "attrs"), [1]),
        r"nodes\[2\] \(id 'view:spend@0123456789ab'\) 'attrs' must be an object, found array",
    ),
    "attrs a json string": (
        _set(("nodes", 2, "attrs"), "{}"),
        r"'attrs' must be an object, found string",
    ),
    "no attrs": (_delete(("nodes", 2, "attrs")), r"nodes\[2\] .* has no 'attrs'"),
    "edge a list": (
        _set(("edges", 1), ["source:txns", VIEW]),
        r"edges\[1\] must be an object, found array",
    ),
    "unknown target": (
        _set(("edges", 1, "target"), "view:x@1"),
        r"^node-link document: edges\[1\] refers to unknown node 'view:x@1' as its target$",
    ),
    "unknown source": (
        _set(("edges", 0, "source"), "source:nope"),
        r"edges\[0\] refers to unknown node 'source:nope' as its source",
    ),
    "edge without source": (_delete(("edges", 0, "source")), r"edges\[0\] has no 'source'"),
    "numeric target": (
        _set(("edges", 0, "target"), 2),
        r"edges\[0\] 'target' must be a node id \(string\), found number 2",
    ),
    "no key": (_delete(("edges", 0, "key")), r"edges\[0\] has no 'key'"),
    "key a number": (_set(("edges", 0, "key"), 0), r"edges\[0\] 'key' must be a string"),
    "unknown edge kind": (
        _set(("edges", 0, "kind"), "feed"),
        r"edges\[0\] has unknown kind 'feed'; did you mean 'feeds'\?",
    ),
    "duplicate edge": (
        _append("edges", lambda d: dict(d["edges"][1])),
        r"edges\[2\] repeats edges\[1\] \('source:txns' -> 'view:spend@0123456789ab', key 'feeds'\)",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_from_node_link_names_what_is_wrong_and_where(case: str) -> None:
    change, message = MALFORMED[case]
    document = change(node_link_document())
    before = copy.deepcopy(document)
    with pytest.raises(fs.LineageError, match=message) as info:
        exports.from_node_link(document)
    assert isinstance(info.value, fs.FeatstoreError)
    assert info.value.__cause__ is None
    assert document == before  # the document is not touched


def test_from_node_link_accepts_only_what_it_can_read_back() -> None:
    """Every required member removed, and every member set to every JSON type: either a
    LineageError or the graph the document describes, never a raw exception."""
    document = node_link_document()
    paths: list[tuple[Any, ...]] = [(k,) for k in document]
    paths += [("nodes", i, k) for i, n in enumerate(document["nodes"]) for k in n]
    paths += [("edges", i, k) for i, e in enumerate(document["edges"]) for k in e]
    values: list[Any] = [None, True, 0, 1.5, "", "x", [], {}, ["x"], {"x": 1}]
    for path in paths:
        for change in [_delete(path), *(_set(path, v) for v in values)]:
            doc = change(copy.deepcopy(document))
            try:
                graph = exports.from_node_link(doc)
            except fs.LineageError:
                continue
            assert isinstance(graph, nx.MultiDiGraph)
            assert set(graph.nodes) == {n["id"] for n in doc["nodes"]}
            assert graph.number_of_edges() == len(doc["edges"])


def test_from_node_link_still_reads_its_own_output() -> None:
    graph = graph_with_path("/d/t/a.parquet")
    graph.graph["note"] = "kept"
    back = exports.from_node_link(json.loads(json.dumps(exports.to_node_link(graph))))
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert list(back.edges(keys=True, data=True)) == list(graph.edges(keys=True, data=True))
    assert back.graph == {"note": "kept"}


# -- GraphML -------------------------------------------------------------------------------


def _parse_graphml(text: str) -> nx.MultiDiGraph:
    ET.fromstring(text.encode("utf-8"))  # noqa: S314 (our own output): well-formed, UTF-8
    # node ids are n0, n1, ...: the featstore ids and edge keys, as written, come back
    return from_graphml(text, decode=False)


def _assert_graphml_round_trip(graph: nx.MultiDiGraph) -> None:
    back = _parse_graphml(exports.to_graphml(graph))
    nodes = {
        graphml_unescape(n): {k: graphml_unescape(v) for k, v in d.items()}
        for n, d in back.nodes(data=True)
    }
    assert set(nodes) == set(graph.nodes)
    for node, data in graph.nodes(data=True):
        got = nodes[node]
        assert (got["kind"], got["name"], got["created_at"]) == (
            data["kind"],
            data["name"],
            data["created_at"],
        )
        assert json.loads(got["attrs"]) == data["attrs"]
    edges = {
        (graphml_unescape(s), graphml_unescape(t), graphml_unescape(k), graphml_unescape(d["kind"]))
        for s, t, k, d in back.edges(keys=True, data=True)
    }
    assert edges == {(s, t, k, d["kind"]) for s, t, k, d in graph.edges(keys=True, data=True)}


@pytest.mark.parametrize("odd", HOSTILE, ids=[repr(h) for h in HOSTILE])
def test_graphml_export_is_well_formed_whatever_the_paths(odd: str) -> None:
    _assert_graphml_round_trip(graph_with_path(f"/data/in{odd}put/a{odd}.parquet"))


@settings(max_examples=200, deadline=None)
@given(path=ANY_TEXT, kind=ANY_TEXT.filter(bool))  # networkx reads an empty edge id as none
def test_graphml_export_round_trips_any_text(path: str, kind: str) -> None:
    graph = graph_with_path(path)
    graph.add_edge(SOURCE, VIEW, key=kind, kind=kind)
    _assert_graphml_round_trip(graph)


@pytest.mark.parametrize(
    "path",
    ["/d/t/a.parquet", "C:\\data\\x\\u0001.parquet", "/données/日本/🙂 a&b<c>.parquet", "/a\tb\nc"],
)
def test_graphml_leaves_ordinary_values_unchanged(path: str) -> None:
    graph = graph_with_path(path)
    text = exports.to_graphml(graph)
    assert GRAPHML_ESCAPE_MARKER not in text
    back = _parse_graphml(text)
    assert set(back.nodes) == set(graph.nodes)  # no unescaping needed
    assert back.nodes[f"file:{path}@3f2a1c9b0d4e"]["name"] == path


def test_graphml_escaping_is_documented_and_reversible() -> None:
    text = exports.to_graphml(graph_with_path("/d/a\x01\\b"))
    assert f">{GRAPHML_ESCAPE_MARKER}file:/d/a\\u0001\\\\b@3f2a1c9b0d4e</data>" in text
    assert graphml_unescape(f"{GRAPHML_ESCAPE_MARKER}file:/d/a\\u0001\\\\b@3f2a1c9b0d4e") == (
        "file:/d/a\x01\\b@3f2a1c9b0d4e"
    )
    # a value that happens to start with the marker is escaped too, so it reads back as itself
    assert graphml_unescape(exports._graphml_text(GRAPHML_ESCAPE_MARKER + "x")) == (
        GRAPHML_ESCAPE_MARKER + "x"
    )


# -- DOT -------------------------------------------------------------------------------------

_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'
_DOT_NODE = re.compile(rf"  {_DOT_STRING} \[label={_DOT_STRING}, fillcolor=\"#[0-9a-f]{{6}}\"\];")
_DOT_EDGE = re.compile(rf"  {_DOT_STRING} -> {_DOT_STRING} \[label={_DOT_STRING}\];")
_DOT_UNESCAPE = re.compile(r"\\(?:u([0-9a-f]{4})|(.))", re.DOTALL)
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\ud800-\udfff]")


def _dot_unescape(text: str) -> str:
    simple = {"n": "\n", "r": "\r", "\\": "\\", '"': '"'}
    return _DOT_UNESCAPE.sub(
        lambda m: chr(int(m.group(1), 16)) if m.group(1) else simple[m.group(2)], text
    )


def _check_dot(graph: nx.MultiDiGraph) -> None:
    text = exports.to_dot(graph)
    text.encode("utf-8")  # no lone surrogates
    assert not _RAW_CONTROL.search(text)
    lines = text.split("\n")
    assert lines[:3] == [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled"];',
    ]
    assert lines[-2:] == ["}", ""]
    body = lines[3:-2]
    nodes = [m for line in body if (m := _DOT_NODE.fullmatch(line))]
    edges = [m for line in body if (m := _DOT_EDGE.fullmatch(line))]
    assert len(nodes) + len(edges) == len(body)  # every line is one whole statement
    assert {_dot_unescape(m.group(1)) for m in nodes} == set(graph.nodes)
    assert sorted((_dot_unescape(m.group(1)), _dot_unescape(m.group(2))) for m in edges) == sorted(
        (s, t) for s, t in graph.edges()
    )


@pytest.mark.parametrize("odd", HOSTILE, ids=[repr(h) for h in HOSTILE])
def test_dot_export_is_one_statement_per_line_whatever_the_ids(odd: str) -> None:
    _check_dot(graph_with_path(f"/data/in{odd}put/a{odd}.parquet"))


@settings(max_examples=200, deadline=None)
@given(paths=st.lists(ANY_TEXT, min_size=1, max_size=4, unique=True))
def test_dot_export_keeps_distinct_ids_distinct(paths: list[str]) -> None:
    graph = nx.compose_all([graph_with_path(p) for p in paths])
    _check_dot(graph)


# -- Mermaid ---------------------------------------------------------------------------------

_MERMAID_NODE = re.compile(r'  n\d+\["([^"]*)"\]:::[A-Za-z0-9_]+')
_MERMAID_EDGE = re.compile(r'  n\d+ -->\|(?:[A-Za-z0-9_]+|"[^"|]*")\| n\d+')


def _check_mermaid(graph: nx.MultiDiGraph) -> None:
    text = exports.to_mermaid(graph)
    text.encode("utf-8")
    assert not _RAW_CONTROL.search(text)
    lines = text.split("\n")
    assert lines[0] == "flowchart LR"
    assert lines[-1] == ""
    body = [line for line in lines[1:-1] if not line.startswith("  classDef ")]
    nodes = [m for line in body if (m := _MERMAID_NODE.fullmatch(line))]
    edges = [line for line in body if _MERMAID_EDGE.fullmatch(line)]
    assert len(nodes) == graph.number_of_nodes()
    assert len(edges) == graph.number_of_edges()
    assert len(nodes) + len(edges) == len(body)
    for m in nodes:  # no HTML but the line breaks, no Markdown string
        assert "<" not in m.group(1).replace("<br/>", "")
        assert ">" not in m.group(1).replace("<br/>", "")
        assert "`" not in m.group(1)


@pytest.mark.parametrize("odd", HOSTILE, ids=[repr(h) for h in HOSTILE])
def test_mermaid_export_is_one_statement_per_line_whatever_the_labels(odd: str) -> None:
    graph = graph_with_path(f"/data/in{odd}put/a{odd}.parquet")
    graph.add_node(f"view:odd{odd}@1", kind=f"k{odd}", name="odd", created_at=AT, attrs={})
    graph.add_edge(SOURCE, f"view:odd{odd}@1", key="x", kind=f"feeds{odd} (x)")
    _check_mermaid(graph)


def test_mermaid_labels_show_the_text_as_written() -> None:
    graph = graph_with_path('/d/a "b" #1 <b>c|`d`.parquet')
    text = exports.to_mermaid(graph)
    assert '["source_file<br/>a #quot;b#quot; #35;1 #lt;b#gt;c#124;#96;d#96;.parquet"]' in text
    assert exports.to_mermaid(graph_with_path("/d/a.parquet")).splitlines()[1] == (
        '  n0["source_file<br/>a.parquet"]:::source_file'
    )


def test_dot_and_mermaid_survive_odd_attribute_types() -> None:
    graph = graph_with_path("/d/a.parquet")
    graph.add_node("file:/x@1", kind="source_file", name="x", created_at=AT, attrs=[1])
    graph.add_node("file:/y@1", kind="source_file", name="y", created_at=AT, attrs={"path": 3})
    graph.add_edge("file:/x@1", "file:/y@1", key="read_by", kind="read_by")
    _check_dot(graph)
    _check_mermaid(graph)


# -- Arrow schemas in catalog records -------------------------------------------------------


def _b64(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


_ENUM = pa.dictionary(pa.uint8(), pa.large_string(), ordered=True)
DAMAGED: dict[str, tuple[str, str]] = {
    "schema metadata not utf-8": (
        _b64(pa.schema([pa.field("a", pa.int64())], metadata={b"\xff": b"\xfe"})),
        r"has schema metadata that is not UTF-8 \(key b'\\xff'\)",
    ),
    "schema metadata value not utf-8": (
        _b64(pa.schema([pa.field("a", pa.int64())], metadata={b"origin": b"\xfe"})),
        r"has schema metadata that is not UTF-8 \(key b'origin', value b'\\xfe'\)",
    ),
    "field metadata not utf-8": (
        _b64(pa.schema([pa.field("a", pa.int64(), metadata={b"\xff": b"x"})])),
        r"has metadata on field 'a' that is not UTF-8",
    ),
    "struct child metadata": (
        _b64(
            pa.schema(
                [pa.field("s", pa.struct([pa.field("x", pa.int8(), metadata={b"k": b"\xff"})]))]
            )
        ),
        r"has metadata on field 's\.x' that is not UTF-8",
    ),
    "list item metadata": (
        _b64(
            pa.schema(
                [pa.field("l", pa.large_list(pa.field("item", pa.int8(), metadata={b"\x80": b""})))]
            )
        ),
        r"has metadata on field 'l\.item' that is not UTF-8",
    ),
    "extension metadata": (
        _b64(
            pa.schema(
                [
                    pa.field(
                        "a",
                        pa.int8(),
                        metadata={
                            b"ARROW:extension:name": b"x",
                            b"ARROW:extension:metadata": b"\xff",
                        },
                    )
                ]
            )
        ),
        r"has metadata on field 'a' that is not UTF-8",
    ),
    "garbage polars enum metadata": (
        _b64(pa.schema([pa.field("e", _ENUM, metadata={b"_PL_ENUM_VALUES2": b"99;a"})])),
        r"cannot be read by Polars \(PanicException: ",
    ),
    "type polars cannot read": (
        _b64(pa.schema([pa.field("i", pa.month_day_nano_interval())])),
        r"cannot be read by Polars \(PanicException: ",
    ),
    "duplicate columns": (
        _b64(pa.schema([pa.field("a", pa.int64()), pa.field("a", pa.int8())])),
        r"cannot be read by Polars \(DuplicateError: ",
    ),
    "field name not utf-8": (
        base64.b64encode(
            pa.schema([pa.field("ab", pa.int8())])
            .serialize()
            .to_pybytes()
            .replace(b"ab", b"\xff\xfe")
        ).decode(),
        r"has a field name that is not UTF-8",
    ),
    "garbage base64": ("%%% not base64 %%%", r"is not base64 text"),
    "base64 of text": (base64.b64encode(b"hello world").decode(), r"is not an Arrow IPC schema"),
    "truncated": (_b64(pa.schema([pa.field("a", pa.int64())]))[:20], r"is not an Arrow IPC schema"),
    "empty": ("", r"is not an Arrow IPC schema"),
    "not text": (12, r"is not base64 text but int 12"),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_arrow_schema_is_a_catalog_error_never_a_panic(case: str) -> None:
    text, problem = DAMAGED[case]
    with pytest.raises(fs.CatalogError, match=problem) as info:
        decode_schema(text)
    message = str(info.value)
    assert message.startswith("the catalog record is damaged: its arrow_schema ")
    assert message.endswith("; re-apply the view")


def test_a_damaged_arrow_schema_names_its_record() -> None:
    with pytest.raises(
        fs.CatalogError,
        match=r"^the catalog record of feature view 'spend' is damaged: its arrow_schema has "
        r"schema metadata that is not UTF-8 .*; re-apply the view$",
    ):
        decode_schema(DAMAGED["schema metadata not utf-8"][0], context="feature view 'spend'")


def test_decoded_schemas_ignore_foreign_metadata() -> None:
    schema = pa.schema(
        [pa.field("a", pa.int64(), metadata={b"comment": b"ok"})],
        metadata={b"pandas": b"{}", b"origin": b"elsewhere"},
    )
    assert decode_schema(_b64(schema)) == {"a": pl.Int64()}


SCHEMA = {
    "when": pl.Datetime("us", "America/New_York"),
    "price": pl.Decimal(10, 2),
    "tags": pl.List(pl.String),
    "point": pl.Struct({"x": pl.Int32, "y": pl.List(pl.Enum(["p", "q"]))}),
    "color": pl.Categorical(),
    "level": pl.Enum(["low", "high"]),
    "fixed": pl.Array(pl.Int8, 3),
    "small": pl.Int16(),
}


def test_encoded_schemas_carry_only_polars_dtype_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever metadata Polars' Arrow export adds, the record keeps only what Polars needs
    to rebuild the dtypes (an Enum's categories), and decodes to the same dtypes."""
    to_arrow = pl.DataFrame.to_arrow

    def noisy(frame: pl.DataFrame, *args: Any, **kwargs: Any) -> pa.Table:
        table = to_arrow(frame, *args, **kwargs)
        fields = [f.with_metadata({**(f.metadata or {}), b"note": b"x"}) for f in table.schema]
        return table.cast(pa.schema(fields, metadata={b"written_by": b"polars"}))

    monkeypatch.setattr(pl.DataFrame, "to_arrow", noisy)
    text = encode_schema(dict(SCHEMA))
    monkeypatch.undo()
    arrow = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    assert arrow.metadata is None
    for field in arrow:
        assert all(key.startswith(b"_PL_") for key in field.metadata or {}), field
    assert arrow.field("small").metadata is None
    decoded = decode_schema(text)
    assert list(decoded) == list(SCHEMA)
    for name, dtype in SCHEMA.items():
        assert decoded[name] == dtype, name


def test_only_panics_become_catalog_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    text = encode_schema({"a": pl.Int64()})

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(dtypes.pl, "from_arrow", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decode_schema(text)
