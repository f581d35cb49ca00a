"""Rows: how records become table rows and come back, so History never spells a column twice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import CursorResult

from passcycle.records import (
    CoverageSummary,
    FileCoverage,
    Frame,
    Issue,
    Measurement,
    Run,
    TestResult,
)

Row = Mapping[Any, Any]  # a RowMapping, or a plain dict of column values


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key a single-row INSERT made."""
    key = result.inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])


def run_from_row(row: Row) -> Run:
    return Run(
        id=row["id"],
        project=row["project"],
        kind=row["kind"],
        status=row["status"],
        started=row["started"],
        finished=row["finished"],
        commit=row["git_commit"],
        branch=row["git_branch"],
        dirty=bool(row["git_dirty"]),
        host=row["host"],
        pid=row["pid"],
        parent_id=row["parent_id"],
        plan_digest=row["plan_digest"],
        exit_code=row["exit_code"],
        note=row["note"],
        artifacts=row["artifacts"],
        counts=dict(row["counts"] or {}),
        gate=None if row.get("gate") is None else bool(row["gate"]),
        reasons=tuple(row.get("reasons") or ()),
        partial=bool(row.get("partial") or False),
    )


def result_row(run_id: int, result: TestResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "nodeid": result.nodeid,
        "file": result.file or result.nodeid.partition("::")[0],
        "outcome": result.outcome,
        "duration": result.duration,
        "exc_type": result.exc_type,
        "message": result.message,
        "traceback": result.traceback,
        "frames": [
            {"path": f.path, "line": f.line, "function": f.function, "in_project": f.in_project}
            for f in result.frames
        ],
        "stage": result.when,
        "reruns": list(result.reruns),
        "fingerprint": result.fingerprint,
        "cpu": result.cpu,
        "solo": result.solo,
        "probe": result.probe,
    }


def result_from_row(row: Row) -> TestResult:
    return TestResult(
        nodeid=row["nodeid"],
        outcome=row["outcome"],
        duration=row["duration"],
        file=row["file"],
        exc_type=row["exc_type"],
        message=row["message"],
        traceback=row["traceback"],
        frames=tuple(Frame(**frame) for frame in row["frames"] or ()),
        when=row["stage"],
        reruns=tuple(row["reruns"] or ()),
        fingerprint=row["fingerprint"],
        cpu=row.get("cpu"),
        solo=row.get("solo"),
        probe=row.get("probe"),
    )


def measurement_row(run_id: int, measurement: Measurement) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "name": measurement.name,
        "value": float(measurement.value),
        "unit": measurement.unit,
        "source": measurement.source,
        "samples": [float(sample) for sample in measurement.samples],
    }


def measurement_from_row(row: Row) -> Measurement:
    return Measurement(
        name=row["name"],
        value=row["value"],
        unit=row["unit"],
        source=row["source"],
        samples=tuple(row["samples"] or ()),
    )


def file_coverage_row(run_id: int, file: FileCoverage) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "path": file.path,
        "statements": file.statements,
        "missing": file.missing,
        "branches": file.branches,
        "partial_branches": file.partial_branches,
        "percent": file.percent,
        "missing_lines": file.missing_lines,
    }


def file_coverage_from_row(row: Row) -> FileCoverage:
    return FileCoverage(
        path=row["path"],
        statements=row["statements"],
        missing=row["missing"],
        branches=row["branches"],
        partial_branches=row["partial_branches"],
        percent=row["percent"],
        missing_lines=row["missing_lines"],
    )


def summary_row(run_id: int, summary: CoverageSummary) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "statements": summary.statements,
        "covered_lines": summary.covered_lines,
        "branches": summary.branches,
        "covered_branches": summary.covered_branches,
        "percent": summary.percent,
        "precision": summary.precision,
    }


def summary_from_row(row: Row) -> CoverageSummary:
    return CoverageSummary(
        statements=row["statements"],
        covered_lines=row["covered_lines"],
        branches=row["branches"],
        covered_branches=row["covered_branches"],
        percent=row["percent"],
        precision=row["precision"],
    )


def issue_row(issue: Issue) -> dict[str, Any]:
    """The columns a new sighting refreshes (identity and counters are History's)."""
    return {
        "title": issue.title,
        "kind": issue.kind,
        "severity": issue.severity,
        "root_cause": issue.root_cause,
        "exc_type": issue.exc_type,
        "message": issue.message,
        "location": issue.location,
    }


def issue_from_row(row: Row, tests: tuple[str, ...] = ()) -> Issue:
    return Issue(
        fingerprint=row["fingerprint"],
        title=row["title"],
        kind=row["kind"],
        severity=row["severity"],
        root_cause=row["root_cause"],
        tests=tests,
        state=row["state"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        occurrences=row["occurrences"],
        exc_type=row["exc_type"],
        message=row["message"],
        location=row["location"],
        reopened=row.get("reopened") or 0,
    )
