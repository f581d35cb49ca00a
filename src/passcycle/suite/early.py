"""pytest started ahead of its run: the suite begins while passcycle imports its history
and records the run.

A cold `passcycle test` spends a third of a second importing SQLAlchemy, the cycle and the
judges before a test runs; on a small suite that was a tenth of the command
(docs/benchmarks.md). pytest needs none of it: what it runs follows from the plan and the
command line alone. So the CLI starts pytest as soon as the plan is read, with the run's
files in a folder of their own (`runs/pending-PID-XXXX`), and the cycle follows that process
once the run is recorded; the folder becomes the run's when pytest is done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from passcycle.records import TestResult
from passcycle.suite.process import kill_group
from passcycle.suite.runner import SuiteRun
from passcycle.suite.spec import Progress, SuiteOutcome, SuiteSpec

if TYPE_CHECKING:
    from passcycle.plan import Plan

PENDING = "pending-"
AWAIT_FILE = "selection.json"  # a pytest started awaiting reads it (plugin/awaiting.py)


def plan_spec(
    plan: Plan,
    artifacts: Path,
    tests: Sequence[str],
    pytest_args: Sequence[str],
    *,
    coverage: bool = True,
    env: dict[str, str] | None = None,
    select: Sequence[str] | None = None,
) -> SuiteSpec:
    """What pytest runs for this plan: its interpreter, options, coverage and tests."""
    project = plan.project
    return SuiteSpec(
        root=plan.root,
        tests=list(tests),
        source=list(plan.source if coverage else []),
        pytest_args=[*project.pytest_args, *pytest_args],
        python=project.python or sys.executable,
        timeout=project.timeout or None,
        branch=project.branch,
        env=dict(env or {}),
        artifacts=artifacts,
        select=list(select) if select is not None else None,
    )


def start_suite(spec: SuiteSpec, *, awaiting: bool = False) -> Started:
    """Start pytest for `spec` now; `run_suite(..., started=)` follows it later. Awaiting,
    it collects nothing until `Started.go` says what (plugin/awaiting.py)."""
    run = SuiteRun(spec, None, None)
    run.prepare()
    told = run.artifacts / AWAIT_FILE if awaiting else None
    try:
        return Started(run, run.launch(spec.select, 0, told), told)
    except BaseException:
        run.cleanup()
        shutil.rmtree(run.artifacts, ignore_errors=True)
        raise


def start_test(
    plan: Plan,
    pytest_args: Sequence[str],
    *,
    coverage: bool,
    paths: Sequence[str] | None = None,
    select: Sequence[str] | None = None,
    awaiting: bool = False,
) -> Started:
    """pytest for `passcycle test` and `run` (or a re-test's selection: `paths` to
    collect, `select` to keep), started before its run exists (see the module); awaiting,
    before the selection is known (`Started.go`)."""
    from passcycle.suite.args import read_args, suite_tests
    from passcycle.workdir import FOLDER, make_folder

    runs = make_folder(plan.root / FOLDER / "runs")
    # a name no other run has had: a killed run keeps its pending folder as its artifacts
    folder = Path(tempfile.mkdtemp(prefix=f"{PENDING}{os.getpid()}-", dir=runs))
    tests = suite_tests(plan.tests, read_args(pytest_args).paths, paths)
    spec = plan_spec(plan, folder, tests, pytest_args, coverage=coverage, select=select)
    return start_suite(spec, awaiting=awaiting)


class Started:
    """A pytest process started ahead of its run: followed once, or discarded (killed and
    its files removed) when the run never comes."""

    def __init__(self, run: SuiteRun, proc: subprocess.Popen, awaiting: Path | None) -> None:
        self.run = run
        self.proc: subprocess.Popen | None = proc
        self.awaiting = awaiting  # the file it waits for before collecting, until `go`

    def go(self, paths: Sequence[str] | None, select: Sequence[str] | None) -> None:
        """Tell a pytest started awaiting what to run: collect `paths` (None: what it was
        started with) and keep the items `select` names (None: every one collected)."""
        if self.awaiting is None:
            raise RuntimeError("only a suite started awaiting is told what to run")
        spec = self.run.spec
        chosen = None
        if select is not None:
            chosen = spec.artifacts / "select-0.txt"
            chosen.write_text("".join(n + "\n" for n in select), encoding="utf-8")
        said = {"paths": None if paths is None else list(paths), "select": chosen and str(chosen)}
        pending = self.awaiting.with_suffix(".tmp")
        pending.write_text(json.dumps(said), encoding="utf-8")
        os.replace(pending, self.awaiting)  # whole: every process reads it (awaiting.py)
        self.awaiting = None
        tests = spec.tests if paths is None else list(paths)
        self.run.spec = replace(spec, tests=tests, select=None if select is None else list(select))
        self.run.started = time.monotonic()  # the suite's time: waiting is not the tests'

    @property
    def spec(self) -> SuiteSpec:
        return self.run.spec

    def check(self, tests: Sequence[str], select: Sequence[str] | None) -> SuiteSpec:
        """The spec it runs, which must be what the run asks: pytest was started with it."""
        spec = self.run.spec
        asked = replace(spec, tests=list(tests), select=None if select is None else list(select))
        if asked != spec:
            raise RuntimeError("a suite started ahead runs what it was started with")
        return spec

    def follow(
        self,
        on_progress: Callable[[Progress], None] | None,
        on_result: Callable[[TestResult], None] | None,
    ) -> SuiteOutcome:
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("a started suite is followed once")
        if self.awaiting is not None:
            raise RuntimeError("a suite started awaiting is told what to run before it is followed")
        self.run.on_progress, self.run.on_result = on_progress, on_result
        return self.run.execute(first=proc)

    def discard(self) -> None:
        """Stop the process and remove its files, unless it was followed."""
        from passcycle.guardian import GUARDIAN

        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            kill_group(proc)
        finally:
            GUARDIAN.release(proc.pid)
            self.run.cleanup()
            shutil.rmtree(self.run.artifacts, ignore_errors=True)


def settle(outcome: SuiteOutcome, spec: SuiteSpec, folder: Path) -> tuple[SuiteOutcome, SuiteSpec]:
    """The pending folder of a finished suite moved to `folder` (the run's, absent or
    empty), and the outcome and spec pointing there."""
    os.replace(spec.artifacts, folder)

    def moved(path: Path | None) -> Path | None:
        return None if path is None else folder / path.relative_to(spec.artifacts.resolve())

    log = moved(outcome.log)
    assert log is not None
    outcome = replace(outcome, coverage_file=moved(outcome.coverage_file), log=log)
    return outcome, replace(spec, artifacts=folder)
