"""The cycle: Test -> Validate -> Fix -> Test -> Pass, over one plan and one history."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passcycle.errors import (
    ExitCode,
    PasscycleError,
    PytestUsageError,
    UsageError,
)
from passcycle.plan import Plan
from passcycle.records import (
    BAD_OUTCOMES,
    PARTIAL_KINDS,
    CoverageSummary,
    FileCoverage,
    Measurement,
    Run,
    TestOutcome,
    TestResult,
    Verdict,
    count_outcomes,
    pass_rate,
    run_end,
)
from passcycle.store import History
from passcycle.validate.noise import suite_totals

if TYPE_CHECKING:
    from passcycle.fix.impact import Selection
    from passcycle.fix.retest import IssueProgress
    from passcycle.fix.suggest import Suggestion
    from passcycle.report.scenarios import ScenarioSummary
    from passcycle.suite.runner import SuiteSpec
from passcycle.vcs import git_state

MAX_RERUN = 100  # failed tests re-run for flakiness; past this, a suite is broken, not flaky
FLUSH_EVERY = 0.5  # seconds between batched writes of results to the history
ProgressHook = Callable[..., None]


class Cycle:
    """The core API under the CLI: each method is one command's work, with no printing."""

    def __init__(self, plan: Plan, history: History) -> None:
        self.plan = plan
        self.history = history
        self.history.reap()

    # --- Test ------------------------------------------------------------------------

    def test(
        self,
        pytest_args: Sequence[str] = (),
        *,
        kind: str = "test",
        parent_id: int | None = None,
        select: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        coverage: bool = True,
        on_progress: ProgressHook | None = None,
        env: dict[str, str] | None = None,
        finish: bool = True,
    ) -> TestOutcome:
        """Run the suite with coverage and record every result as it finishes.

        With `finish=False` the run stays `running` (its end is in `TestOutcome.end`) so
        that the caller finishes it once everything else it does for the run is done: a
        run killed meanwhile is never left `passed` (#9).
        """
        from passcycle.suite.args import read_args
        from passcycle.suite.runner import SuiteSpec, run_suite

        plan = self.plan
        given = read_args(pytest_args)
        partial = kind in PARTIAL_KINDS or select is not None or paths is not None or given.partial
        run = self._start_run(kind, parent_id=parent_id, partial=partial)
        artifacts = self._artifacts(run.id)
        artifacts.mkdir(parents=True, exist_ok=True)
        self.history.set_artifacts(run.id, str(artifacts.relative_to(plan.root)))
        source = plan.source if coverage else []
        # paths after -- replace the plan's, as they would on pytest's command line
        tests = list(paths) if paths is not None else [] if given.paths else list(plan.tests)
        spec = SuiteSpec(
            root=plan.root,
            tests=tests,
            source=list(source),
            pytest_args=[*plan.project.pytest_args, *pytest_args],
            python=plan.project.python or sys.executable,
            timeout=plan.project.timeout or None,
            branch=plan.project.branch,
            env=dict(env or {}),
            artifacts=artifacts,
            select=list(select) if select is not None else None,
        )
        writer = _BatchWriter(self.history, run.id)
        try:
            suite = run_suite(spec, on_progress=on_progress, on_result=writer.add)
            writer.flush()
        except PytestUsageError:
            # pytest refused its command line and ran nothing: a typo is not history
            self.history.discard_run(run.id)
            shutil.rmtree(artifacts, ignore_errors=True)
            raise
        except BaseException as exc:
            writer.flush()
            self._abort(run.id, exc)
            raise

        if coverage and not partial:
            # file hashes at the run: what `retest` compares with when git cannot tell
            from passcycle.fix.changes import SNAPSHOT_FILE, save_snapshot, snapshot

            save_snapshot(
                artifacts / SNAPSHOT_FILE, snapshot(plan.root, [*plan.source, *plan.tests])
            )
        results = writer.written
        note = suite.note
        if not partial and suite.disagreement is None:
            results, looked = self._second_look(run, spec, results, on_progress)
            note = "; ".join(n for n in (note, looked) if n) or None
        measurements = [Measurement("suite_duration", suite.duration, "s", "tests")]
        measurements.extend(suite_totals(results))
        if suite.coverage is not None:
            self.history.add_coverage(run.id, suite.coverage, suite.files)
        try:
            junit = self._import_junit(run.id)
        except PasscycleError as exc:
            # a bad report of another runner ends the run `error` with the reason, not
            # `running` until the next command marks it `interrupted` as if killed
            self._abort(run.id, exc)
            raise
        results = [*results, *junit]
        self.history.add_measurements(run.id, measurements)
        end = run_end(results, note, suite.disagreement)
        if finish:
            run = self.history.finish_run(run.id, end.status, end.code, end.note, end.counts)
        return TestOutcome(
            run,
            results,
            suite.coverage,
            list(suite.files),
            end.note,
            dict(plan.detected),
            end=None if finish else end,
        )

    def _second_look(
        self,
        run: Run,
        spec: SuiteSpec,
        results: list[TestResult],
        on_progress: ProgressHook | None,
    ) -> tuple[list[TestResult], str | None]:
        """Time again the tests that made the run look slower than the baseline, and keep
        their second timing (validate/noise.py, "A second look")."""
        from passcycle.suite.runner import run_suite
        from passcycle.validate import noise
        from passcycle.validate.kpis import kpi_specs

        duration = kpi_specs(self.plan).get("suite_duration")
        baseline = self.history.baseline(self.plan.name)
        if duration is None or duration.regression is None or baseline is None:
            return results, None
        chosen = noise.second_look(
            noise.timed_tests(self.history.results(baseline.id)),
            noise.timed_tests(results),
            min_effect=duration.regression,
        )
        if not chosen:
            return results, None
        scratch = spec.artifacts / "second-look"
        try:
            again = run_suite(replace(spec, artifacts=scratch, select=chosen), on_progress)
        except PasscycleError as exc:  # the first timings stand
            return results, f"second look at {len(chosen)} slower tests failed: {exc}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        best = noise.second_timings(results, again.results)
        self.history.set_times(run.id, best)
        results = [
            replace(r, cpu=t[0], solo=t[1], probe=t[2]) if (t := best.get(r.nodeid)) else r
            for r in results
        ]
        return results, (
            f"timed {len(best)} tests a second time (they ran slower than at the baseline);"
            " their second timing counts"
        )

    def _start_run(self, kind: str, *, parent_id: int | None = None, partial: bool = False) -> Run:
        """A new `running` run of this plan, with the tree's git state."""
        git = git_state(self.plan.root)
        return self.history.start_run(
            self.plan.name,
            kind,
            commit=git.commit,
            branch=git.branch,
            dirty=git.dirty,
            parent_id=parent_id,
            plan_digest=self.plan.digest,
            partial=partial,
        )

    def _abort(self, run_id: int, exc: BaseException) -> None:
        """Close a run that an exception cut short, saying why."""
        if isinstance(exc, KeyboardInterrupt):
            self.history.finish_run(
                run_id, "interrupted", ExitCode.INTERRUPTED, "stopped by Ctrl-C"
            )
        elif isinstance(exc, PasscycleError):
            self.history.finish_run(run_id, "error", exc.exit_code, exc.message)
        else:
            self.history.finish_run(
                run_id, "error", ExitCode.RUN_ERROR, f"passcycle failed: {exc!r}"
            )

    def _import_junit(self, run_id: int) -> list[TestResult]:
        patterns = self.plan.project.junit
        if not patterns:
            return []
        paths = sorted({Path(p) for pat in patterns for p in glob.glob(str(self.plan.root / pat))})
        if not paths:
            return []
        # Read once the suite has run, not before: the suite may write them (a runner it
        # starts, pytest's --junitxml), and a report left half-written by a killed run must
        # not refuse the run that rewrites it.
        try:
            return self.import_junit(paths, run_id=run_id)
        except UsageError as exc:
            raise UsageError(
                f"[project] junit: {exc.message}",
                hint="fix that runner's report, or leave it out of the plan's [project] junit",
            ) from None

    def import_junit(self, paths: Sequence[Path], run_id: int | None = None) -> list[TestResult]:
        """Bring results of another runner into the history, as their own run or into one."""
        from passcycle.suite.junit import read_junit

        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise UsageError(f"no such file: {missing[0]}", hint="give JUnit XML files")
        results = read_junit([Path(p) for p in paths])
        if run_id is not None:
            self.history.add_results(run_id, results)
            return results
        run = self._start_run("import")
        self.history.add_results(run.id, results)
        end = run_end(results, f"imported from {len(paths)} JUnit file(s)", None)
        self.history.finish_run(run.id, end.status, end.code, end.note, end.counts)
        return results

    # --- Validate ------------------------------------------------------------------------

    def run(
        self,
        pytest_args: Sequence[str] = (),
        *,
        kind: str = "run",
        on_progress: ProgressHook | None = None,
        on_stage: Callable[[str], None] | None = None,
        on_load: ProgressHook | None = None,
        workers: int = 0,
    ) -> tuple[TestOutcome, Verdict]:
        """The full cycle's first half: Test, re-run failures in isolation, the plan's
        scenarios against its service, then Validate."""
        scenarios = self.plan.model.scenarios
        drills = self.plan.model.drills
        service = self.plan.model.service or _default_service()
        try:
            if scenarios:
                from passcycle.scenarios import preflight

                # a target load may not go to is refused before anything runs, tests included
                preflight(service, scenarios, self.plan.root, workers, 0, self.plan.model.upstreams)
            if drills:
                from passcycle.scenarios.drills import check_drills

                check_drills(service, drills)
        except PasscycleError as exc:
            self._refused(kind, exc)
            raise
        outcome = self.test(pytest_args, kind=kind, on_progress=on_progress, finish=False)
        end = outcome.end
        assert end is not None
        notes: list[str] = []
        try:
            failed = [r.nodeid for r in outcome.results if r.outcome in BAD_OUTCOMES]
            if failed and self.plan.validate.reruns and end.status != "error":
                if on_stage:
                    on_stage(f"re-running {min(len(failed), MAX_RERUN)} failed tests in isolation")
                self.rerun_failures(outcome.run, failed, pytest_args)
            if (scenarios or drills) and end.status != "error":
                if on_stage:
                    what = [
                        f"{len(x)} {name if len(x) > 1 else name[:-1]}"
                        for x, name in ((scenarios, "scenarios"), (drills, "drills"))
                        if x
                    ]
                    on_stage(f"running {' and '.join(what)} against the service")
                notes = self.run_scenarios(outcome.run, workers=workers, on_progress=on_load)
        except BaseException as exc:
            if self.history.get_run(outcome.run.id).status == "running":
                self._abort(outcome.run.id, exc)
            raise
        note = "; ".join(filter(None, [end.note, *notes])) or None
        finished = self.history.finish_run(outcome.run.id, end.status, end.code, note, end.counts)
        outcome = replace(outcome, run=finished, note=note, end=None)
        return outcome, self.validate(finished.id)

    def _refused(self, kind: str, exc: PasscycleError) -> None:
        """A run refused before it started is still recorded, with the reason."""
        run = self._start_run(kind)
        self.history.finish_run(run.id, "error", exc.exit_code, exc.message, counts={})

    def run_scenarios(
        self, run: Run, *, workers: int = 0, on_progress: ProgressHook | None = None
    ) -> list[str]:
        """Start the service, run every scenario, keep what was measured with the run; a
        scenario that fails leaves its partial measurements and an `error` run."""
        from passcycle.scenarios import ScenarioError, run_scenarios
        from passcycle.scenarios.drills import run_drills

        model = self.plan.model
        artifacts = self._artifacts(run.id)
        try:
            found = run_scenarios(
                model.service,
                model.scenarios,
                self.plan.root,
                artifacts,
                workers=workers,
                on_progress=on_progress,
                upstreams=model.upstreams,
            )
            if model.drills:
                drilled = run_drills(
                    model.service or _default_service(),
                    model.drills,
                    self.plan.root,
                    artifacts / "drills",
                    upstreams=model.upstreams,
                )
                found.measurements.extend(drilled.measurements)
                found.notes.extend(drilled.notes)
        except ScenarioError as exc:
            self.history.add_measurements(run.id, exc.outcome.measurements)
            self.history.finish_run(run.id, "error", exc.exit_code, exc.message)
            raise
        except PasscycleError as exc:
            self.history.finish_run(run.id, "error", exc.exit_code, exc.message)
            raise
        except KeyboardInterrupt:
            self.history.finish_run(
                run.id, "interrupted", ExitCode.INTERRUPTED, "stopped by Ctrl-C"
            )
            raise
        self.history.add_measurements(run.id, found.measurements)
        return list(found.notes)

    # --- Shards: one suite across machines ------------------------------------------------

    def shard(
        self,
        number: int,
        total: int,
        pytest_args: Sequence[str] = (),
        *,
        group: str | None = None,
        on_progress: ProgressHook | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> tuple[TestOutcome, str]:
        """Shard `number` of `total`: its part of the suite with coverage, its failures
        re-run in isolation, its coverage data kept in the history for `merge`. Returns
        the outcome and the group it belongs to."""
        from passcycle.suite.covmap import portable

        group = group or self._default_group()
        folder = self.plan.root / ".passcycle"
        folder.mkdir(parents=True, exist_ok=True)
        durations = folder / f"durations-{os.getpid()}.json"
        durations.write_text(json.dumps(self._durations()), encoding="utf-8")
        env = {"PASSCYCLE_SHARD": f"{number}/{total}", "PASSCYCLE_DURATIONS": str(durations)}
        try:
            outcome = self.test(pytest_args, kind="shard", env=env, on_progress=on_progress)
        finally:
            durations.unlink(missing_ok=True)
        run = outcome.run
        self.history.add_shard(run.id, self.plan.name, group, number, total)
        self.history.set_note(
            run.id, "; ".join(filter(None, [f"shard {number}/{total} of {group}", run.note]))
        )
        data_file = self._artifacts(run.id) / "coverage.db"
        if outcome.coverage is not None and data_file.exists():
            self.history.save_coverage_data(run.id, portable(data_file, self.plan.root))
        failed = [r.nodeid for r in outcome.results if r.outcome in BAD_OUTCOMES]
        if failed and self.plan.validate.reruns and run.status != "error":
            if on_stage:
                on_stage(f"re-running {min(len(failed), MAX_RERUN)} failed tests in isolation")
            self.rerun_failures(run, failed, pytest_args)
        return replace(outcome, run=self.history.get_run(run.id)), group

    def merge(
        self,
        group: str | None = None,
        *,
        on_stage: Callable[[str], None] | None = None,
        on_load: ProgressHook | None = None,
        workers: int = 0,
    ) -> tuple[TestOutcome, Verdict]:
        """The group's shards as one run: every result, the union of their coverage, the
        longest shard's time as the suite's; then the plan's scenarios and Validate."""
        from passcycle.suite.covmap import merge_portable, summarize
        from passcycle.suite.shards import complete_group, merge_results

        project = self.plan.name
        group = group or self.history.latest_shard_group(project)
        if group is None:
            raise UsageError(
                "no shard runs in the history to merge",
                hint="run passcycle test --shard K/N on each machine first",
            )
        found = self.history.shard_runs(project, group)
        if not found:
            raise UsageError(
                f"no shard runs of group {group!r} for project {project!r}",
                hint="shards and merge must share the history and the project name (set"
                " [project] name when checkouts live in folders of other names)",
            )
        parts = complete_group(group, found)
        first = parts[0]
        run = self.history.start_run(
            project,
            "run",
            commit=first.commit,
            branch=first.branch,
            dirty=first.dirty,
            plan_digest=self.plan.digest,
        )  # the merge of a complete group is the whole suite
        results = merge_results(self.history.results(p.id) for p in parts)
        self.history.add_results(run.id, results)
        durations = [
            m.value
            for p in parts
            for m in self.history.measurements(p.id)
            if m.name == "suite_duration"
        ]
        if durations:
            self.history.add_measurements(
                run.id, [Measurement("suite_duration", max(durations), "s", "tests")]
            )
        summary: CoverageSummary | None = None
        files: list[FileCoverage] = []
        blobs = [self.history.coverage_data(p.id) for p in parts]
        if all(blob is not None for blob in blobs):
            artifacts = self._artifacts(run.id)
            artifacts.mkdir(parents=True, exist_ok=True)
            self.history.set_artifacts(run.id, str(artifacts.relative_to(self.plan.root)))
            data_file = artifacts / "coverage.db"
            merge_portable([b for b in blobs if b is not None], self.plan.root, data_file)
            summary, files = summarize(data_file, self.plan.root)
            self.history.add_coverage(run.id, summary, files)
        ids = ", ".join(str(p.id) for p in parts)
        note = f"merged from {len(parts)} shards of {group} (runs {ids})"
        if any(blob is None for blob in blobs):
            note += "; coverage not merged: a shard ran without it"
        self.history.add_measurements(run.id, suite_totals(results))
        end = run_end(results, note, None)
        notes: list[str] = []
        if self.plan.model.scenarios or self.plan.model.drills:
            if on_stage:
                on_stage("running the plan's scenarios against the service")
            try:
                notes = self.run_scenarios(run, workers=workers, on_progress=on_load)
            except BaseException as exc:
                if self.history.get_run(run.id).status == "running":
                    self._abort(run.id, exc)
                raise
        note = "; ".join(filter(None, [end.note, *notes]))
        finished = self.history.finish_run(run.id, end.status, end.code, note, end.counts)
        outcome = TestOutcome(
            finished, results, summary, list(files), note, suite_time=max(durations, default=None)
        )
        return outcome, self.validate(run.id)

    def _artifacts(self, run_id: int) -> Path:
        """A run's folder of files (coverage data, logs, the service's output)."""
        return self.plan.root / ".passcycle" / "runs" / str(run_id)

    def _default_group(self) -> str:
        git = git_state(self.plan.root)
        if git.commit:
            return git.commit[:12] + ("-dirty" if git.dirty else "")
        raise UsageError(
            "--shard needs a group name outside a git repository",
            hint="give every shard of one split the same --group NAME (e.g. the CI run id)",
        )

    def _durations(self) -> dict[str, float]:
        """Each test's duration in the newest complete run: what shards are balanced by."""
        for run in self.history.runs(self.plan.name, limit=50):
            if run.kind in ("run", "ci", "test") and run.status in ("passed", "failed"):
                return {r.nodeid: r.duration for r in self.history.results(run.id)}
        return {}

    def scenarios(self, run: Run) -> list[ScenarioSummary]:
        """The run's scenarios as the reports show them, faults included."""
        from passcycle.report.scenarios import summarize

        return summarize(self.history.measurements(run.id))

    def rerun_failures(self, run: Run, failed: Sequence[str], pytest_args: Sequence[str]) -> None:
        """Each failed test again, apart from the rest of the suite; the first outcome stays,
        the re-run outcomes are kept beside it (flaky evidence)."""
        from passcycle.suite.reruns import rerun_isolated

        chosen = list(failed)[:MAX_RERUN]
        found = rerun_isolated(self.plan, run.id, chosen, pytest_args)
        for nodeid, outcomes in found.items():
            self.history.set_reruns(run.id, nodeid, outcomes)

    def write_reports(
        self,
        run: Run,
        formats: Sequence[str],
        suggestions: dict[str, Suggestion] | None,
        out_dir: Path | None = None,
    ) -> dict[str, Path]:
        """The run's reports; with Markdown and $GITHUB_STEP_SUMMARY set, the summary too."""
        from passcycle.report import write_reports

        tips = {
            fp: "\n".join(x for x in (t.location and f"at {t.location}", t.next_step) if x)
            for fp, t in (suggestions or {}).items()
        }
        written = write_reports(self.plan, self.history, run, out_dir, formats, suggestions=tips)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and "md" in written:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(written["md"].read_text(encoding="utf-8") + "\n")
        return written

    def write_review(
        self, *, phase: int | None, since: str | None, out_dir: Path | None = None
    ) -> dict[str, Path]:
        """The phase completion report (`phase`) or the review of a period (`since`)."""
        from passcycle.report import write_review

        return write_review(self.plan, self.history, phase=phase, since=since, out_dir=out_dir)

    def alert(self, verdict: Verdict) -> list[str]:
        """Post the plan's webhooks about a breach, a regression or a new critical issue;
        bounded in time, so a slow receiver never holds the run. Lines for failed posts."""
        alerts = self.plan.model.alerts
        if not alerts.webhooks:
            return []
        from passcycle.serve.alerts import send_alerts

        previous = [
            r
            for r in self.history.runs(project=self.plan.name, limit=10)
            if r.id < verdict.run.id and r.gate is not None
        ]
        outcome = send_alerts(alerts, verdict, previous[0].gate if previous else None)
        return list(outcome.lines())

    def validate(self, ref: str | int = "latest") -> Verdict:
        """Judge a recorded run: KPIs, issues, flaky tests, regressions, phases, gate."""
        from passcycle.validate.verdict import judge_run

        run = self.history.get_run(ref, project=self.plan.name)
        if run.status in ("running",):
            raise UsageError(f"run {run.id} is still running", hint="wait for it, or pick another")
        return judge_run(self.plan, self.history, run)

    # --- Fix and re-test ---------------------------------------------------------------

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
        on_progress: ProgressHook | None = None,
    ) -> Retest:
        """Run the selection (or all, with `everything`) as a `retest` run pointing at the
        run it re-tests, and say what became of each of that run's issues."""
        from passcycle.fix.retest import base_run, plan_selection, progress

        base = base_run(self.plan, self.history)
        selection = None if everything else plan_selection(self.plan, self.history, base)
        before = self.history.issues(self.plan.name, run_id=base.id)
        if selection is not None and not selection.tests:
            return Retest(base, selection, None, None, progress(before, []))
        outcome = self.test(
            pytest_args,
            kind="retest",
            parent_id=base.id,
            paths=None if selection is None else selection.args,
            coverage=False,
            on_progress=on_progress,
        )
        verdict = self.validate(outcome.run.id) if outcome.run.status != "error" else None
        return Retest(base, selection, outcome, verdict, progress(before, outcome.results))

    def suggestions(self, verdict: Verdict) -> dict[str, Suggestion]:
        """For each top issue: where it fails, what changed since it passed, what to do."""
        from passcycle.fix.advice import suggestions

        return suggestions(self.plan, self.history, verdict)

    # --- reading the history -----------------------------------------------------------

    def show(self, ref: str | int = "latest") -> TestOutcome:
        run = self.history.get_run(ref, project=self.plan.name)
        summary, files = self.history.coverage(run.id)
        return TestOutcome(run, self.history.results(run.id), summary, files, run.note)

    def runs(self, limit: int = 20) -> list[Run]:
        return self.history.runs(project=self.plan.name, limit=limit)

    def set_baseline(self, ref: str | int = "full", *, force: bool = False) -> Run:
        """Make a run the baseline. A run that did not finish is refused; one that is part
        of the suite or failed its gate is refused unless `force` (#9)."""
        run = self.history.get_run(ref, project=self.plan.name)
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


