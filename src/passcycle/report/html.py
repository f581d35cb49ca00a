"""The HTML report: one self-contained file (styles, chart code and data inlined) that works
offline and prints; Jinja2 with autoescape on, so a test's name is text, never markup."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import jinja2

from passcycle import __version__, strictjson
from passcycle.records import Issue, pass_rate
from passcycle.report.base import (
    ReportContext,
    clip_lines,
    first_line,
    fmt_delta,
    fmt_kpi,
    kpi_status,
    plain,
)
from passcycle.report.charts import runs_chart, shift_markers, timeline_chart
from passcycle.report.scenarios import summarize
from passcycle.targets import format_duration as fmt_duration
from passcycle.targets import format_value

HERE = Path(__file__).parent
MAX_DETAILED_FAILURES = 300  # failures shown with their traceback
MAX_LISTED_FAILURES = 3000  # failures listed by name after those
MAX_FILES = 1000  # coverage rows
MAX_OTHER_ISSUES = 100  # open issues listed after the top N
TRACEBACK_LINES = 80
TRACEBACK_CHARS = 8000


@dataclass(frozen=True, slots=True)
class Spark:
    """A KPI's trend as an inline SVG polyline (drawn without script, so it prints)."""

    points: str
    last_x: float
    last_y: float
    count: int
    low: str
    high: str
    marks: tuple[float, ...] = ()  # x of each change point (the first run at a new level)


