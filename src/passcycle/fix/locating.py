"""Suspects for a run's issues: the map they come from, the passing side, the change since
the tests passed (fix/localize.py ranks; this gathers what it ranks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property

from passcycle.errors import PasscycleError
from passcycle.fix.changes import Hunk, changes_since
from passcycle.fix.impact import is_test_file
from passcycle.fix.localize import Suspect, TestMap, suspects
from passcycle.fix.retest import MAP_FILE
from passcycle.fix.suggest import Suggestion
from passcycle.plan import Plan
from passcycle.records import Issue, Run, TestResult
from passcycle.store import History
from passcycle.validate.fingerprint import key_frame

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
        """The run's own map; a partial run's (a re-test, no coverage) is its parent's."""
        from passcycle.suite.covmap import impact_maps

        for run in (self.run, self._parent()):
            if run is not None and run.artifacts:
                data = self.plan.root / run.artifacts / MAP_FILE
                if data.is_file():
                    try:
                        return impact_maps(data, self.plan.root)[0]
                    except PasscycleError:  # unreadable data: no suspects, the advice stays
                        return {}
        return {}

    def _parent(self) -> Run | None:
        if self.run.parent_id is None:
            return None
        return self.history.find_run(self.run.parent_id)

    def keep(self, path: str) -> bool:
        """The project's source, not its tests."""
        if is_test_file(path) or any(_under(path, t) for t in self.plan.tests):
            return False
        return any(_under(path, s) for s in self.plan.source)

    def changed(self, commit: str | None) -> dict[str, set[int]]:
        """Lines changed since `commit`, in the run's numbering (the work tree's)."""
        if commit is None:
            return {}
        if commit not in self.changes:
            found = changes_since(self.plan.root, commit=commit, snapshot=None)
            self.changes[commit] = {
                path: {n for h in change.hunks for n in _new_lines(h)}
                for path, change in found.modified.items()
            }
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
            keep=self.keep,
            changed=self.changed(commit),
        )
        if not found:
            return tip
        location = tip.location
        if all(_in_test_code(r) for r in results):
            location = f"{found[0].path}:{found[0].line}"
        return replace(tip, suspects=tuple(found), location=location)


def _new_lines(hunk: Hunk) -> range:
    return range(hunk.new_start, hunk.new_start + hunk.new_count)


def _in_test_code(result: TestResult) -> bool:
    frame = key_frame(result)
    test_file = (result.file or result.nodeid.split("::", 1)[0]).replace("\\", "/")
    return frame is None or frame.path.replace("\\", "/") == test_file


def _under(path: str, folder: str) -> bool:
    folder = folder.strip("/")
    return folder in ("", ".") or path == folder or path.startswith(folder + "/")
