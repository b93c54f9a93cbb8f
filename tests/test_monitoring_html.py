"""The HTML of monitoring reports (featstore.monitoring.html): complete documents that
parse with balanced tags, reach nothing outside the file, escape every name and value,
and draw as many bars and lines as there are bins and versions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import featstore as fs
from featstore.monitoring import stats as st
from featstore.monitoring.drift import DriftReport, FeatureDrift
from featstore.monitoring.evaluation import Comparison, Evaluation
from featstore.monitoring.html import (
    HISTOGRAM_BINS,
    NULL,
    TOP_VALUES,
    drift_html,
    evaluation_html,
    frame_table,
    performance_html,
    skew_html,
    statistics_html,
)
from featstore.monitoring.performance import PerformanceReport
from featstore.monitoring.skew import FeatureSkew, SkewReport

HOSTILE = "<script>alert(1)</script>"
HOSTILE_VALUE = "</svg><img src=x onerror=alert(1)>&\"'"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "section",
    "div", "dl", "dt", "dd", "ul", "li", "span", "footer", "table", "thead", "tbody", "tr",
    "th", "td", "svg", "g", "rect", "line", "path", "circle", "text",
}  # fmt: skip


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.text: list[str] = []

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Element]:
        return [
            e
            for e in self.iter()
            if e.tag == tag and (cls is None or e.attrs.get("class", "").split() == cls.split())
        ]

    def own_text(self) -> str:
        return "".join(self.text)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)


class Tree(HTMLParser):
    """A strict reading: every non-void element closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.node = self.root
        self.errors: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.node))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.node.tag != tag:
            self.errors.append(f"</{tag}> closes <{self.node.tag}>")
            return
        assert self.node.parent is not None
        self.node = self.node.parent

    def handle_data(self, data: str) -> None:
        self.node.text.append(data)


def parse(text: str) -> Element:
    tree = Tree()
    tree.feed(text)
    tree.close()
    assert not tree.errors, tree.errors[:5]
    assert tree.node is tree.root, f"<{tree.node.tag}> is never closed"
    return tree.root


def check_document(text: str) -> Element:
    assert text.startswith("<!DOCTYPE html>\n")
    root = parse(text)
    tags = {e.tag for e in root.iter()} - {"#root"}
    assert tags <= ALLOWED, tags - ALLOWED
    (html,) = root.find_all("html")
    assert [c.tag for c in html.children] == ["head", "body"]
    assert root.find_all("style")
    assert root.find_all("title")
    for ref in re.findall(r"""https?://[^"'\s<>]*""", text):
        assert ref == "http://www.w3.org/2000/svg"
    for e in root.iter():
        assert not any(k.startswith("on") for k in e.attrs), e.attrs
        assert not any(k in ("href", "src", "xlink:href") for k in e.attrs), e.attrs
    for svg in root.find_all("svg"):
        assert svg.attrs["xmlns"] == "http://www.w3.org/2000/svg"
        assert svg.attrs["viewbox"].startswith("0 0 ")
    return root


def charts(root: Element) -> list[Element]:
    return root.find_all("svg")


# -- reports made by hand ------------------------------------------------------------------


def feature_drift(name: str, bins: int, *, drifted: bool = False) -> FeatureDrift:
    ref = tuple(1.0 / bins for _ in range(bins)) if bins else ()
    cur = tuple(np.linspace(1, 2, bins) / np.linspace(1, 2, bins).sum()) if bins else ()
    return FeatureDrift(
        feature=name,
        kind="numeric",
        reference_rows=100,
        current_rows=120,
        reference_null_rate=0.0,
        current_null_rate=0.1 if drifted else 0.0,
        null_rate_change=0.1 if drifted else 0.0,
        psi=0.3 if drifted else 0.01,
        jensen_shannon=0.05,
        ks=0.1,
        ks_error=0.01,
        wasserstein=float("inf") if drifted else 0.02,
        drifted=drifted,
        reasons=("psi 0.3 > 0.2",) if drifted else (),
        note=None if bins else "no non-null values in the current side: distances undefined",
        bins=tuple(f"({i}, {i + 1}]" for i in range(bins)),
        reference_shares=ref,
        current_shares=tuple(float(c) for c in cur),
    )


def drift_report(*features: FeatureDrift) -> DriftReport:
    return DriftReport(
        report_id="abc",
        created_at="2024-06-01T00:00:00.000000",
        reference="training set 'training_set:train@1'",
        current="the current frame",
        reference_node="training_set:train@1",
        current_node=None,
        thresholds={"psi": 0.2, "ks": None, "null_rate_change": 0.05, "chi2_pvalue": None},
        features=features,
    )


