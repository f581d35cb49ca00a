"""The history's database engine: which URL, how to connect, and errors a user can act on."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from passcycle.errors import HistoryError
from passcycle.workdir import HISTORY_ENV, HISTORY_PATH, history_url, make_folder

ENV_VAR = HISTORY_ENV
DEFAULT_PATH = HISTORY_PATH
BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for another one before giving up
CONNECT_TIMEOUT = 10  # seconds to reach a database server
URL_HINT = "write e.g. sqlite:///.passcycle/history.db or postgresql+psycopg://user@host/db"
MASK = "***"
# Query keys libpq reads as secrets (`passfile` is only where they are kept): psycopg hands
# the query to libpq, so `?password=` works as `user:password@` does and is shown as little.
SECRET_KEYS = frozenset({"password", "sslpassword"})
# For text that is not a URL SQLAlchemy can read: user:SECRET@ (to the last @, as a
# password may hold one) and SECRET_KEY=SECRET after ?, & or a space (libpq's key=value).
_USERINFO = re.compile(r"(://[^/?#@:]*):[^/?#]*@")
_QUERY_SECRET = re.compile(r"([?&;\s](?:" + "|".join(sorted(SECRET_KEYS)) + r")=)[^&#\s]*", re.I)


def resolve_url(url: str | None, root: Path | None, plan_url: str | None = None) -> URL:
    """The history URL (workdir.history_url ranks its sources); relative SQLite paths are
    taken from the project root."""
    root = (root or Path.cwd()).resolve()
    chosen = history_url(url, root, plan_url)
    try:
        parsed = sa.make_url(chosen)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise HistoryError(
            f"cannot read the history URL {display(chosen)!r}", hint=URL_HINT
        ) from None
    if is_sqlite_file(parsed) and not Path(parsed.database or "").is_absolute():
        parsed = parsed.set(database=str(root / (parsed.database or "")))
    return parsed


def is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def display(url: URL | str) -> str:
    """The URL as users see it: every password masked, in the user info and in the query.

    Every place that shows a history URL (errors, `passcycle serve`, the dashboard, reprs)
    goes through here, so a secret added to SECRET_KEYS is hidden everywhere at once.
    """
    if isinstance(url, str):
        text = url
        try:
            url = sa.make_url(text)
        except (ArgumentError, ValueError):
            return _mask_text(text)
    secret = {key: MASK for key in url.query if key.lower() in SECRET_KEYS}
    shown = url.update_query_dict(secret) if secret else url
    # The query is rendered quoted, which would show the mask as %2A%2A%2A.
    return shown.render_as_string(hide_password=True).replace(quote_plus(MASK), MASK)


def _mask_text(text: str) -> str:
    """Every `user:SECRET@` and `?password=SECRET` in a text that is not one readable URL."""
    return _QUERY_SECRET.sub(rf"\1{MASK}", _USERINFO.sub(rf"\1:{MASK}@", text))


def scrub(text: str, url: URL) -> str:
    """`text` (a driver's message) without the URL's secrets, should the driver echo them."""
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def unforeseen(
    exc: BaseException, url: str | None, root: Path | None, plan_url: str | None = None
) -> HistoryError:
    """An error no branch here foresaw, in one line naming the history, without a password:
    a driver may echo what it was given (pysqlite reads `?timeout=` as a float and echoes
    the value it could not read)."""
    hint = "check the history URL (--db, PASSCYCLE_DB or `history` in the plan)"
    text = _first_line(exc)
    try:
        resolved = resolve_url(url, root, plan_url)
    except Exception:  # reading the URL is what failed: mask what reads as a password
        return HistoryError(f"cannot open the history: {_mask_text(text)}", hint=hint)
    # scrubbed whole: a password given again under another key is shown in the URL too
    return HistoryError(
        scrub(f"cannot open the history {display(resolved)}: {text}", resolved), hint=hint
    )


def _secrets(url: URL) -> set[str]:
    found = {url.password} if url.password else set()
    for key, value in url.query.items():
        if key.lower() in SECRET_KEYS:
            found.update([value] if isinstance(value, str) else value)
    return {str(secret) for secret in found if secret}


def create_engine(url: URL) -> Engine:
    """An engine configured for the history: WAL SQLite or PostgreSQL through psycopg 3."""
    options: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "sqlite":
        connect_args["timeout"] = BUSY_TIMEOUT
        if not is_sqlite_file(url):
            # One shared connection, or every checkout would see its own empty database.
            options["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
        else:
            _make_parent(url)
    elif backend == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
        options["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, connect_args=connect_args, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise HistoryError(
            f"cannot use the history URL {display(url)}: {scrub(_first_line(exc), url)}",
            hint=URL_HINT,
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


def _make_parent(url: URL) -> None:
    parent = Path(url.database or "").parent
    try:
        make_folder(parent)
    except OSError as exc:
        raise HistoryError(
            f"cannot create the history folder {parent}: {exc.strerror or exc}",
            hint="make the project folder writable, or set PASSCYCLE_DB to another database",
        ) from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below): sqlite3's implicit transactions skip DDL and
        # cannot take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if is_sqlite_file(engine.url):
                # WAL: readers (the dashboard) never block the writer, and a killed writer
                # leaves only an uncommitted tail that the next open discards.
                _wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")  # durable across crashes in WAL
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the write lock when it begins, so it waits (busy_timeout) instead of
        # failing with SQLITE_BUSY when a read lock cannot be upgraded mid-transaction.
        write = conn.get_execution_options().get("passcycle_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _wal(cursor: Any) -> None:
    """Switch a new database to WAL. SQLite answers that switch with "database is locked"
    at once, without its busy handler, while another process holds the file (two first
    runs at the same time), so wait here as busy_timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction; `write` takes SQLite's write lock up front."""
    with engine.connect() as conn:
        if write:
            conn.execution_options(passcycle_write=True)
        with conn.begin():
            yield conn


def history_error(exc: SQLAlchemyError, url: URL) -> HistoryError:
    """What went wrong with the database, in one line, with what to do about it."""
    where = display(url)
    text = scrub(_first_line(exc.orig if isinstance(exc, DBAPIError) else exc), url)
    lowered = text.lower()
    path = url.database if is_sqlite_file(url) else None
    if path and "file is not a database" in lowered:
        return HistoryError(
            f"{path} is not a SQLite database",
            hint="move the file away (passcycle then starts a new history there) "
            "or set PASSCYCLE_DB to another database",
        )
    if path and ("unable to open" in lowered or "readonly" in lowered):
        return HistoryError(
            f"cannot write the history {path}: {text}",
            hint="make the file and its folder writable, or set PASSCYCLE_DB elsewhere",
        )
    if "locked" in lowered or "busy" in lowered:
        return HistoryError(
            f"the history {where} stayed locked for {BUSY_TIMEOUT:g} s: {text}",
            hint="another passcycle is writing to it; try again when it is done",
        )
    if (isinstance(exc, DBAPIError) and exc.connection_invalidated) or "connect" in lowered:
        return HistoryError(
            f"cannot connect to the history {where}: {text}",
            hint="check that the database server runs and that the URL "
            "(PASSCYCLE_DB or `history` in the plan) is right",
        )
    return HistoryError(
        f"the history {where} failed: {text}",
        hint="check the database; `passcycle history` shows what it holds",
    )


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0].strip() if text else type(exc).__name__
