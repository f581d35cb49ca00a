"""The cycle: Test -> Validate -> Fix -> Test -> Pass, over one plan and one history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from passcycle.errors import (
    PasscycleError,
    UsageError,
)
from passcycle.plan import Plan
from passcycle.records import (
    BAD_OUTCOMES,
    Audit,
    Measurement,
    Run,
    TestOutcome,
)
from passcycle.refs import resolve_issue, resolve_run
from passcycle.store import History

if TYPE_CHECKING:
    from passcycle.fix.advice import IssueDetail
    from passcycle.suite.early import Started
    from passcycle.validate.calibrate import Proposal

from passcycle.cycle.constants import MAX_RERUN, REPORT_FORMATS, ProgressHook
from passcycle.cycle.operations import _default_service
from passcycle.cycle.ordering import Ordering
from passcycle.cycle.results import RunResult
from passcycle.cycle.scenarioruns import merged_notes


class Cycle(Ordering):
    """The core API under the CLI: each method is one command's work, with no printing.
    Its parts live beside it, each building on the one before: base.py (the plan, the
    history, judging), testphase.py, operations.py, concluding.py, scenarioruns.py,
    retesting.py, sharding.py, ordering.py."""

    __test__ = False

    def run(
        self,
        pytest_args: Sequence[str] = (),
        *,
        kind: str = "run",
        on_progress: ProgressHook | None = None,
        on_stage: Callable[[str], None] | None = None,
        on_load: ProgressHook | None = None,
        on_tested: Callable[[TestOutcome], None] | None = None,
        workers: int | None = None,
        formats: Sequence[str] = REPORT_FORMATS,
        scenarios_only: Sequence[str] = (),
        started: Started | None = None,
    ) -> RunResult:
        """The full cycle: Test, re-run failures in isolation, the plan's scenarios against
        its service, Validate, then what a judged run ends with (`conclude`). `on_tested`
        hears the Test phase's outcome as soon as it is known, when scenarios or drills
        follow: minutes before the run ends. `scenarios_only`: run those scenarios alone
        (no tests, no drills), a partial run that judges what they measure. `started`: the
        Test phase's pytest, started ahead (suite/early.py)."""
        if scenarios_only:
            return self.scenarios_only(scenarios_only, kind, on_stage, on_load, workers, formats)
        scenarios = self.plan.model.scenarios
        drills = self.plan.model.drills
        self._preflight(kind, workers)
        outcome = self.test(
            pytest_args, kind=kind, on_progress=on_progress, finish=False, started=started
        )
        end = outcome.end
        assert end is not None
        notes: list[str] = []
        with self._until_finished(outcome.run.id):
            failed = [r.nodeid for r in outcome.results if r.outcome in BAD_OUTCOMES]
            if failed and self.plan.validate.reruns and end.status != "error":
                if on_stage:
                    on_stage(f"re-running {min(len(failed), MAX_RERUN)} failed tests in isolation")
                self.rerun_failures(outcome.run, failed, pytest_args)
            if on_tested and (scenarios or drills):
                took = (datetime.now(UTC) - outcome.run.started).total_seconds()
                on_tested(replace(outcome, suite_time=took))
            if end.status != "error":
                self.audit(outcome.run, on_stage)
            if (scenarios or drills) and end.status != "error":
                if on_stage:
                    what = [
                        f"{len(x)} {name if len(x) > 1 else name[:-1]}"
                        for x, name in ((scenarios, "scenarios"), (drills, "drills"))
                        if x
                    ]
                    on_stage(f"running {' and '.join(what)} against the service")
                notes = self.run_scenarios(
                    outcome.run, workers=workers, on_progress=on_load, on_stage=on_stage
                )
        note = "; ".join(filter(None, [end.note, *merged_notes(notes)])) or None
        finished = self.history.finish_run(outcome.run.id, end.status, end.code, note, end.counts)
        outcome = replace(outcome, run=finished, note=note, end=None)
        return self.conclude(outcome, self.validate(finished.id), formats)

    def _preflight(self, kind: str, workers: int | None) -> None:
        """A target load may not go to, or a drill that cannot run, is refused before
        anything runs, tests included; the refusal is recorded."""
        model = self.plan.model
        service = model.service or _default_service()
        try:
            if model.scenarios:
                from passcycle.scenarios import preflight

                preflight(
                    service, model.scenarios, self.plan.root, workers or 0, 0, model.upstreams
                )
            if model.drills:
                from passcycle.scenarios.drills import check_drills

                check_drills(service, model.drills)
        except PasscycleError as exc:
            self._refused(kind, exc)
            raise

    def audit(self, run: Run, on_stage: Callable[[str], None] | None = None) -> None:
        """What the plan measures beyond its tests, kept with the run: the security audit
        (security/), technical debt and the KPIs of the project's commands (measures/)."""
        from passcycle import measures, security

        audits: list[Audit] = []
        if security.wanted(self.plan):
            if on_stage:
                on_stage("auditing the code (bandit) and the installed packages")
            audits += security.audit(self.plan)
        if measures.wants_debt(self.plan):
            audits.append(measures.count_debt(self.plan))
        taken: list[Measurement] = []
        for name, command in measures.command_kpis(self.plan).items():
            if on_stage:
                on_stage(f"measuring {name}: {command}")
            found = measures.run_command(self.plan, name, command)
            if isinstance(found, Measurement):
                taken.append(found)
            else:
                audits.append(found)
        self.history.add_audits(run.id, audits)
        self.history.add_measurements(run.id, taken)

    def show(self, ref: str | int = "latest") -> TestOutcome:
        run = resolve_run(self.history, ref, self.plan.name)
        summary, files = self.history.coverage(run.id)
        return TestOutcome(run, self.history.results(run.id), summary, files, run.note)

    def issue(self, ref: str) -> IssueDetail:
        """An issue (a fingerprint or its first characters) as the last run that saw it
        left it: its tests, its suggestion with the suspects, the diff of each changed
        suspect since the tests last passed."""
        from passcycle.fix.advice import issue_detail

        found = resolve_issue(self.history, ref, self.plan.name)
        return issue_detail(self.plan, self.history, found)

    def runs(self, limit: int = 20) -> list[Run]:
        return self.history.runs(project=self.plan.name, limit=limit)

    def calibrate(self, runs: int = 20, margin: float = 0.10) -> list[Proposal]:
        """For each KPI of the plan, a target its last `runs` judged full runs (on the
        latest one's branch) meet with `margin`, and a regression threshold from its noise."""
        from passcycle.catalogue import BUILTIN_KPIS
        from passcycle.validate.calibrate import calibrate
        from passcycle.validate.kpis import kpi_specs

        latest = next((r for r in self.runs(200) if r.gate is not None and not r.partial), None)
        if latest is None:
            raise UsageError("no judged full run to calibrate on", hint="passcycle run")
        window = [
            (run, values)
            for run, values in self.history.kpi_window(self.plan.name, latest.id + 1, runs * 3)
            if run.branch == latest.branch
        ][:runs]
        units = {k.name: k.unit for k in self.history.kpi_values(latest.id)}
        kpis = {
            name: (spec.target.text if spec.target else None, units.get(name, spec.unit))
            for name, spec in kpi_specs(self.plan).items()
        }
        for name, (target, unit) in kpis.items():
            if not unit and name in BUILTIN_KPIS:
                kpis[name] = (target, BUILTIN_KPIS[name].unit)
        return calibrate(kpis, list(reversed(window)), margin)

    def write_targets(self, proposals: Sequence[Proposal]) -> list[str]:
        """Put the proposed targets in the plan file, each with a comment saying why."""
        from passcycle.planwrite import CALIBRATED, write_targets

        if self.plan.path is None:
            raise UsageError("the plan has no file to write", hint="passcycle init writes one")
        changes = {
            p.name: (p.target, p.regression, f"{CALIBRATED} {p.basis}: {p.why}")
            for p in proposals
            if p.target
        }
        return write_targets(self.plan.path, changes)

    def set_baseline(self, ref: str | int = "full", *, force: bool = False) -> Run:
        """Make a run the baseline. A run that did not finish is refused; one that is part
        of the suite or failed its gate is refused unless `force` (#9)."""
        run = resolve_run(self.history, ref, self.plan.name)
        if run.status in ("running", "interrupted", "error"):
            why = f": {run.note}" if run.note else ""
            raise UsageError(
                f"run {run.id} is {run.status}{why}; it cannot be the baseline",
                hint="pick a finished run from `passcycle history`",
            )
        refused = None
        if run.partial:
            refused = f"run {run.id} is a {run.kind} of part of the suite"
        elif run.gate is False:
            refused = f"run {run.id} failed its gate (status {run.status})"
        elif run.gate is None and run.status != "passed":
            refused = f"run {run.id} is {run.status} and was never judged"
        if refused and not force:
            raise UsageError(
                f"{refused}: a baseline is what later runs must match",
                hint="pick a full run that passed its gate, or give --force to insist",
            )
        self.history.set_baseline(self.plan.name, run.id)
        return run

    def baseline(self) -> Run | None:
        return self.history.baseline(self.plan.name)


def open_history(plan: Plan, url: str | None = None) -> History:
    """The plan's history, unless PASSCYCLE_DB or --db say otherwise (store/engine.py
    ranks them)."""
    try:
        return History.open(url, root=plan.root, plan_url=plan.project.history or None)
    except PasscycleError:
        raise
    except Exception as exc:  # a driver error we did not foresee still gets one line
        from passcycle.store.engine import unforeseen

        # without the URL's passwords: a driver may echo what it was given
        raise unforeseen(exc, url, plan.root, plan.project.history or None) from None
