"""The history: every run and its records, behind one API; callers never touch tables."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from passcycle.errors import HistoryError, UsageError
from passcycle.records import (
    RUN_KINDS,
    RUN_STATUSES,
    CoverageSummary,
    FileCoverage,
    Issue,
    KpiVerdict,
    Measurement,
    Run,
    TestResult,
)
from passcycle.store import rows, schema, tracking
from passcycle.store.engine import (
    create_engine,
    display,
    history_error,
    resolve_url,
    transaction,
)
from passcycle.store.liveness import writer_alive
from passcycle.store.migrate import ensure_schema
from passcycle.store.schema import (
    baselines,
    coverage_data,
    coverage_totals,
    file_coverage,
    runs,
    shards,
    test_results,
)
from passcycle.store.schema import measurements as measurements_table

FULL_RUN_KINDS = ("run", "ci")  # the runs whose issues are the project's open issues
_CHUNK = 500  # values per IN (...) list; SQLite caps bound parameters per statement
_NTH = re.compile(r"-(\d+)")
NOT_FOUND_HINT = "passcycle history lists the runs"


class History:
    """One history database: SQLite (one machine) or PostgreSQL (shared by CI and dashboard)."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url

    @classmethod
    def open(cls, url: str | None = None, root: Path | None = None) -> History:
        """Open (creating folders and schema) the history; see `engine.resolve_url`."""
        resolved = resolve_url(url, root)
        engine = create_engine(resolved)
        try:
            ensure_schema(engine, resolved)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise history_error(exc, resolved) from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, resolved)

    @property
    def url(self) -> str:
        return self._url.render_as_string(hide_password=False)

    @property
    def display_url(self) -> str:
        return display(self._url)

    @property
    def backend(self) -> str:
        return self._url.get_backend_name()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"History({self.display_url!r})"

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with transaction(self._engine, write=write) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise history_error(exc, self._url) from exc

    # -- writing a run ---------------------------------------------------------------------

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
    ) -> Run:
        """Record a new run as `running`, owned by this process."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind {kind!r} is not one of {RUN_KINDS}")
        values = {
            "project": project,
            "kind": kind,
            "status": "running",
            "started": _now(),
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

    def add_results(self, run_id: int, results: Iterable[TestResult]) -> None:
        """Append a batch of results in one transaction (one executemany)."""
        batch = [rows.result_row(run_id, result) for result in results]
        if batch:
            with self._tx(write=True) as conn:
                conn.execute(sa.insert(test_results), batch)

    def set_reruns(self, run_id: int, nodeid: str, reruns: tuple[str, ...]) -> None:
        """Record the outcomes of isolated re-runs; the first outcome stays as it was."""
        with self._tx(write=True) as conn:
            updated = conn.execute(
                sa.update(test_results)
                .where(test_results.c.run_id == run_id, test_results.c.nodeid == nodeid)
                .values(reruns=list(reruns))
            ).rowcount
        if not updated:
            raise HistoryError(f"run {run_id} has no result for {nodeid}")

    def set_times(
        self, run_id: int, times: dict[str, tuple[float | None, float | None, float | None]]
    ) -> None:
        """Replace tests' (cpu, solo, probe) seconds, e.g. with the faster of two timings."""
        if not times:
            return
        stmt = (
            sa.update(test_results)
            .where(
                test_results.c.run_id == sa.bindparam("r"),
                test_results.c.nodeid == sa.bindparam("n"),
            )
            .values(cpu=sa.bindparam("c"), solo=sa.bindparam("s"), probe=sa.bindparam("p"))
        )
        batch = [{"r": run_id, "n": n, "c": c, "s": s, "p": p} for n, (c, s, p) in times.items()]
        with self._tx(write=True) as conn:
            conn.execute(stmt, batch)

    def set_fingerprints(self, run_id: int, fingerprints: dict[str, str]) -> None:
        """Set the failure fingerprint of each named test of the run."""
        if not fingerprints:
            return
        statement = (
            sa.update(test_results)
            .where(
                test_results.c.run_id == sa.bindparam("b_run"),
                test_results.c.nodeid == sa.bindparam("b_nodeid"),
            )
            .values(fingerprint=sa.bindparam("b_fingerprint"))
        )
        params = [
            {"b_run": run_id, "b_nodeid": nodeid, "b_fingerprint": fingerprint}
            for nodeid, fingerprint in fingerprints.items()
        ]
        with self._tx(write=True) as conn:
            conn.execute(statement, params)

    def add_measurements(self, run_id: int, measurements: Iterable[Measurement]) -> None:
        batch = [rows.measurement_row(run_id, measurement) for measurement in measurements]
        if batch:
            with self._tx(write=True) as conn:
                conn.execute(sa.insert(measurements_table), batch)

    def add_coverage(
        self, run_id: int, summary: CoverageSummary, files: Iterable[FileCoverage]
    ) -> None:
        """Store the run's coverage, replacing any stored before (a merged shard, a redo)."""
        batch = [rows.file_coverage_row(run_id, file) for file in files]
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(file_coverage).where(file_coverage.c.run_id == run_id))
            conn.execute(sa.delete(coverage_totals).where(coverage_totals.c.run_id == run_id))
            conn.execute(sa.insert(coverage_totals), rows.summary_row(run_id, summary))
            if batch:
                conn.execute(sa.insert(file_coverage), batch)

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

    def save_verdict(
        self, run_id: int, gate: bool, reasons: Iterable[str], kpis: Iterable[KpiVerdict]
    ) -> None:
        """Keep a run's judged KPIs and gate; judging the run again replaces them."""
        values = [{"run_id": run_id, **asdict(k)} for k in kpis]
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(schema.kpi_values).where(schema.kpi_values.c.run_id == run_id))
            if values:
                conn.execute(sa.insert(schema.kpi_values), values)
            self._update_run(conn, run_id, {"gate": gate, "reasons": list(reasons)})

    def kpi_values(self, run_id: int) -> list[KpiVerdict]:
        t = schema.kpi_values
        with self._tx() as conn:
            found = conn.execute(sa.select(t).where(t.c.run_id == run_id)).all()
        return [
            KpiVerdict(
                r.name,
                r.value,
                r.unit,
                r.target,
                r.status,
                baseline=r.baseline,
                delta=r.delta,
                regressed=bool(r.regressed),
                source=r.source,
                detail=r.detail,
            )
            for r in found
        ]

    def kpi_trend(
        self, project: str, names: Iterable[str] | None = None, limit_runs: int = 50
    ) -> dict[str, list[tuple[int, float | None]]]:
        """(run id, value) per KPI over the project's latest judged runs, oldest first."""
        t, r = schema.kpi_values, schema.runs
        recent = (
            sa.select(r.c.id)
            .where(r.c.project == project, r.c.gate.is_not(None))
            .order_by(r.c.id.desc())
            .limit(limit_runs)
            .subquery()
        )
        query = sa.select(t.c.run_id, t.c.name, t.c.value).where(
            t.c.run_id.in_(sa.select(recent.c.id))
        )
        if names is not None:
            query = query.where(t.c.name.in_(list(names)))
        trend: dict[str, list[tuple[int, float | None]]] = {}
        with self._tx() as conn:
            for row in conn.execute(query.order_by(t.c.run_id)):
                trend.setdefault(row.name, []).append((row.run_id, row.value))
        return trend

    def kpi_window(
        self, project: str, before: int, limit: int = 30, measured: Iterable[str] = ()
    ) -> list[tuple[Run, dict[str, float]]]:
        """The judged runs of the whole suite before run `before`, newest first, with their
        KPI values and the measurements named in `measured`: what a KPI's spread between
        runs is measured on."""
        r, t = runs, schema.kpi_values
        query = (
            sa.select(runs)
            .where(
                r.c.project == project,
                r.c.id < before,
                r.c.gate.is_not(None),
                r.c.partial.is_(False),
                r.c.status.in_(("passed", "failed")),
            )
            .order_by(r.c.id.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            found = [rows.run_from_row(row) for row in conn.execute(query).mappings()]
            values: dict[int, dict[str, float]] = {run.id: {} for run in found}
            if found:
                for row in conn.execute(
                    sa.select(t.c.run_id, t.c.name, t.c.value).where(
                        t.c.run_id.in_(list(values)), t.c.value.is_not(None)
                    )
                ):
                    values[row.run_id][row.name] = row.value
                m = schema.measurements
                names = list(measured)
                if names:
                    for row in conn.execute(
                        sa.select(m.c.run_id, m.c.name, m.c.value).where(
                            m.c.run_id.in_(list(values)), m.c.name.in_(names)
                        )
                    ):
                        values[row.run_id].setdefault(row.name, row.value)
        return [(run, values[run.id]) for run in found]

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

    # -- reading runs ----------------------------------------------------------------------

    def runs(
        self, project: str | None = None, limit: int = 20, kind: str | None = None
    ) -> list[Run]:
        """The newest runs first."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if project is not None:
            query = query.where(runs.c.project == project)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self._tx() as conn:
            return [rows.run_from_row(row) for row in conn.execute(query).mappings()]

    def projects(self) -> list[str]:
        with self._tx() as conn:
            return list(conn.scalars(sa.select(runs.c.project).distinct().order_by(runs.c.project)))

    def get_run(self, ref: str | int, project: str | None = None) -> Run:
        """A run by id (42, "#42"), "latest"/"last", "full" (the newest finished run of the
        whole suite), "baseline[:NAME]" or "-N" (N-th newest)."""
        text = str(ref).strip().lower()
        if text.lstrip("#").isdigit():
            with self._tx() as conn:
                return self._run(conn, int(text.lstrip("#")), project)
        if text.startswith("baseline"):
            return self._baseline_ref(text.partition(":")[2] or "default", project)
        if text == "full":
            return self._latest_full(project)
        nth = 1 if text in ("latest", "last") else None
        if (match := _NTH.fullmatch(text)) and int(match[1]) > 0:
            nth = int(match[1])
        if nth is None:
            raise UsageError(
                f"cannot read the run {ref!r}",
                hint='give a run id, "latest", "full", "baseline" or -N for the N-th newest run',
            )
        query = sa.select(runs).order_by(runs.c.id.desc()).offset(nth - 1).limit(1)
        if project is not None:
            query = query.where(runs.c.project == project)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise UsageError(f"no run {ref} in the history", hint=NOT_FOUND_HINT)
        return rows.run_from_row(row)

    def _latest_full(self, project: str | None) -> Run:
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
        if row is None:
            raise UsageError(
                "no full run in the history",
                hint="passcycle run runs the whole suite; give a run id to judge another",
            )
        return rows.run_from_row(row)

    def _baseline_ref(self, name: str, project: str | None) -> Run:
        if project is None:
            with self._tx() as conn:
                owners = list(
                    conn.scalars(sa.select(baselines.c.project).where(baselines.c.name == name))
                )
            if len(owners) > 1:
                raise UsageError(
                    f"{len(owners)} projects have a baseline {name!r}", hint="name the project"
                )
            project = owners[0] if owners else ""
        run = self.baseline(project, name)
        if run is None:
            raise UsageError(
                f"no baseline {name!r} in the history",
                hint="mark a good run as the baseline first (passcycle baseline)",
            )
        return run

    def results(self, run_id: int) -> list[TestResult]:
        query = sa.select(test_results).where(test_results.c.run_id == run_id)
        with self._tx() as conn:
            found = conn.execute(query.order_by(test_results.c.id)).mappings()
            return [rows.result_from_row(row) for row in found]

    def measurements(self, run_id: int) -> list[Measurement]:
        table = measurements_table
        query = sa.select(table).where(table.c.run_id == run_id).order_by(table.c.id)
        with self._tx() as conn:
            found = conn.execute(query).mappings()
            return [rows.measurement_from_row(row) for row in found]

    def coverage(self, run_id: int) -> tuple[CoverageSummary | None, list[FileCoverage]]:
        with self._tx() as conn:
            total = (
                conn.execute(sa.select(coverage_totals).where(coverage_totals.c.run_id == run_id))
                .mappings()
                .first()
            )
            files = conn.execute(
                sa.select(file_coverage)
                .where(file_coverage.c.run_id == run_id)
                .order_by(file_coverage.c.path)
            ).mappings()
            return (
                rows.summary_from_row(total) if total is not None else None,
                [rows.file_coverage_from_row(row) for row in files],
            )

    def test_outcomes(
        self, nodeids: Iterable[str] | None, project: str, limit_runs: int = 20
    ) -> dict[str, list[tuple[int, str]]]:
        """Each test's (run id, outcome) over the project's last runs, newest first."""
        with self._tx() as conn:
            run_ids = list(
                conn.scalars(
                    sa.select(runs.c.id)
                    .where(runs.c.project == project)
                    .order_by(runs.c.id.desc())
                    .limit(limit_runs)
                )
            )
            query = (
                sa.select(test_results.c.nodeid, test_results.c.run_id, test_results.c.outcome)
                .where(test_results.c.run_id.in_(run_ids))
                .order_by(test_results.c.run_id.desc(), test_results.c.id)
            )
            wanted = None if nodeids is None else list(dict.fromkeys(nodeids))
            if wanted is None:
                found = conn.execute(query).all()
            else:
                found = [
                    row
                    for chunk in _chunks(wanted)
                    for row in conn.execute(query.where(test_results.c.nodeid.in_(chunk)))
                ]
                found.sort(key=lambda row: -row.run_id)  # stable: keeps order within a run
        outcomes: dict[str, list[tuple[int, str]]] = {nodeid: [] for nodeid in wanted or ()}
        for nodeid, run_id, outcome in found:
            outcomes.setdefault(nodeid, []).append((run_id, outcome))
        return outcomes

    # -- shards ----------------------------------------------------------------------------

    def add_shard(self, run_id: int, project: str, group: str, number: int, total: int) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                sa.insert(shards),
                {"run_id": run_id, "project": project, "grp": group, "number": number,
                 "total": total},
            )  # fmt: skip

    def shard_runs(self, project: str, group: str) -> list[tuple[Run, int, int]]:
        """The group's shard runs as (run, number, total), oldest first."""
        query = (
            sa.select(runs, shards.c.number, shards.c.total)
            .join(shards, shards.c.run_id == runs.c.id)
            .where(shards.c.project == project, shards.c.grp == group)
            .order_by(runs.c.id)
        )
        with self._tx() as conn:
            found = conn.execute(query).mappings().all()
        return [(rows.run_from_row(row), row["number"], row["total"]) for row in found]

    def latest_shard_group(self, project: str) -> str | None:
        query = (
            sa.select(shards.c.grp)
            .where(shards.c.project == project)
            .order_by(shards.c.run_id.desc())
            .limit(1)
        )
        with self._tx() as conn:
            return conn.scalar(query)

    def save_coverage_data(self, run_id: int, data: bytes) -> None:
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(coverage_data).where(coverage_data.c.run_id == run_id))
            conn.execute(sa.insert(coverage_data), {"run_id": run_id, "data": data})

    def coverage_data(self, run_id: int) -> bytes | None:
        query = sa.select(coverage_data.c.data).where(coverage_data.c.run_id == run_id)
        with self._tx() as conn:
            found = conn.scalar(query)
        return bytes(found) if found is not None else None

    # -- baselines -------------------------------------------------------------------------

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

    # -- issues ----------------------------------------------------------------------------

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

    # -- helpers ---------------------------------------------------------------------------

    def _run(self, conn: Connection, run_id: int, project: str | None = None) -> Run:
        """The run, which must exist (and belong to `project` when one is named)."""
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None or (project is not None and row["project"] != project):
            raise UsageError(f"no run {run_id} in the history", hint=NOT_FOUND_HINT)
        return rows.run_from_row(row)

    def _update_run(self, conn: Connection, run_id: int, values: dict[str, Any]) -> None:
        updated = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(values)).rowcount
        if not updated:
            raise UsageError(f"no run {run_id} in the history", hint=NOT_FOUND_HINT)


def _now() -> datetime:
    return datetime.now(UTC)


def _counts(conn: Connection, run_id: int) -> dict[str, int]:
    query = (
        sa.select(test_results.c.outcome, sa.func.count())
        .where(test_results.c.run_id == run_id)
        .group_by(test_results.c.outcome)
    )
    return {outcome: count for outcome, count in conn.execute(query)}


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
