"""How evenly shards split a suite, against pytest-split, and what a merge costs.

    pip install -e ".[test,bench]"
    python bench/bench_shards.py [--tests 300] [--shards 4] [--repeat 3]

A generated project whose tests sleep for skewed times (a few long, many short: lognormal,
seed 7) is run once whole by each tool to record durations (`passcycle test`, `pytest
--store-durations`), then split into N shards by each (`passcycle test --shard k/N`,
`pytest --splits N --group k`, with pytest-cov's branch coverage as passcycle measures it),
every shard timed as a process. The figure that matters in
CI is the slowest shard: printed as a ratio to the ideal (the whole suite's test time / N),
for both tools, medians over the repeats. Then `passcycle merge` of passcycle's shards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_project(root: Path, tests: int) -> float:
    """Write the project; returns the sum of its tests' sleeps (seconds)."""
    rng = random.Random(7)
    sleeps = [min(1.5, rng.lognormvariate(-4.0, 1.2)) for _ in range(tests)]
    (root / "src" / "calc").mkdir(parents=True)
    (root / "src" / "calc" / "__init__.py").write_text(
        "def work(x):\n    if x > 10:\n        return x - 1\n    return x + 1\n"
    )
    (root / "tests").mkdir()
    per_file = 25
    for start in range(0, tests, per_file):
        body = ["import time", "", "from calc import work", ""]
        for i in range(start, min(tests, start + per_file)):
            body += [f"def test_{i}():", f"    time.sleep({sleeps[i]:.4f})"]
            body += [f"    assert work({i})", ""]
        (root / "tests" / f"test_{start // per_file:02d}.py").write_text("\n".join(body))
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    (root / "passcycle.toml").write_text('[project]\nname = "bench"\n[validate]\nreruns = 0\n')
    return sum(sleeps)


def timed(argv: list[str], root: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode not in (0, 1) or "passed" not in done.stdout + done.stderr:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.shards
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PASSCYCLE_DB", None)
    ours_worst: list[float] = []
    split_worst: list[float] = []
    spreads: dict[str, list[float]] = {"passcycle": [], "pytest-split": []}
    merges: list[float] = []
    with tempfile.TemporaryDirectory(prefix="passcycle-bench-shards-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        total = make_project(root, args.tests)
        ideal = total / n
        passcycle = [sys.executable, "-m", "passcycle"]
        # the peer as a CI job would run it: with branch coverage, as passcycle measures
        pytest = [
            *(sys.executable, "-m", "pytest", "-q", "-p", "pytest_split.plugin"),
            *("-p", "pytest_cov", "--cov=src/calc", "--cov-branch"),
        ]
        timed([*passcycle, "test"], root, env)  # durations for passcycle's split
        timed([*pytest, "--store-durations", "--durations-path", ".durations"], root, env)
        for _ in range(args.repeat):
            ours = [
                timed([*passcycle, "test", "--shard", f"{k}/{n}", "--group", "bench"], root, env)
                for k in range(1, n + 1)
            ]
            split = [*pytest, "--splits", str(n), "--durations-path", ".durations"]
            theirs = [timed([*split, "--group", str(k)], root, env) for k in range(1, n + 1)]
            merges.append(timed([*passcycle, "merge", "--group", "bench"], root, env))
            ours_worst.append(max(ours))
            split_worst.append(max(theirs))
            for name, times in (("passcycle", ours), ("pytest-split", theirs)):
                spreads[name].append((max(times) - min(times)) / statistics.mean(times))
            print(
                f"passcycle shards {' '.join(f'{t:.2f}' for t in ours)} s;"
                f" pytest-split {' '.join(f'{t:.2f}' for t in theirs)} s"
            )
    ours_med = statistics.median(ours_worst)
    split_med = statistics.median(split_worst)
    print(f"{args.tests} tests sleeping {total:.1f}s in all; {n} shards; ideal {ideal:.2f}s each")
    print(f"slowest shard (wall, process included): passcycle {ours_med:.2f}s"
          f" ({ours_med / ideal:.2f}x ideal), pytest-split {split_med:.2f}s"
          f" ({split_med / ideal:.2f}x ideal)")  # fmt: skip
    print(f"passcycle / pytest-split, slowest shard: {ours_med / split_med:.2f}x")
    for name, values in spreads.items():
        print(f"spread between shards ({name}): {statistics.median(values):.1%} of the mean")
    print(f"passcycle merge: {statistics.median(merges):.2f}s (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