def sparkline(
    values: Sequence[float | None],
    unit: str,
    width: int = 120,
    height: int = 28,
    shifts: Sequence[int] = (),
) -> Spark | None:
    """`shifts`: positions in `values` where a change point puts a new level."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return None
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or 1.0
    step = (width - 6) / max(len(values) - 1, 1)
    coords = [(3 + i * step, height - 3 - (v - low) / span * (height - 6)) for i, v in known]
    if len(coords) == 1:
        coords = [(3, coords[0][1]), (width - 3, coords[0][1])]
    return Spark(
        points=" ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        count=len(known),
        low=format_value(low, unit),
        high=format_value(high, unit),
        marks=tuple(3 + i * step for i in shifts),
    )


_LOCATION = re.compile(r"^[^\s:]+:\d+: ")  # pytest's "tests/test_a.py:8: AssertionError"


def traceback_lines(text: str) -> list[tuple[str, str]]:
    """A bounded traceback as (css class, line): "e" for pytest's E lines, "at" for its
    location lines, "" for source."""
    lines = clip_lines(plain(text), TRACEBACK_LINES, TRACEBACK_CHARS).splitlines()
    return [
        ("e" if line.startswith("E ") else "at" if _LOCATION.match(line) else "", line)
        for line in lines
    ]


def safe_json(data: Any) -> str:
    """JSON for a <script type="application/json"> block: `<`, `>` and `&` as \\u escapes,
    so no text from a test (`</script>`, `<!--`) can end the block or open markup."""
    text = strictjson.dumps(data, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped unless a template says otherwise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["plain"] = plain
    env.filters["first_line"] = first_line
    env.filters["duration"] = fmt_duration
    env.filters["tb_lines"] = traceback_lines
    env.filters["value"] = format_value
    return env


@cache
def vendored() -> dict[str, str]:
    """The inlined code: the chart library and our chart scripts, checked once (inlined
    verbatim, none may close its element), and the page's Content-Security-Policy.

    The policy lets only these three scripts run (by their hashes) and loads nothing from
    anywhere: even markup that slipped past escaping could neither execute nor call home.
    """
    js = (HERE / "vendor" / "uPlot.iife.min.js").read_text(encoding="utf-8")
    css = (HERE / "vendor" / "uPlot.min.css").read_text(encoding="utf-8")
    shared = (HERE / "static" / "charts.js").read_text(encoding="utf-8")  # the dashboard's too
    charts = (HERE / "templates" / "_charts.js").read_text(encoding="utf-8")
    if "</script" in (js + shared + charts).lower() or "</style" in css.lower():
        raise RuntimeError("vendored chart code contains a closing tag; it cannot be inlined")
    hashes = " ".join(_script_hash(code) for code in (js, shared, charts))
    csp = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return {"js": js, "css": css, "shared": shared, "charts": charts, "csp": csp}


def _script_hash(code: str) -> str:
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def render_template(name: str, **values: Any) -> str:
    template = _environment().get_template(name)
    return template.render(vendor=vendored(), version=__version__, **values)


def _kpi_rows(ctx: ReportContext) -> list[dict[str, Any]]:
    rows = []
    for k in ctx.verdict.kpis:
        points = ctx.trends.get(k.name, ())
        trend = [v for _, v in points]
        at = {run: i for i, (run, _) in enumerate(points)}
        known = [(run, v) for run, v in points if v is not None]
        shifts = [at[m["run"]] for m in shift_markers(known)]
        rows.append(
            {
                "kpi": k,
                "value": fmt_kpi(k.value, k.unit),
                "baseline": fmt_kpi(k.baseline, k.unit),
                "delta": fmt_delta(k),
                "status": kpi_status(k),
                "spark": sparkline(trend, k.unit, shifts=shifts),
                "shifts": shifts,
            }
        )
    return rows


def _chart_data(ctx: ReportContext) -> dict[str, Any]:
    full = [r for r in ctx.recent_runs if not r.partial and r.counts]
    coverage = dict(ctx.trends.get("coverage", ()))
    if ctx.coverage is not None:
        coverage[ctx.run.id] = ctx.coverage.percent
    history = runs_chart(
        [r.id for r in full],
        {
            "pass rate": [_finite(pass_rate(r.counts)) for r in full],
            "coverage": [_finite(coverage.get(r.id)) for r in full],
        },
        "%",
    )
    scenarios = [
        {
            "name": s.name,
            **runs_chart(
                [p.run_id for p in s.points],
                {key: [getattr(p, key) for p in s.points] for key in ("p50", "p95", "p99")},
                "s",
            ),
        }
        for s in ctx.scenarios
        if s.points
    ]
    timelines = [timeline_chart(name, points) for name, points in ctx.timelines.items()]
    return {"history": history, "scenarios": scenarios, "timelines": timelines}


def _finite(value: float | None) -> float | None:
    return (
        None if value is None or value != value or value in (float("inf"), float("-inf")) else value
    )


def _issue_view(issue: Issue, ctx: ReportContext) -> dict[str, Any]:
    first = next((r for r in map(ctx.result, issue.tests[:5]) if r is not None), None)
    return {
        "issue": issue,
        "traceback": (first.traceback or first.message or "") if first else "",
        "suggestion": ctx.suggestions.get(issue.fingerprint),
        "suspects": list(ctx.suspects.get(issue.fingerprint, ())),
    }


def html_values(ctx: ReportContext) -> dict[str, Any]:
    verdict = ctx.verdict
    failures = ctx.failures
    issues = list(verdict.issues)
    files = sorted(ctx.files, key=lambda f: (f.percent, f.path))
    counts = ctx.counts
    return {
        "ctx": ctx,
        "run": ctx.run,
        "verdict": verdict,
        "counts": {o: n for o, n in counts.items() if n},
        "total": sum(counts.values()),
        "pass_rate": pass_rate(counts),
        "kpis": _kpi_rows(ctx),
        "top_issues": [_issue_view(i, ctx) for i in issues[: verdict.top]],
        "other_issues": issues[verdict.top : verdict.top + MAX_OTHER_ISSUES],
        "more_issues": max(len(issues) - verdict.top - MAX_OTHER_ISSUES, 0),
        "failures": failures[:MAX_DETAILED_FAILURES],
        "listed_failures": failures[MAX_DETAILED_FAILURES:MAX_LISTED_FAILURES],
        "more_failures": max(len(failures) - MAX_LISTED_FAILURES, 0),
        "failure_count": len(failures),
        "flaky": ctx.flaky[:50],
        "files": files[:MAX_FILES],
        "more_files": max(len(files) - MAX_FILES, 0),
        "scenarios": ctx.scenarios,
        "faults": [f for f in summarize(m for t in ctx.scenarios for m in t.latest) if f.faults],
        "drills": ctx.drills,
        "phases": verdict.phases,
        "current_phase": verdict.current_phase,
        "runs": list(reversed(ctx.recent_runs)),
        "chart_data": safe_json(_chart_data(ctx)),
        "status_label": STATUS_LABEL,
    }


STATUS_LABEL = {
    "pass": "pass",
    "fail": "fail",
    "regressed": "regressed",
    "not measured": "not measured",
    "flat": "flat",  # a trend no steeper than its noise
}


def render_html(ctx: ReportContext) -> str:
    return render_template("report.html.j2", **html_values(ctx))


class HtmlReporter:
    def write(self, ctx: ReportContext, out: TextIO) -> None:
        out.write(render_html(ctx))


__all__ = ["HtmlReporter", "render_html", "render_template", "safe_json", "sparkline"]
