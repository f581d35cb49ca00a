"""Suspects for a run's issues: the map they come from, the passing side, the change since
the tests passed (validate/localize.py ranks; this gathers what it ranks)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from passcycle.errors import PasscycleError
from passcycle.fix.changes import Hunk, changes_since
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, Run, TestResult
from passcycle.store import History
from passcycle.validate.fingerprint import in_test_code
from passcycle.validate.localize import (
    MAP_FILE,
    Imports,
    Spectrum,
    Suspect,
    TestMap,
    culprits,
    source_filter,
    suspects,
)
from passcycle.vcs import git

SPECTRUM_KINDS = frozenset({"failure", "regression"})  # a check that failed, not a crash


class Locator:
    """One run's per-test map, read once for all of its issues."""

    def __init__(self, plan: Plan, history: History, run: Run, results: Sequence[TestResult]):
        self.plan = plan
        self.history = history
        self.run = run
        self.passing = [r.nodeid for r in results if r.outcome == "passed"]
        self.failing = [r.nodeid for r in results if r.outcome in BAD_OUTCOMES]
        self.changes: dict[str | None, dict[str, set[int]]] = {}

    @cached_property
    def maps(self) -> RunMap:
        parent = self.history.find_run(self.run.parent_id) if self.run.parent_id else None
        return run_map(self.plan.root, self.run, parent)

    @cached_property
    def spectrum(self) -> Spectrum:
        """The passing side counted once for all of the run's issues."""
        test_map, imports = self.maps
        keep = source_filter(self.plan.source, self.plan.tests)
        return Spectrum(test_map, self.failing, self.passing, keep, imports)

    def changed(self, commit: str | None) -> dict[str, set[int]]:
        """Lines changed since `commit`, in the run's numbering (the work tree's)."""
        if commit is None:
            return {}
        if commit not in self.changes:
            self.changes[commit] = changed_lines(self.plan.root, commit)
        return self.changes[commit]

    def suspects(self, results: Sequence[TestResult], commit: str | None) -> list[Suspect]:
        """The suspects of an issue's failing tests, the lines changed since `commit` (their
        last pass) first; none without a readable map."""
        if not self.maps[0]:
            return []
        failing = [r.nodeid for r in results if r.nodeid in self.spectrum.failing]
        return suspects(self.plan.root, self.spectrum, failing, changed=self.changed(commit))


def changed_lines(root: Path, commit: str) -> dict[str, set[int]]:
    """The work tree's lines changed since `commit`, by file (numbered as they are now)."""
    found = changes_since(root, commit=commit, snapshot=None)
    return {
        path: {n for h in change.hunks for n in _new_lines(h)}
        for path, change in found.modified.items()
    }


def _new_lines(hunk: Hunk) -> range:
    return range(hunk.new_start, hunk.new_start + hunk.new_count)


RunMap = tuple[TestMap, Imports]  # the lines each test ran; each module's at its import


def run_map(root: Path, run: Run, parent: Run | None) -> RunMap:
    """The per-test map a run's failures are read against: its own, or for a run that kept
    none (a re-test runs without coverage) its parent's; empty when neither is readable."""
    for owner in (run, parent):
        if owner is not None and owner.artifacts:
            data = root / owner.artifacts / MAP_FILE
            if data.is_file():
                return read_map(data, root)
    return {}, {}


