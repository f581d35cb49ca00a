"""The history's a run's measurements and the verdict on each KPI, and their series."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa

from passcycle.records import (
    KpiVerdict,
    Measurement,
    Run,
)
from passcycle.store import rows, schema
from passcycle.store.access import (
    Access,
)
from passcycle.store.schema import measurements as measurements_table
from passcycle.store.schema import (
    runs,
)


class KpiStore(Access):
    def add_measurements(self, run_id: int, measurements: Iterable[Measurement]) -> None:
        batch = [rows.measurement_row(run_id, measurement) for measurement in measurements]
        if batch:
            with self._tx(write=True) as conn:
                conn.execute(sa.insert(measurements_table), batch)

    def measurements(self, run_id: int) -> list[Measurement]:
        table = measurements_table
        query = sa.select(table).where(table.c.run_id == run_id).order_by(table.c.id)
        with self._tx() as conn:
            found = conn.execute(query).mappings()
            return [rows.measurement_from_row(row) for row in found]

    def last_measured(
        self, project: str, sources: Iterable[str], names: Iterable[str]
    ) -> dict[str, dict[str, float]]:
        """Per source, the measurements named in `names` of the project's newest run that
        recorded any of them for that source (a scenario's last run, whichever run it was)."""
        m, r = schema.measurements, runs
        sources, names = list(sources), list(names)
        if not sources or not names:
            return {}
        newest = (
            sa.select(m.c.source, sa.func.max(m.c.run_id).label("run_id"))
            .join(r, r.c.id == m.c.run_id)
            .where(r.c.project == project, m.c.source.in_(sources), m.c.name.in_(names))
            .group_by(m.c.source)
            .subquery()
        )
        query = sa.select(m.c.source, m.c.name, m.c.value).join(
            newest, sa.and_(m.c.source == newest.c.source, m.c.run_id == newest.c.run_id)
        )
        found: dict[str, dict[str, float]] = {}
        with self._tx() as conn:
            for row in conn.execute(query.where(m.c.name.in_(names))):
                found.setdefault(row.source, {}).setdefault(row.name, row.value)
        return found

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

    def kpi_series(
        self, project: str, name: str, since: datetime, *, before: int, branch: str | None = None
    ) -> list[tuple[datetime, float]]:
        """(start, value) of one KPI over the judged runs of the whole suite that started at
        `since` or later, before run `before`, on `branch` when given; oldest first."""
        r, t = runs, schema.kpi_values
        query = (
            sa.select(r.c.started, t.c.value)
            .join(t, t.c.run_id == r.c.id)
            .where(
                r.c.project == project,
                r.c.id < before,
                r.c.started >= since,
                r.c.gate.is_not(None),
                r.c.partial.is_(False),
                t.c.name == name,
                t.c.value.is_not(None),
            )
            .order_by(r.c.started, r.c.id)
        )
        if branch is not None:
            query = query.where(r.c.git_branch == branch)
        with self._tx() as conn:
            return [(row.started, row.value) for row in conn.execute(query)]

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
