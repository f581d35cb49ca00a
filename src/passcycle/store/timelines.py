"""The history's scenario timelines: each scenario of a run, second by second."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, fields

import sqlalchemy as sa

from passcycle.records import TimelinePoint
from passcycle.store.access import Access
from passcycle.store.schema import timelines as timelines_table

# A point is kept as a list in field order: a long scenario has thousands of them.
_FIELDS = len(fields(TimelinePoint))


class TimelineStore(Access):
    def add_timelines(self, run_id: int, timelines: Mapping[str, Sequence[TimelinePoint]]) -> None:
        """Keep a run's scenario timelines; a scenario recorded again replaces its own."""
        batch = [
            {"run_id": run_id, "scenario": name, "points": [list(astuple(p)) for p in points]}
            for name, points in timelines.items()
            if points
        ]
        if not batch:
            return
        table = timelines_table
        with self._tx(write=True) as conn:
            names = [row["scenario"] for row in batch]
            conn.execute(
                sa.delete(table).where(table.c.run_id == run_id, table.c.scenario.in_(names))
            )
            conn.execute(sa.insert(table), batch)

    def timelines(self, run_id: int) -> dict[str, list[TimelinePoint]]:
        """Scenario name -> its points, for one run (empty for a run without scenarios)."""
        table = timelines_table
        query = sa.select(table.c.scenario, table.c.points).where(table.c.run_id == run_id)
        with self._tx() as conn:
            found = conn.execute(query.order_by(table.c.scenario)).all()
        return {
            name: [TimelinePoint(*point[:_FIELDS]) for point in points or ()]
            for name, points in found
        }
