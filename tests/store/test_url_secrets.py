"""A password in the history URL, in the user info or in the query, is shown nowhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from passcycle.errors import HistoryError
from passcycle.store import SCHEMA_VERSION, History
from passcycle.store.engine import display, unforeseen
from passcycle.store.schema import meta

SECRET = "s3cret"
# A closed port on loopback: the connection is refused at once, and the URL must be shown.
UNREACHABLE = f"postgresql+psycopg://postgres@127.0.0.1:1/test?password={SECRET}"
SHOWN = "postgresql+psycopg://postgres@127.0.0.1:1/test?password=***"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg://me:{SECRET}@db/q", "postgresql+psycopg://me:***@db/q"),
        (
            f"postgresql+psycopg://me@db/q?password={SECRET}",
            "postgresql+psycopg://me@db/q?password=***",
        ),
        (
            f"postgresql+psycopg://me@db/q?sslpassword={SECRET}&sslmode=require",
            "postgresql+psycopg://me@db/q?sslmode=require&sslpassword=***",
        ),
        (
            f"postgresql+psycopg://me@db/q?PassWord={SECRET}",
            "postgresql+psycopg://me@db/q?PassWord=***",
        ),
        (
            f"postgresql+psycopg://me:{SECRET}@db/q?password={SECRET}&password=two{SECRET}",
            "postgresql+psycopg://me:***@db/q?password=***",
        ),
        # passfile names where the passwords are kept; it is not one, and helps to see it.
        (
            "postgresql+psycopg://me@db/q?passfile=/home/me/.pgpass",
            "postgresql+psycopg://me@db/q?passfile=%2Fhome%2Fme%2F.pgpass",
        ),
        ("sqlite:///project/.passcycle/history.db", "sqlite:///project/.passcycle/history.db"),
        # Not a URL SQLAlchemy reads (the port is not a number): masked all the same.
        (
            f"postgresql://me:{SECRET}@db:port/q?sslpassword={SECRET}",
            "postgresql://me:***@db:port/q?sslpassword=***",
        ),
        (f"postgresql://me:p@{SECRET}@db:port/q", "postgresql://me:***@db:port/q"),
    ],
)
def test_every_password_is_masked_in_the_shown_url(url: str, shown: str):
    assert display(url) == shown


@pytest.mark.parametrize("where", ["--db", "PASSCYCLE_DB", "plan"])
@pytest.mark.parametrize("command", [["history"], ["history", "--json"], ["serve", "-p", "0"]])
def test_an_unreachable_database_is_one_line_without_the_password(
    make_project, passcycle, where: str, command: list[str]
):
    files = {"tests/test_a.py": "def test_a():\n    pass\n"}
    if where == "plan":
        files["passcycle.toml"] = f'[project]\nhistory = "{UNREACHABLE}"\n'
    root = make_project(files)
    args = ["--db", UNREACHABLE, *command] if where == "--db" else command
    env = {"PASSCYCLE_DB": UNREACHABLE} if where == "PASSCYCLE_DB" else None
    result = passcycle(root, *args, expect=3, env=env)
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert result.stdout == ""
    error, tip = result.stderr.splitlines()
    assert error.startswith(f"error: cannot connect to the history {SHOWN}: ")
    assert "Connection refused" in error and tip.startswith("Tip: check that the database")


def test_an_unreadable_url_is_one_line_without_the_password(make_project, passcycle):
    root = make_project({"tests/test_a.py": "def test_a():\n    pass\n"})
    url = f"postgresql+psycopg://me:{SECRET}@db:port/q?password={SECRET}"
    result = passcycle(root, "--db", url, "history", expect=3)
    error, tip = result.stderr.splitlines()
    assert (
        error
        == "error: cannot read the history URL 'postgresql+psycopg://me:***@db:port/q?password=***'"
    )
    assert tip.startswith("Tip: write e.g. sqlite:///")
    assert not (root / ".passcycle").exists()  # nothing recorded anywhere


def test_a_driver_error_nobody_foresaw_is_one_line_without_the_password(make_project, passcycle):
    # pysqlite reads ?timeout= as a float and raises a bare ValueError echoing the value: no
    # branch of the store foresees it, and the password given there too was printed as is
    root = make_project({"tests/test_a.py": "def test_a():\n    pass\n"})
    url = f"sqlite:///history.db?password={SECRET}&timeout={SECRET}"
    result = passcycle(root, "--db", url, "history", expect=3)
    assert SECRET not in result.stdout + result.stderr
    error, tip = result.stderr.splitlines()
    assert error == (
        f"error: cannot open the history sqlite:///{root / 'history.db'}?password=***&timeout=***:"
        " could not convert string to float: '***'"
    )
    assert tip == "Tip: check the history URL (--db, PASSCYCLE_DB or `history` in the plan)"
    assert not (root / "history.db").exists()


def test_an_unforeseen_error_with_an_unreadable_url_is_masked_too(tmp_path: Path):
    # when reading the URL is what failed, its secrets are not known: mask what reads as one
    url = f"postgresql://me:{SECRET}@db:port/q?sslpassword={SECRET}"
    error = unforeseen(RuntimeError(f"driver said: {url}\nmore"), url, tmp_path)
    assert isinstance(error, HistoryError) and error.exit_code == 3
    assert error.message == (
        "cannot open the history: driver said: postgresql://me:***@db:port/q?sslpassword=***"
    )


@pytest.mark.postgres
def test_a_query_password_is_masked_in_the_history_and_its_errors(pg_url: str, tmp_path: Path):
    # The server trusts loopback: any password is accepted, and no real secret is used.
    url = f"{pg_url}&password={SECRET}&sslpassword={SECRET}2"
    with History.open(url, root=tmp_path) as history:
        assert SECRET in history.url  # what connects keeps it
        for shown in (history.display_url, repr(history)):
            assert SECRET not in shown
            assert "password=***" in shown and "sslpassword=***" in shown
            assert "options=-csearch_path" in shown
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            newer = str(SCHEMA_VERSION + 1)
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=newer))
    finally:
        engine.dispose()
    with pytest.raises(HistoryError, match="newer than this passcycle") as caught:
        History.open(url, root=tmp_path)
    assert SECRET not in caught.value.message and "password=***" in caught.value.message


@pytest.mark.postgres
def test_passcycle_serve_shows_the_history_without_the_password(pg_url: str, make_project):
    root = make_project({"tests/test_a.py": "def test_a():\n    pass\n"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PASSCYCLE_DB": f"{pg_url}&password={SECRET}", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "passcycle", "-C", str(root), "serve", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # serving once it answers; what it printed before is all there is to read
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=10)
    assert SECRET not in stdout + stderr
    assert "Traceback" not in stderr
    assert f"— history {pg_url.split('?')[0]}?" in stderr and "password=***" in stderr