def performance_report(model: str = "m") -> PerformanceReport:
    buckets = [datetime(2024, 1, 1) + timedelta(weeks=i) for i in range(4)]
    rows = []
    for version in (1, 2, 3):
        for i, bucket in enumerate(buckets):
            auc = None if (version, i) == (2, 1) else 0.6 + 0.02 * version + 0.01 * i
            rows.append(
                {
                    "model_version": version,
                    "bucket": bucket,
                    "rows": 50,
                    "auc": auc,
                    "log_loss": 0.7 - 0.01 * i,
                    "registered_auc": {1: 0.7, 3: 0.75}.get(version),
                    "notes": "auc: one class only" if auc is None else None,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "model_version": pl.Int64,
            "bucket": pl.Datetime("us"),
            "rows": pl.Int64,
            "auc": pl.Float64,
            "log_loss": pl.Float64,
            "registered_auc": pl.Float64,
            "notes": pl.String,
        },
    )
    return PerformanceReport(
        model=model,
        every="1w",
        task="classification",
        metrics=("auc", "log_loss"),
        frame=frame,
        registered={1: {"auc": 0.7}, 2: {}, 3: {"auc": 0.75}},
        labelled=600,
        unlabelled=10,
    )


def evaluation(eval_set: str = "training_set:eval@1") -> Evaluation:
    return Evaluation(
        evaluation_id="e1",
        model="m",
        model_version=1,
        eval_set=eval_set,
        eval_content_id="cid",
        label_column="label",
        threshold=0.5,
        task="classification",
        rows=100,
        metrics={"auc": 0.81, "log_loss": 0.45},
        predictions_sha256="0" * 64,
        code_version={"commit": "deadbeef"},
        environment={"python": "3.11", "polars": pl.__version__},
        created_at="2024-06-01T00:00:00.000000",
        relative_path="evaluations/m/e1.parquet",
    )


def comparison(versions: int, model: str = "model:m@") -> Comparison:
    rows = []
    for v in range(1, versions + 1):
        base = v == 1
        rows.append(
            {
                "model": f"{model}{v}",
                "evaluation": f"evaluation:{v}",
                "auc": 0.8 + 0.01 * v,
                "auc_diff": None if base else 0.01 * (v - 1),
                "auc_low": None if base else 0.01 * (v - 1) - 0.02,
                "auc_high": None if base else 0.01 * (v - 1) + 0.005 * v,
                "log_loss": 0.5 - 0.01 * v,
                "log_loss_diff": None if base else -0.01 * (v - 1),
                "log_loss_low": None if base else -0.03 * (v - 1),
                "log_loss_high": None if base else -0.001,
            }
        )
    return Comparison(
        eval_set="training_set:eval@1",
        baseline=f"{model}1",
        metrics=("auc", "log_loss"),
        n_boot=500,
        seed=1,
        confidence=0.95,
        frame=pl.DataFrame(rows),
    )


def skew_report(column: str = "amount") -> SkewReport:
    return SkewReport(
        report_id="s1",
        batch="prediction_batch:b1",
        created_at="2024-06-01T00:00:00.000000",
        tolerance=0.0,
        bitemporal=False,
        features=(
            FeatureSkew(column, "stats@1:amount", 60, 6, 0, 1, 2.5),
            FeatureSkew("plan", "stats@1:plan", 60, 0, 0, 0, None),
        ),
    )


def statistics_of(frame: pl.DataFrame, target: str = "a frame") -> st.Statistics:
    return st.compute(frame, target)


def mixed_frame(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(10, 3, n),
            "flag": rng.integers(0, 2, n),
            "city": [f"city_{i % 25}" for i in rng.integers(0, 10_000, n)],
            "when": [datetime(2024, 1, 1) + timedelta(hours=int(h)) for h in range(n)],
            "empty": pl.Series([None] * n, dtype=pl.Float64),
        }
    )


# -- documents -----------------------------------------------------------------------------


def all_documents() -> dict[str, str]:
    return {
        "drift": drift_html(
            drift_report(feature_drift("a", 6, drifted=True), feature_drift("b", 0))
        ),
        "performance": performance_html(performance_report()),
        "statistics": statistics_html(statistics_of(mixed_frame())),
        "evaluation": evaluation_html(evaluation()),
        "comparison": evaluation_html(comparison(3)),
        "skew": skew_html(skew_report()),
    }


@pytest.mark.parametrize(
    "kind", ["drift", "performance", "statistics", "evaluation", "comparison", "skew"]
)
def test_documents_parse_and_stay_offline(kind: str) -> None:
    text = all_documents()[kind]
    root = check_document(text)
    assert "<script" not in text.lower()
    assert "@import" not in text
    assert "url(" not in text
    if kind != "evaluation":
        assert charts(root), "a chart"
    assert root.find_all("table", "fs-table")


