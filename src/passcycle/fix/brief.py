"""The re-test's brief: what `passcycle retest` decides from, kept beside the history.

To choose what to re-run, a re-test needs the run it re-tests, that run's results and
issues and the tests' recent failure rates: all in the history, whose database layer takes
a third of a second to import and open before pytest could start (docs/benchmarks.md).
Those answers change only when the history is written, so a command that wrote it keeps
them here with a stamp of the SQLite files (inode, size and time of the database and its
WAL, taken once the history is closed). A re-test whose stamp still matches decides without
the database: "nothing to re-test" answers at once, and a selection starts pytest while the
history opens. Any write since (another run, a baseline, a verdict) changes the stamp and
the brief is not used. A server history (PostgreSQL) has no stamp: re-tests open it first.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passcycle.errors import PasscycleError
from passcycle.records import Issue, Run, TestResult
from passcycle.workdir import FOLDER, history_url, make_folder, sqlite_file

# The selection's modules (fix/retest.py and what it reads: the change, the map, the
# code) are imported once pytest has started (`retest_ahead`), so that their import
# overlaps pytest's own start instead of preceding it.
if TYPE_CHECKING:
    from passcycle.fix.impact import Selection
    from passcycle.fix.retest import Retest
    from passcycle.plan import Plan
    from passcycle.store import History
    from passcycle.suite.early import Started

BRIEF_FILE = "retest-brief.json"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Brief:
    base: Run
    results: list[TestResult]  # the base run's: node ids, outcomes and durations
    failure_rate: dict[str, float]  # recent_failure_rate
    issues: list[Issue]  # the base run's, as they stood then


@dataclass(slots=True)
class Ahead:
    """A re-test decided from the brief: its base, its selection and, when it runs tests,
    their pytest, started before the history is opened."""

    brief: Brief
    selection: Selection
    started: Started | None = None

    def answer(self, plan: Plan) -> Retest | None:
        """The whole re-test when it runs nothing (no test selected, no scenario to run
        again): no history needed. None when there is work to do."""
        from passcycle.fix.retest import Retest, failed_scenarios, progress

        if self.selection.tests or failed_scenarios(plan, self.brief.issues):
            return None
        return Retest(self.brief.base, self.selection, None, None, progress(self.brief.issues, []))

    def discard(self) -> None:
        if self.started is not None:
            self.started.discard()


def decide(plan: Plan, url: str | None) -> Ahead | None:
    """The base run and the selection, from the brief; None where the brief cannot say
    (none kept, the history written since, a server history)."""
    brief = read_brief(plan, url)
    if brief is None:
        return None
    from passcycle.fix.retest import selection_from

    return Ahead(brief, selection_from(plan, brief.base, brief.results, brief.failure_rate))


def retest_ahead(plan: Plan, pytest_args: list[str], url: str | None) -> Ahead | None:
    """`decide`, with the selection's pytest (suite/early.py) started while the selection
    is worked out: pytest's own start does not need it, so it waits before collecting
    until told what to run (plugin/awaiting.py), and is stopped if there is nothing."""
    brief = read_brief(plan, url)
    if brief is None:
        return None
    from passcycle.fix.changes import changes_since_run

    changes = changes_since_run(plan.root, brief.base)
    # Only a changed Python file makes the selection read the map and parse code, the work
    # worth overlapping: with none (nothing changed, or a README, the plan itself) a pytest
    # started early would mostly be stopped. Paths named on the command line are collected
    # beside the selection's: pytest starts knowing them, as before.
    started = None
    if not changes.known or any(path.endswith(".py") for path in changes.paths):
        from passcycle.suite.args import read_args
        from passcycle.suite.early import start_test

        if not read_args(pytest_args).paths:
            started = start_test(plan, pytest_args, coverage=False, awaiting=True)
    try:
        from passcycle.fix.retest import selection_from

        selection = selection_from(plan, brief.base, brief.results, brief.failure_rate, changes)
        ahead = Ahead(brief, selection)
        if selection.tests:
            select = None if selection.everything else selection.args
            if started is None:
                from passcycle.suite.early import start_test

                started = start_test(
                    plan, pytest_args, coverage=False, paths=selection.paths, select=select
                )
            else:
                started.go(selection.paths, select)
            ahead.started, started = started, None
        return ahead
    finally:
        if started is not None:
            started.discard()  # nothing to run, or the selection failed


def keep_brief(plan: Plan, history: History) -> None:
    """Close `history` and keep the brief of what it says now (see the module). Never
    raises: a brief that cannot be kept is removed, so none is ever read stale."""
    path = plan.root / FOLDER / BRIEF_FILE
    database, url = history.sqlite_file, history.url
    history.close()
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    if database is None:
        return
    from passcycle.store import History

    try:
        before = stamp(database)
        with History.open(url) as reader:  # closed before the stamp is compared
            brief = collect(plan, reader)
        if brief is None or stamp(database) != before:
            return  # no base yet, or another process wrote meanwhile
        _write(path, {"version": VERSION, "history": _key(database), "project": plan.name,
                      "stamp": before, **_encode(brief)})  # fmt: skip
    except (PasscycleError, OSError):
        return


def collect(plan: Plan, history: History) -> Brief | None:
    from passcycle.fix.retest import base_run, recent_failure_rate

    try:
        base = base_run(plan, history)
    except PasscycleError:
        return None
    results = [TestResult(r.nodeid, r.outcome, r.duration) for r in history.results(base.id)]
    issues = history.issues(plan.name, run_id=base.id)
    return Brief(base, results, recent_failure_rate(plan, history), issues)


def read_brief(plan: Plan, url: str | None) -> Brief | None:
    """The brief kept for this plan's history, if nothing was written to it since."""
    root = plan.root.resolve()
    database = sqlite_file(history_url(url, root, plan.project.history or None), root)
    if database is None:
        return None
    try:
        data = json.loads((plan.root / FOLDER / BRIEF_FILE).read_text(encoding="utf-8"))
        if (
            data["version"] != VERSION
            or data["history"] != _key(database)
            or data["project"] != plan.name
            or data["stamp"] != stamp(database)
        ):
            return None
        return _decode(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none kept, or not one this version reads: the history is opened


def stamp(database: Path) -> list[list[int] | None]:
    """What changes whenever SQLite writes: the database's and its WAL's inode, size and
    modification time (None for a file that is not there)."""
    found: list[list[int] | None] = []
    for file in (database, database.with_name(database.name + "-wal")):
        try:
            st = file.stat()
        except FileNotFoundError:
            found.append(None)
        else:
            found.append([st.st_ino, st.st_size, st.st_mtime_ns])
    return found


def _key(database: Path) -> str:
    return os.path.normpath(database.resolve())


def _encode(brief: Brief) -> dict[str, Any]:
    base = asdict(brief.base)
    base["started"] = brief.base.started.isoformat()
    base["finished"] = brief.base.finished.isoformat() if brief.base.finished else None
    return {
        "base": base,
        "results": [[r.nodeid, r.outcome, r.duration] for r in brief.results],
        "failure_rate": brief.failure_rate,
        "issues": [asdict(issue) for issue in brief.issues],
    }


def _decode(data: dict[str, Any]) -> Brief:
    base = dict(data["base"])
    base["started"] = datetime.fromisoformat(base["started"])
    base["finished"] = base["finished"] and datetime.fromisoformat(base["finished"])
    base["reasons"] = tuple(base["reasons"])
    return Brief(
        base=Run(**base),
        results=[TestResult(nodeid, outcome, took) for nodeid, outcome, took in data["results"]],
        failure_rate={str(k): float(v) for k, v in data["failure_rate"].items()},
        issues=[Issue(**{**issue, "tests": tuple(issue["tests"])}) for issue in data["issues"]],
    )


def _write(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a brief."""
    folder = make_folder(path.parent)
    handle, temporary = tempfile.mkstemp(prefix=".brief-", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
