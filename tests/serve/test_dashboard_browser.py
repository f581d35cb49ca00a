"""The dashboard in headless Chromium: it renders, it refreshes, hostile text stays text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from browserkit import ARTIFACTS, chromium, watched_page

from passcycle.store import History

from .conftest import HOSTILE_ID, HOSTILE_MESSAGE, Built

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = watched_page(browser)
    yield opened
    opened.context.close()


def base_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def test_overview_renders_kpis_charts_and_issues(page: Any, dashboard: httpx.Client):
    page.goto(base_url(dashboard) + "/")
    page.wait_for_selector(".chart canvas")
    assert page.inner_text("#gate .big") == "FAILED"
    values = {
        card.get_attribute("data-kpi"): card.query_selector(".value").inner_text()
        for card in page.query_selector_all("article.kpi")
    }
    assert values == {"coverage": "100.0%", "test_pass_rate": "33.33%"}
    # one drawn chart per KPI, with real pixels: uPlot sized its canvas to the card
    charts = page.query_selector_all(".chart canvas")
    assert len(charts) == 2
    assert all(c.bounding_box()["width"] > 150 and c.bounding_box()["height"] > 60 for c in charts)
    assert "1 of 2 exit criteria met" in page.inner_text("#phase")
    rows = page.query_selector_all("#top-issues tbody tr")
    assert len(rows) == 3
    assert any("test_mul" in row.inner_text() for row in rows)
    assert page.errors == []  # no script error, no CSP violation
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)


@pytest.mark.parametrize("path", ["/", "/runs/2", "/issues", "/tests"])
def test_hostile_test_text_executes_nothing(page: Any, dashboard: httpx.Client, path: str):
    page.goto(base_url(dashboard) + path, wait_until="networkidle")
    for details in page.query_selector_all("details"):
        details.evaluate("d => { d.open = true; }")
    page.wait_for_timeout(300)  # an injected <img onerror> would have fired by now
    assert page.dialogs == []
    injected = page.evaluate(
        """() => ({
            scripts: [...document.scripts]
                .filter(s => !s.src && s.type !== "application/json").length,
            images: document.querySelectorAll("img").length,
        })"""
    )
    assert injected == {"scripts": 0, "images": 0}
    text = page.inner_text("body")
    # shown as text (issue titles normalise numbers: "alert(<n>)")
    assert HOSTILE_ID in text or HOSTILE_MESSAGE[:-3] in text
    if path == "/runs/2":
        page.screenshot(path=str(ARTIFACTS / "dashboard-run.png"), full_page=True)


def test_page_reloads_when_a_run_lands(
    page: Any, built_copy: Built, serve_app: Callable[..., httpx.Client]
):
    from playwright.sync_api import expect

    client = serve_app(built_copy.url, "demo", plan=built_copy.plan, poll_seconds=0.2)
    page.goto(base_url(client) + "/")
    assert page.inner_text("#latest .big").startswith("#2")
    with History.open(built_copy.url) as history:
        run = history.start_run("demo", "run")
    # no wait_for_function: the page's CSP forbids the string eval it relies on
    expect(page.locator("#latest .big")).to_contain_text(f"#{run.id}", timeout=5000)
    assert page.dialogs == []
