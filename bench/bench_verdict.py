"""Benchmark: judge a recorded run of 10,000 results with 1,000 failures (target < 1 s).

Run: python bench/bench_verdict.py [--repeat 5]
The timed part is what `passcycle validate` does after reading the run back from a real
SQLite history: every KPI of the seed plan computed and judged against a baseline, the
failures fingerprinted and triaged into issues, phases evaluated. Prints the median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_triage import make_results

from passcycle.plan import init_plan, load_plan
from passcycle.records import CoverageSummary
from passcycle.store import History
from passcycle.validate.verdict import judge_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        init_plan(root)
        plan = load_plan(root)
        history = History.open(f"sqlite:///{root / 'history.db'}")
        summary = CoverageSummary(5000, 4500, 1200, 1000, 87.9)
        ids = []
        for seed in (1, 2):  # a baseline, then the judged run
            run = history.start_run(plan.name, "run")
            history.add_results(run.id, make_results(10_000, 1_000, seed=seed))
            history.add_coverage(run.id, summary, [])
            history.finish_run(run.id, "failed")
            ids.append(run.id)
        history.set_baseline(plan.name, ids[0])
        run = history.get_run(ids[1])
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            verdict = judge_run(plan, history, run, save=False)
            times.append(time.perf_counter() - started)
        history.close()
    print(
        f"judge 10,000 results, 1,000 failures -> {len(verdict.issues)} issues, "
        f"{len(verdict.kpis)} KPIs; median of {args.repeat}: {statistics.median(times):.3f} s"
    )


if __name__ == "__main__":
    main()
