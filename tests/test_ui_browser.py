"""The web UI and a drawn explorer page in a real browser (headless Chromium): they load
with no console errors, a search finds a node, a click shows its metadata, an expand adds
the neighbours, explaining a prediction row shows its path, and screenshots are taken.
Skipped, with the reason, where Playwright or Chromium is missing (see tests/browser.py).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Page, launched_browser, serving
from cli_project import build_cli_project, run_cli_json
from lineage_helpers import World, many_files_store, world_fixture

import featstore as fs
from featstore.ui.draw import draw
from featstore.ui.graph import GraphSource

world = world_fixture("ui_browser")
PNG = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 20_000  # ms; a busy machine is slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


@pytest.fixture(scope="module")
def source(world: World) -> Iterator[GraphSource]:
    store = fs.FeatureStore(world.store_path, read_only=True, progress=False)
    yield GraphSource(store)
    store.close()


def _ready(page: Any, **data: str) -> None:
    selector = "#explorer[data-state=ready]" + "".join(f'[data-{k}="{v}"]' for k, v in data.items())
    page.wait_for_selector(selector, timeout=TIMEOUT)


def _shown(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("g.fs-node", "gs => gs.map(g => g.dataset.id)"))


def _walk_explorer(p: Page, world: World, source: GraphSource, shots: Path) -> None:
    """The checks shared by the served app and the drawn page, starting at the model."""
    page = p.page
    model = world.model.id
    _ready(page, center=model)
    assert _shown(page) == {n["id"] for n in source.neighbourhood(model, 2, 2)["nodes"]}
    page.screenshot(path=str(shots / "explorer.png"))

    # a search finds a node, and picking it opens the explorer there
    page.fill("#fs-search", "profile")
    profile_view = f"view:profile@{world.profile.version}"
    hit = page.wait_for_selector(
        f'#fs-search-results li[data-id="{profile_view}"]', timeout=TIMEOUT
    )
    assert "profile" in (hit.text_content() or "")
    hit.click()
    _ready(page, center=profile_view)
    assert _shown(page) == {n["id"] for n in source.neighbourhood(profile_view, 2, 2)["nodes"]}

    # a click shows the node's metadata
    training = world.training_set.id
    page.click(f'g.fs-node[data-id="{training}"]')
    page.wait_for_selector("#fs-meta-table", timeout=TIMEOUT)
    meta = page.text_content("#fs-meta") or ""
    assert training in meta
    assert "churn_train" in meta
    assert f"{world.training_set.rows}" in (page.text_content("#fs-attrs") or "")

    # expanding a node adds exactly its neighbours
    before = _shown(page)
    target = next(
        n["id"]
        for n in source.neighbourhood(profile_view, 2, 2)["nodes"]
        if {m["id"] for m in source.expand(n["id"])["nodes"]} - before
    )
    expected = before | {m["id"] for m in source.expand(target)["nodes"]}
    page.click(f'g.fs-node[data-id="{target}"]')
    page.click("#fs-expand")
    page.wait_for_function(
        "n => document.querySelectorAll('g.fs-node').length === n",
        arg=len(expected),
        timeout=TIMEOUT,
    )
    assert _shown(page) == expected

    # explaining a prediction row shows its path
    batch = f"prediction_batch:{world.batch.batch_id}"
    page.fill("#fs-search", world.batch.batch_id[:12])
    page.click(f'#fs-search-results li[data-id="{batch}"]', timeout=TIMEOUT)
    _ready(page, center=batch)
    page.click(f'g.fs-node[data-id="{batch}"]')
    page.click("#fs-explain", timeout=TIMEOUT)
    page.wait_for_selector("#fs-explain-result", timeout=TIMEOUT)
    explained = source.explain(batch, 0)
    on_path = set(
        page.eval_on_selector_all("g.fs-node.fs-on-path", "gs => gs.map(g => g.dataset.id)")
    )
    assert on_path == set(explained["path"])
    table = page.text_content("#fs-explain-result") or ""
    for row in explained["table"]:
        assert row["feature"] in table
        assert str(row["value"]) in table
    page.screenshot(path=str(shots / "explain.png"))
    for shot in ("explorer.png", "explain.png"):
        data = (shots / shot).read_bytes()
        assert data[:8] == PNG
        assert len(data) > 10_000
    assert p.errors == []


def test_served_explorer(world: World, source: GraphSource, page: Page, tmp_path: Path) -> None:
    with serving(world.store_path) as server:
        page.page.goto(server.url + "#/lineage/" + urllib.parse.quote(world.model.id, safe=""))
        _walk_explorer(page, world, source, tmp_path)


def test_drawn_page_works_from_disk_with_no_network(
    world: World, source: GraphSource, page: Page, tmp_path: Path
) -> None:
    out = tmp_path / "model.html"
    draw(source, world.model.id, out)
    requested: list[str] = []

    def only_files(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    page.context.route("**/*", only_files)
    page.page.goto(out.as_uri())
    _walk_explorer(page, world, source, tmp_path)
    assert requested == [out.as_uri()]


def test_every_page_of_the_app_loads_without_errors(
    world: World, page: Page, tmp_path: Path
) -> None:
    routes = [
        "#/",
        "#/views",
        "#/views/spend",
        "#/runs",
        f"#/runs/{world.runs['spend'].run_id}",
        "#/training-sets",
        f"#/training-sets/{urllib.parse.quote(world.training_set.id, safe='')}",
        "#/models",
        "#/models/churn",
        "#/batches",
        "#/lineage",
    ]
    with serving(world.store_path) as server:
        for route in routes:
            page.page.goto(server.url + route)
            page.page.wait_for_function(
                "() => !document.querySelector('#main .note') || "
                "!/Loading/.test(document.querySelector('#main').textContent)",
                timeout=TIMEOUT,
            )
            text = page.page.text_content("#main") or ""
            assert "error" not in text.lower(), (route, text[:300])
        page.page.goto(server.url + "#/models/churn")
        page.page.wait_for_function(
            "() => /auc/.test(document.querySelector('#main').textContent)", timeout=TIMEOUT
        )
        page.page.screenshot(path=str(tmp_path / "models.png"))
    assert page.errors == []


FILES = 14


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return many_files_store(tmp_path_factory.mktemp("browser_many"), FILES)


def test_a_group_of_similar_siblings_opens_in_place(many_files: Path, page: Page) -> None:
    with serving(many_files) as server:
        page.page.goto(server.url + "#/lineage/" + urllib.parse.quote("source:txns", safe=""))
        _ready(page.page)
        groups = page.page.query_selector_all("g.fs-node.fs-group")
        assert len(groups) == 1
        assert f"{FILES} source files" in (groups[0].text_content() or "")
        before = len(_shown(page.page))
        groups[0].click()
        page.page.click("#fs-expand")
        page.page.wait_for_function(
            "n => document.querySelectorAll('g.fs-node').length === n",
            arg=before - 1 + FILES,
            timeout=TIMEOUT,
        )
        assert not page.page.query_selector_all("g.fs-node.fs-group")
    assert page.errors == []


def test_a_new_users_cli_walk_ends_in_the_browser(tmp_path: Path, page: Page) -> None:
    """init, apply, materialize, historical, models register, predictions log through the
    CLI alone (tests/cli_project.py), then `featstore lineage draw`, opened in the browser,
    and `featstore ui`'s pages over the same store."""
    project = build_cli_project(tmp_path)
    drawn = run_cli_json(
        ["lineage", "draw", "model:churn", "--out", "lineage.html"], cwd=project.root
    )
    assert drawn["node"] == project.model
    page.page.goto((project.root / "lineage.html").as_uri())
    _ready(page.page, center=project.model)
    shown = _shown(page.page)
    assert {project.model, project.training_set, project.batch} <= shown
    page.page.fill("#fs-search", "spending")
    page.page.wait_for_selector("#fs-search-results li[data-id^='view:spending@']", timeout=TIMEOUT)
    with serving(project.store) as server:
        page.page.goto(server.url + "#/models/churn")
        page.page.wait_for_function(
            "() => /auc/.test(document.querySelector('#main').textContent)", timeout=TIMEOUT
        )
    assert page.errors == []
