"""Benchmark: fingerprint, localize and triage 10,000 results with 1,000 failures (< 1 s).

Run: python bench/bench_triage.py [--results 10000] [--failures 1000] [--repeat 5]
Prints the median wall time of the timed part over the repeats, in seconds: fingerprinting
every result, each failure's culprit from a per-test map (every test runs ~40 lines of 3 to
6 of 100 source modules written to a temporary folder; a quarter of the failures assert a
wrong value in the test's own code), triage with a history of previous issues, and the top
5 issues' suspects. The map is in memory: reading it from a run's coverage data is the
re-test's cost too (bench/bench_retest_cost.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from passcycle.records import Frame, Issue, TestResult
from passcycle.validate.fingerprint import fingerprint, in_test_code, normalise_message
from passcycle.validate.localize import Spectrum, TestMap, culprits, source_filter, suspects
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
        frames: tuple[Frame, ...] = (
            Frame(path, 10 + i % 50, f"test_case_{i}"),
            *(Frame(f"src/app/layer_{d}.py", 20 + d, f"call_{bug}_{d}") for d in range(depth)),
            *LIBRARY[: bug % 3],
        )
        if bug % 4 == 1:  # a wrong value asserted in the test's own code
            frames = frames[:1]
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


MODULES, FUNCS, BODY = 100, 20, 8  # source modules, functions each, lines per function


def write_source(root: Path) -> None:
    """The modules the map's lines are in (the suspects' functions are read from them)."""
    for m in range(MODULES):
        text = "".join(
            f"def func_{f}(x):\n" + "".join(f"    x = x + {n}\n" for n in range(BODY - 2))
            + "    return x\n\n"
            for f in range(FUNCS)
        )  # fmt: skip
        (root / "src" / "app").mkdir(parents=True, exist_ok=True)
        (root / "src" / "app" / f"mod_{m}.py").write_text(text)


def make_map(results: list[TestResult], seed: int = 2) -> TestMap:
    """Each test runs a few functions of a few modules; a failing test runs its bug's."""
    rng = random.Random(seed)

    def lines(f: int) -> set[int]:
        start = 1 + f * (BODY + 1)
        return set(range(start + 1, start + BODY))

    test_map: dict[str, dict[str, set[int]]] = {}
    for r in results:
        files: dict[str, set[int]] = {}
        for _ in range(rng.randint(3, 6)):
            module = f"src/app/mod_{rng.randrange(MODULES)}.py"
            files.setdefault(module, set()).update(lines(rng.randrange(FUNCS)))
        if r.outcome != "passed":
            bug = int(r.message.split(":", 1)[0].split()[-1]) if r.message else 0
            files.setdefault(f"src/app/mod_{bug}.py", set()).update(lines(bug % FUNCS))
        test_map[r.nodeid] = files
    return test_map


def judge(
    results: list[TestResult], previous: dict[str, Issue], root: Path, test_map: TestMap
) -> list[Issue]:
    stamped = [
        replace(r, fingerprint=fingerprint(r)) if r.outcome in ("failed", "error") else r
        for r in results
    ]
    bad = [r for r in stamped if r.outcome in ("failed", "error")]
    passing = [r.nodeid for r in stamped if r.outcome == "passed"]
    keep = source_filter(["src"], ["tests"])
    shared = Spectrum(test_map, [r.nodeid for r in bad], passing, keep)
    blamed = culprits(root, shared)
    wrong_value = {r.nodeid for r in bad if in_test_code(r, ["tests"])}
    issues = triage(
        stamped,
        previous=previous,
        run_id=10,
        baseline_passed={results[0].nodeid},
        culprits={n: s for n, s in blamed.items() if n in wrong_value},
    )
    for issue in issues[:5]:
        suspects(root, shared, issue.tests)
    return issues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--failures", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    results = make_results(args.results, args.failures)
    bad = sum(r.outcome in ("failed", "error") for r in results)
    previous = previous_issues(results)
    test_map = make_map(results)
    root = Path(tempfile.mkdtemp(prefix="bench-triage-"))
    write_source(root)
    times = []
    for _ in range(args.repeat):
        normalise_message.cache_clear()  # every repeat pays for normalising, as a run would
        start = time.perf_counter()
        issues = judge(results, previous, root, test_map)
        times.append(time.perf_counter() - start)
    print(
        f"{len(results)} results, {bad} failures -> {len(issues)} issues "
        f"({sum(i.state == 'fixed' for i in issues)} fixed); "
        f"median of {args.repeat}: {statistics.median(times):.3f} s"
    )


if __name__ == "__main__":
    main()
