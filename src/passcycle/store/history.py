"""The history: every run and its records, behind one API; callers never touch tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from passcycle.store.access import FULL_RUN_KINDS, Access
from passcycle.store.audits import AuditStore
from passcycle.store.coverage import CoverageStore
from passcycle.store.engine import (
    create_engine,
    display,
    history_error,
    is_sqlite_file,
    resolve_url,
)
from passcycle.store.issues import IssueStore
from passcycle.store.kpis import KpiStore
from passcycle.store.migrate import ensure_schema
from passcycle.store.results import ResultStore
from passcycle.store.runs import RunStore
from passcycle.store.shards import ShardStore
from passcycle.store.timelines import TimelineStore

__all__ = ["FULL_RUN_KINDS", "History"]


class History(
    RunStore,
    ResultStore,
    KpiStore,
    CoverageStore,
    ShardStore,
    IssueStore,
    AuditStore,
    TimelineStore,
    Access,
):
    """One history database: SQLite (one machine) or PostgreSQL (shared by CI and dashboard).
    Its methods live with the noun they keep (store/runs.py, results.py, kpis.py,
    coverage.py, shards.py, issues.py, audits.py, timelines.py); this class opens and closes it."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url

    @classmethod
    def open(
        cls, url: str | None = None, root: Path | None = None, plan_url: str | None = None
    ) -> History:
        """Open (creating folders and schema) the history; see `engine.resolve_url`."""
        resolved = resolve_url(url, root, plan_url)
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

    @property
    def sqlite_file(self) -> Path | None:
        """The database file of a SQLite history; None for a server or memory."""
        return Path(self._url.database or "") if is_sqlite_file(self._url) else None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"History({self.display_url!r})"