@dataclass(frozen=True, slots=True)
class Retest:
    """A re-test: the run it re-tests, what was selected, and what became of each issue."""

    base: Run
    selection: Selection | None  # None: everything was re-run
    outcome: TestOutcome | None  # None: nothing to re-run
    verdict: Verdict | None
    issues: list[IssueProgress]

    @property
    def exit_code(self) -> ExitCode:
        if self.outcome is None:
            return ExitCode.OK
        return self.outcome.exit_code


class _BatchWriter:
    """Collects results from the runner and writes them in batches, so a killed run keeps
    what it had finished, without a transaction per test."""

    def __init__(self, history: History, run_id: int) -> None:
        self.history = history
        self.run_id = run_id
        self.pending: list[TestResult] = []
        self.written: list[TestResult] = []
        self.last = time.monotonic()

    def add(self, result: TestResult) -> None:
        self.pending.append(result)
        if time.monotonic() - self.last >= FLUSH_EVERY or len(self.pending) >= 2000:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.history.add_results(self.run_id, self.pending)
            self.written.extend(self.pending)
            self.pending = []
        self.last = time.monotonic()


def _default_service() -> Any:
    from passcycle.scenarios import ServiceSection

    return ServiceSection()


def open_history(plan: Plan, url: str | None = None) -> History:
    """The plan's history, unless PASSCYCLE_DB or --db say otherwise (later wins)."""
    if url is None and not os.environ.get("PASSCYCLE_DB") and plan.project.history:
        url = plan.project.history
    try:
        return History.open(url, root=plan.root)
    except PasscycleError:
        raise
    except Exception as exc:  # a driver error we did not foresee still gets one line
        from passcycle.store.engine import unforeseen

        # without the URL's passwords: a driver may echo what it was given
        raise unforeseen(exc, url, plan.root) from None


__all__ = ["BAD_OUTCOMES", "Cycle", "TestOutcome", "count_outcomes", "open_history", "pass_rate"]
