"""Isolated re-runs: each failed test again, apart from the rest of the suite."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from passcycle.errors import PasscycleError
from passcycle.plan import Plan
from passcycle.suite.runner import SuiteSpec, run_suite


def rerun_isolated(
    plan: Plan,
    base: Path,
    chosen: Sequence[str],
    pytest_args: Sequence[str],
    *,
    rounds: int | None = None,
) -> dict[str, tuple[str, ...]]:
    """`rounds` (default: `[validate] reruns`) rounds of the chosen tests, their files in
    folders under `base` (the run's artifacts); node id -> the outcome of each round (a
    test a round did not reach counts as skipped: no evidence either way)."""
    reruns: dict[str, list[str]] = {nodeid: [] for nodeid in chosen}
    for attempt in range(plan.validate.reruns if rounds is None else rounds):
        artifacts = base / f"rerun-{attempt + 1}"
        artifacts.mkdir(parents=True, exist_ok=True)
        spec = SuiteSpec(
            root=plan.root,
            artifacts=artifacts,
            tests=sorted({n.split("::")[0] for n in chosen}),
            source=[],
            pytest_args=[*plan.project.pytest_args, *rerun_args(pytest_args)],
            python=plan.project.python or sys.executable,
            timeout=plan.project.timeout or None,
            select=list(chosen),
        )
        try:
            suite = run_suite(spec)
        except PasscycleError:
            break
        seen = {r.nodeid: r.outcome for r in suite.results}
        for nodeid in chosen:
            reruns[nodeid].append(seen.get(nodeid, "skipped"))
    return {nodeid: tuple(outcomes) for nodeid, outcomes in reruns.items() if outcomes}


def rerun_args(pytest_args: Sequence[str]) -> list[str]:
    """The user's pytest arguments minus those that would stop a re-run early or select
    other tests (the selection is ours)."""
    dropped = ("--maxfail", "-x", "--exitfirst", "-k", "-m", "--lf", "--ff", "-n", "--numprocesses")
    args: list[str] = []
    skip = False
    for arg in pytest_args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in dropped or (arg.startswith("--maxfail")):
            skip = "=" not in arg and name in ("--maxfail", "-k", "-m", "-n", "--numprocesses")
            continue
        args.append(arg)
    return args
