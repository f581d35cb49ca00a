"""What a suite run is asked to do, what it reports while it runs, and what it produced."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.records import CoverageSummary, FileCoverage, TestResult


@dataclass(frozen=True)
class SuiteSpec:
    """What to run. `artifacts` is this run's folder: coverage.db, events, pytest.log."""

    root: Path
    artifacts: Path
    tests: list[str] = field(default_factory=list)  # paths under root; empty: pytest's default
    source: list[str] = field(default_factory=list)  # coverage source; empty: no coverage
    pytest_args: list[str] = field(default_factory=list)
    python: str = sys.executable
    timeout: float | None = None  # per test, seconds
    branch: bool = True
    env: dict[str, str] = field(default_factory=dict)
    select: list[str] | None = None  # node ids; None: every collected test
    order: list[str] | None = None  # node ids or paths to run first, in this order


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None  # None until pytest has collected
    failures: int
    current: str | None  # node id of the test running now
    elapsed: float


@dataclass(frozen=True)
class SuiteOutcome:
    results: list[TestResult]  # in order; collection errors are "error" results on the file
    collected: int
    exit_status: int  # pytest's exit code of the last process (1 when a crash was recorded)
    note: str | None  # what happened, when it was not a normal run
    coverage: CoverageSummary | None
    files: list[FileCoverage]
    coverage_file: Path | None
    duration: float
    log: Path
    # pytest's own account and passcycle's disagree (exit status or failed tests): the run
    # cannot be passed (#9); None when they agree
    disagreement: str | None = None
    # CPUs other work kept busy on average while the suite ran (suite/machine.py)
    others: float | None = None
