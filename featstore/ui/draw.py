"""Pictures of a lineage neighbourhood: one self-contained HTML explorer (data embedded,
opens from disk, nothing from the network), an SVG, or a PNG through Graphviz.

All three use the explorer's layered layout (:func:`layout`, the same algorithm as
``explorer.js``): one column per kind of node, sources left, predictions and reports
right, rows ordered by two barycentre sweeps; linear in the size of the picture.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from featstore.errors import FeatstoreError, LineageError
from featstore.lineage_ids import NodeKind
from featstore.ui.graph import GraphSource, kind_noun

__all__ = [
    "DRAW_FORMATS",
    "DrawError",
    "draw",
    "layout",
    "offline_data",
    "render_html",
    "render_svg",
]

DRAW_FORMATS = ("html", "svg", "png")
NODE_W, NODE_H, COL_GAP, ROW_GAP = 210, 40, 70, 14
MAX_EMBEDDED = 3000  # nodes an HTML file embeds at most (initial view and expansions)

COLORS = {
    "source": "#4c78a8",
    "source_file": "#72b7b2",
    "feature_view": "#54a24b",
    "feature_service": "#88d27a",
    "materialization_run": "#eeca3b",
    "training_set": "#f58518",
    "model_version": "#e45756",
    "prediction_batch": "#b279a2",
    "label_batch": "#ff9da6",
    "evaluation": "#9d755d",
    "drift_report": "#bab0ac",
    "skew_report": "#d6a5c9",
    "group": "#cfd8e3",
}


class DrawError(FeatstoreError):
    """A lineage picture cannot be drawn (unknown format, a renderer missing)."""


def _static(name: str) -> str:
    return resources.files("featstore.ui").joinpath("static", name).read_text(encoding="utf-8")


def _color(node: dict[str, Any]) -> str:
    return COLORS.get(node["member_kind"] if node["kind"] == "group" else node["kind"], "#cccccc")


def layout(
    nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]]
) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Top-left corners of the nodes, and the picture's width and height (explorer.js's
    ``layout``, the same columns and order)."""
    layers = sorted({n["layer"] for n in nodes})
    column = {layer: i for i, layer in enumerate(layers)}
    cols: list[list[dict[str, Any]]] = [[] for _ in layers]
    for n in nodes:
        cols[column[n["layer"]]].append(n)
    layer_of = {n["id"]: column[n["layer"]] for n in nodes}
    nbr: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for e in edges:
        if e["source"] in nbr and e["target"] in nbr:
            nbr[e["source"]].append(e["target"])
            nbr[e["target"]].append(e["source"])
    rank = {n["id"]: i for c in cols for i, n in enumerate(c)}

    def sweep(order: Sequence[int]) -> None:
        for ci in order:
            c = cols[ci]
            bary = {}
            for n in c:
                others = [m for m in nbr[n["id"]] if layer_of[m] != ci]
                bary[n["id"]] = (
                    sum(rank[m] for m in others) / len(others) if others else rank[n["id"]]
                )
            c.sort(key=lambda n: (bary[n["id"]], n["id"]))
            for i, n in enumerate(c):
                rank[n["id"]] = i

    sweep(range(1, len(cols)))
    sweep(range(len(cols) - 2, -1, -1))
    tallest = max([1, *(len(c) for c in cols)])
    pos: dict[str, tuple[float, float]] = {}
    for ci, c in enumerate(cols):
        offset = (tallest - len(c)) * (NODE_H + ROW_GAP) / 2
        for i, n in enumerate(c):
            pos[n["id"]] = (ci * (NODE_W + COL_GAP), offset + i * (NODE_H + ROW_GAP))
    return pos, len(cols) * (NODE_W + COL_GAP) - COL_GAP, tallest * (NODE_H + ROW_GAP) - ROW_GAP


