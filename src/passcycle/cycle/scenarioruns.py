"""Scenarios alone: `run --scenario NAME`, and a re-test of the scenarios a run's issues
blame, each a partial run judged on what its scenarios measured."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

from passcycle.cycle.concluding import Concluding
from passcycle.cycle.constants import ProgressHook
from passcycle.cycle.operations import _default_service
from passcycle.cycle.results import RunResult
from passcycle.errors import ExitCode, PasscycleError, UsageError
from passcycle.records import SCENARIOS_ONLY, TestOutcome


class ScenarioRuns(Concluding):
    """Cycle's scenario-only runs (cycle/core.py)."""

    def scenarios_only(
        self,
        names: Sequence[str],
        kind: str,
        on_stage: Callable[[str], None] | None,
        on_load: ProgressHook | None,
        workers: int | None,
        formats: Sequence[str],
    ) -> RunResult:
        """`run --scenario NAME`: the named scenarios against the service, judged as a
        partial run (the suite's KPIs are not measured by it, and not held against it)."""
        from passcycle.scenarios import preflight

        known = [s.name for s in self.plan.model.scenarios]
        unknown = [n for n in names if n not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"no scenario {unknown[0]!r} in the plan",
                hint=f"{guess}the plan's scenarios: {', '.join(known) or 'none'}",
            )
        chosen = [s for s in self.plan.model.scenarios if s.name in names]
        service = self.plan.model.service or _default_service()
        try:
            preflight(service, chosen, self.plan.root, workers or 0, 0, self.plan.model.upstreams)
        except PasscycleError as exc:
            self._refused(kind, exc)
            raise
        run = self._start_run(kind, partial=True)
        with self._until_finished(run.id):
            if on_stage:
                on_stage(f"running {', '.join(repr(s.name) for s in chosen)} against the service")
            notes = self.run_scenarios(
                run, workers=workers, on_progress=on_load, on_stage=on_stage, only=list(names)
            )
        note = "; ".join(
            [f"{SCENARIOS_ONLY}{', '.join(s.name for s in chosen)}", *merged_notes(notes)]
        )
        finished = self.history.finish_run(run.id, "passed", ExitCode.OK, note, {})
        outcome = TestOutcome(finished, [], note=note)
        return self.conclude(outcome, self.validate(finished.id), formats)


_SCENARIO_NOTE = re.compile(r"^scenario ('[^']*'(?: \([^)]*\))?): (.*)$", re.S)


def merged_notes(notes: Sequence[str]) -> list[str]:
    """The scenarios' notes with one line per thing said: "scenario 'a' (…): X" and
    "scenario 'b' (…): X" become "scenarios 'a' (…), 'b' (…): X"; others kept as they are."""
    said: dict[str, list[str]] = {}
    merged: list[str] = []
    for note in notes:
        match = _SCENARIO_NOTE.match(note)
        if match is None:
            merged.append(note)
            continue
        who, what = match.groups()
        if what not in said:
            said[what] = []
            merged.append(what)  # its place, filled in below
        said[what].append(who)
    return [
        f"{'scenarios' if len(said[n]) > 1 else 'scenario'} {', '.join(said[n])}: {n}"
        if n in said
        else n
        for n in merged
    ]
