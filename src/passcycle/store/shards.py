"""The history's which shard of which group a run is."""

from __future__ import annotations

import sqlalchemy as sa

from passcycle.records import (
    Run,
)
from passcycle.store import rows
from passcycle.store.access import (
    Access,
)
from passcycle.store.schema import (
    runs,
    shards,
)


class ShardStore(Access):
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
