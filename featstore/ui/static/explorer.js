/* featstore lineage explorer: plain SVG, no dependencies, nothing from the network.
 *
 * FeatstoreExplorer.mount(element, {api, start, navigate}) draws the lineage around the
 * node `start`. `api(op, params)` is an async function returning the JSON of one
 * explorer operation (graph, expand, group, search, node, explain): from the UI server, or
 * from the data embedded in a drawn HTML file (FeatstoreExplorer.offlineApi(data)).
 *
 * Layout: layered and linear in the size of what is shown. Each node's column is fixed by
 * its kind (sources left, predictions and reports right); rows within a column are
 * ordered by two barycentre sweeps over the edges. No force simulation, no dagre.
 */
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = {
    source: "#4c78a8", source_file: "#72b7b2", feature_view: "#54a24b",
    feature_service: "#88d27a", materialization_run: "#eeca3b", training_set: "#f58518",
    model_version: "#e45756", prediction_batch: "#b279a2", label_batch: "#ff9da6",
    evaluation: "#9d755d", drift_report: "#bab0ac", skew_report: "#d6a5c9", group: "#cfd8e3",
  };
  const NOUNS = {
    source: "source", source_file: "source file", feature_view: "feature view",
    feature_service: "feature service", materialization_run: "run", training_set: "training set",
    model_version: "model version", prediction_batch: "prediction batch",
    label_batch: "label batch", evaluation: "evaluation", drift_report: "drift report",
    skew_report: "skew report", group: "group",
  };
  const NODE_W = 210, NODE_H = 40, COL_GAP = 70, ROW_GAP = 14;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function clip(text, n) {
    text = String(text == null ? "" : text);
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }
  function now() { return (window.performance && performance.now) ? performance.now() : Date.now(); }

  function layout(nodes, edges) {
    // columns by layer, compressed to the layers in use
    const layers = Array.from(new Set(nodes.map((n) => n.layer))).sort((a, b) => a - b);
    const column = new Map(layers.map((l, i) => [l, i]));
    const cols = layers.map(() => []);
    for (const n of nodes) cols[column.get(n.layer)].push(n);
    const nbr = new Map(nodes.map((n) => [n.id, []]));
    for (const e of edges) {
      if (nbr.has(e.source) && nbr.has(e.target)) {
        nbr.get(e.source).push(e.target);
        nbr.get(e.target).push(e.source);
      }
    }
    const rank = new Map();
    cols.forEach((c) => c.forEach((n, i) => rank.set(n.id, i)));
    const sweep = (order) => {
      for (const ci of order) {
        const c = cols[ci];
        const bary = new Map();
        for (const n of c) {
          const ns = nbr.get(n.id).filter((m) => column.get(nodeLayer.get(m)) !== ci);
          bary.set(n.id, ns.length ? ns.reduce((s, m) => s + rank.get(m), 0) / ns.length : rank.get(n.id));
        }
        c.sort((a, b) => bary.get(a.id) - bary.get(b.id) || (a.id < b.id ? -1 : 1));
        c.forEach((n, i) => rank.set(n.id, i));
      }
    };
    const nodeLayer = new Map(nodes.map((n) => [n.id, n.layer]));
    const fwd = cols.map((_, i) => i);
    sweep(fwd.slice(1));
    sweep(fwd.slice(0, -1).reverse());
    const tallest = Math.max(1, ...cols.map((c) => c.length));
    const pos = new Map();
    cols.forEach((c, ci) => {
      const offset = ((tallest - c.length) * (NODE_H + ROW_GAP)) / 2;
      c.forEach((n, i) => pos.set(n.id, { x: ci * (NODE_W + COL_GAP), y: offset + i * (NODE_H + ROW_GAP) }));
    });
    return { pos, width: cols.length * (NODE_W + COL_GAP), height: tallest * (NODE_H + ROW_GAP) };
  }

  function offlineApi(data) {
    const responses = data.responses || {};
    const all = new Map();
    for (const key in responses) for (const n of responses[key].nodes || []) if (n.kind !== "group") all.set(n.id, n);
    const missing = (what) => Promise.reject(new Error(what + " is not in this file; draw it again with more hops (--up/--down)"));
    return function (op, params) {
      params = params || {};
      let key = null;
      if (op === "graph") key = "graph:" + (params.node || data.start);
      else if (op === "expand") key = "expand:" + params.node;
      else if (op === "node") key = "node:" + params.id;
      else if (op === "group") key = "group:" + params.anchor + "|" + params.side + "|" + params.kind + "|" + (params.offset || 0);
      else if (op === "explain") key = "explain:" + params.batch + "#" + params.row;
      else if (op === "search") {
        const q = String(params.q || "").trim().toLowerCase();
        const hits = q ? Array.from(all.values()).filter((n) => (n.id + "\n" + n.name + "\n" + n.label).toLowerCase().includes(q)) : [];
        hits.sort((a, b) => (a.id < b.id ? -1 : 1));
        return Promise.resolve({ query: params.q, total: hits.length, results: hits.slice(0, Number(params.limit || 20)) });
      }
      if (key && responses[key]) return Promise.resolve(JSON.parse(JSON.stringify(responses[key])));
      // a node this file has no view of: its expansion (one hop each way), when embedded
      if (op === "graph" && responses["expand:" + params.node]) return Promise.resolve(JSON.parse(JSON.stringify(responses["expand:" + params.node])));
      if (op === "node" && all.has(params.id)) return Promise.resolve(Object.assign({ attrs: {} }, all.get(params.id)));
      return missing(op === "explain" ? "this prediction row's explanation" : "that part of the lineage");
    };
  }

  function mount(root, options) {
    const api = options.api;
    const navigate = options.navigate || function () {};
    const state = { nodes: new Map(), edges: new Map(), selected: null, path: null, center: null, view: { x: 20, y: 20, k: 1 } };
    const timings = (window.__featstoreTimings = window.__featstoreTimings || []);
    while (root.firstChild) root.removeChild(root.firstChild);
    root.classList.add("fs-explorer");
    root.dataset.state = "loading";

    const bar = el("div", { class: "fs-bar" });
    const search = el("input", { id: "fs-search", type: "search", placeholder: "Search nodes by name or id", autocomplete: "off" });
    const results = el("ul", { id: "fs-search-results", class: "fs-results" });
    const upIn = el("input", { id: "fs-up", type: "number", min: "0", max: "6", value: String(options.up == null ? 2 : options.up), title: "hops upstream" });
    const downIn = el("input", { id: "fs-down", type: "number", min: "0", max: "6", value: String(options.down == null ? 2 : options.down), title: "hops downstream" });
    const fit = el("button", { id: "fs-fit", type: "button" }, "Fit");
    const status = el("span", { id: "fs-status", class: "fs-status" });
    const searchBox = el("div", { class: "fs-searchbox" });
    searchBox.append(search, results);
    bar.append(searchBox, el("label", {}, "up "), upIn, el("label", {}, " down "), downIn, fit, status);
    const body = el("div", { class: "fs-body" });
    const canvas = el("div", { class: "fs-canvas" });
    const svg = sv("svg", { id: "fs-graph", class: "fs-graph" });
    const defs = sv("defs");
    const marker = sv("marker", { id: "fs-arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.append(sv("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "fs-arrowhead" }));
    defs.append(marker);
    const scene = sv("g", { class: "fs-scene" });
    const edgeLayer = sv("g", { class: "fs-edges" });
    const nodeLayer = sv("g", { class: "fs-nodes" });
    scene.append(edgeLayer, nodeLayer);
    svg.append(defs, scene);
    canvas.append(svg);
    const legend = el("div", { id: "fs-legend", class: "fs-legend" });
    canvas.append(legend);
    const meta = el("aside", { id: "fs-meta", class: "fs-meta" });
    meta.append(el("p", { class: "fs-hint" }, "Click a node to see its details; double-click to expand it."));
    body.append(canvas, meta);
    root.append(bar, body);

    function setStatus(text, isError) {
      status.textContent = text || "";
      status.classList.toggle("fs-error", !!isError);
    }
    function fail(err) {
      setStatus(err && err.message ? err.message : String(err), true);
      root.dataset.state = "error";
    }

    function applyView() {
      const v = state.view;
      scene.setAttribute("transform", "translate(" + v.x + "," + v.y + ") scale(" + v.k + ")");
    }

    function merge(data) {
      for (const n of data.nodes || []) {
        const old = state.nodes.get(n.id);
        state.nodes.set(n.id, Object.assign({}, old || {}, n));
      }
      for (const e of data.edges || []) state.edges.set(e.source + "\u0000" + e.target + "\u0000" + e.kind, e);
    }

    function render() {
      const t0 = now();
      const nodes = Array.from(state.nodes.values());
      const edges = Array.from(state.edges.values()).filter((e) => state.nodes.has(e.source) && state.nodes.has(e.target));
      const lay = layout(nodes, edges);
      state.layout = lay;
      while (edgeLayer.firstChild) edgeLayer.removeChild(edgeLayer.firstChild);
      while (nodeLayer.firstChild) nodeLayer.removeChild(nodeLayer.firstChild);
      const onPath = state.path ? new Set(state.path) : null;
      for (const e of edges) {
        const a = lay.pos.get(e.source), b = lay.pos.get(e.target);
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
        const back = x2 <= x1;
        const d = back
          ? "M" + (a.x + NODE_W / 2) + "," + (a.y + NODE_H) + " C" + (a.x + NODE_W / 2) + "," + (a.y + NODE_H + 40) + " " + (b.x + NODE_W / 2) + "," + (b.y + NODE_H + 40) + " " + (b.x + NODE_W / 2) + "," + (b.y + NODE_H)
          : "M" + x1 + "," + y1 + " C" + (x1 + COL_GAP / 2) + "," + y1 + " " + (x2 - COL_GAP / 2) + "," + y2 + " " + x2 + "," + y2;
        const cls = "fs-edge" + (onPath ? (onPath.has(e.source) && onPath.has(e.target) ? " fs-on-path" : " fs-dim") : "");
        const p = sv("path", { d: d, class: cls, "marker-end": "url(#fs-arrow)", "data-kind": e.kind });
        const title = sv("title");
        title.textContent = e.kind.replace(/_/g, " ");
        p.append(title);
        edgeLayer.append(p);
      }
      for (const n of nodes) {
        const at = lay.pos.get(n.id);
        let cls = "fs-node" + (n.kind === "group" ? " fs-group" : "");
        if (n.id === state.selected) cls += " fs-selected";
        if (n.id === state.center) cls += " fs-center";
        if (onPath) cls += onPath.has(n.id) ? " fs-on-path" : " fs-dim";
        const g = sv("g", { class: cls, transform: "translate(" + at.x + "," + at.y + ")", "data-id": n.id, "data-kind": n.kind, tabindex: "0" });
        g.append(sv("rect", { width: NODE_W, height: NODE_H, rx: 7, ry: 7, fill: COLORS[n.kind === "group" ? n.member_kind : n.kind] || "#ccc", class: n.kind === "group" ? "fs-group-rect" : "" }));
        const t1 = sv("text", { x: 9, y: 17, class: "fs-label" });
        t1.textContent = clip(n.label, 30);
        const t2 = sv("text", { x: 9, y: 32, class: "fs-sub" });
        t2.textContent = clip(n.sub, 36);
        const title = sv("title");
        title.textContent = (NOUNS[n.kind] || n.kind) + ": " + n.label + (n.sub ? "\n" + n.sub : "") + "\n" + n.id;
        g.append(t1, t2, title);
        const hidden = n.kind === "group" ? 0 : (n.in + n.out) - countShown(n.id);
        if (hidden > 0) {
          const badge = sv("text", { x: NODE_W - 6, y: 13, class: "fs-more", "text-anchor": "end" });
          badge.textContent = "+" + hidden;
          g.append(badge);
        }
        g.addEventListener("click", (ev) => { ev.stopPropagation(); select(n.id); });
        g.addEventListener("dblclick", (ev) => { ev.stopPropagation(); expand(n.id); });
        g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") expand(n.id); });
        nodeLayer.append(g);
      }
      renderLegend(nodes);
      root.dataset.nodes = String(nodes.length);
      root.dataset.edges = String(edges.length);
      root.dataset.state = "ready";
      return now() - t0;
    }

    function countShown(id) {
      let c = 0;
      for (const e of state.edges.values()) {
        if ((e.source === id && state.nodes.has(e.target) && !e.target.startsWith("group:")) ||
            (e.target === id && state.nodes.has(e.source) && !e.source.startsWith("group:"))) c += 1;
      }
      for (const n of state.nodes.values()) if (n.kind === "group" && n.anchor === id) c += n.count;
      return c;
    }

    function renderLegend(nodes) {
      while (legend.firstChild) legend.removeChild(legend.firstChild);
      const kinds = Array.from(new Set(nodes.map((n) => (n.kind === "group" ? n.member_kind : n.kind))));
      for (const k of kinds) {
        const item = el("span", { class: "fs-legend-item" });
        const sw = el("span", { class: "fs-swatch" });
        sw.style.background = COLORS[k] || "#ccc";
        item.append(sw, document.createTextNode(NOUNS[k] || k));
        legend.append(item);
      }
    }

    function fitView() {
      const lay = state.layout;
      if (!lay) return;
      const w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
      // fit, but never so small that labels cannot be read: then centre on the centre node
      const fits = Math.min(w / (lay.width + 40), h / (lay.height + 40));
      const k = Math.min(1.1, Math.max(0.45, fits));
      state.view = { k: k, x: (w - lay.width * k) / 2 + (COL_GAP * k) / 2, y: Math.max(10, (h - lay.height * k) / 2) };
      applyView();
      if (fits < k && state.center) centerOn(state.center);
    }

    function centerOn(id) {
      const lay = state.layout;
      if (!lay || !lay.pos.has(id)) return;
      const p = lay.pos.get(id), k = state.view.k;
      const w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
      state.view.x = w / 2 - (p.x + NODE_W / 2) * k;
      state.view.y = h / 2 - (p.y + NODE_H / 2) * k;
      applyView();
    }

    async function load(id) {
      const t0 = now();
      root.dataset.state = "loading";
      setStatus("loading…");
      try {
        const data = await api("graph", { node: id || "", up: upIn.value, down: downIn.value });
        state.nodes.clear();
        state.edges.clear();
        state.path = null;
        state.center = data.center;
        merge(data);
        render();
        fitView();
        setStatus(state.nodes.size + " nodes");
        timings.push({ op: "graph", ms: now() - t0 });
        await select(data.center);
        root.dataset.center = data.center;
      } catch (err) { fail(err); }
    }

    async function expand(id) {
      const n = state.nodes.get(id);
      if (!n) return;
      const t0 = now();
      try {
        let data;
        if (n.kind === "group") {
          data = await api("group", { anchor: n.anchor, side: n.side, kind: n.member_kind, offset: "0" });
          state.nodes.delete(id);
          for (const k of Array.from(state.edges.keys())) if (k.startsWith(id + "\u0000") || k.indexOf("\u0000" + id + "\u0000") >= 0) state.edges.delete(k);
          if (data.next !== null && data.next !== undefined) setStatus("showing " + (data.nodes.length - 1) + " of " + data.total);
        } else {
          data = await api("expand", { node: id });
        }
        merge(data);
        render();
        const ms = now() - t0;
        timings.push({ op: n.kind === "group" ? "group" : "expand", ms: ms });
        root.dataset.expanded = String((Number(root.dataset.expanded || 0)) + 1);
        if (n.kind === "group") { state.selected = null; showHint(); }
        else centerOn(id);
      } catch (err) { fail(err); }
    }

    function showHint() {
      while (meta.firstChild) meta.removeChild(meta.firstChild);
      meta.append(el("p", { class: "fs-hint" }, "Click a node to see its details; double-click to expand it."));
    }

    function table(rows) {
      const t = el("table", { class: "fs-kv" });
      for (const [k, v] of rows) {
        const tr = el("tr");
        tr.append(el("th", {}, k));
        const td = el("td");
        if (v instanceof Node) td.append(v); else td.textContent = v === null || v === undefined ? "—" : String(v);
        tr.append(td);
        t.append(tr);
      }
      return t;
    }

    function valueNode(v) {
      if (v !== null && typeof v === "object") {
        if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) return document.createTextNode(v.join(", "));
        return table(Object.entries(v).slice(0, 60).map(([k, x]) => [k, valueNode(x)]));
      }
      return document.createTextNode(v === null || v === undefined ? "—" : String(v));
    }

    async function select(id) {
      const n = state.nodes.get(id);
      if (!n) return;
      state.selected = id;
      for (const g of nodeLayer.querySelectorAll(".fs-node")) g.classList.toggle("fs-selected", g.getAttribute("data-id") === id);
      while (meta.firstChild) meta.removeChild(meta.firstChild);
      const head = el("h3", { class: "fs-meta-title" }, n.label);
      meta.append(head, el("p", { class: "fs-meta-kind" }, (NOUNS[n.kind === "group" ? n.member_kind : n.kind] || n.kind) + (n.kind === "group" ? " group" : "")));
      const actions = el("div", { class: "fs-actions" });
      const ex = el("button", { id: "fs-expand", type: "button" }, n.kind === "group" ? "Open group (" + n.count + ")" : "Expand neighbours");
      ex.addEventListener("click", () => expand(id));
      actions.append(ex);
      if (n.kind !== "group") {
        const focus = el("button", { id: "fs-focus", type: "button" }, "Centre here");
        focus.addEventListener("click", () => { navigate(id); load(id); });
        actions.append(focus);
      }
      meta.append(actions);
      if (n.kind === "group") {
        meta.append(table([["members", n.count], ["next to", n.anchor], ["side", n.side === "up" ? "upstream" : "downstream"]]));
        return;
      }
      if (n.kind === "prediction_batch") {
        const box = el("div", { class: "fs-explain" });
        const row = el("input", { id: "fs-explain-row", type: "number", min: "0", value: "0", title: "row of the batch" });
        const go = el("button", { id: "fs-explain", type: "button" }, "Explain row");
        go.addEventListener("click", () => explain(id, row.value));
        box.append(el("label", {}, "row "), row, go);
        meta.append(box);
      }
      try {
        const t0 = now();
        const d = await api("node", { id: id });
        timings.push({ op: "node", ms: now() - t0 });
        if (state.selected !== id) return;
        const rows = [["id", d.id], ["name", d.name], ["created", d.created_at], ["line", d.sub]];
        if (d.upstream) rows.push(["upstream", Object.entries(d.upstream).map(([k, c]) => c + " " + (NOUNS[k] || k)).join(", ") || "—"]);
        if (d.downstream) rows.push(["downstream", Object.entries(d.downstream).map(([k, c]) => c + " " + (NOUNS[k] || k)).join(", ") || "—"]);
        const info = table(rows);
        info.id = "fs-meta-table";
        meta.append(info);
        if (d.attrs && Object.keys(d.attrs).length) {
          meta.append(el("h4", {}, "attributes"));
          const at = table(Object.entries(d.attrs).slice(0, 80).map(([k, v]) => [k, valueNode(v)]));
          at.id = "fs-attrs";
          meta.append(at);
        }
      } catch (err) { fail(err); }
    }

    async function explain(batch, row) {
      const t0 = now();
      try {
        const data = await api("explain", { batch: batch, row: String(row) });
        merge(data);
        state.path = data.path;
        render();
        timings.push({ op: "explain", ms: now() - t0 });
        const box = el("div", { id: "fs-explain-result" });
        box.append(el("h4", {}, "row " + data.row + ": the path behind it"));
        const t = el("table", { class: "fs-grid" });
        const hr = el("tr");
        for (const h of ["feature", "value", "event time", "run"]) hr.append(el("th", {}, h));
        t.append(hr);
        for (const r of data.table) {
          const tr = el("tr");
          const runNode = r.run && state.nodes.get(r.run);
          for (const v of [r.feature, r.value, r.event_timestamp, runNode ? runNode.label : r.run]) tr.append(el("td", {}, v === null || v === undefined ? "—" : v));
          t.append(tr);
        }
        box.append(t);
        const clear = el("button", { type: "button", id: "fs-explain-clear" }, "Clear path");
        clear.addEventListener("click", () => { state.path = null; render(); box.remove(); });
        box.append(clear);
        const old = meta.querySelector("#fs-explain-result");
        if (old) old.remove();
        meta.append(box);
        fitView();
      } catch (err) { fail(err); }
    }

    let searchSeq = 0;
    async function runSearch() {
      const q = search.value;
      const seq = ++searchSeq;
      const t0 = now();
      try {
        const data = await api("search", { q: q, limit: "20" });
        if (seq !== searchSeq) return;
        while (results.firstChild) results.removeChild(results.firstChild);
        for (const n of data.results) {
          const li = el("li", { "data-id": n.id, tabindex: "0" });
          const sw = el("span", { class: "fs-swatch" });
          sw.style.background = COLORS[n.kind] || "#ccc";
          li.append(sw, el("b", {}, n.label), el("span", { class: "fs-sub-text" }, " " + (NOUNS[n.kind] || n.kind) + " · " + n.sub));
          const pick = () => { results.classList.remove("fs-open"); search.value = ""; navigate(n.id); load(n.id); };
          li.addEventListener("click", pick);
          li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") pick(); });
          results.append(li);
        }
        if (q.trim() && !data.results.length) results.append(el("li", { class: "fs-none" }, "no node matches"));
        else if (data.total > data.results.length) results.append(el("li", { class: "fs-none" }, (data.total - data.results.length) + " more; type more to narrow"));
        results.classList.toggle("fs-open", !!q.trim());
        timings.push({ op: "search", ms: now() - t0 });
        root.dataset.searched = q;
      } catch (err) { fail(err); }
    }
    let timer = null;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(runSearch, 60); });
    search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { clearTimeout(timer); runSearch(); } });
    fit.addEventListener("click", fitView);
    upIn.addEventListener("change", () => load(state.center));
    downIn.addEventListener("change", () => load(state.center));

    // pan and zoom
    let drag = null;
    svg.addEventListener("mousedown", (ev) => { if (ev.target === svg || ev.target.closest(".fs-edges")) drag = { x: ev.clientX, y: ev.clientY, vx: state.view.x, vy: state.view.y }; });
    window.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      state.view.x = drag.vx + ev.clientX - drag.x;
      state.view.y = drag.vy + ev.clientY - drag.y;
      applyView();
    });
    window.addEventListener("mouseup", () => { drag = null; });
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect();
      const mx = ev.clientX - r.left, my = ev.clientY - r.top;
      const k0 = state.view.k, k = Math.min(3, Math.max(0.05, k0 * (ev.deltaY < 0 ? 1.15 : 1 / 1.15)));
      state.view.x = mx - ((mx - state.view.x) * k) / k0;
      state.view.y = my - ((my - state.view.y) * k) / k0;
      state.view.k = k;
      applyView();
    }, { passive: false });
    svg.addEventListener("click", () => { results.classList.remove("fs-open"); });

    load(options.start || "");
    return { load: load, expand: expand, select: select, explain: explain, search: (q) => { search.value = q; return runSearch(); }, state: state };
  }

  window.FeatstoreExplorer = { mount: mount, offlineApi: offlineApi, layout: layout, colors: COLORS };
})();
