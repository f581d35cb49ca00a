"""The history's a run's coverage: totals, files, and a shard's data file."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from passcycle.records import (
    CoverageSummary,
    FileCoverage,
)
from passcycle.store import rows
from passcycle.store.access import (
    Access,
)
from passcycle.store.schema import (
    coverage_data,
    coverage_totals,
    file_coverage,
)


class CoverageStore(Access):
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

    def save_coverage_data(self, run_id: int, data: bytes) -> None:
        with self._tx(write=True) as conn:
            conn.execute(sa.delete(coverage_data).where(coverage_data.c.run_id == run_id))
            conn.execute(sa.insert(coverage_data), {"run_id": run_id, "data": data})

    def coverage_data(self, run_id: int) -> bytes | None:
        query = sa.select(coverage_data.c.data).where(coverage_data.c.run_id == run_id)
        with self._tx() as conn:
            found = conn.scalar(query)
        return bytes(found) if found is not None else None
