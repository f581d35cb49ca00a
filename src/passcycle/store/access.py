"""What every part of the history shares: its engine, transactions, and finding a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from passcycle.errors import UsageError
from passcycle.records import (
    Run,
)
from passcycle.store import rows
from passcycle.store.engine import (
    history_error,
    transaction,
)
from passcycle.store.schema import (
    runs,
    test_results,
)

FULL_RUN_KINDS = ("run", "ci")  # the runs whose issues are the project's open issues
_CHUNK = 500  # values per IN (...) list; SQLite caps bound parameters per statement
NOT_FOUND_HINT = "passcycle history lists the runs"


class Access:
    """The engine and URL a History opened, and the transactions its parts run in."""

    _engine: Engine
    _url: URL

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with transaction(self._engine, write=write) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise history_error(exc, self._url) from exc

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
