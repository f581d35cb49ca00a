"""Opening the history: where it is, what can go wrong, and the schema's version."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from passcycle.errors import ExitCode, HistoryError
from passcycle.records import Audit, Finding, TestResult, TimelinePoint
from passcycle.store import SCHEMA_VERSION, History
from passcycle.store.engine import create_engine
from passcycle.store.migrate import Step, ensure_schema, read_version
from passcycle.store.schema import meta


def assert_one_line(error: HistoryError) -> None:
    assert error.message and "\n" not in error.message
    assert error.hint and "\n" not in error.hint
    assert error.exit_code == ExitCode.RUN_ERROR


def test_the_default_history_is_a_sqlite_file_under_the_project(tmp_path: Path):
    with History.open(root=tmp_path) as history:
        assert history.url == f"sqlite:///{tmp_path / '.passcycle' / 'history.db'}"
        history.start_run("calc", "run")
    assert (tmp_path / ".passcycle" / "history.db").is_file()
    with History.open(root=tmp_path) as history:
        assert len(history.runs()) == 1


def test_passcycle_db_wins_over_the_default_and_the_url_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PASSCYCLE_DB", f"sqlite:///{tmp_path / 'env.db'}")
    with History.open(root=tmp_path) as history:
        assert history.url.endswith("env.db")
    with History.open(f"sqlite:///{tmp_path / 'arg.db'}", root=tmp_path) as history:
        assert history.url.endswith("arg.db")
    assert not (tmp_path / ".passcycle").exists()


def test_a_relative_sqlite_path_is_taken_from_the_project_root(tmp_path: Path):
    with History.open("sqlite:///nested/dir/h.db", root=tmp_path) as history:
        assert history.url == f"sqlite:///{tmp_path / 'nested' / 'dir' / 'h.db'}"
    assert (tmp_path / "nested" / "dir" / "h.db").is_file()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path):
    with History.open(root=tmp_path) as history, history._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_a_password_is_masked_when_the_url_is_shown(history_url: str, tmp_path: Path):
    url = sa.make_url(history_url)
    if url.get_backend_name() == "postgresql":
        # The server trusts loopback, so any password is accepted and nothing secret is used.
        url = url.set(password="s3cret")
    with History.open(url.render_as_string(hide_password=False), root=tmp_path) as history:
        assert history.url == url.render_as_string(hide_password=False)
        assert "s3cret" not in history.display_url
        assert "s3cret" not in repr(history)
        if url.password:
            assert "s3cret" in history.url
            assert "***" in history.display_url
        else:
            assert history.display_url == history.url


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path):
    with pytest.raises(HistoryError) as caught:
        History.open("postgresql+psycopg://me:s3cret@127.0.0.1:1/test", root=tmp_path)
    assert_one_line(caught.value)
    assert caught.value.message.startswith("cannot connect to the history postgresql+psycopg://")
    assert "s3cret" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url at all", "cannot read the history URL 'not a url at all'"),
        ("nosuchdb://host/db", "cannot use the history URL nosuchdb://host/db"),
    ],
)
def test_a_bad_url_is_one_line_with_an_example(tmp_path: Path, url: str, says: str):
    with pytest.raises(HistoryError) as caught:
        History.open(url, root=tmp_path)
    assert_one_line(caught.value)
    assert caught.value.message.startswith(says)
    assert "sqlite:///" in (caught.value.hint or "")


def test_an_unwritable_place_is_one_line(tmp_path: Path):
    blocker = tmp_path / "project"
    blocker.write_text("a file where the project folder should be")
    with pytest.raises(HistoryError) as caught:
        History.open(root=blocker)
    assert_one_line(caught.value)
    assert caught.value.message.startswith("cannot create the history folder")


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path):
    path = tmp_path / ".passcycle" / "history.db"
    path.parent.mkdir()
    garbage = b"this is not a database\x00\xff\xfe" * 512
    path.write_bytes(garbage)

    with pytest.raises(HistoryError) as caught:
        History.open(root=tmp_path)

    assert_one_line(caught.value)
    assert caught.value.message == f"{path} is not a SQLite database"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert path.read_bytes() == garbage  # the user's file is theirs


def test_a_newer_schema_is_refused(history_url: str, tmp_path: Path, raw: sa.Engine):
    History.open(history_url, root=tmp_path).close()
    with raw.begin() as conn:
        conn.execute(
            sa.update(meta)
            .where(meta.c.key == "schema_version")
            .values(value=str(SCHEMA_VERSION + 1))
        )
    with pytest.raises(HistoryError) as caught:
        History.open(history_url, root=tmp_path)
    assert_one_line(caught.value)
    assert "upgrade passcycle" in caught.value.message
    assert f"schema version {SCHEMA_VERSION + 1}" in caught.value.message


def test_an_older_schema_is_upgraded_by_its_steps(history_url: str, tmp_path: Path):
    with History.open(history_url, root=tmp_path) as history:
        run = history.start_run("calc", "run")
    engine = create_engine(sa.make_url(history_url))
    next_version = SCHEMA_VERSION + 1
    add_label = Step(
        next_version,
        "runs get a label",
        lambda conn: conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN label TEXT"),
    )
    try:
        found = ensure_schema(engine, engine.url, version=next_version, steps=[add_label])
        assert found == SCHEMA_VERSION
        with engine.connect() as conn:
            assert read_version(conn) == next_version
            columns = {column["name"] for column in sa.inspect(conn).get_columns("runs")}
            assert "label" in columns
            assert conn.exec_driver_sql("SELECT id FROM runs").scalars().all() == [run.id]
        # Already there: nothing to do, however often it is asked.
        assert ensure_schema(engine, engine.url, version=next_version, steps=[add_label]) == (
            next_version
        )
    finally:
        engine.dispose()
    # This passcycle only knows SCHEMA_VERSION: the upgraded history is now too new for it.
    with pytest.raises(HistoryError, match="upgrade passcycle"):
        History.open(history_url, root=tmp_path)


def test_a_version_1_history_gains_shards_cpu_probe_and_partial(history_url: str, tmp_path: Path):
    with History.open(history_url, root=tmp_path) as history:
        run = history.start_run("calc", "run")
        history.add_results(run.id, [TestResult("t.py::a", "passed")])
    engine = create_engine(sa.make_url(history_url))
    try:
        with engine.begin() as conn:  # back to what passcycle 0.1 wrote
            conn.exec_driver_sql("DROP TABLE audits")
            conn.exec_driver_sql("DROP TABLE coverage_data")
            conn.exec_driver_sql("DROP TABLE shards")
            conn.exec_driver_sql("ALTER TABLE test_results DROP COLUMN cpu")
            conn.exec_driver_sql("ALTER TABLE test_results DROP COLUMN solo")
            conn.exec_driver_sql("ALTER TABLE test_results DROP COLUMN probe")
            conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN partial")
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="1"))
    finally:
        engine.dispose()
    with History.open(history_url, root=tmp_path) as history:
        assert history.run(run.id).kind == "run"  # kept
        assert history.run(run.id).partial is False
        assert history.results(run.id)[0].cpu is None  # not measured then
        history.add_shard(run.id, "calc", "g1", 1, 2)
        history.save_coverage_data(run.id, b"bytes")
        assert history.coverage_data(run.id) == b"bytes"
        code = Audit("code", "bandit", True, findings=(Finding("code", "B602", "shell", "high"),))
        history.add_audits(run.id, [code, Audit("dependencies", "osv", False, "no database")])
        assert history.audits(run.id) == [code, Audit("dependencies", "osv", False, "no database")]
        seconds = [TimelinePoint(0.0, 0, 0.0, 0.0), TimelinePoint(1.0, 50, 120.5, 1.0, 0.001)]
        history.add_timelines(run.id, {"steady": seconds, "empty": []})
        assert history.timelines(run.id) == {"steady": seconds}
        later = history.start_run("calc", "retest", partial=True)
        timed = TestResult("t.py::a", "passed", cpu=0.25, solo=0.5, probe=2e-5)
        history.add_results(later.id, [timed])
        assert history.results(later.id)[0].cpu == 0.25
        assert history.results(later.id)[0].solo == 0.5
        assert history.results(later.id)[0].probe == 2e-5
        history.set_times(later.id, {"t.py::a": (0.2, 0.4, 3e-5)})  # a faster second timing
        assert history.results(later.id)[0].solo == 0.4
        assert history.run(later.id).partial is True
    engine = create_engine(sa.make_url(history_url))
    try:
        with engine.connect() as conn:
            assert read_version(conn) == SCHEMA_VERSION == 6
    finally:
        engine.dispose()


def test_a_failed_step_leaves_the_history_as_it_was(history_url: str, tmp_path: Path):
    History.open(history_url, root=tmp_path).close()
    engine = create_engine(sa.make_url(history_url))

    def half_done(conn: sa.Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN label TEXT")
        conn.exec_driver_sql("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    broken = Step(SCHEMA_VERSION + 1, "a broken step", half_done)
    try:
        with pytest.raises(HistoryError, match="a broken step") as caught:
            ensure_schema(engine, engine.url, version=SCHEMA_VERSION + 1, steps=[broken])
        assert_one_line(caught.value)
        step = rf"from schema {SCHEMA_VERSION} to {SCHEMA_VERSION + 1}"
        with pytest.raises(HistoryError, match=rf"no migration .* {step}"):
            ensure_schema(engine, engine.url, version=SCHEMA_VERSION + 1, steps=[])
        with engine.connect() as conn:
            assert read_version(conn) == SCHEMA_VERSION
            columns = {column["name"] for column in sa.inspect(conn).get_columns("runs")}
            assert "label" not in columns
    finally:
        engine.dispose()
    with History.open(history_url, root=tmp_path) as history:
        assert history.runs() == []


def test_a_database_with_someone_elses_tables_is_refused(
    history_url: str, tmp_path: Path, raw: sa.Engine
):
    with raw.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY, distance REAL)")
    with pytest.raises(HistoryError, match="already has tables named runs") as caught:
        History.open(history_url, root=tmp_path)
    assert_one_line(caught.value)