def _clip(value: Any, n: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _static_sub(node: dict[str, Any]) -> str:
    """A node's second line in a picture, where nothing can be clicked."""
    if node["kind"] == "group":
        return "grouped: open them in the explorer"
    return str(node["sub"])


def render_svg(data: dict[str, Any], *, title: str | None = None) -> str:
    """A static SVG of one explorer response (``graph``): nodes coloured by kind, a
    legend, arrows pointing downstream."""
    nodes, edges = data["nodes"], data["edges"]
    pos, width, height = layout(nodes, edges)
    pad, head, legend_h = 20, 34 if title else 10, 30
    kinds = list(
        dict.fromkeys(n["member_kind"] if n["kind"] == "group" else n["kind"] for n in nodes)
    )
    legend_w = sum(24 + 7 * len(kind_noun(k)) for k in kinds)
    total_w = max(width, legend_w) + 2 * pad
    total_h = height + 2 * pad + head + legend_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
        f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="DejaVu Sans, Arial, sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#829ab1"/></marker></defs>',
        f'<rect width="{total_w:.0f}" height="{total_h:.0f}" fill="#ffffff"/>',
    ]
    if title:
        out.append(
            f'<text x="{pad}" y="{pad + 12}" font-size="15" font-weight="bold" fill="#102a43">'
            f"{html.escape(title)}</text>"
        )
    ox, oy = pad, pad + head
    out.append(f'<g transform="translate({ox},{oy})">')
    for e in edges:
        if e["source"] not in pos or e["target"] not in pos:
            continue
        (ax, ay), (bx, by) = pos[e["source"]], pos[e["target"]]
        x1, y1, x2, y2 = ax + NODE_W, ay + NODE_H / 2, bx, by + NODE_H / 2
        if x2 <= x1:  # within one column: a loop below
            d = (
                f"M{ax + NODE_W / 2},{ay + NODE_H} C{ax + NODE_W / 2},{ay + NODE_H + 40} "
                f"{bx + NODE_W / 2},{by + NODE_H + 40} {bx + NODE_W / 2},{by + NODE_H}"
            )
        else:
            d = f"M{x1},{y1} C{x1 + COL_GAP / 2},{y1} {x2 - COL_GAP / 2},{y2} {x2},{y2}"
        out.append(
            f'<path d="{d}" fill="none" stroke="#829ab1" stroke-width="1.3" '
            f'marker-end="url(#arrow)"><title>{html.escape(e["kind"])}</title></path>'
        )
    center = data.get("center")
    for n in nodes:
        x, y = pos[n["id"]]
        stroke = (
            ' stroke="#102a43" stroke-width="2.5"' if n["id"] == center else ' stroke="#7b8794"'
        )
        dash = ' stroke-dasharray="4 3"' if n["kind"] == "group" else ""
        out.append(
            f'<g transform="translate({x},{y})"><title>{html.escape(n["id"])}</title>'
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="7" fill="{_color(n)}"{stroke}{dash}/>'
            f'<text x="9" y="17" font-size="12" font-weight="bold" fill="#102a43">'
            f"{html.escape(_clip(n['label'], 30))}</text>"
            f'<text x="9" y="32" font-size="10.5" fill="#243b53">'
            f"{html.escape(_clip(_static_sub(n), 36))}</text></g>"
        )
    out.append("</g>")
    lx, ly = pad, oy + height + pad
    for k in kinds:
        out.append(
            f'<rect x="{lx}" y="{ly}" width="12" height="12" rx="3" fill="{COLORS.get(k, "#ccc")}" '
            f'stroke="#7b8794"/><text x="{lx + 17}" y="{ly + 10.5}" font-size="11" '
            f'fill="#243b53">{html.escape(kind_noun(k))}</text>'
        )
        lx += 24 + 7 * len(kind_noun(k))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _dot(data: dict[str, Any], title: str | None) -> str:
    """Graphviz DOT with every node pinned where :func:`layout` put it (``neato -n2``)."""
    nodes, edges = data["nodes"], data["edges"]
    pos, _, height = layout(nodes, edges)

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    names = {n["id"]: f"n{i}" for i, n in enumerate(nodes)}
    lines = [
        "digraph lineage {",
        '  graph [splines=true, outputorder=edgesfirst, pad=0.3, bgcolor="white"'
        + (f', label={q(title)}, labelloc=t, fontsize=16, fontname="DejaVu Sans"' if title else "")
        + "];",
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=10, '
        f'fixedsize=true, width={NODE_W / 72:.3f}, height={NODE_H / 72:.3f}, color="#7b8794"];',
        '  edge [color="#829ab1", arrowsize=0.7];',
    ]
    for n in nodes:
        x, y = pos[n["id"]]
        label = _clip(n["label"], 30) + "\n" + _clip(_static_sub(n), 36)
        extra = ', style="rounded,filled,dashed"' if n["kind"] == "group" else ""
        lines.append(
            f'  {names[n["id"]]} [label={q(label)}, fillcolor="{_color(n)}", '
            f'pos="{x + NODE_W / 2:.1f},{height - y - NODE_H / 2 + 40:.1f}"{extra}];'
        )
    # the legend: one small box per kind, in a row below the picture
    lx = 0.0
    kinds = list(
        dict.fromkeys(n["member_kind"] if n["kind"] == "group" else n["kind"] for n in nodes)
    )
    for i, k in enumerate(kinds):
        noun = kind_noun(k)
        w = 14 + 6.5 * len(noun)
        lines.append(
            f'  legend{i} [label={q(noun)}, fillcolor="{COLORS.get(k, "#cccccc")}", fontsize=9, '
            f'width={w / 72:.3f}, height={18 / 72:.3f}, pos="{lx + w / 2:.1f},9"];'
        )
        lx += w + 8
    for e in edges:
        if e["source"] in names and e["target"] in names:
            lines.append(f"  {names[e['source']]} -> {names[e['target']]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(data: dict[str, Any], *, title: str | None = None) -> bytes:
    """A PNG of one explorer response, rendered by Graphviz (the ``draw`` extra and the
    ``dot`` program)."""
    try:
        import graphviz  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise DrawError(
            "a PNG needs the graphviz package: pip install 'featstore[draw]' (and Graphviz's "
            "programs, e.g. apt-get install graphviz); or draw to .svg or .html, which need "
            "nothing extra"
        ) from None
    try:
        source = graphviz.Source(_dot(data, title), engine="neato")
        png: bytes = source.pipe(format="png", neato_no_op=2, quiet=True)
    except graphviz.ExecutableNotFound:
        raise DrawError(
            "a PNG needs Graphviz's programs on PATH (e.g. apt-get install graphviz); or draw "
            "to .svg or .html, which need nothing extra"
        ) from None
    return png


def offline_data(source: GraphSource, node: str, up: int, down: int) -> dict[str, Any]:
    """What a drawn HTML file embeds: the explorer's responses for the first view, the
    expansion of every node it shows and of the nodes those expansions add (up to
    :data:`MAX_EMBEDDED` nodes), each node's details, each group's first page, and the
    explanation of the first rows of each prediction batch shown."""
    first = source.neighbourhood(node, up, down)
    responses: dict[str, Any] = {f"graph:{first['center']}": first}
    seen: set[str] = set()
    todo = [n for n in first["nodes"]]
    rounds = 0
    while todo and rounds < 2:
        rounds += 1
        nxt: list[dict[str, Any]] = []
        for n in todo:
            if n["id"] in seen or len(seen) >= MAX_EMBEDDED:
                continue
            seen.add(n["id"])
            if n["kind"] == "group":
                key = f"group:{n['anchor']}|{n['side']}|{n['member_kind']}|0"
                got = source.group(n["anchor"], n["side"], n["member_kind"])
            else:
                key = f"expand:{n['id']}"
                got = source.expand(n["id"])
                responses[f"node:{n['id']}"] = source.node(n["id"])
            responses[key] = got
            nxt.extend(m for m in got["nodes"] if m["id"] not in seen)
        todo = nxt
    # the view from each node of the first one, while the file stays small
    embedded = sum(len(r["nodes"]) for r in responses.values() if "nodes" in r)
    for n in first["nodes"]:
        if n["kind"] == "group" or embedded >= MAX_EMBEDDED * 4:
            continue
        view = source.neighbourhood(n["id"], up, down)
        responses[f"graph:{n['id']}"] = view
        embedded += len(view["nodes"])
    for n in first["nodes"]:
        if n["kind"] != NodeKind.PREDICTION_BATCH:
            continue
        for row in range(3):
            try:
                responses[f"explain:{n['id']}#{row}"] = source.explain(n["id"], row)
            except FeatstoreError:
                break
    return {"start": first["center"], "up": up, "down": down, "responses": responses}


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(data: dict[str, Any], *, title: str) -> str:
    """One self-contained HTML file: the explorer, its style and the embedded data."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">"
        "<style>html,body{margin:0;height:100%}#explorer{height:100vh}"
        + _static("explorer.css")
        + '</style></head><body><div id="explorer"></div>'
        + '<script id="featstore-data" type="application/json">'
        + _script_json(data)
        + "</script><script>"
        + _static("explorer.js")
        + "</script><script>(function(){var data=JSON.parse(document.getElementById("
        "'featstore-data').textContent);window.FeatstoreExplorer.mount("
        "document.getElementById('explorer'),{api:window.FeatstoreExplorer.offlineApi(data),"
        "start:data.start,up:data.up,down:data.down});})();</script></body></html>\n"
    )


def _write_atomic(out: Path, payload: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def draw(
    source: GraphSource, node: str, out: str | os.PathLike[str], *, up: int = 2, down: int = 2
) -> dict[str, Any]:
    """Draw ``node``'s neighbourhood (``up`` hops of ancestors, ``down`` of descendants)
    to ``out``, whose suffix picks the format: ``.html``, ``.svg`` or ``.png``. The file
    is written whole or not at all."""
    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in DRAW_FORMATS:
        raise DrawError(
            f"cannot draw to {str(path)!r}: the file name must end in .html, .svg or .png"
        )
    for hops, name in ((up, "up"), (down, "down")):
        if not 0 <= hops <= 6:
            raise LineageError(f"--{name} must be between 0 and 6 hops; found {hops}")
    data = source.neighbourhood(node, up, down)
    title = f"lineage of {node} (up {up}, down {down})"
    if fmt == "html":
        payload = render_html(offline_data(source, node, up, down), title=title).encode()
    elif fmt == "svg":
        payload = render_svg(data, title=title).encode()
    else:
        payload = render_png(data, title=title)
    _write_atomic(path, payload)
    return {
        "path": str(path.absolute()),
        "format": fmt,
        "node": data["center"],
        "nodes": len(data["nodes"]),
        "edges": len(data["edges"]),
        "bytes": len(payload),
    }
