"""Benchmark: fingerprint and triage 10,000 results with 1,000 failures (target < 1 s).

Run: python bench/bench_triage.py [--results 10000] [--failures 1000] [--repeat 5]
Prints the median wall time of the timed part (fingerprinting every result, then triage
with a history of previous issues) over the repeats, in seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from dataclasses import replace

from passcycle.records import Frame, Issue, TestResult
from passcycle.validate.fingerprint import fingerprint, normalise_message
from passcycle.validate.triage import triage

BUGS = 40  # distinct bugs behind the failures
LIBRARY = (
    Frame("/usr/lib/python3.11/json/decoder.py", 355, "raw_decode", in_project=False),
    Frame("/opt/venv/lib/python3.11/site-packages/httpx/_client.py", 821, "send", False),
)


def make_results(total: int, failures: int, seed: int = 1) -> list[TestResult]:
    rng = random.Random(seed)
    step = max(total // failures, 1)
    results = []
    for i in range(total):
        path = f"tests/pkg_{i % 25}/test_mod_{i % 97}.py"
        nodeid = f"{path}::TestCase{i % 7}::test_case_{i}[{rng.choice('abc')}]"
        if i % step or i // step >= failures:
            results.append(TestResult(nodeid, "passed", duration=0.01, file=path))
            continue
        bug = rng.randrange(BUGS)
        depth = 2 + bug % 5
        frames = (
            Frame(path, 10 + i % 50, f"test_case_{i}"),
            *(Frame(f"src/app/layer_{d}.py", 20 + d, f"call_{bug}_{d}") for d in range(depth)),
            *LIBRARY[: bug % 3],
        )
        ident = uuid.UUID(int=rng.getrandbits(128))
        message = (
            f"Error {bug}: request {rng.randrange(10**6)} for '{ident}'"
            f" failed after {rng.random() * 3:.3f}s at 0x{rng.getrandbits(48):x}, "
            f"see /tmp/pytest-of-ci/pytest-{rng.randrange(99)}/test_case_{i}0/log.txt\n"
        ) + "  more context line\n" * 5
        results.append(
            TestResult(
                nodeid,
                "failed" if bug % 4 else "error",
                duration=0.02,
                file=path,
                exc_type=("ValueError", "KeyError", "AssertionError", "OSError")[bug % 4],
                message=message,
                frames=frames,
                when="call" if bug % 4 else "setup",
                reruns=("failed", "passed") if bug == 3 else ("failed",),
            )
        )
    return results


def previous_issues(results: list[TestResult]) -> dict[str, Issue]:
    """A history holding half of this run's issues, some of them fixed."""
    fps = sorted({fp for r in results if (fp := fingerprint(r))})
    return {
        fp: Issue(
            fp,
            "old",
            "failure",
            "medium",
            state="fixed" if n % 4 else "recurring",
            first_seen=1,
            last_seen=9,
            occurrences=3,
        )
        for n, fp in enumerate(fps[::2])
    } | {f"gone{n:012d}": Issue(f"gone{n:012d}", "gone", "failure", "high") for n in range(50)}


def judge(results: list[TestResult], previous: dict[str, Issue]) -> list[Issue]:
    stamped = [
        replace(r, fingerprint=fingerprint(r)) if r.outcome in ("failed", "error") else r
        for r in results
    ]
    return triage(stamped, previous=previous, run_id=10, baseline_passed={results[0].nodeid})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--failures", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    results = make_results(args.results, args.failures)
    bad = sum(r.outcome in ("failed", "error") for r in results)
    previous = previous_issues(results)
    times = []
    for _ in range(args.repeat):
        normalise_message.cache_clear()  # every repeat pays for normalising, as a run would
        start = time.perf_counter()
        issues = judge(results, previous)
        times.append(time.perf_counter() - start)
    print(
        f"{len(results)} results, {bad} failures -> {len(issues)} issues "
        f"({sum(i.state == 'fixed' for i in issues)} fixed); "
        f"median of {args.repeat}: {statistics.median(times):.3f} s"
    )


if __name__ == "__main__":
    main()
