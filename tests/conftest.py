"""Shared fixtures: throw-away projects written into tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """A factory: `make_project(files={"src/pkg/__init__.py": "...", ...})` -> project root.

    Texts are dedented; calling it again adds files to the same project.
    """

    def make(files: dict[str, str] | None = None, name: str = "project") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for relative, text in (files or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return root

    return make


class CliResult:
    """What a user sees from one real `passcycle` process."""

    def __init__(self, args: list[str], proc: subprocess.CompletedProcess[str]) -> None:
        self.args = args
        self.exit_code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return (
            f"<passcycle {' '.join(self.args)} exit={self.exit_code}\n{self.stdout}\n{self.stderr}>"
        )


@pytest.fixture
def passcycle(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the real CLI in a subprocess: `passcycle(root, "test", "--json", expect=1)`.

    Child pytest runs skip the plugins installed beside passcycle (autoload off): they add
    seconds to every start and nothing to what these tests check, unless `autoload=True`.
    """

    def run(
        root: Path,
        *args: str,
        expect: int | None = None,
        autoload: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 180,
    ) -> CliResult:
        full_env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", **(env or {})}
        full_env.pop("PASSCYCLE_DB", None) if "PASSCYCLE_DB" not in (env or {}) else None
        if not autoload:
            full_env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        proc = subprocess.run(
            [sys.executable, "-m", "passcycle", "-C", str(root), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
        result = CliResult(list(args), proc)
        assert "Traceback" not in result.stderr, result
        if expect is not None:
            assert result.exit_code == expect, result
        return result

    return run


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The real PostgreSQL server, with a schema of this test's own (reached through
    search_path), so tests never meet each other's rows nor other data in `test`."""
    schema = f"passcycle_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
