"""Issue tracking: how an issue's state and counters move from run to run.

An issue is seen in a run (the caller passes it with any state but "fixed") or declared
fixed in it (state "fixed", e.g. by a re-test whose tests now pass):

- first sighting -> "new"; first_seen = last_seen = the run, occurrences 1
- seen again -> "recurring", or "reopened" when it was fixed; occurrences + 1
- seen again in the same run -> refreshed, not counted twice
- declared fixed -> "fixed"; an unknown fingerprint is ignored
"""

from __future__ import annotations

import zlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from passcycle.records import SEVERITIES, Issue, sighting
from passcycle.store import rows
from passcycle.store.schema import issue_runs, issues


def lock_project(conn: Connection, project: str) -> None:
    """Serialize issue writers of one project on PostgreSQL (SQLite has one writer anyway)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"passcycle-issues:{project}".encode())
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def save(conn: Connection, project: str, run_id: int, issue: Issue) -> Issue:
    """Upsert one issue by (project, fingerprint) and link it to the run; the stored issue."""
    existing = (
        conn.execute(
            sa.select(issues).where(
                issues.c.project == project, issues.c.fingerprint == issue.fingerprint
            )
        )
        .mappings()
        .first()
    )
    if existing is None:
        if issue.state == "fixed":
            return issue
        seen = sighting(None, run_id, same_run=False)
        values = rows.issue_row(issue) | {
            "project": project,
            "fingerprint": issue.fingerprint,
            "state": seen.state,
            "first_seen": seen.first_seen,
            "last_seen": seen.last_seen,
            "occurrences": seen.occurrences,
        }
        issue_id = rows.inserted_id(conn.execute(sa.insert(issues), values))
        _link(conn, issue_id, run_id, "new", issue.tests, exists=False)
        return rows.issue_from_row(values, issue.tests)

    linked = conn.scalar(
        sa.select(issue_runs.c.state).where(
            issue_runs.c.issue_id == existing["id"], issue_runs.c.run_id == run_id
        )
    )
    changes: dict[str, Any]
    if issue.state == "fixed":
        changes = {"state": "fixed"}
    else:
        # decided again here, under the store's lock: another run may have saved meanwhile
        same_run = linked is not None and linked != "fixed"
        seen = sighting(rows.issue_from_row(existing), run_id, same_run=same_run)
        changes = rows.issue_row(issue) | {
            "state": seen.state,
            "last_seen": seen.last_seen,
            "occurrences": seen.occurrences,
        }
    conn.execute(sa.update(issues).where(issues.c.id == existing["id"]).values(changes))
    stored = dict(existing) | changes
    _link(conn, existing["id"], run_id, stored["state"], issue.tests, exists=linked is not None)
    reopened = conn.scalar(sa.select(_reopened(existing["id"], run_id)))
    return rows.issue_from_row(stored | {"reopened": reopened}, issue.tests)


def _reopened(issue_id: Any, up_to: Any) -> Any:
    """How many runs up to `up_to` saw the issue come back after a fix: its sightings in
    state "reopened" (a count, not a column: the sightings already hold it)."""
    back = issue_runs.alias("back")
    return (
        sa.select(sa.func.count())
        .where(back.c.issue_id == issue_id, back.c.state == "reopened", back.c.run_id <= up_to)
        .scalar_subquery()
    )


def _link(
    conn: Connection,
    issue_id: int,
    run_id: int,
    state: str,
    tests: tuple[str, ...],
    *,
    exists: bool,
) -> None:
    values = {"state": state, "test_count": len(tests), "tests": list(tests)}
    if exists:
        conn.execute(
            sa.update(issue_runs)
            .where(issue_runs.c.issue_id == issue_id, issue_runs.c.run_id == run_id)
            .values(values)
        )
    else:
        conn.execute(sa.insert(issue_runs), values | {"issue_id": issue_id, "run_id": run_id})


def select_issues(
    conn: Connection, project: str, run_id: int | None, *, current_state: bool = False
) -> list[Issue]:
    """The project's issues, most severe and widespread first.

    With `run_id`: the issues linked to that run, with their tests and state in that run
    (or their state now, with `current_state`). Without: every issue, with the tests of
    its last sighting.
    """
    link_run = issue_runs.c.run_id == (run_id if run_id is not None else issues.c.last_seen)
    on = sa.and_(issue_runs.c.issue_id == issues.c.id, link_run)
    up_to = run_id if run_id is not None else issues.c.last_seen
    query = sa.select(
        issues,
        issue_runs.c.tests,
        issue_runs.c.state.label("run_state"),
        _reopened(issues.c.id, up_to).label("reopened"),
    )
    query = query.join(issue_runs, on, isouter=run_id is None)
    found = []
    for row in conn.execute(query.where(issues.c.project == project)).mappings():
        values = dict(row)
        if run_id is not None and not current_state:
            values["state"] = row["run_state"]
        found.append(rows.issue_from_row(values, tuple(row["tests"] or ())))
    found.sort(
        key=lambda issue: (severity_rank(issue.severity), -len(issue.tests), issue.first_seen or 0)
    )
    return found


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
