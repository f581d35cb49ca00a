"""Benchmark: the time to write 10,000 test results to the history, SQLite and PostgreSQL.

    python bench/bench_history.py [--pg URL] [--results N] [--repeat 5]

Prints the median of the repeats for each backend. PostgreSQL runs in a schema of its own,
dropped afterwards; pass --pg "" to skip it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from passcycle.records import Frame, TestResult
from passcycle.store import History

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def results(count: int) -> list[TestResult]:
    """A suite's worth of results: mostly passes, one failure in fifty with a traceback."""
    failure = {
        "outcome": "failed",
        "exc_type": "AssertionError",
        "message": "assert 1 == 2",
        "traceback": "tests/test_mod.py:12: in test\n    assert 1 == 2\nE   AssertionError" * 4,
        "frames": (Frame("tests/test_mod.py", 12, "test"), Frame("src/mod.py", 40, "f")),
        "when": "call",
    }
    made = []
    for i in range(count):
        extra = failure if i % 50 == 0 else {"outcome": "passed"}
        made.append(
            TestResult(
                nodeid=f"tests/test_mod{i // 100}.py::test_case[{i}]",
                duration=0.001 * (i % 7),
                file=f"tests/test_mod{i // 100}.py",
                **extra,
            )
        )
    return made


def median_seconds(url: str, count: int, repeat: int) -> float:
    batch = results(count)
    timings = []
    with History.open(url) as history:
        for _ in range(repeat):
            run = history.start_run("bench", "run")
            started = time.perf_counter()
            history.add_results(run.id, batch)
            timings.append(time.perf_counter() - started)
            history.finish_run(run.id, "failed")
    return statistics.median(timings)


def show(backend: str, args: argparse.Namespace, seconds: float) -> None:
    median = f"{seconds * 1000:8.1f} ms (median of {args.repeat})"
    print(f"{backend:<11} {args.results:,} results: {median}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL URL ('' to skip)")
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'history.db'}"
        seconds = median_seconds(url, args.results, args.repeat)
        show("sqlite", args, seconds)

    if args.pg:
        schema = f"passcycle_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            url = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-csearch_path%3D{schema}"
            seconds = median_seconds(url, args.results, args.repeat)
            show("postgresql", args, seconds)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
