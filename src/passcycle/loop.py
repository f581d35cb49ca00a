"""The loop: Test and Validate; on a failed gate, wait for a fix, re-test what it can affect,
and run the full pass when the re-test is green — until Pass."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.cycle import Cycle, RunResult
from passcycle.fix.retest import Retest

IGNORED_PARTS = {
    ".passcycle",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    ".mypy_cache",
    ".venv",
    "venv",
    "node_modules",
    ".tox",
    ".nox",
}
IGNORED_SUFFIXES = (".pyc", ".pyo", ".db", ".db-wal", ".db-shm", ".db-journal", ".swp", "~")


@dataclass(frozen=True, slots=True)
class FullPass:
    """A full pass of the loop: the same run, reports and alerts as `passcycle run`."""

    iteration: int
    result: RunResult


@dataclass(frozen=True, slots=True)
class Waiting:
    iteration: int


@dataclass(frozen=True, slots=True)
class Changed:
    iteration: int
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retested:
    iteration: int
    retest: Retest


@dataclass
class CycleLog:
    """What a cycle did: iterations, and when each issue was fixed."""

    started: float = field(default_factory=time.monotonic)
    iterations: int = 0
    fixed: list[tuple[int, float, str]] = field(default_factory=list)  # iteration, seconds, title
    passed: bool = False

    def note_fixed(self, iteration: int, titles: list[str]) -> None:
        now = time.monotonic() - self.started
        known = {t for _, _, t in self.fixed}
        self.fixed.extend((iteration, now, t) for t in titles if t not in known)


def relevant(path: str, root: Path) -> bool:
    """A saved file worth a re-test: not passcycle's own output, caches or editor files."""
    try:
        parts = Path(path).resolve().relative_to(root.resolve()).parts
    except ValueError:
        return False
    return not (set(parts) & IGNORED_PARTS) and not path.endswith(IGNORED_SUFFIXES)


def watch_changes(root: Path) -> Iterator[set[str]]:
    from watchfiles import watch

    # a short debounce: an editor's save (write, rename, touch) lands as one change
    for changes in watch(root, debounce=400, step=50, rust_timeout=0, yield_on_timeout=False):
        paths = {path for _, path in changes if relevant(path, root)}
        if paths:
            yield paths


def run_cycle(
    cycle: Cycle,
    *,
    watch: bool,
    log: CycleLog,
    changes: Callable[[Path], Iterator[set[str]]] = watch_changes,
    on_progress: Callable[..., None] | None = None,
) -> Iterator[FullPass | Waiting | Changed | Retested]:
    """The cycle as a stream of events for the CLI to show. Stops after a passing full run,
    or after one failing run when not watching."""
    log.iterations = 1
    result = cycle.run(on_progress=on_progress)
    yield FullPass(1, result)
    if result.verdict.gate:
        log.passed = True
        return
    if not watch:
        return
    yield Waiting(1)
    for paths in changes(cycle.plan.root):
        log.iterations += 1
        iteration = log.iterations
        root = cycle.plan.root
        yield Changed(iteration, tuple(sorted(str(Path(p).relative_to(root)) for p in paths)))
        retest = cycle.retest(on_progress=on_progress)
        log.note_fixed(iteration, [i.issue.title for i in retest.issues if i.status == "fixed"])
        yield Retested(iteration, retest)
        green = retest.outcome is None or not (
            retest.outcome.counts["failed"] or retest.outcome.counts["error"]
        )
        if green:
            result = cycle.run(on_progress=on_progress)
            log.note_fixed(iteration, [i.title for i in result.verdict.fixed])
            yield FullPass(iteration, result)
            if result.verdict.gate:
                log.passed = True
                return
        yield Waiting(iteration)