def read_map(data: Path, root: Path) -> RunMap:
    """The per-test map in a run's coverage data (`MAP_FILE`), and what each module ran
    while it was imported; empty when it cannot be read."""
    return _read_map(data, root, data.stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _read_map(data: Path, root: Path, stamp: int) -> RunMap:
    """Read once for both of a run's readers, triage's culprits and the suggestions'
    suspects (`stamp`, the file's mtime, keeps a rewritten file from being served stale)."""
    from passcycle.suite.covmap import impact_maps
    from passcycle.suite.plugin.imports import IMPORT_KEY

    try:
        test_map, setup = impact_maps(data, root)
    except PasscycleError:  # unreadable data: no suspects, nothing else lost
        return {}, {}
    imports = {}
    for scope, files in setup.items():
        path = scope.removeprefix(IMPORT_KEY)
        if path != scope and (lines := files.get(path)):
            imports[path] = lines
    return test_map, imports


def run_culprits(plan: Plan, history: History, run: Run) -> dict[str, Suspect]:
    """Each failing test's culprit in `run` (validate/localize.py `culprits`), for triage to
    group failures by the bug behind them; {} without a readable map."""
    results = history.results(run.id)
    bad = sorted(r.nodeid for r in results if r.outcome in BAD_OUTCOMES)
    if not bad:
        return {}
    parent = history.find_run(run.parent_id) if run.parent_id else None
    test_map, imports = run_map(plan.root, run, parent)
    if not test_map:
        return {}
    if run.partial and parent is not None:  # a re-test: the passing side of the map's run
        passing = [r.nodeid for r in history.results(parent.id) if r.outcome == "passed"]
    else:
        passing = [r.nodeid for r in results if r.outcome == "passed"]
    failed = set(bad)
    passing = [n for n in passing if n not in failed]
    keep = source_filter(plan.source, plan.tests)
    shared = Spectrum(test_map, bad, passing, keep, imports)
    found = culprits(plan.root, shared, changed=_changed_since_pass(plan, history, run, bad))
    # A failure raised in project code keeps the frame that raised it as its key, unless
    # its culprit is a line changed since it passed: one change that makes some tests
    # assert a wrong value and others raise on it (BadPayload, BadSignature and an
    # AssertionError from one changed line of itsdangerous' base64_decode) is one bug.
    wrong_value = {r.nodeid for r in results if in_test_code(r, plan.tests)}
    return {n: s for n, s in found.items() if n in wrong_value or s.changed}


def _changed_since_pass(
    plan: Plan, history: History, run: Run, nodeids: Sequence[str]
) -> dict[str, dict[str, set[int]]]:
    """node id -> the lines changed since the newest earlier run in which it passed, for
    the tests that passed in one of the last 30 runs (a run that recorded its commit)."""
    outcomes = history.test_outcomes(nodeids, plan.name, limit_runs=30)
    commits: dict[int, str | None] = {}
    lines: dict[str, dict[str, set[int]]] = {}  # by commit, each diffed once
    found: dict[str, dict[str, set[int]]] = {}
    for nodeid, seen in outcomes.items():
        passed = [run_id for run_id, outcome in seen if outcome == "passed" and run_id < run.id]
        if not passed:
            continue
        if passed[0] not in commits:
            earlier = history.find_run(passed[0])
            commits[passed[0]] = earlier.commit if earlier else None
        commit = commits[passed[0]]
        if commit is None:
            continue
        if commit not in lines:
            lines[commit] = changed_lines(plan.root, commit)
        found[nodeid] = lines[commit]
    return found


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


def suspect_diffs(root: Path, commit: str, found: Sequence[Suspect]) -> dict[str, str]:
    """ "path:line" -> the diff hunk (since `commit`) that changed each changed suspect."""
    paths = sorted({s.path for s in found if s.changed})
    if not paths:
        return {}
    text = git(root, "diff", "--no-color", "--no-ext-diff", "-U2", commit, "--", *paths) or ""
    hunks: dict[str, list[tuple[range, str]]] = {}
    for part in re.split(r"^diff --git ", text, flags=re.M)[1:]:
        name = re.search(r"^\+\+\+ b/(.+)$", part, re.M)
        if name is None:
            continue
        starts = list(_HUNK.finditer(part))
        for n, match in enumerate(starts):
            end = starts[n + 1].start() if n + 1 < len(starts) else len(part)
            first, count = int(match[1]), int(match[2] or 1)
            body = part[match.start() : end].rstrip("\n")
            hunks.setdefault(name[1], []).append((range(first, first + max(count, 1)), body))
    return {
        f"{s.path}:{s.line}": body
        for s in found
        if s.changed
        for lines, body in hunks.get(s.path, ())
        if s.line in lines
    }