def test_drift_document_summary_and_a_bar_per_bin() -> None:
    report = drift_report(
        feature_drift("wide", 13, drifted=True),
        feature_drift("narrow", 4),
        feature_drift("gone", 0),
    )
    root = check_document(drift_html(report))
    text = root.all_text()
    assert "training set 'training_set:train@1' \u2192 the current frame" in text
    assert "1 of 3 drifted" in text
    assert "psi > 0.2" in text
    assert "ks off" in text
    assert "|null rate change| > 0.05" in text
    sections = root.find_all("section", "card feature alert drifted")
    assert [s.find_all("h3")[0].all_text().split()[0] for s in sections] == ["wide"]
    features = [s for s in root.find_all("section") if "feature" in s.attrs.get("class", "")]
    assert len(features) == 3
    for section, f in zip(features, report.features, strict=True):
        svgs = section.find_all("svg")
        assert len(svgs) == (1 if f.bins else 0)
        if f.bins:
            assert len(svgs[0].find_all("rect", "bar ref")) == len(f.bins)
            assert len(svgs[0].find_all("rect", "bar cur")) == len(f.bins)
            labels = [t.own_text() for t in svgs[0].find_all("text")]
            assert all(b in labels for b in f.bins)  # each bin labelled (a title holds it too)
            assert {"reference", "current"} <= set(labels)  # the legend
        else:
            assert "no histogram" in section.all_text()
    # the drifted row of the metric table is highlighted, infinity shown as such
    rows = root.find_all("tr", "flag")
    assert len(rows) == 1
    assert rows[0].find_all("td")[0].all_text() == "wide"
    assert "\u221e" in rows[0].all_text()


def test_performance_a_line_per_version_and_dashed_registered_values() -> None:
    report = performance_report()
    root = check_document(performance_html(report))
    svgs = charts(root)
    assert len(svgs) == len(report.metrics)
    auc, log_loss = svgs
    assert len(auc.find_all("path", "line")) == 3
    assert len(auc.find_all("line", "registered")) == 2  # versions 1 and 3 were registered
    assert all(e.attrs["stroke-dasharray"] for e in auc.find_all("line", "registered"))
    assert len(log_loss.find_all("path", "line")) == 3
    assert not log_loss.find_all("line", "registered")
    # version 2's missing AUC in its second bucket breaks its line in two
    paths = {p.all_text(): p.attrs["d"] for p in auc.find_all("path", "line")}
    assert paths["version 2"].count("M") == 2
    assert paths["version 1"].count("M") == 1
    assert len(auc.find_all("circle", "point")) == 11
    labels = [t.own_text() for t in auc.find_all("text")]
    assert "2024-01-08" in labels  # bucket labels
    assert "bucket start (every 1w)" in labels
    assert "auc" in labels
    assert {"version 1", "version 2", "version 3", "registered value (dashed)"} <= set(labels)


def test_statistics_charts_per_column() -> None:
    stats = statistics_of(mixed_frame())
    root = check_document(statistics_html(stats))
    cards = {c.find_all("h3")[0].all_text(): c for c in root.find_all("section", "card column")}
    assert list(cards) == ["x", "flag", "city", "when", "empty"]
    (x,) = cards["x"].find_all("svg")
    assert len(x.find_all("rect", "bar")) == HISTOGRAM_BINS
    heights = [float(r.attrs["height"]) for r in x.find_all("rect", "bar")]
    assert max(heights[10:20]) > 5 * max(heights[0], heights[-1])  # a bell, not a plateau
    (flag,) = cards["flag"].find_all("svg")
    assert len(flag.find_all("rect", "bar")) == 2  # two values, a bar each
    (city,) = cards["city"].find_all("svg")
    assert len(city.find_all("rect", "bar")) == TOP_VALUES + 1  # and the other values
    assert not cards["when"].find_all("svg")
    assert "from 2024-01-01" in cards["when"].all_text()
    assert not cards["empty"].find_all("svg")


def test_merged_statistics_histogram() -> None:
    parts = [statistics_of(mixed_frame(500, seed)) for seed in range(3)]
    merged = st.merge(parts, "merged")
    root = check_document(statistics_html(merged))
    assert "no (merged" in root.all_text()
    x = root.find_all("section", "card column")[0].find_all("svg")[0]
    bars = x.find_all("rect", "bar")
    assert len(bars) == HISTOGRAM_BINS
    counts = [
        float(re.findall(r": ([\d,.]+) rows", b.all_text())[0].replace(",", "")) for b in bars
    ]
    assert sum(counts) == pytest.approx(1500, rel=1e-4)  # as shown, to 5 digits


