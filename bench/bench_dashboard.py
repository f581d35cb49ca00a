"""Benchmark: the dashboard's overview over a history of 1,000 runs of 2,000 tests each.

    python bench/bench_dashboard.py [--runs 1000] [--tests 2000] [--repeat 20] [--rebuild]

Builds the history once (2M result rows, KPIs, coverage and issues per run) through the
History API into a cache file under the temp folder, then starts `passcycle.serve.serve` in
its own process and times GET / and GET /api/overview with httpx: the median of `repeat`
requests after two warm-ups. The target is under 200 ms for both.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

from passcycle.records import CoverageSummary, FileCoverage, Frame, Issue, KpiVerdict, TestResult
from passcycle.store import History

PROJECT = "bench"
PLAN = """\
[project]
name = "bench"

[kpis]
test_pass_rate = ">= 99%"
coverage = ">= 90%"
suite_duration = "< 10min"

[phases.1]
title = "Immediate stabilization"
exit = ["test_pass_rate >= 85%", "baseline"]

[phases.2]
title = "Hardening"
exit = ["all kpis", "no regressions", "no critical issues"]
"""
SERVER = """\
import sys
from pathlib import Path
from passcycle.plan import load_plan
from passcycle.serve.app import serve
plan = load_plan(Path(sys.argv[1]))
serve(sys.argv[2], None, "127.0.0.1", int(sys.argv[3]), plan=plan)
"""


def results(run: int, count: int) -> list[TestResult]:
    """One run's results: 1% failing with a traceback, a few flipping from run to run."""
    made = []
    for i in range(count):
        failing = i % 100 == run % 100 or (i % 997 == 0 and run % 3 == 0)
        extra = (
            {
                "outcome": "failed",
                "exc_type": "AssertionError",
                "message": f"assert {i} == {i + 1}",
                "traceback": f"tests/test_m{i // 100}.py:12: in test\n    assert x\nE   Assert" * 3,
                "frames": (
                    Frame(f"tests/test_m{i // 100}.py", 12, "test"),
                    Frame("src/m.py", 4, "f"),
                ),
                "when": "call",
                "fingerprint": f"fp{i % 7}",
            }
            if failing
            else {"outcome": "passed"}
        )
        made.append(
            TestResult(
                nodeid=f"tests/test_m{i // 100}.py::test_case[{i}]",
                duration=0.001 * ((i + run) % 11),
                file=f"tests/test_m{i // 100}.py",
                **extra,
            )
        )
    return made


def kpis(run: int, passed: int, total: int) -> list[KpiVerdict]:
    rate = 100.0 * passed / total
    coverage = 88.0 + (run % 40) / 10
    return [
        KpiVerdict("test_pass_rate", rate, "%", ">= 99%", "pass" if rate >= 99 else "fail"),
        KpiVerdict("coverage", coverage, "%", ">= 90%", "pass" if coverage >= 90 else "fail"),
        KpiVerdict("suite_duration", 60.0 + run % 17, "s", "< 10min", "pass"),
        KpiVerdict("test_reliability", 99.9, "%", None, "not measured"),
        KpiVerdict("p95_response_time", 0.2 + (run % 9) / 100, "s", "< 2s", "pass"),
        KpiVerdict("memory_rss", 3.1e8 + run * 1e5, "B", "< 500MB", "pass"),
    ]


def build(path: Path, runs: int, tests: int) -> None:
    url = f"sqlite:///{path}"
    started = time.perf_counter()
    files = [FileCoverage(f"src/m{i}.py", 120, i % 9, 30, i % 4, 92.5, "3-5") for i in range(40)]
    with History.open(url) as history:
        for number in range(1, runs + 1):
            run = history.start_run(PROJECT, "run", commit=f"{number:040x}", branch="main")
            batch = results(number, tests)
            history.add_results(run.id, batch)
            history.add_coverage(run.id, CoverageSummary(4800, 4500, 1200, 1100, 91.3), files)
            bad = [r for r in batch if r.outcome == "failed"]
            history.finish_run(run.id, "failed" if bad else "passed", 1 if bad else 0)
            found = [
                Issue(
                    f"fp{k}",
                    f"AssertionError in tests/test_m{k}.py",
                    "failure",
                    "high" if k == 0 else "medium",
                    tests=tuple(r.nodeid for r in bad[k::7]),
                )
                for k in range(min(7, len(bad)))
            ]
            history.save_issues(PROJECT, run.id, found)
            verdicts = kpis(number, tests - len(bad), tests)
            gate = all(k.status != "fail" for k in verdicts) and not bad
            reasons = [
                f"{k.name} misses its target {k.target}" for k in verdicts if k.status == "fail"
            ]
            history.save_verdict(run.id, gate, reasons, verdicts)
            if number == 1:
                history.set_baseline(PROJECT, run.id)
            if number % 100 == 0:
                print(f"  {number} runs, {time.perf_counter() - started:.0f}s", flush=True)
    print(f"built {runs} runs x {tests} tests in {time.perf_counter() - started:.0f}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_get(client: httpx.Client, path: str, repeat: int) -> list[float]:
    for _ in range(2):
        client.get(path).raise_for_status()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        timings.append(time.perf_counter() - started)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="build the cached history anew")
    args = parser.parse_args()

    cache = Path(tempfile.gettempdir()) / "passcycle-bench"
    cache.mkdir(exist_ok=True)
    db = cache / f"dashboard-{args.runs}x{args.tests}.db"
    if args.rebuild or not db.exists():
        for stale in cache.glob(db.name + "*"):
            stale.unlink()
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(partial, args.runs, args.tests)
        partial.rename(db)
    plan_dir = cache / "plan"
    plan_dir.mkdir(exist_ok=True)
    (plan_dir / "passcycle.toml").write_text(PLAN, encoding="utf-8")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PASSCYCLE_DB"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(SERVER),
            str(plan_dir),
            f"sqlite:///{db}",
            str(port),
        ],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/api/version")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the dashboard did not start") from None
                    time.sleep(0.1)
            print(f"history: {args.runs} runs x {args.tests} tests ({db.stat().st_size >> 20} MB)")
            worst = 0.0
            for path in ("/", "/api/overview", "/metrics", "/runs", "/api/version"):
                timings = time_get(client, path, args.repeat)
                median = statistics.median(timings) * 1000
                if path in ("/", "/api/overview"):
                    worst = max(worst, median)
                print(
                    f"GET {path:<14} median {median:7.1f} ms   "
                    f"min {min(timings) * 1000:6.1f}  max {max(timings) * 1000:6.1f}"
                    f"  (n={args.repeat})"
                )
    finally:
        server.terminate()
        server.wait(10)
    verdict = "under" if worst < 200 else "OVER"
    print(f"overview: {worst:.1f} ms, {verdict} the 200 ms target")
    return 0 if worst < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
