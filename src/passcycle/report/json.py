"""The JSON report: the verdict document of `passcycle validate --json`, with the run's tests,
coverage per file, KPI trends and scenario latency beside it."""

from __future__ import annotations

from typing import Any, TextIO

from passcycle import strictjson
from passcycle.records import TestOutcome
from passcycle.render.json import suspect_json, test_json, verdict_json
from passcycle.report.base import ReportContext


def report_json(ctx: ReportContext) -> dict[str, Any]:
    """verdict_json's keys at the top, so readers of `validate --json` read this file too."""
    outcome = TestOutcome(ctx.run, list(ctx.results), ctx.coverage, list(ctx.files), ctx.run.note)
    data = verdict_json(ctx.verdict)
    data["tests"] = test_json(outcome)
    data["coverage_files"] = [
        {
            "path": f.path,
            "statements": f.statements,
            "missing": f.missing,
            "branches": f.branches,
            "partial_branches": f.partial_branches,
            "percent": f.percent,
            "missing_lines": f.missing_lines,
        }
        for f in ctx.files
    ]
    data["trends"] = {
        name: [{"run": rid, "value": value} for rid, value in points]
        for name, points in ctx.trends.items()
    }
    data["flaky_history"] = [
        {"nodeid": f.nodeid, "flip_rate": f.flip_rate, "outcomes": list(f.outcomes)}
        for f in ctx.flaky
    ]
    data["scenarios"] = [
        {
            "name": s.name,
            "latency": [
                {"run": p.run_id, "p50": p.p50, "p95": p.p95, "p99": p.p99, "samples": p.samples}
                for p in s.points
            ],
            "latest": {m.name: {"value": m.value, "unit": m.unit} for m in s.latest},
        }
        for s in ctx.scenarios
    ]
    data["suggestions"] = dict(ctx.suggestions)
    data["suspects"] = {fp: [suspect_json(s) for s in found] for fp, found in ctx.suspects.items()}
    return data


class JsonReporter:
    def write(self, ctx: ReportContext, out: TextIO) -> None:
        out.write(strictjson.dumps(report_json(ctx), indent=2, default=str, ensure_ascii=False))
        out.write("\n")
