"""The bundled example as a person sees it, after its first run and after five: screenshots of
the HTML report and every dashboard page (tests/artifacts/example-*.png), each chart's axis
in the unit its values are shown in, the within-run chart one point per second Locust
sampled, and every gate in "Recent runs" the one the history holds.

The example's plan runs as written but for shorter scenarios (a few seconds each; the soak
keeps the 30 s memory growth needs) and no isolated re-runs, so five runs take minutes."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import ARTIFACTS, chromium, watched_page

from passcycle.plan import load_plan
from passcycle.serve.app import create_app
from passcycle.store import History

from .conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "organism"
SHORTER = [
    ('duration = "20s"', 'duration = "3s"'),  # steady-100
    ('duration = "10s"', 'duration = "3s"'),  # spike-200
    ('duration = "30s"', 'duration = "3s"'),  # journey
    ('duration = "15s"', 'duration = "5s"'),  # slow-backend
    ('delay = "1500ms", after = "3s"', 'delay = "1500ms", after = "1s"'),
    ('duration = "12s"', 'duration = "6s"'),  # model-outage
    ('after = "3s", for = "5s"', 'after = "1s", for = "2s"'),
    ('duration = "40s"', 'duration = "31s"'),  # soak: memory_growth needs 30 s
    ("reruns = 2", "reruns = 0"),
]
NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example") / "organism"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".passcycle", "__pycache__"))
    plan = root / "passcycle.toml"
    text = plan.read_text(encoding="utf-8")
    for old, new in SHORTER:
        assert old in text, f"the example's plan changed: {old!r} is gone; update SHORTER"
        text = text.replace(old, new, 1)
    plan.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def run_example(root: Path) -> None:
    env = {**os.environ, "COLUMNS": "120", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PASSCYCLE_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "passcycle", "-C", str(root), "run"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_the_example_after_one_run_and_after_five(example: Path, browser: Any):
    run_example(example)
    check_every_page(example, browser, "1-run")
    for _ in range(4):
        run_example(example)
    check_every_page(example, browser, "5-runs")


def check_every_page(root: Path, browser: Any, label: str) -> None:
    plan = load_plan(root)
    url = f"sqlite:///{root / '.passcycle' / 'history.db'}"
    with History.open(url) as history:
        runs = history.runs(plan.name, limit=20)
        latest = runs[0]
        timelines = history.timelines(latest.id)
    assert timelines, "the example's scenarios left no timeline"
    page = watched_page(browser)
    with LiveServer(create_app(url, plan.name, plan=plan, poll_seconds=0)) as server:
        for name, path in [
            ("overview", "/"), ("runs", "/runs"), ("issues", "/issues"), ("tests", "/tests"),
            ("run", f"/runs/{latest.id}"),
        ]:  # fmt: skip
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)  # uPlot draws after DOMContentLoaded
            page.screenshot(path=ARTIFACTS / f"example-{label}-{name}.png", full_page=True)
            if name == "overview":
                check_kpi_charts(page, [r.id for r in runs], len(runs))
                check_gates(page, "table.runs tr[data-run]", runs)
            if name == "runs":
                check_gates(page, "table.runs tr[data-run]", runs)
            if name == "run":
                check_timelines(page, root, latest.id, timelines)
    page.goto((root / ".passcycle" / "report.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    page.screenshot(path=ARTIFACTS / f"example-{label}-report.png", full_page=True)
    check_timelines(page, root, latest.id, timelines)
    check_gates(page, "#runs tr[data-run]", runs)
    history_chart = page.locator("#chart-history")
    if len(runs) == 1:
        assert history_chart.inner_text() == "one run so far: a trend needs two"
    else:
        axis = read_axis(history_chart, 1)
        assert all(text.endswith("%") for text in axis["labels"] if text), axis
        assert axis["min"] >= 0 and axis["max"] <= 100
    assert page.errors == [] and page.dialogs == []
    page.context.close()


def read_axis(element: Any, index: int) -> dict[str, Any]:
    raw = element.get_attribute(f"data-axis-{index}")
    assert raw, f"axis {index} of {element} was never drawn"
    return json.loads(raw)


def unit_of(shown: str) -> str:
    return NUMBER.sub("", shown.strip())


def check_kpi_charts(page: Any, run_ids: list[int], run_count: int) -> None:
    cards = page.locator("article.kpi")
    assert cards.count() >= 15
    drawn = 0
    for card in cards.all():
        name = card.get_attribute("data-kpi")
        shown = card.locator(".value").inner_text()
        chart = card.locator(".chart")
        if chart.locator("canvas").count() == 0:
            note = chart.inner_text()
            # one run: no chart of one dot; never measured: said so
            assert (run_count == 1 and "first run" in note) or "not measured" in note, name
            continue
        drawn += 1
        axis = read_axis(chart, 1)
        labels = [text for text in axis["labels"] if text]
        assert labels, name
        unit = unit_of(shown)
        for text in labels:
            assert NUMBER.match(text), (name, text)
            assert unit_of(text) == unit, f"{name}: value {shown}, axis label {text}"
        value = float(NUMBER.match(shown)[0])
        assert axis["min"] <= value <= axis["max"], f"{name}: {shown} off its axis {axis}"
        runs = read_axis(chart, 0)
        for text in filter(None, runs["labels"]):
            assert re.fullmatch(r"#\d+", text) and int(text[1:]) in run_ids, (name, text)
    assert drawn == 0 if run_count == 1 else drawn >= 15


def check_gates(page: Any, rows: str, runs: list[Any]) -> None:
    stored = {r.id: r.gate for r in runs}
    seen = page.locator(rows)
    assert seen.count() >= 1
    for row in seen.all():
        run_id = int(row.get_attribute("data-run"))
        gate = row.locator("td.gate").inner_text()
        expected = stored[run_id]
        if expected is None:
            assert "passed" not in gate and "failed" not in gate, (run_id, gate)
        else:
            assert ("passed" if expected else "failed") in gate, (run_id, gate, expected)


def sampled_seconds(root: Path, run_id: int, scenario: str) -> int:
    path = root / ".passcycle" / "runs" / str(run_id) / "scenarios" / scenario
    with (path / "locust_stats_history.csv").open(newline="") as handle:
        return sum(row["Name"] == "Aggregated" for row in csv.DictReader(handle))


def check_timelines(page: Any, root: Path, run_id: int, timelines: dict[str, list]) -> None:
    boxes = page.locator(".timeline[data-scenario]")
    assert sorted(b.get_attribute("data-scenario") for b in boxes.all()) == sorted(timelines)
    for box in boxes.all():
        name = box.get_attribute("data-scenario")
        assert box.locator("canvas").count() == 1, name
        seconds = sampled_seconds(root, run_id, name)
        assert int(box.get_attribute("data-points")) == len(timelines[name]) == seconds
        time_axis = read_axis(box, 0)
        assert all(t.endswith("s") for t in time_axis["labels"] if t), (name, time_axis)
        latency = read_axis(box, 1)["labels"]
        assert all(unit_of(t) in ("ms", "s") for t in latency if t), (name, latency)
        assert len({unit_of(t) for t in latency if t}) == 1, (name, latency)
        assert all(t.endswith("/s") for t in read_axis(box, 2)["labels"] if t), name
        assert all(t.endswith(" users") for t in read_axis(box, 3)["labels"] if t), name
