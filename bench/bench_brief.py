"""Benchmark: what keeping the re-test's brief adds to every command that writes the history.

    python bench/bench_brief.py [--tests 10000] [--runs 30] [--repeat 5]

Builds a SQLite history of `--runs` full runs of `--tests` tests each (one failure in fifty,
as bench_history.py writes them), the last with an impact map, then times `keep_brief`
(fix/brief.py: the history re-opened read-only, the base run's results, the recent failure
rates, its issues, the JSON written) and, beside it, the failure rates counted in Python
from every outcome of the last 10 runs, as they were before the database counted them.
Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_history import results

from passcycle.fix.brief import BRIEF_FILE, keep_brief
from passcycle.plan import load_plan
from passcycle.records import BAD_OUTCOMES
from passcycle.store import History
from passcycle.validate.localize import MAP_FILE
from passcycle.workdir import FOLDER


def build(root: Path, url: str, runs: int, tests: int) -> None:
    (root / "passcycle.toml").write_text('[project]\nname = "bench"\n', encoding="utf-8")
    batch = results(tests)
    with History.open(url) as history:
        for number in range(1, runs + 1):
            artifacts = f"{FOLDER}/runs/{number}"
            run = history.start_run("bench", "test", artifacts=artifacts)
            history.add_results(run.id, batch)
            history.finish_run(run.id, "failed", 1)
    (root / artifacts).mkdir(parents=True)
    (root / artifacts / MAP_FILE).touch()  # what makes the last run a re-test's base


def python_rates(history: History) -> dict[str, float]:
    outcomes = history.test_outcomes(None, "bench", limit_runs=10)
    return {n: sum(o in BAD_OUTCOMES for _, o in s) / len(s) for n, s in outcomes.items() if s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'history.db'}"
        build(root, url, args.runs, args.tests)
        plan = load_plan(root, None)
        kept, counted, in_python = [], [], []
        for _ in range(args.repeat):
            history = History.open(url)
            started = time.perf_counter()
            keep_brief(plan, history)  # closes it
            kept.append(time.perf_counter() - started)
            with History.open(url) as history:
                started = time.perf_counter()
                rates = history.failure_rates("bench")
                counted.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert {n: r for n, r in python_rates(history).items() if r} == rates
                in_python.append(time.perf_counter() - started)
        size = (root / FOLDER / BRIEF_FILE).stat().st_size
    ms = {k: f"{statistics.median(v) * 1000:.0f} ms" for k, v in
          (("kept", kept), ("counted", counted), ("python", in_python))}  # fmt: skip
    print(f"{args.runs} runs x {args.tests:,} tests, median of {args.repeat}:")
    print(f"  keep_brief                        {ms['kept']} (brief {size / 1e6:.1f} MB)")
    print(f"  failure rates counted by SQLite   {ms['counted']}")
    print(f"  failure rates counted in Python   {ms['python']}")


if __name__ == "__main__":
    main()
