"""The dashboard's JSON API: the same data as its pages, under /api (read-only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query

from passcycle.records import BAD_OUTCOMES, SEVERITIES, KpiVerdict, PhaseStatus, Run
from passcycle.render.json import issue_json, run_json
from passcycle.report.charts import kpi_chart, timeline_chart
from passcycle.report.scenarios import summarize
from passcycle.serve.board import Board, Overview, Sighting, TestTrend
from passcycle.targets import TargetSyntaxError, format_value, parse_target


def kpi_json(
    kpi: KpiVerdict, trend: list[tuple[int, float | None]] | None = None
) -> dict[str, Any]:
    chart = kpi_chart(trend or (), kpi.unit, target_value(kpi.target))
    # with a trend to draw, the value is shown in its axis's unit (425ms beside 0.4s-1.2s
    # would read as two scales)
    shown_in = chart["unit"] if len(chart["x"]) > 1 else None
    return {
        "name": kpi.name,
        "value": kpi.value,
        "shown": format_value(kpi.value, kpi.unit, shown_in),
        "unit": kpi.unit,
        "target": kpi.target,
        "target_value": target_value(kpi.target),
        "status": kpi.status,
        "baseline": kpi.baseline,
        "delta": kpi.delta,
        "regressed": kpi.regressed,
        "source": kpi.source,
        "detail": kpi.detail,
        "how": how_judged(kpi),
        "trend": [[run_id, value] for run_id, value in trend or ()],
        "chart": chart,
    }


def how_judged(kpi: KpiVerdict) -> str:
    """Where the value came from and what it was held against: the run page's HOW."""
    parts = [f"from {kpi.source}"] if kpi.source else []
    if kpi.detail:
        parts.append(kpi.detail)
    elif kpi.status in ("pass", "fail"):
        against = f"target {kpi.target}" if kpi.target else "its target"
        parts.append(
            f"{against}; baseline {format_value(kpi.baseline, kpi.unit)}"
            if kpi.baseline is not None
            else f"{against} alone (no baseline)"
        )
    return " · ".join(parts)


def target_value(target: str | None) -> float | None:
    """The target's threshold in the KPI's base unit, to draw beside its trend."""
    if not target:
        return None
    try:
        return parse_target(target).value
    except TargetSyntaxError:
        return None


def phase_json(phase: PhaseStatus) -> dict[str, Any]:
    return {
        "number": phase.number,
        "title": phase.title,
        "complete": phase.complete,
        "criteria": [
            {"text": c.text, "met": c.met, "evidence": c.evidence} for c in phase.criteria
        ],
    }


def gate_json(run: Run | None) -> dict[str, Any] | None:
    if run is None or run.gate is None:
        return None
    return {"passed": run.gate, "reasons": list(run.reasons), "run": run.id}


def overview_json(view: Overview) -> dict[str, Any]:
    current = view.current_phase
    severities = Counter(i.severity for i in view.open_issues)
    return {
        "project": view.project,
        "run": run_json(view.run) if view.run else None,
        "latest": run_json(view.latest) if view.latest else None,
        "gate": gate_json(view.run),
        "kpis": [kpi_json(k, view.trends.get(k.name)) for k in view.kpis],
        "phases": [phase_json(p) for p in view.phases],
        "current_phase": current.number if current else None,
        "open_issues": {
            "count": len(view.open_issues),
            "by_severity": {s: severities.get(s, 0) for s in SEVERITIES},
            "top": [issue_json(i) for i in view.open_issues[:5]],
        },
        "recent": [run_json(r) for r in view.recent],
    }


def sighting_json(sighting: Sighting) -> dict[str, Any]:
    return {"run": sighting.run_id, "state": sighting.state, "tests": sighting.test_count}


def test_trend_json(trend: TestTrend) -> dict[str, Any]:
    return {
        "nodeid": trend.nodeid,
        "last": trend.last,
        "flip_rate": trend.flip_rate,
        "mean_duration": trend.mean_duration,
        "runs": [
            {"run": r, "outcome": o, "duration": d}
            for r, o, d in zip(trend.run_ids, trend.outcomes, trend.durations, strict=True)
        ],
    }


def rank_tests(trends: list[TestTrend], q: str = "", limit: int = 200) -> list[TestTrend]:
    """Flaky first, then failing, then slowest; `q` filters node ids (substring)."""
    chosen = [t for t in trends if q.lower() in t.nodeid.lower()] if q else trends
    chosen.sort(key=lambda t: (-t.flip_rate, t.last not in BAD_OUTCOMES, -t.mean_duration))
    return chosen[:limit]


def run_detail_json(board: Board, run_id: int) -> dict[str, Any]:
    run = board.run_detail(run_id)
    history = board.history
    summary, files = history.coverage(run.id)
    results = history.results(run.id)
    failures = [r for r in results if r.outcome in BAD_OUTCOMES]
    return {
        "run": run_json(run),
        "gate": gate_json(run),
        "kpis": [kpi_json(k) for k in history.kpi_values(run.id)],
        "timelines": [timeline_chart(n, p) for n, p in history.timelines(run.id).items()],
        "failures": [
            {
                "nodeid": r.nodeid,
                "outcome": r.outcome,
                "exc_type": r.exc_type,
                "message": r.message,
                "traceback": r.traceback,
                "reruns": list(r.reruns),
            }
            for r in failures
        ],
        "coverage": None
        if summary is None
        else {
            "total": summary.percent,
            "line": summary.line,
            "branch": summary.branch,
            "files": [
                {
                    "path": f.path,
                    "statements": f.statements,
                    "missing": f.missing,
                    "percent": f.percent,
                    "missing_lines": f.missing_lines,
                }
                for f in files
            ],
        },
        "issues": [issue_json(i) for i in history.issues(board.project, run_id=run.id)],
        "scenarios": [asdict(s) for s in summarize(history.measurements(run.id))],
    }


def issues_json(board: Board) -> dict[str, Any]:
    sightings = board.issue_history()
    found = board.history.issues(board.project)
    return {
        "project": board.project,
        "issues": [
            issue_json(i)
            | {"history": [sighting_json(s) for s in sightings.get(i.fingerprint, [])]}
            for i in found
        ],
    }


def router(board: Board) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.get("/version")
    def version() -> dict[str, Any]:
        v = board.version()
        return {
            "project": board.project,
            "run": v.run_id,
            "status": v.status,
            "finished": v.finished.isoformat() if v.finished else None,
            "gate": v.gate,
            "version": v.tag,
        }

    @api.get("/overview")
    def overview() -> dict[str, Any]:
        return overview_json(board.overview())

    @api.get("/runs")
    def runs(limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        return {
            "project": board.project,
            "runs": [run_json(r) for r in board.history.runs(board.project, limit=limit)],
        }

    @api.get("/runs/{run_id}")
    def run_detail(run_id: int) -> dict[str, Any]:
        return run_detail_json(board, run_id)

    @api.get("/issues")
    def issues() -> dict[str, Any]:
        return issues_json(board)

    @api.get("/tests")
    def tests(
        runs: int = Query(20, ge=2, le=200),
        q: str = Query("", max_length=200),
        limit: int = Query(200, ge=1, le=5000),
    ) -> dict[str, Any]:
        ranked = rank_tests(board.test_trends(runs), q, limit)
        return {"project": board.project, "tests": [test_trend_json(t) for t in ranked]}

    @api.get("/projects")
    def projects() -> dict[str, Any]:
        return {"projects": board.projects(), "current": board.project}

    return api