def test_evaluation_and_comparison() -> None:
    root = check_document(evaluation_html(evaluation()))
    cells = [td.all_text() for td in root.find_all("td")]
    assert cells == ["auc", "0.81", "log_loss", "0.45"]
    assert "model:m@1" in root.all_text()
    assert "deadbeef" in root.all_text()
    for versions in (2, 4):
        c = comparison(versions)
        root = check_document(evaluation_html(c))
        svgs = charts(root)
        assert len(svgs) == len(c.metrics)
        for svg in svgs:
            assert len(svg.find_all("g", "errbar")) == versions - 1
            assert svg.find_all("line", "zero")
        assert len(root.find_all("tr")) == 1 + versions * len(c.metrics)
    single = check_document(evaluation_html(comparison(1)))
    assert not charts(single)
    assert "nothing to compare" in single.all_text()


def test_skew_document() -> None:
    root = check_document(skew_html(skew_report()))
    (svg,) = charts(root)
    assert len(svg.find_all("rect", "bar")) == 2
    assert len(root.find_all("tr", "flag")) == 1
    assert "10.0% (6 of 60)" in root.all_text()


# -- escaping ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_drift(tmp_path_factory: pytest.TempPathFactory) -> DriftReport:
    rng = np.random.default_rng(1)
    ref = pl.DataFrame(
        {
            HOSTILE: rng.normal(0, 1, 500),
            HOSTILE_VALUE: rng.choice([HOSTILE, HOSTILE_VALUE, "ok"], 500),
        }
    )
    cur = ref.with_columns(pl.col(HOSTILE) + 2)
    with fs.FeatureStore(Path(tmp_path_factory.mktemp("html")) / "store", progress=False) as s:
        return s.drift(ref, cur)


def assert_escaped(text: str) -> Element:
    root = check_document(text)
    lowered = text.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "</svg><img" not in lowered
    return root


def test_hostile_names_are_escaped_in_drift(hostile_drift: DriftReport) -> None:
    assert hostile_drift.drifted
    root = assert_escaped(drift_html(hostile_drift))
    text = root.all_text()
    assert HOSTILE in text
    assert HOSTILE_VALUE in text
    titles = [h.all_text() for h in root.find_all("h3")]
    assert titles[0].startswith(HOSTILE)
    assert titles[1].startswith(HOSTILE_VALUE)
    bins = [t.all_text() for t in root.find_all("text")]
    assert any(HOSTILE in b for b in bins)  # categorical bins named after hostile values


def test_hostile_names_are_escaped_everywhere() -> None:
    frame = mixed_frame(200).rename({"x": HOSTILE, "city": HOSTILE_VALUE})
    frame = frame.with_columns(pl.lit(HOSTILE_VALUE).alias("v"))
    assert_escaped(statistics_html(statistics_of(frame, target=HOSTILE)))
    assert_escaped(performance_html(performance_report(model=HOSTILE)))
    assert_escaped(evaluation_html(evaluation(eval_set=HOSTILE)))
    assert_escaped(evaluation_html(comparison(3, model=HOSTILE)))
    assert_escaped(skew_html(skew_report(column=HOSTILE)))
    report = drift_report(feature_drift(HOSTILE, 3, drifted=True))
    assert_escaped(drift_html(report))
    table = frame_table(frame)
    assert "<script" not in table
    assert "<img" not in table
    parse(table)


# -- frame_table ---------------------------------------------------------------------------


def test_frame_table_formats_and_truncates() -> None:
    frame = pl.DataFrame(
        {
            "n": [1234567, None, 3],
            "x": [0.123456789, float("nan"), float("inf")],
            "s": ["a", None, "<b>"],
            "t": [datetime(2024, 1, 1), datetime(2024, 1, 1, 12, 30), None],
            "ok": [True, False, None],
        }
    )
    root = parse(frame_table(frame))
    (table,) = root.find_all("table")
    assert [th.all_text() for th in table.find_all("th")] == ["n", "x", "s", "t", "ok"]
    rows = [[td.all_text() for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
    assert rows == [
        ["1,234,567", "0.12346", "a", "2024-01-01", "true"],
        [NULL, "NaN", NULL, "2024-01-01 12:30:00", "false"],
        ["3", "\u221e", "<b>", NULL, NULL],
    ]
    assert [td.attrs.get("class") for td in table.find_all("tr")[1].find_all("td")][:2] == [
        "num",
        "num",
    ]
    many = parse(frame_table(pl.DataFrame({"i": list(range(120))}), max_rows=10))
    trs = many.find_all("tr")
    assert len(trs) == 1 + 10 + 1
    assert "110 more rows (showing 10 of 120)" in trs[-1].all_text()
    assert parse(frame_table(pl.DataFrame({"i": []}, schema={"i": pl.Int64}))).find_all("th")


def test_repr_html_uses_the_table(hostile_drift: DriftReport) -> None:
    html = hostile_drift._repr_html_()
    assert "<table" in html
    assert "&lt;script&gt;" in html
    assert HOSTILE not in html.split("</p>", 1)[1]
