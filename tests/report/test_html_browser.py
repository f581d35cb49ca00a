"""The HTML report in a real headless Chromium: what a reader sees, charts drawn, nothing a
test named executes. Screenshots land in tests/artifacts/ (gitignored) for a human look."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browserkit import ARTIFACTS, chromium
from report_projects import HOSTILE_ID

from passcycle.report import phase_html, phase_report, weekly_html, weekly_review, write_reports
from passcycle.targets import format_value

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


class Watched:
    """A page with everything that could betray script execution recorded."""

    def __init__(self, browser, path: Path, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def shot(self, name: str, **options: object) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / name
        self.page.screenshot(path=str(target), full_page=True, **options)
        assert target.stat().st_size > 10_000
        return target


@pytest.fixture(scope="module")
def report(shop, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    with shop.history() as history:
        return write_reports(shop.plan, history, shop.latest, out, ["html"])["html"]


def test_the_report_shows_kpis_charts_and_issues(browser, report, shop):
    seen = Watched(browser, report)
    page = seen.page
    with shop.history() as history:
        kpis = history.kpi_values(shop.latest.id)
    rows = page.locator("table.kpis tbody tr")
    assert rows.count() == len(kpis)
    for kpi in kpis:
        row = page.locator(f'tr[data-kpi="{kpi.name}"]')
        assert row.locator("td.value").inner_text() == format_value(kpi.value, kpi.unit)
        assert row.locator(".pill").inner_text() == kpi.status
        assert row.locator("svg.spark polyline").count() == 1
    assert page.locator("#gate").inner_text().startswith("GATE FAILED")

    # uPlot drew the history chart and the chart of the scenario seen in both runs, with
    # pixels on them; the scenario of one run says a trend needs two
    canvases = page.locator(".chart canvas")
    assert canvases.count() == 2
    assert page.locator(".chart.empty").all_inner_texts() == ["one run so far: a trend needs two"]
    inked = page.evaluate(
        """() => [...document.querySelectorAll('.chart canvas')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
            return [c.width, c.height, n];
        })"""
    )
    assert all(w > 200 and h > 100 and n > 500 for w, h, n in inked), inked

    issues = page.locator("#issues .issue")
    assert issues.count() == 5
    assert "test_ansi_message" in issues.nth(2).inner_text() + issues.nth(3).inner_text()
    page.locator("#issues details summary").first.click()
    assert page.locator("#issues details pre.tb").first.is_visible()
    assert seen.errors == [] and seen.dialogs == []
    assert all(url.startswith("file://") for url in seen.requests), seen.requests
    seen.shot("report.png")


def test_a_hostile_test_name_executes_nothing(browser, report):
    seen = Watched(browser, report)
    page = seen.page
    for details in page.locator("details").all():
        details.evaluate("d => d.open = true")  # every traceback rendered too
    page.wait_for_timeout(200)
    assert seen.dialogs == []
    assert page.evaluate("document.scripts.length") == 4  # data, uPlot, our two chart scripts
    assert page.locator("img").count() == 0
    assert page.locator("body script").count() == 4
    # the names are there, as text
    text = page.locator("#failures").inner_text()
    assert f"test_x[{HOSTILE_ID}]" in text
    assert "test_x[<img src=x onerror=alert(2)>]" in text
    assert page.locator("#trends table.scenarios").inner_text().count("evil</script>") == 1
    assert page.locator("#trends table.faults").inner_text().count("evil</script>") == 1


def test_it_prints(browser, report):
    seen = Watched(browser, report, width=900)
    seen.page.emulate_media(media="print")
    seen.page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert seen.page.locator("details[open]").count() == seen.page.locator("details").count()
    assert seen.page.locator("nav.toc").is_hidden()
    pdf = seen.page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    seen.shot("report-print.png")


def test_phase_and_weekly_pages(browser, shop, tmp_path):
    from datetime import timedelta

    with shop.history() as history:
        phase = phase_html(phase_report(shop.plan, history, 1))
        weekly = weekly_html(weekly_review(shop.plan, history, timedelta(days=7)))
    for name, html in (("phase", phase), ("weekly", weekly)):
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        seen = Watched(browser, path)
        assert seen.errors == [] and seen.dialogs == []
        assert seen.page.locator("tr[data-kpi]").count() == 3
        seen.shot(f"{name}.png")
