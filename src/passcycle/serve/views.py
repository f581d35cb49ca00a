"""The dashboard's HTML pages: Jinja2 templates with autoescape over the board's data."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from passcycle import __version__, strictjson
from passcycle.records import BAD_OUTCOMES, OUTCOMES, SEVERITIES
from passcycle.serve import api
from passcycle.serve.board import Board
from passcycle.targets import format_duration as fmt_duration
from passcycle.targets import format_value

TEMPLATES = Path(__file__).parent / "templates"
POLL_SECONDS = 3.0  # how often a page asks /api/version whether a new run landed


def environment() -> Environment:
    # Autoescape every template: test names, messages and tracebacks are hostile text.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_function"] = strictjson.dumps  # `tojson`: no NaN or Infinity
    env.filters["value"] = lambda v, unit="": format_value(v, unit)
    env.filters["duration"] = fmt_duration
    env.filters["when"] = _when
    env.filters["percent"] = lambda v: "—" if v is None else f"{v:.1f}%"
    env.globals.update(
        OUTCOMES=OUTCOMES, SEVERITIES=SEVERITIES, BAD=BAD_OUTCOMES, version=__version__
    )
    return env


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def sparkline(values: list[float], width: int = 120, height: int = 24) -> str:
    """SVG polyline points for a small trend, oldest first (numbers only: nothing to escape)."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )


def router(
    board: Board, env: Environment | None = None, poll_seconds: float = POLL_SECONDS
) -> APIRouter:
    env = env or environment()
    pages = APIRouter()

    def render(name: str, page: str, **context: Any) -> HTMLResponse:
        version = board.version()
        html = env.get_template(name).render(
            page=page,
            project=board.project,
            projects=board.projects(),
            version_tag=version.tag,
            poll_ms=int(poll_seconds * 1000),
            **context,
        )
        return HTMLResponse(html)

    @pages.get("/", response_class=HTMLResponse)
    def overview() -> HTMLResponse:
        view = board.overview()
        trends = {k["name"]: k for k in api.overview_json(view)["kpis"]}
        severities = Counter(i.severity for i in view.open_issues)
        return render("overview.html", "overview", view=view, trends=trends, severities=severities)

    @pages.get("/runs", response_class=HTMLResponse)
    def runs(limit: int = Query(100, ge=1, le=1000)) -> HTMLResponse:
        return render("runs.html", "runs", runs=board.history.runs(board.project, limit=limit))

    @pages.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_detail(run_id: int) -> HTMLResponse:
        return render("run.html", "runs", detail=api.run_detail_json(board, run_id))

    @pages.get("/issues", response_class=HTMLResponse)
    def issues() -> HTMLResponse:
        return render(
            "issues.html",
            "issues",
            issues=board.history.issues(board.project),
            sightings=board.issue_history(),
        )

    @pages.get("/tests", response_class=HTMLResponse)
    def tests(
        q: str = Query("", max_length=200), runs: int = Query(20, ge=2, le=200)
    ) -> HTMLResponse:
        ranked = api.rank_tests(board.test_trends(runs), q, 200)
        lines = {t.nodeid: sparkline(list(reversed(t.durations))) for t in ranked}
        return render("tests.html", "tests", tests=ranked, lines=lines, q=q, runs=runs)

    return pages
