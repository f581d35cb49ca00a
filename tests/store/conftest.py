"""Store fixtures: every store test runs on a SQLite file and on the PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from passcycle.store import History


@pytest.fixture(autouse=True)
def _no_history_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # PASSCYCLE_DB in the developer's shell must not redirect the tests' histories.
    monkeypatch.delenv("PASSCYCLE_DB", raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty history: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def history(history_url: str, tmp_path: Path) -> Iterator[History]:
    opened = History.open(history_url, root=tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def raw(history_url: str) -> Iterator[sa.Engine]:
    """Direct SQL on the history, for tests that must forge a state the API never writes."""
    engine = sa.create_engine(history_url)
    yield engine
    engine.dispose()
