"""The history's security audits: each part of a run's audit with its findings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields

import sqlalchemy as sa

from passcycle.records import Audit, Finding
from passcycle.store.access import Access
from passcycle.store.schema import audits as audits_table

_FINDING_FIELDS = frozenset(f.name for f in fields(Finding))


class AuditStore(Access):
    def add_audits(self, run_id: int, audits: Iterable[Audit]) -> None:
        """Keep a run's audit; auditing the run again replaces a part's earlier record."""
        batch = [
            {
                "run_id": run_id, "part": a.part, "tool": a.tool, "measured": a.measured,
                "reason": a.reason, "seconds": a.seconds, "checked": a.checked,
                # a finding's empty fields are left out: most are one part's alone
                "findings": [{k: v for k, v in asdict(f).items() if v} for f in a.findings],
            }
            for a in audits
        ]  # fmt: skip
        if not batch:
            return
        table = audits_table
        with self._tx(write=True) as conn:
            parts = [row["part"] for row in batch]
            conn.execute(sa.delete(table).where(table.c.run_id == run_id, table.c.part.in_(parts)))
            conn.execute(sa.insert(table), batch)

    def audits(self, run_id: int) -> list[Audit]:
        table = audits_table
        query = sa.select(table).where(table.c.run_id == run_id).order_by(table.c.part)
        with self._tx() as conn:
            found = conn.execute(query).mappings().all()
        return [
            Audit(
                row["part"], row["tool"], bool(row["measured"]), row["reason"], row["seconds"],
                row["checked"],
                tuple(
                    Finding(**{k: v for k, v in f.items() if k in _FINDING_FIELDS})
                    for f in row["findings"] or ()
                ),
            )
            for row in found
        ]  # fmt: skip
