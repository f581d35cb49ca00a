"""Re-test: the failed tests and those a change can reach, and what became of each issue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from passcycle.records import BAD_OUTCOMES, Issue, Run

if TYPE_CHECKING:
    from passcycle.fix.brief import Ahead
    from passcycle.fix.impact import Selection

from passcycle.cycle.constants import ProgressHook
from passcycle.cycle.scenarioruns import ScenarioRuns
from passcycle.fix.retest import Retest


class Retesting(ScenarioRuns):
    """Cycle's retesting (cycle/core.py)."""

    def retest_selection(self) -> tuple[Run, Selection]:
        """The run to re-test from, and the tests a change since then can affect."""
        from passcycle.fix.retest import base_run, plan_selection

        run = base_run(self.plan, self.history)
        return run, plan_selection(self.plan, self.history, run)

    def retest(
        self,
        pytest_args: Sequence[str] = (),
        *,
        everything: bool = False,
        reruns: int = 0,
        verify: bool = False,
        on_progress: ProgressHook | None = None,
        on_stage: Callable[[str], None] | None = None,
        on_load: ProgressHook | None = None,
        ahead: Ahead | None = None,
    ) -> Retest:
        """Run the selection (or all, with `everything`) as a `retest` run pointing at the
        run it re-tests, and say what became of each of that run's issues.

        A re-test is for a quick answer: its failures are re-run in isolation only when
        asked (`reruns` rounds). `verify` runs the full suite afterwards (a full run, the
        next re-test's base) so that `Retest.missed` can name any failure the selection
        left out. The scenarios whose KPIs failed in the base run are run again after the
        tests (`on_stage`, `on_load`). `ahead`: the base and selection decided from the
        brief (fix/brief.py) before the history was opened, and their pytest if it started."""
        from passcycle.fix.retest import base_run, plan_selection, progress

        selection: Selection | None
        if ahead is not None and not everything:
            base, selection = ahead.brief.base, ahead.selection
        else:
            base = base_run(self.plan, self.history)
            selection = None if everything else plan_selection(self.plan, self.history, base)
        before = self.history.issues(self.plan.name, run_id=base.id)
        if selection is not None and not selection.tests:
            retest = Retest(base, selection, None, None, progress(before, []))
        else:
            outcome = self.test(
                pytest_args,
                kind="retest",
                parent_id=base.id,
                paths=None if selection is None else selection.paths,
                select=None if selection is None or selection.everything else selection.args,
                coverage=False,
                on_progress=on_progress,
                started=None if ahead is None else ahead.started,
            )
            failed = [r.nodeid for r in outcome.results if r.outcome in BAD_OUTCOMES]
            if reruns and failed and outcome.run.status != "error":
                self.rerun_failures(outcome.run, failed, pytest_args, rounds=reruns)
                outcome = replace(outcome, results=self.history.results(outcome.run.id))
            verdict = self.validate(outcome.run.id) if outcome.run.status != "error" else None
            now = {t: i.fingerprint for i in (verdict.issues if verdict else []) for t in i.tests}
            found = progress(before, outcome.results, now)
            retest = Retest(base, selection, outcome, verdict, found)
        retest = self._rerun_scenarios(retest, before, on_stage, on_load)
        if verify:
            full = self.test(pytest_args, on_progress=on_progress)
            retest = replace(retest, verified=full)
        return retest

    def _rerun_scenarios(
        self,
        retest: Retest,
        before: list[Issue],
        on_stage: Callable[[str], None] | None,
        on_load: ProgressHook | None,
    ) -> Retest:
        """The scenarios the base run's issues blame, run again as `run --scenario` runs
        them (a partial run of their own): a fix to the service is re-tested too."""
        from passcycle.fix.retest import failed_scenarios, scenario_progress

        names = failed_scenarios(self.plan, before)
        if not names:
            return retest
        result = self.scenarios_only(names, "retest", on_stage, on_load, None, ())
        found = scenario_progress(before, names, result.verdict)
        return replace(retest, scenarios=result, issues=[*retest.issues, *found])
