"""A suite split across machines: one shard each, then the shards merged into one run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from passcycle.cycle.constants import MAX_RERUN, REPORT_FORMATS, ProgressHook
from passcycle.cycle.results import RunResult
from passcycle.cycle.retesting import Retesting
from passcycle.errors import (
    UsageError,
)
from passcycle.records import (
    BAD_OUTCOMES,
    CoverageSummary,
    FileCoverage,
    Measurement,
    Run,
    TestOutcome,
    run_end,
)
from passcycle.validate.noise import suite_totals
from passcycle.vcs import git_state
from passcycle.workdir import make_folder


class Sharding(Retesting):
    """Cycle's sharding (cycle/core.py)."""

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
        make_folder(folder)
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
        return replace(outcome, run=self.history.run(run.id)), group

    def merge(
        self,
        group: str | None = None,
        *,
        on_stage: Callable[[str], None] | None = None,
        on_load: ProgressHook | None = None,
        workers: int | None = None,
        formats: Sequence[str] = REPORT_FORMATS,
    ) -> RunResult:
        """The group's shards as one run: every result, the union of their coverage, the
        longest shard's time as the suite's; then the plan's scenarios, Validate and
        what a judged run ends with (`conclude`)."""
        from passcycle.suite.shards import complete_group

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
        outcome = self._join_shards(run, parts, group)
        end = run_end(outcome.results, outcome.note, None)
        notes: list[str] = []
        if self.plan.model.scenarios or self.plan.model.drills:
            if on_stage:
                on_stage("running the plan's scenarios against the service")
            with self._until_finished(run.id):
                notes = self.run_scenarios(
                    run, workers=workers, on_progress=on_load, on_stage=on_stage
                )
        note = "; ".join(filter(None, [end.note, *notes]))
        finished = self.history.finish_run(run.id, end.status, end.code, note, end.counts)
        outcome = replace(outcome, run=finished, note=note)
        return self.conclude(outcome, self.validate(run.id), formats)

    def _join_shards(self, run: Run, parts: Sequence[Run], group: str) -> TestOutcome:
        """The shards' results, coverage and suite time recorded as the run's own."""
        from passcycle.suite.covmap import merge_portable, summarize
        from passcycle.suite.shards import merge_results

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
            artifacts = self._claim_artifacts(run.id)
            data_file = artifacts / "coverage.db"
            merge_portable([b for b in blobs if b is not None], self.plan.root, data_file)
            summary, files = summarize(data_file, self.plan.root)
            self.history.add_coverage(run.id, summary, files)
        ids = ", ".join(str(p.id) for p in parts)
        note = f"merged from {len(parts)} shards of {group} (runs {ids})"
        if any(blob is None for blob in blobs):
            note += "; coverage not merged: a shard ran without it"
        self.history.add_measurements(run.id, suite_totals(results))
        suite_time = max(durations, default=None)
        return TestOutcome(run, results, summary, list(files), note, suite_time=suite_time)

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
