"""Suspects for a run's issues: the map they come from, the passing side, the change since
the tests passed (validate/localize.py ranks; this gathers what it ranks)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from passcycle.errors import PasscycleError
from passcycle.fix.changes import Hunk, changes_since
from passcycle.fix.suggest import Suggestion, changed_since
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, Issue, Run, TestResult
from passcycle.store import History
from passcycle.validate.fingerprint import in_test_code
from passcycle.validate.localize import (
    MAP_FILE,
    Suspect,
    TestMap,
    culprits,
    source_filter,
    suspects,
)

SPECTRUM_KINDS = frozenset({"failure", "regression"})  # a check that failed, not a crash


class Locator:
    """One run's per-test map, read once for all of its issues."""

    def __init__(self, plan: Plan, history: History, run: Run, results: Sequence[TestResult]):
        self.plan = plan
        self.history = history
        self.run = run
        self.passing = [r.nodeid for r in results if r.outcome == "passed"]
        self.changes: dict[str | None, dict[str, set[int]]] = {}

    @cached_property
    def test_map(self) -> TestMap:
        parent = self.history.find_run(self.run.parent_id) if self.run.parent_id else None
        return run_map(self.plan.root, self.run, parent)

    def changed(self, commit: str | None) -> dict[str, set[int]]:
        """Lines changed since `commit`, in the run's numbering (the work tree's)."""
        if commit is None:
            return {}
        if commit not in self.changes:
            self.changes[commit] = changed_lines(self.plan.root, commit)
        return self.changes[commit]

    def locate(
        self, issue: Issue, results: Sequence[TestResult], tip: Suggestion, commit: str | None
    ) -> Suggestion:
        """The suggestion with the issue's suspects; when its tests failed in their own code
        (a wrong value: no project frame outside the test files), the top suspect is where."""
        if not self.test_map:
            return tip
        failing = [r.nodeid for r in results]
        found: list[Suspect] = suspects(
            self.plan.root,
            self.test_map,
            failing,
            self.passing,
            keep=source_filter(self.plan.source, self.plan.tests),
            changed=self.changed(commit),
        )
        if not found:
            return tip
        location, changed = tip.location, tip.changed_since_pass
        if all(in_test_code(r, self.plan.tests) for r in results):
            location = f"{found[0].path}:{found[0].line}"
            if commit is not None:
                # the suspects' files, not the test files the traceback names (a test
                # inherited from another module's class names that module, no source)
                files = sorted({s.path for s in found})
                changed = changed_since(self.plan.root, commit, files)
        return replace(tip, suspects=tuple(found), location=location, changed_since_pass=changed)


def changed_lines(root: Path, commit: str) -> dict[str, set[int]]:
    """The work tree's lines changed since `commit`, by file (numbered as they are now)."""
    found = changes_since(root, commit=commit, snapshot=None)
    return {
        path: {n for h in change.hunks for n in _new_lines(h)}
        for path, change in found.modified.items()
    }


def _new_lines(hunk: Hunk) -> range:
    return range(hunk.new_start, hunk.new_start + hunk.new_count)


def run_map(root: Path, run: Run, parent: Run | None) -> TestMap:
    """The per-test map a run's failures are read against: its own, or for a run that kept
    none (a re-test runs without coverage) its parent's; {} when neither is readable."""
    for owner in (run, parent):
        if owner is not None and owner.artifacts:
            data = root / owner.artifacts / MAP_FILE
            if data.is_file():
                return _read_map(data, root, data.stat().st_mtime_ns)
    return {}


@functools.lru_cache(maxsize=2)
def _read_map(data: Path, root: Path, stamp: int) -> TestMap:
    """Read once for both of a run's readers, triage's culprits and the suggestions'
    suspects (`stamp`, the file's mtime, keeps a rewritten file from being served stale)."""
    from passcycle.suite.covmap import impact_maps

    try:
        return impact_maps(data, root)[0]
    except PasscycleError:  # unreadable data: no suspects, nothing else lost
        return {}


def run_culprits(plan: Plan, history: History, run: Run) -> dict[str, Suspect]:
    """Each failing test's culprit in `run` (validate/localize.py `culprits`), for triage to
    group failures by the bug behind them; {} without a readable map."""
    results = history.results(run.id)
    bad = sorted(r.nodeid for r in results if r.outcome in BAD_OUTCOMES)
    # a failure raised in project code keeps the frame that raised it as its key
    failing = [
        r.nodeid for r in results if r.outcome in BAD_OUTCOMES and in_test_code(r, plan.tests)
    ]
    if not failing:
        return {}
    parent = history.find_run(run.parent_id) if run.parent_id else None
    test_map = run_map(plan.root, run, parent)
    if not test_map:
        return {}
    if run.partial and parent is not None:  # a re-test: the passing side of the map's run
        passing = [r.nodeid for r in history.results(parent.id) if r.outcome == "passed"]
    else:
        passing = [r.nodeid for r in results if r.outcome == "passed"]
    failed = set(bad)
    passing = [n for n in passing if n not in failed]
    keep = source_filter(plan.source, plan.tests)
    # what changed since the last full run before this one: first among equal suspects
    earlier = [
        r
        for r in history.runs(project=plan.name, limit=20)
        if r.id < run.id and not r.partial and r.commit and r.status in ("passed", "failed")
    ]
    changed = changed_lines(plan.root, earlier[0].commit) if earlier and earlier[0].commit else {}
    found = culprits(plan.root, test_map, bad, passing, keep=keep, changed=changed)
    return {nodeid: found[nodeid] for nodeid in failing if nodeid in found}
