"""The history's the issues of each run, and a project's open ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from passcycle.records import (
    Issue,
)
from passcycle.store import schema, tracking
from passcycle.store.access import (
    FULL_RUN_KINDS,
    Access,
)
from passcycle.store.schema import (
    runs,
)


class IssueStore(Access):
    def save_issues(self, project: str, run_id: int, issues: Iterable[Issue]) -> list[Issue]:
        """Record the issues of a run; `tracking` says how their states move."""
        with self._tx(write=True) as conn:
            tracking.lock_project(conn, project)
            return [tracking.save(conn, project, run_id, issue) for issue in issues]

    def issues(
        self, project: str, run_id: int | None = None, states: Sequence[str] | None = None
    ) -> list[Issue]:
        """The project's issues, most severe first; with `run_id`, as they stood in that run."""
        with self._tx() as conn:
            found = tracking.select_issues(conn, project, run_id)
        return [issue for issue in found if states is None or issue.state in states]

    def open_issues(self, project: str) -> list[Issue]:
        """The issues seen in the latest full run (run or ci) and not fixed since."""
        with self._tx() as conn:
            latest = conn.scalar(
                sa.select(runs.c.id)
                .where(
                    runs.c.project == project,
                    runs.c.kind.in_(FULL_RUN_KINDS),
                    runs.c.status.not_in(("running", "interrupted")),
                )
                .order_by(runs.c.id.desc())
                .limit(1)
            )
            if latest is None:
                return []
            found = tracking.select_issues(conn, project, latest, current_state=True)
        return [issue for issue in found if issue.state != "fixed"]

    def issue_sightings(self, project: str, since: int) -> list[tuple[str, int, str, int]]:
        """(fingerprint, run id, state, test count) of the project's issues in the runs
        from `since` on, newest first."""
        i, r = schema.issues, schema.issue_runs
        query = (
            sa.select(i.c.fingerprint, r.c.run_id, r.c.state, r.c.test_count)
            .join(r, r.c.issue_id == i.c.id)
            .where(i.c.project == project, r.c.run_id >= since)
            .order_by(r.c.run_id.desc())
        )
        with self._tx() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]
