"""The JSON shapes of docs/json.md (keep them stable): a run, a Test phase's outcome, an
issue, a verdict. They read records only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from passcycle.records import OUTCOMES, Run, TestResult, pass_rate


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "project": run.project,
        "kind": run.kind,
        "partial": run.partial,
        "status": run.status,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
        "duration": run.duration,
        "commit": run.commit,
        "branch": run.branch,
        "dirty": run.dirty,
        "parent_id": run.parent_id,
        "exit_code": run.exit_code,
        "note": run.note,
        "counts": {o: run.counts.get(o, 0) for o in OUTCOMES},
        "gate": run.gate,
        "artifacts": run.artifacts,
    }


def test_json(outcome: Any, all_results: bool = False) -> dict[str, Any]:
    counts = outcome.counts
    cov = outcome.coverage
    results: Sequence[TestResult] = outcome.results
    bad = [r for r in results if r.outcome in ("failed", "error")]
    timed = sorted(results, key=lambda r: r.duration, reverse=True)[:10]
    data: dict[str, Any] = {
        "run": run_json(outcome.run),
        "counts": counts,
        "total": sum(counts.values()),
        "pass_rate": pass_rate(counts),
        "coverage": None
        if cov is None
        else {
            "total": round(cov.percent, 4),
            "line": round(cov.line, 4),
            "branch": None if cov.branch is None else round(cov.branch, 4),
            "statements": cov.statements,
            "covered_lines": cov.covered_lines,
            "branches": cov.branches,
            "covered_branches": cov.covered_branches,
        },
        "note": outcome.note,
        "slowest": [{"nodeid": r.nodeid, "duration": r.duration} for r in timed],
        "failures": [
            {
                "nodeid": r.nodeid,
                "outcome": r.outcome,
                "exc_type": r.exc_type,
                "message": r.message,
            }
            for r in bad
        ],
    }
    if outcome.detected:
        data["detected"] = outcome.detected
    if all_results:
        data["results"] = results_json(results)
    return data


def results_json(results: Sequence[TestResult]) -> list[dict[str, Any]]:
    """Every test: its outcome, clocks and, when it failed, why."""
    return [
        {
            "nodeid": r.nodeid,
            "outcome": r.outcome,
            "duration": r.duration,
            "cpu": r.cpu,
            "solo": r.solo,
            "probe": r.probe,
            "exc_type": r.exc_type,
            "message": r.message,
            "reruns": list(r.reruns),
        }
        for r in results
    ]


def suspect_json(suspect: Any) -> dict[str, Any]:
    """A suspect (validate/localize.py) as docs/json.md shows it."""
    return {
        "path": suspect.path,
        "line": suspect.line,
        "function": suspect.function,
        "score": suspect.score,
        "failed": suspect.failed,
        "passed": suspect.passed,
        "changed": suspect.changed,
    }


def issue_json(issue: Any) -> dict[str, Any]:
    return {
        "fingerprint": issue.fingerprint,
        "title": issue.title,
        "kind": issue.kind,
        "severity": issue.severity,
        "tests": len(issue.tests),
        "nodeids": list(issue.tests),
        "root_cause": issue.root_cause,
        "location": issue.location,
        "state": issue.state,
        "first_seen": issue.first_seen,
        "last_seen": issue.last_seen,
        "occurrences": issue.occurrences,
        "reopened": issue.reopened,
        "exc_type": issue.exc_type,
        "message": issue.message,
    }


def verdict_json(verdict: Any) -> dict[str, Any]:
    current = verdict.current_phase
    return {
        "run": run_json(verdict.run),
        "gate": {"passed": verdict.gate, "reasons": list(verdict.reasons)},
        "kpis": [asdict(k) for k in verdict.kpis],
        "issues": [issue_json(i) for i in verdict.issues],
        "top": [i.fingerprint for i in verdict.issues[: verdict.top]],
        "fixed": [issue_json(i) for i in verdict.fixed],
        "flaky": list(verdict.flaky),
        "quarantined": list(verdict.quarantined),
        "regressions": list(verdict.regressions),
        "baseline": verdict.baseline_id,
        "phases": [
            {
                "number": p.number,
                "title": p.title,
                "complete": p.complete,
                "criteria": [
                    {"text": c.text, "met": c.met, "evidence": c.evidence} for c in p.criteria
                ],
            }
            for p in verdict.phases
        ],
        "current_phase": current.number if current else None,
    }
