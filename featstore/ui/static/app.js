// featstore UI: the app shell, hash routing and the pages. Plain JavaScript, no build
// step; every piece of data reaches the page through textContent, never as markup.
(function () {
  "use strict";

  const main = document.getElementById("main");
  let explorerHandle = null; // what FeatstoreExplorer.mount returned, while mounted
  let explorerNode = null; // the node the mounted explorer was started at or moved to
  let renderToken = 0; // a newer route wins over a page still loading

  // -- data ----------------------------------------------------------------------

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : "HTTP " + response.status + " for " + path;
      const error = new Error(message);
      error.status = response.status;
      error.type = body && body.type ? body.type : null;
      throw error;
    }
    return body;
  }

  // the explorer's data source: GET /api/lineage/<op>?<params>
  function lineageApi(op, params) {
    const query = new URLSearchParams();
    Object.entries(params || {}).forEach(([key, value]) => {
      if (value !== undefined && value !== null) query.append(key, String(value));
    });
    const text = query.toString();
    return getJSON("/api/lineage/" + encodeURIComponent(op) + (text ? "?" + text : ""));
  }

  function segment(value) {
    return encodeURIComponent(String(value));
  }

  // -- DOM -----------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    });
    append(node, children);
    return node;
  }

  function append(node, children) {
    children.flat(Infinity).forEach((child) => {
      if (child === undefined || child === null || child === false) return;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function link(href, text, className) {
    return el("a", { href: href, text: text, className: className });
  }

  function lineageLink(id) {
    return id ? link("#/lineage/" + segment(id), "lineage", "lineage-link") : "";
  }

  function show(...nodes) {
    main.replaceChildren(...nodes.flat(Infinity).filter((n) => n));
  }

  function message(text, className) {
    return el("p", { className: className || "note", text: text });
  }

  function props(pairs) {
    const dl = el("dl", { className: "props" });
    pairs.forEach(([label, value]) => {
      if (value === undefined) return;
      dl.appendChild(el("dt", { text: label }));
      const dd = el("dd");
      if (value instanceof Node) dd.appendChild(value);
      else dd.textContent = value === null || value === "" ? "—" : String(value);
      dl.appendChild(dd);
    });
    return dl;
  }

  function fmt(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "number") {
      return Number.isInteger(value) ? value.toLocaleString("en-US") : String(+value.toPrecision(6));
    }
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (Array.isArray(value)) return value.map(fmt).join(", ");
    if (typeof value === "object") {
      return Object.entries(value).map(([k, v]) => k + "=" + fmt(v)).join(", ");
    }
    return String(value);
  }

  function when(iso) {
    // catalog instants are naive UTC ISO text: shown as "YYYY-MM-DD HH:MM:SS"
    if (!iso) return "—";
    return String(iso).replace("T", " ").replace(/\.\d+$/, "");
  }

  function short(text, n) {
    const s = String(text || "");
    return s.length > n ? s.slice(0, n) + "…" : s;
  }

  // A sortable table. columns: {label, value(row) -> sortable value, cell(row) -> Node or
  // text (default: the value, formatted), num: right-aligned}. Click a header to sort.
  function table(columns, rows, options) {
    const opts = options || {};
    const tbl = el("table", { className: "data" });
    const head = el("tr");
    const body = el("tbody");
    let sortIndex = -1;
    let ascending = true;

    function fill() {
      const ordered = rows.slice();
      if (sortIndex >= 0) {
        const value = columns[sortIndex].value;
        ordered.sort((a, b) => compare(value(a), value(b)) * (ascending ? 1 : -1));
      }
      body.replaceChildren(
        ...ordered.map((row) => {
          const tr = el("tr", { className: opts.selected && opts.selected(row) ? "selected" : null });
          columns.forEach((col) => {
            const content = col.cell ? col.cell(row) : fmt(col.value(row));
            tr.appendChild(append(el("td", { className: col.num ? "num" : null }), [content]));
          });
          return tr;
        })
      );
    }

    columns.forEach((col, i) => {
      const th = el("th", { className: "sortable" + (col.num ? " num" : ""), text: col.label, scope: "col" });
      if (col.value) {
        th.addEventListener("click", () => {
          ascending = sortIndex === i ? !ascending : true;
          sortIndex = i;
          head.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          fill();
        });
      } else {
        th.className = col.num ? "num" : "";
      }
      head.appendChild(th);
    });
    tbl.appendChild(el("thead", {}, head));
    tbl.appendChild(body);
    fill();
    if (!rows.length) return [tbl, message(opts.empty || "Nothing here yet.")];
    return tbl;
  }

  function compare(a, b) {
    const missingA = a === null || a === undefined || a === "";
    const missingB = b === null || b === undefined || b === "";
    if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
    return String(a).localeCompare(String(b), "en", { numeric: true });
  }

  // -- pages ---------------------------------------------------------------------

  async function overview() {
    const [summary, runs] = await Promise.all([getJSON("/api/summary"), getJSON("/api/runs")]);
    const counts = summary.counts;
    const card = (href, count, label) =>
      el("a", { className: "card", href: href }, el("span", { className: "count", text: fmt(count) }), el("span", { className: "label", text: label }));
    return [
      el("h1", { text: "Overview" }),
      el(
        "div",
        { className: "cards" },
        card("#/views", counts.views, "feature views"),
        card("#/runs", counts.runs, "materialization runs"),
        card("#/training-sets", counts.training_sets, "training sets"),
        card("#/models", counts.models, "models (" + fmt(counts.model_versions) + " versions)"),
        card("#/batches", counts.batches, "prediction batches")
      ),
      props([
        ["store", summary.store],
        ["catalog", summary.catalog],
        ["featstore", summary.featstore_version],
        ["mode", summary.read_only ? "read-only" : "read-write"],
      ]),
      el("h2", { text: "Latest runs" }),
      runsTable(runs.runs.slice(0, 5)),
    ];
  }

  async function viewsPage() {
    const data = await getJSON("/api/views");
    return [
      el("h1", { text: "Feature view definitions" }),
      table(
        [
          { label: "name", value: (r) => r.name, cell: (r) => link("#/views/" + segment(r.name), r.name) },
          { label: "version", value: (r) => r.version, cell: (r) => el("code", { text: r.version }) },
          { label: "entity", value: (r) => r.entity },
          { label: "source", value: (r) => r.source },
          { label: "features", value: (r) => r.features, num: true },
          { label: "versions", value: (r) => r.versions, num: true },
          { label: "owner", value: (r) => r.owner },
          { label: "description", value: (r) => r.description, cell: (r) => short(r.description, 80) },
          { label: "", cell: (r) => lineageLink(r.lineage_id) },
        ],
        data.views,
        { empty: "No feature views are registered." }
      ),
    ];
  }

  function definitionPanel(name, v) {
    const d = v.definition;
    const parts = [
      el("h2", {}, "Version ", el("code", { text: v.version }), v.current ? " (current)" : ""),
      props([
        ["registered", when(v.registered_at)],
        ["entity", d.entity + " (" + d.join_keys.map((k) => k + ": " + (d.key_dtypes[k] || "?")).join(", ") + ")"],
        ["source", append(el("span"), [d.source + " @ " + d.source_version + " ", lineageLink(d.source_lineage_id)])],
        ["timestamp", d.timestamp_column],
        ["created timestamp", d.created_timestamp_column],
        ["ttl", d.ttl],
        ["lookback", d.lookback],
        ["description", d.description],
        ["owner", d.owner],
        ["tags", Object.keys(d.tags).length ? append(el("span"), Object.entries(d.tags).map(([k, t]) => el("span", { className: "pill", text: k + "=" + t }))) : null],
        ["runs", v.runs],
        ["lineage", lineageLink(v.lineage_id)],
      ]),
      el("h2", { text: "Features" }),
      table(
        [
          { label: "feature", value: (f) => f.name, cell: (f) => el("code", { text: f.name }) },
          { label: "dtype", value: (f) => f.dtype },
        ],
        d.features
      ),
    ];
    if (d.transform_source) {
      parts.push(el("h2", { text: "Transformation" }), el("pre", { className: "source", text: d.transform_source }));
    } else if (d.selection) {
      parts.push(message("A plain selection of source columns: " + d.selection.join(", ") + "."));
    }
    return el("section", { id: "definition" }, parts);
  }

  function diffPanel(name, versions, selected) {
    const section = el("section", { id: "diff" }, el("h2", { text: "Compare versions" }));
    if (versions.length < 2) {
      section.appendChild(message("Only one version is registered; there is nothing to compare."));
      return section;
    }
    const options = (chosen) =>
      versions.map((v) => el("option", { value: v.version, text: v.version + (v.current ? " (current)" : ""), selected: v.version === chosen }));
    const at = versions.findIndex((v) => v.version === selected);
    const b = selected;
    const a = versions[at > 0 ? at - 1 : 1].version;
    const selectA = el("select", { id: "diff-a", "aria-label": "from version" }, options(a));
    const selectB = el("select", { id: "diff-b", "aria-label": "to version" }, options(b));
    const output = el("div", { id: "diff-output" });
    async function update() {
      output.replaceChildren(message("Comparing…"));
      try {
        const q = new URLSearchParams({ a: selectA.value, b: selectB.value });
        const diff = await getJSON("/api/views/" + segment(name) + "/diff?" + q.toString());
        output.replaceChildren(...renderDiff(diff));
      } catch (error) {
        output.replaceChildren(message(error.message, "error"));
      }
    }
    selectA.addEventListener("change", update);
    selectB.addEventListener("change", update);
    section.appendChild(el("div", { className: "diff-controls" }, el("label", {}, "from ", selectA), el("label", {}, "to ", selectB)));
    section.appendChild(output);
    update();
    return section;
  }

  function renderDiff(diff) {
    if (diff.identical) return [message("The same version on both sides.")];
    const s = diff.summary;
    const items = [];
    s.added.forEach((f) => items.push("added feature " + f.name + " (" + f.dtype + ")"));
    s.removed.forEach((f) => items.push("removed feature " + f.name + " (" + f.dtype + ")"));
    s.changed_dtype.forEach((f) => items.push("feature " + f.name + ": " + f.from + " → " + f.to));
    if (s.fields_changed.length) items.push("changed: " + s.fields_changed.join(", "));
    const pre = el("pre", { className: "diff" });
    diff.diff.split("\n").forEach((line) => {
      let cls = "";
      if (line.startsWith("+++") || line.startsWith("---")) cls = "meta";
      else if (line.startsWith("@@")) cls = "hunk";
      else if (line.startsWith("+")) cls = "add";
      else if (line.startsWith("-")) cls = "del";
      pre.appendChild(el("span", { className: cls || null, text: line }));
    });
    return [
      items.length ? el("ul", { className: "changes" }, items.map((t) => el("li", { text: t }))) : message("No field differs."),
      diff.diff ? pre : message("The definitions read the same."),
    ];
  }

  async function viewPage(name, version) {
    const data = await getJSON("/api/views/" + segment(name));
    const selected = data.versions.some((v) => v.version === version) ? version : data.version;
    const chosen = data.versions.find((v) => v.version === selected);
    const m = data.materialized;
    return [
      el("h1", {}, "Feature view ", el("code", { text: data.name })),
      props([
        ["current version", el("code", { text: data.version })],
        ["materialized", fmt(m.runs) + " runs, " + fmt(m.rows) + " rows, until " + when(m.until)],
        ["lineage", lineageLink(data.lineage_id)],
      ]),
      el("h2", { text: "Versions" }),
      table(
        [
          { label: "version", value: (v) => v.version, cell: (v) => link("#/views/" + segment(name) + "/" + segment(v.version), v.version, "mono") },
          { label: "registered", value: (v) => v.registered_at, cell: (v) => when(v.registered_at) },
          { label: "current", value: (v) => v.current },
          { label: "features", value: (v) => v.definition.features.length, num: true },
          { label: "runs", value: (v) => v.runs, num: true },
          { label: "", cell: (v) => lineageLink(v.lineage_id) },
        ],
        data.versions,
        { selected: (v) => v.version === selected }
      ),
      definitionPanel(name, chosen),
      diffPanel(name, data.versions, selected),
    ];
  }

  function runsTable(rows) {
    return table(
      [
        { label: "run", value: (r) => r.run_id, cell: (r) => link("#/runs/" + segment(r.run_id), short(r.run_id, 12), "mono") },
        { label: "view", value: (r) => r.view, cell: (r) => link("#/views/" + segment(r.view), r.view) },
        { label: "version", value: (r) => r.view_version, cell: (r) => el("code", { text: r.view_version }) },
        { label: "start", value: (r) => r.start, cell: (r) => when(r.start) },
        { label: "end", value: (r) => r.end, cell: (r) => when(r.end) },
        { label: "rows", value: (r) => r.rows, num: true },
        { label: "finished", value: (r) => r.finished_at, cell: (r) => when(r.finished_at) },
        { label: "", cell: (r) => lineageLink(r.lineage_id) },
      ],
      rows,
      { empty: "No materialization runs yet." }
    );
  }

  async function runsPage() {
    const data = await getJSON("/api/runs");
    return [el("h1", { text: "Materialization runs" }), runsTable(data.runs)];
  }

  async function runPage(id) {
    const r = await getJSON("/api/runs/" + segment(id));
    const stats = r.statistics
      ? table(
          [
            { label: "column", value: (c) => c.column, cell: (c) => el("code", { text: c.column }) },
            { label: "dtype", value: (c) => c.dtype },
            { label: "count", value: (c) => c.count, num: true },
            { label: "nulls", value: (c) => c.nulls, num: true },
            { label: "null rate", value: (c) => c.null_rate, num: true },
            { label: "min", value: (c) => c.min },
            { label: "max", value: (c) => c.max },
            { label: "mean", value: (c) => c.mean, num: true },
            { label: "std", value: (c) => c.std, num: true },
            { label: "median", value: (c) => c.p50, num: true },
            { label: "distinct", value: (c) => c.distinct, num: true },
          ],
          r.statistics.columns
        )
      : message("No statistics are recorded for this run: " + r.statistics_missing);
    return [
      el("h1", {}, "Run ", el("code", { text: r.run_id })),
      props([
        ["view", append(el("span"), [link("#/views/" + segment(r.view) + "/" + segment(r.view_version), r.view + "@" + r.view_version), " ", lineageLink(r.view_lineage_id)])],
        ["range", when(r.start) + " .. " + when(r.end)],
        ["rows", fmt(r.rows)],
        ["started", when(r.started_at)],
        ["finished", when(r.finished_at)],
        ["lineage", lineageLink(r.lineage_id)],
      ]),
      el("h2", { text: "Files written" }),
      table(
        [
          { label: "path", value: (f) => f.path, cell: (f) => el("code", { text: f.path }) },
          { label: "month", value: (f) => f.bucket },
          { label: "rows", value: (f) => f.rows, num: true },
          { label: "bytes", value: (f) => f.bytes, num: true },
          { label: "first event", value: (f) => f.min_ts, cell: (f) => when(f.min_ts) },
          { label: "last event", value: (f) => f.max_ts, cell: (f) => when(f.max_ts) },
          { label: "active", value: (f) => f.active },
        ],
        r.file_list,
        { empty: "The run wrote no files." }
      ),
      el("h2", { text: "Raw inputs read" }),
      table(
        [
          { label: "path", value: (i) => i.path, cell: (i) => el("code", { text: i.path }) },
          { label: "size", value: (i) => i.size, num: true },
          { label: "rows", value: (i) => i.rows, num: true },
          { label: "sha256", value: (i) => i.sha256, cell: (i) => el("code", { text: short(i.sha256, 12) }) },
        ],
        r.inputs,
        { empty: "No input files were recorded (an in-memory or SQL source)." }
      ),
      el("h2", { text: "Statistics" }),
      stats,
    ];
  }

  async function trainingSetsPage() {
    const data = await getJSON("/api/training-sets");
    return [
      el("h1", { text: "Training sets" }),
      table(
        [
          { label: "name", value: (t) => t.name, cell: (t) => link("#/training-sets/" + segment(t.id), t.name) },
          { label: "content id", value: (t) => t.content_id, cell: (t) => el("code", { text: t.content_id }) },
          { label: "rows", value: (t) => t.rows, num: true },
          { label: "mode", value: (t) => t.mode },
          { label: "views", value: (t) => t.views.join(", ") },
          { label: "created", value: (t) => t.created_at, cell: (t) => when(t.created_at) },
          { label: "", cell: (t) => lineageLink(t.lineage_id) },
        ],
        data.training_sets,
        { empty: "No training sets are saved." }
      ),
    ];
  }

  async function trainingSetPage(id) {
    const t = await getJSON("/api/training-sets/" + segment(id));
    const service = t.feature_service ? t.feature_service.name + "@" + t.feature_service.version : null;
    return [
      el("h1", {}, "Training set ", el("code", { text: t.name })),
      props([
        ["id", el("code", { text: t.id })],
        ["rows", fmt(t.rows)],
        ["created", when(t.created_at)],
        ["mode", t.mode + (t.bitemporal ? ", bitemporal" : "")],
        ["timestamp column", t.timestamp_column],
        ["feature service", service],
        ["file", t.path],
        ["lineage", lineageLink(t.lineage_id)],
      ]),
      el("h2", { text: "Columns" }),
      t.columns
        ? table([{ label: "column", value: (c) => c.name, cell: (c) => el("code", { text: c.name }) }, { label: "dtype", value: (c) => c.dtype }], t.columns)
        : message(t.columns_missing),
      el("h2", { text: "Features" }),
      table(
        [
          { label: "view", value: (f) => f.view, cell: (f) => link("#/views/" + segment(f.view) + "/" + segment(f.version), f.view) },
          { label: "version", value: (f) => f.version, cell: (f) => el("code", { text: f.version }) },
          { label: "features", value: (f) => f.features.join(", ") },
          { label: "columns", value: (f) => f.columns.join(", ") },
          { label: "", cell: (f) => lineageLink(f.lineage_id) },
        ],
        t.features
      ),
      el("h2", { text: "Runs read" }),
      table(
        [
          { label: "run", value: (r) => r.run_id, cell: (r) => link("#/runs/" + segment(r.run_id), r.run_id, "mono") },
          { label: "", cell: (r) => lineageLink(r.lineage_id) },
        ],
        t.runs,
        { empty: "No materialized files were read." }
      ),
      el("h2", { text: "Models trained on it" }),
      table(
        [
          { label: "model", value: (m) => m.name, cell: (m) => link("#/models/" + segment(m.name), m.name) },
          { label: "version", value: (m) => m.version, num: true },
          { label: "", cell: (m) => lineageLink(m.lineage_id) },
        ],
        t.models,
        { empty: "No model is registered against this training set." }
      ),
    ];
  }

  async function modelsPage() {
    const data = await getJSON("/api/models");
    return [
      el("h1", { text: "Models" }),
      table(
        [
          { label: "name", value: (m) => m.name, cell: (m) => link("#/models/" + segment(m.name), m.name) },
          { label: "latest version", value: (m) => m.latest_version, num: true },
          { label: "versions", value: (m) => m.versions, num: true },
          { label: "aliases", value: (m) => fmt(m.aliases) },
          { label: "latest metrics", value: (m) => fmt(m.metrics) },
          { label: "registered", value: (m) => m.created_at, cell: (m) => when(m.created_at) },
          { label: "", cell: (m) => lineageLink(m.lineage_id) },
        ],
        data.models,
        { empty: "No models are registered." }
      ),
    ];
  }

  async function modelPage(name) {
    const m = await getJSON("/api/models/" + segment(name));
    const metricNames = [...new Set(m.versions.flatMap((v) => Object.keys(v.metrics || {})))].sort();
    const history = [];
    Object.entries(m.alias_history).forEach(([alias, events]) => events.forEach((e) => history.push({ alias: alias, ...e })));
    return [
      el("h1", {}, "Model ", el("code", { text: m.name })),
      props([
        ["aliases", fmt(m.aliases)],
        ["lineage", lineageLink(m.lineage_id)],
      ]),
      el("h2", { text: "Versions" }),
      table(
        [
          { label: "version", value: (v) => v.version, num: true },
          { label: "registered", value: (v) => v.created_at, cell: (v) => when(v.created_at) },
          ...metricNames.map((k) => ({ label: k, value: (v) => (v.metrics || {})[k], num: true })),
          { label: "params", value: (v) => fmt(v.params) },
          {
            label: "training set",
            value: (v) => v.training_set,
            cell: (v) => (v.training_set ? link("#/training-sets/" + segment(v.training_set), v.training_set, "mono") : "—"),
          },
          { label: "aliases", value: (v) => v.aliases.join(", ") },
          { label: "", cell: (v) => lineageLink(v.lineage_id) },
        ],
        m.versions
      ),
      el("h2", { text: "Alias history" }),
      table(
        [
          { label: "alias", value: (e) => e.alias },
          { label: "action", value: (e) => e.action },
          { label: "version", value: (e) => e.version, num: true },
          { label: "at", value: (e) => e.at, cell: (e) => when(e.at) },
        ],
        history,
        { empty: "No alias was ever set." }
      ),
    ];
  }

  async function batchesPage() {
    const data = await getJSON("/api/batches");
    return [
      el("h1", { text: "Prediction batches" }),
      table(
        [
          { label: "batch", value: (b) => b.batch_id, cell: (b) => el("code", { text: short(b.batch_id, 12) }) },
          { label: "model", value: (b) => b.model, cell: (b) => link("#/models/" + segment(b.model), b.model) },
          { label: "version", value: (b) => b.model_version, num: true },
          { label: "rows", value: (b) => b.rows, num: true },
          { label: "as of", value: (b) => b.as_of, cell: (b) => when(b.as_of) },
          { label: "logged at", value: (b) => b.logged_at, cell: (b) => when(b.logged_at) },
          { label: "", cell: (b) => lineageLink(b.lineage_id) },
        ],
        data.batches,
        { empty: "No prediction batches are logged." }
      ),
    ];
  }

  // -- lineage -------------------------------------------------------------------

  function unmountExplorer() {
    if (explorerHandle && typeof explorerHandle.destroy === "function") {
      try {
        explorerHandle.destroy();
      } catch (_) {
        // a failing teardown must not break navigation
      }
    }
    explorerHandle = null;
    explorerNode = null;
  }

  function navigateTo(nodeId) {
    explorerNode = nodeId; // the explorer moved there itself: no need to mount it again
    const hash = "#/lineage/" + segment(nodeId);
    if (location.hash !== hash) location.hash = hash;
  }

  async function lineagePage(nodeId, token) {
    let start = nodeId;
    if (!start) {
      const views = await getJSON("/api/views");
      if (!views.views.length) return [el("h1", { text: "Lineage" }), message("No feature views are registered: there is no lineage to show yet.")];
      start = views.views[0].lineage_id;
    }
    if (token !== renderToken) return null;
    if (!window.FeatstoreExplorer || typeof window.FeatstoreExplorer.mount !== "function") {
      return [el("h1", { text: "Lineage" }), message("The lineage explorer is not available in this installation (static/explorer.js did not load).", "error")];
    }
    const element = el("div", { id: "explorer" });
    main.classList.add("full");
    main.replaceChildren(element);
    explorerNode = start;
    explorerHandle = window.FeatstoreExplorer.mount(element, { api: lineageApi, start: start, navigate: navigateTo }) || null;
    return null; // the explorer renders itself
  }

  // -- routing -------------------------------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const parts = raw === "" ? [] : raw.split("/");
    try {
      return parts.map((p) => decodeURIComponent(p));
    } catch (_) {
      return null;
    }
  }

  const PAGES = {
    "": { nav: "overview", title: "Overview", render: () => overview() },
    views: { nav: "views", title: "Definitions", render: (rest) => (rest[0] ? viewPage(rest[0], rest[1]) : viewsPage()) },
    runs: { nav: "runs", title: "Runs", render: (rest) => (rest[0] ? runPage(rest[0]) : runsPage()) },
    "training-sets": { nav: "training-sets", title: "Training sets", render: (rest) => (rest[0] ? trainingSetPage(rest[0]) : trainingSetsPage()) },
    models: { nav: "models", title: "Models", render: (rest) => (rest[0] ? modelPage(rest[0]) : modelsPage()) },
    batches: { nav: "batches", title: "Predictions", render: () => batchesPage() },
  };

  async function route() {
    const token = ++renderToken;
    const parts = parseHash();
    const head = parts && parts.length ? parts[0] : "";
    const rest = parts ? parts.slice(1) : [];
    const isLineage = head === "lineage";
    const nav = isLineage ? "lineage" : PAGES[head] ? PAGES[head].nav : null;
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === nav));

    if (isLineage) {
      const nodeId = rest.join("/");
      document.title = "Lineage · featstore";
      if (explorerHandle !== null && nodeId) {
        if (nodeId === explorerNode) return; // the explorer moved there itself
        if (typeof explorerHandle.load === "function") {
          explorerNode = nodeId; // back, forward or a typed address: move the mounted explorer
          explorerHandle.load(nodeId);
          return;
        }
      }
      unmountExplorer();
    } else {
      unmountExplorer();
      main.classList.remove("full");
    }
    const page = PAGES[head];
    if (!isLineage && (!parts || !page)) {
      show(el("h1", { text: "Not found" }), message("No page " + location.hash + ". ", "error"), link("#/", "Back to the overview"));
      return;
    }
    if (!isLineage) {
      document.title = page.title + " · featstore";
      show(message("Loading…"));
    }
    try {
      const nodes = isLineage ? await lineagePage(rest.join("/"), token) : await page.render(rest);
      if (token !== renderToken || nodes === null) return;
      main.classList.remove("full");
      show(nodes);
      main.scrollTop = 0;
    } catch (error) {
      if (token !== renderToken) return;
      main.classList.remove("full");
      const status = error.status ? " (" + error.status + (error.type ? " " + error.type : "") + ")" : "";
      show(el("h1", { text: "Cannot show this page" + status }), message(error.message, "error"), link("#/", "Back to the overview"));
    }
  }

  async function topBar() {
    try {
      const summary = await getJSON("/api/summary");
      const name = document.getElementById("store-name");
      name.textContent = summary.name;
      name.title = summary.store;
      document.getElementById("store-mode").textContent = summary.read_only ? "read-only" : "read-write";
    } catch (error) {
      document.getElementById("store-name").textContent = "(store unavailable: " + error.message + ")";
    }
  }

  window.addEventListener("hashchange", route);
  topBar();
  route();
})();
