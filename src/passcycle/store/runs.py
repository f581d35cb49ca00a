"""The history's runs: started, finished, listed, referred to, and the baselines."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa

from passcycle.records import (
    RUN_KINDS,
    RUN_STATUSES,
    Run,
)
from passcycle.store import rows
from passcycle.store.access import (
    Access,
    _counts,
    _now,
)
from passcycle.store.liveness import writer_alive
from passcycle.store.schema import (
    baselines,
    runs,
)


class RunStore(Access):
    def start_run(
        self,
        project: str,
        kind: str,
        *,
        commit: str | None = None,
        branch: str | None = None,
        dirty: bool = False,
        parent_id: int | None = None,
        plan_digest: str | None = None,
        artifacts: str | Path | None = None,
        partial: bool = False,
        started: datetime | None = None,
    ) -> Run:
        """Record a new run as `running`, owned by this process; `started` (aware) for a
        run recorded after the fact, e.g. imported: now by default."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind {kind!r} is not one of {RUN_KINDS}")
        values = {
            "project": project,
            "kind": kind,
            "status": "running",
            "started": started or _now(),
            "git_commit": commit,
            "git_branch": branch,
            "git_dirty": dirty,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_created": psutil.Process().create_time(),
            "parent_id": parent_id,
            "plan_digest": plan_digest,
            "artifacts": str(artifacts) if artifacts is not None else None,
            "counts": {},
            "partial": partial,
        }
        with self._tx(write=True) as conn:
            run_id = rows.inserted_id(conn.execute(sa.insert(runs), values))
            return self._run(conn, run_id)

    def finish_run(
        self,
        run_id: int,
        status: str,
        exit_code: int | None = None,
        note: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> Run:
        """Close the run; `counts` defaults to the outcomes of its stored results."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status {status!r} is not one of {RUN_STATUSES}")
        with self._tx(write=True) as conn:
            values: dict[str, Any] = {
                "status": status,
                "finished": _now(),
                "exit_code": exit_code,
                "counts": counts if counts is not None else _counts(conn, run_id),
            }
            if note is not None:
                values["note"] = note
            self._update_run(conn, run_id, values)
            return self._run(conn, run_id)

    def discard_run(self, run_id: int) -> None:
        """Forget a run that never ran (pytest refused its command line): a typo is not
        history. Its rows go with it (ON DELETE CASCADE)."""
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(runs).where(runs.c.id == run_id))

    def set_artifacts(self, run_id: int, path: str | Path | None) -> None:
        with self._tx(write=True) as conn:
            self._update_run(conn, run_id, {"artifacts": None if path is None else str(path)})

    def set_note(self, run_id: int, note: str | None) -> None:
        with self._tx(write=True) as conn:
            self._update_run(conn, run_id, {"note": note})

    def reap(self) -> list[int]:
        """Mark `interrupted` the runs still `running` whose process is gone; their ids."""
        now = _now()
        host = socket.gethostname()
        with self._tx() as conn:
            running = conn.execute(
                sa.select(runs.c.id, runs.c.host, runs.c.pid, runs.c.pid_created, runs.c.started)
                .where(runs.c.status == "running")
                .order_by(runs.c.id)
            ).all()
        gone = [row.id for row in running if not writer_alive(row, host, now)]
        reaped: list[int] = []
        if not gone:
            return reaped  # the common case takes no write lock
        with self._tx(write=True) as conn:
            for run_id in gone:
                updated = conn.execute(
                    sa.update(runs)
                    # Still running: its writer may have finished it since we looked.
                    .where(runs.c.id == run_id, runs.c.status == "running")
                    .values(
                        status="interrupted",
                        finished=now,
                        counts=_counts(conn, run_id),
                        note=sa.func.coalesce(
                            runs.c.note, "its process ended before the run finished"
                        ),
                    )
                ).rowcount
                if updated:
                    reaped.append(run_id)
        return reaped

    def runs(
        self,
        project: str | None = None,
        limit: int = 20,
        kind: str | tuple[str, ...] | None = None,
    ) -> list[Run]:
        """The newest runs first (of one kind, or of any of several)."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if project is not None:
            query = query.where(runs.c.project == project)
        if isinstance(kind, str):
            query = query.where(runs.c.kind == kind)
        elif kind is not None:
            query = query.where(runs.c.kind.in_(kind))
        with self._tx() as conn:
            return [rows.run_from_row(row) for row in conn.execute(query).mappings()]

    def projects(self) -> list[str]:
        with self._tx() as conn:
            return list(conn.scalars(sa.select(runs.c.project).distinct().order_by(runs.c.project)))

    def run(self, run_id: int, project: str | None = None) -> Run:
        """The run, which must exist (and belong to `project` when one is named)."""
        with self._tx() as conn:
            return self._run(conn, run_id, project)

    def find_run(self, run_id: int, project: str | None = None) -> Run | None:
        """The run, or None when there is no such run (of that project)."""
        query = sa.select(runs).where(runs.c.id == run_id)
        if project is not None:
            query = query.where(runs.c.project == project)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return rows.run_from_row(row) if row is not None else None

    def nth_latest(self, nth: int, project: str | None = None) -> Run | None:
        """The N-th newest run (1: the newest), of a project or of all."""
        query = sa.select(runs).order_by(runs.c.id.desc()).offset(nth - 1).limit(1)
        if project is not None:
            query = query.where(runs.c.project == project)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return rows.run_from_row(row) if row is not None else None

    def latest_full(self, project: str | None = None) -> Run | None:
        """The newest finished run of the whole suite: not a re-test, a shard or `test -k`."""
        query = (
            sa.select(runs)
            .where(runs.c.partial.is_(False), runs.c.status.in_(("passed", "failed", "error")))
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        if project is not None:
            query = query.where(runs.c.project == project)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return rows.run_from_row(row) if row is not None else None

    def baseline_owners(self, name: str = "default") -> list[str]:
        """The projects that have a baseline of that name."""
        with self._tx() as conn:
            return list(
                conn.scalars(sa.select(baselines.c.project).where(baselines.c.name == name))
            )

    def set_baseline(self, project: str, run_id: int, name: str = "default") -> None:
        with self._tx(write=True) as conn:
            self._run(conn, run_id, project)
            conn.execute(
                sa.delete(baselines).where(baselines.c.project == project, baselines.c.name == name)
            )
            conn.execute(
                sa.insert(baselines),
                {"project": project, "name": name, "run_id": run_id, "set_at": _now()},
            )

    def baseline(self, project: str, name: str = "default") -> Run | None:
        query = (
            sa.select(runs)
            .join(baselines, baselines.c.run_id == runs.c.id)
            .where(baselines.c.project == project, baselines.c.name == name)
        )
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return rows.run_from_row(row) if row is not None else None

    def status_counts(self, project: str | None = None) -> dict[tuple[str, str], int]:
        """Runs per (project, status), of one project or of all."""
        query = sa.select(runs.c.project, runs.c.status, sa.func.count()).group_by(
            runs.c.project, runs.c.status
        )
        if project is not None:
            query = query.where(runs.c.project == project)
        with self._tx() as conn:
            return {(p, s): n for p, s, n in conn.execute(query)}
