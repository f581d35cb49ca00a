"""The Test phase of a run: the suite with coverage, recorded test by test as it finishes."""

from __future__ import annotations

import glob
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from passcycle.errors import (
    PasscycleError,
    PytestUsageError,
    UsageError,
)
from passcycle.records import (
    PARTIAL_KINDS,
    Measurement,
    Run,
    TestOutcome,
    TestResult,
    run_end,
)
from passcycle.store import History
from passcycle.validate.noise import suite_totals
from passcycle.workdir import make_folder

if TYPE_CHECKING:
    from passcycle.suite.early import Started
    from passcycle.suite.runner import SuiteOutcome, SuiteSpec
from passcycle.cycle.base import CycleBase
from passcycle.cycle.constants import FLUSH_EVERY, MAX_RERUN, ProgressHook
from passcycle.vcs import git_state


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


class TestPhase(CycleBase):
    """Cycle's testphase (cycle/core.py)."""

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
        started: Started | None = None,
        order: Sequence[str] | None = None,
        run_note: str | None = None,
    ) -> TestOutcome:
        """Run the suite with coverage and record every result as it finishes; `started`:
        its pytest, started ahead with the same arguments (suite/early.py).

        `order`: node ids or paths run first, the others after (still the whole suite);
        `run_note` joins the run's note. With `finish=False` the run stays `running` (its
        end is in `TestOutcome.end`) so that the caller finishes it once everything else it
        does for the run is done: a run killed meanwhile is never left `passed` (#9)."""
        from passcycle.suite.args import read_args, suite_tests
        from passcycle.suite.early import plan_spec

        plan = self.plan
        given = read_args(pytest_args)
        partial = kind in PARTIAL_KINDS or select is not None or paths is not None or given.partial
        run = self._start_run(kind, parent_id=parent_id, partial=partial)
        tests = suite_tests(plan.tests, given.paths, paths)
        if started is not None:  # in pytest's order: what it was started with
            suite, written, spec = self._follow_started(run, started, tests, select, on_progress)
        else:
            artifacts = self._claim_artifacts(run.id)
            spec = plan_spec(
                plan, artifacts, tests, pytest_args, coverage=coverage, env=env, select=select
            )
            spec = replace(spec, order=list(order) if order else None)
            suite, written = self._run_suite(run, spec, on_progress)
        if coverage and not partial:
            self._snapshot(spec.artifacts)
        results, note = written, "; ".join(filter(None, [run_note, suite.note])) or None
        if not partial and suite.disagreement is None:
            results, looked = self._second_look(run, spec, results, on_progress)
            note = "; ".join(n for n in (note, looked) if n) or None
        results = self._record_suite(run, suite, results)
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

    def _snapshot(self, artifacts: Path) -> None:
        """File hashes at the run: what `retest` compares with when git cannot tell."""
        from passcycle.fix.changes import SNAPSHOT_FILE, save_snapshot, snapshot

        plan = self.plan
        save_snapshot(artifacts / SNAPSHOT_FILE, snapshot(plan.root, [*plan.source, *plan.tests]))

    def _follow_started(
        self,
        run: Run,
        started: Started,
        tests: list[str],
        select: Sequence[str] | None,
        on_progress: ProgressHook | None,
    ) -> tuple[SuiteOutcome, list[TestResult], SuiteSpec]:
        """The suite of a pytest started ahead (suite/early.py): told what to run, followed,
        and its pending folder made the run's once pytest is done."""
        from passcycle.suite.early import settle

        spec = started.check(tests, select)
        self.history.set_artifacts(run.id, str(spec.artifacts.relative_to(self.plan.root)))
        suite, written = self._run_suite(run, spec, on_progress, started)
        suite, spec = settle(suite, spec, self._claim_artifacts(run.id))
        return suite, written, spec

    def _run_suite(
        self,
        run: Run,
        spec: SuiteSpec,
        on_progress: ProgressHook | None,
        started: Started | None = None,
    ) -> tuple[SuiteOutcome, list[TestResult]]:
        """The suite run, its results written in batches as they finish; a run that pytest
        refused is no history, one cut short ends with the reason."""
        from passcycle.suite.runner import run_suite

        writer = _BatchWriter(self.history, run.id)
        try:
            suite = run_suite(spec, on_progress, writer.add, started)
            writer.flush()
        except PytestUsageError:
            # pytest refused its command line and ran nothing: a typo is not history
            self.history.discard_run(run.id)
            shutil.rmtree(spec.artifacts, ignore_errors=True)
            raise
        except BaseException as exc:
            writer.flush()
            self._abort(run.id, exc)
            raise
        return suite, writer.written

    def _record_suite(
        self, run: Run, suite: SuiteOutcome, results: list[TestResult]
    ) -> list[TestResult]:
        """The suite's measurements and coverage kept with the run, and the results of
        other runners' JUnit reports added to its own."""
        measurements = [Measurement("suite_duration", suite.duration, "s", "tests")]
        measurements.extend(suite_totals(results))
        if suite.others is not None:  # how busy other work kept the machine (suite/machine.py)
            measurements.append(Measurement("suite_others", suite.others, "", "machine"))
        if suite.coverage is not None:
            self.history.add_coverage(run.id, suite.coverage, suite.files)
        try:
            junit = self._import_junit(run.id)
        except PasscycleError as exc:
            # a bad report of another runner ends the run `error` with the reason, not
            # `running` until the next command marks it `interrupted` as if killed
            self._abort(run.id, exc)
            raise
        self.history.add_measurements(run.id, measurements)
        return [*results, *junit]

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
        results = read_junit([Path(p) for p in paths], self.plan.root)
        if run_id is not None:
            self.history.add_results(run_id, results)
            return results
        run = self._start_run("import")
        self.history.add_results(run.id, results)
        end = run_end(results, f"imported from {len(paths)} JUnit file(s)", None)
        self.history.finish_run(run.id, end.status, end.code, end.note, end.counts)
        return results

    def rerun_failures(
        self,
        run: Run,
        failed: Sequence[str],
        pytest_args: Sequence[str],
        *,
        rounds: int | None = None,
    ) -> None:
        """Each failed test again, apart from the rest of the suite, `rounds` times (the
        plan's `[validate] reruns` by default); the first outcome stays, the re-run outcomes
        are kept beside it (flaky evidence)."""
        from passcycle.suite.reruns import rerun_isolated

        chosen = list(failed)[:MAX_RERUN]
        found = rerun_isolated(
            self.plan, self._artifacts(run.id), chosen, pytest_args, rounds=rounds
        )
        for nodeid, outcomes in found.items():
            self.history.set_reruns(run.id, nodeid, outcomes)

    def _artifacts(self, run_id: int) -> Path:
        """A run's folder of files (coverage data, logs, the service's output): the one the
        history keeps for it, else `.passcycle/runs/<id>`."""
        run = self.history.find_run(run_id)
        if run is not None and run.artifacts:
            return self.plan.root / run.artifacts
        return self.plan.root / ".passcycle" / "runs" / str(run_id)

    def _claim_artifacts(self, run_id: int) -> Path:
        """A new run's empty folder, kept in the history. Run ids are unique to a history,
        not to the project: another history used on the same project (`--db`) may have left
        a run of the same id whose files would mix with this run's (a coverage data file
        combined into the wrong run), so a folder in use gets a suffix."""
        base = self.plan.root / ".passcycle" / "runs"
        folder = base / str(run_id)
        n = 1
        while folder.exists() and any(folder.iterdir()):
            n += 1
            folder = base / f"{run_id}.{n}"
        make_folder(folder)
        self.history.set_artifacts(run_id, str(folder.relative_to(self.plan.root)))
        return folder
