"""The per-test map's tables, kept inside coverage's data file: the one schema the plugin
writes and passcycle reads (suite/covmap.py). The standard library only (coverage lazily).

Beside coverage's own tables, so the map lives and dies with its data file (the runner
deletes stale ones, a copy carries it). coverage ignores tables it does not know.

  passcycle_lineset(id, path, numbits)   one set of lines of one file (coverage's numbits)
  passcycle_test(nodeid, linesets)       a test and its line sets' ids, space-separated;
                                         a test seen twice (re-runs) has the union

Code that runs outside any test is kept under a *setup* key in place of a node id:
SETUP_PREFIX + the path of what it belongs to: a test module (its import and collection,
its module- and class-scoped fixtures), a folder (its conftest files' import), the import
of a module of the source ("import:" and its absolute path, imports.py), or nothing (the
session: what ran before collection, session-scoped fixtures).
"""

from __future__ import annotations

import warnings
from pathlib import Path

_MAP_SCHEMA = """
CREATE TABLE IF NOT EXISTS passcycle_lineset (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, numbits BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS passcycle_test (nodeid TEXT NOT NULL, linesets TEXT NOT NULL);
"""

SETUP_PREFIX = "<setup>"  # no node id starts with "<": node ids start with a path

MapRows = tuple[list[tuple[int, str, bytes]], list[tuple[str, str]]]


def append_map(
    data_file: Path,
    linesets: list[tuple[int, str, bytes]],
    tests: list[tuple[str, str]],
    replace: bool = False,
) -> None:
    """Add rows to the map in `data_file` (a coverage data file), or replace its map."""
    import sqlite3

    con = sqlite3.connect(str(data_file), timeout=30)
    try:
        with con:  # one transaction: a reader never sees half a map
            if replace:
                con.execute("DROP TABLE IF EXISTS passcycle_lineset")
                con.execute("DROP TABLE IF EXISTS passcycle_test")
            for statement in _MAP_SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.executemany("INSERT INTO passcycle_lineset VALUES (?, ?, ?)", linesets)
            con.executemany("INSERT INTO passcycle_test VALUES (?, ?)", tests)
    finally:
        con.close()


def read_map(data_file: Path, *, strict: bool = False) -> MapRows:
    """The map's rows in `data_file`; empty when it has none.

    A damaged file has none (coverage's combine skips it with a warning, so do we), or
    with `strict` raises sqlite3.DatabaseError, for a reader that must say so.
    """
    import sqlite3

    if not data_file.is_file():
        return [], []
    con = sqlite3.connect(f"{data_file.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        if "passcycle_test" not in tables:
            return [], []
        linesets = con.execute("SELECT id, path, numbits FROM passcycle_lineset").fetchall()
        tests = con.execute("SELECT nodeid, linesets FROM passcycle_test").fetchall()
        return linesets, tests
    except sqlite3.DatabaseError:
        if strict:
            raise
        return [], []
    finally:
        con.close()


def merge_maps(maps: list[MapRows]) -> MapRows:
    """One map of many (processes of one run): identical line sets stored once."""
    ids: dict[tuple[str, bytes], int] = {}
    linesets: list[tuple[int, str, bytes]] = []
    tests: list[tuple[str, str]] = []
    for rows, test_rows in maps:
        renumber: dict[int, int] = {}
        for old, path, numbits in rows:
            new = ids.get((path, numbits))
            if new is None:
                new = ids[(path, numbits)] = len(ids) + 1
                linesets.append((new, path, numbits))
            renumber[old] = new
        for nodeid, listed in test_rows:
            tests.append((nodeid, " ".join(str(renumber[int(i)]) for i in listed.split())))
    return linesets, tests


def combine_data(data_file: Path, rcfile: str | None) -> None:
    """Fold the suffixed data files beside `data_file` into it, and their maps too.

    coverage's combine deletes the suffixed files and knows nothing of our tables, so the
    maps are read first and written into the combined file after.
    """
    parts = sorted(data_file.parent.glob(data_file.name + ".*"))
    if not parts:
        return
    import coverage

    maps = [read_map(path) for path in [data_file, *parts]]
    cov = coverage.Coverage(data_file=str(data_file), config_file=rcfile or False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov.combine([str(data_file.parent)])
        cov.save()
    linesets, tests = merge_maps(maps)
    if tests and data_file.is_file():
        append_map(data_file, linesets, tests, replace=True)
