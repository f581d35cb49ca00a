"""Benchmark: the Test phase's coverage cost, passcycle against pytest-cov, interleaved.

    python bench/bench_test_phase.py --python PY                      # generated project
    python bench/bench_test_phase.py --project PATH --python PY --source src/pkg --tests tests

The generated project (written to a temporary folder) has 20 modules of branchy functions
and 100 fast tests per module (2,000 tests). `--python` is the project's interpreter: it
runs pytest and needs pytest, coverage and pytest-cov (the peers being measured).
passcycle runs in the interpreter running this script, and the plan it is given names
the project's interpreter, as a user's plan would (`[project] python`).

After one untimed warm-up, each repetition runs every command once, in a rotated order so
that no command always follows the same one (the machine's noise is shared, not pinned on
one command):

    pytest -q                                       plain
    pytest -q --cov=SRC                             the rcfile decides branch (click: yes)
    pytest -q --cov=SRC --cov-branch
    pytest -q --cov=SRC --cov-context=test
    pytest -q --cov=SRC --cov-branch --cov-context=test
    passcycle test                                  branch coverage + per-test impact map
    passcycle test (NAME)                           with --baseline-src NAME: an older tree

and prints two Markdown tables of medians and ratios: wall time, and CPU time (user +
system of every process the command waited for, which a busy machine moves less). Then
`passcycle --help` (median of 20) and the time to write 10,000 results to the history
(bench_history's own function). pytest-cov's data file goes to a temporary folder;
passcycle's plan (`passcycle-bench.toml`) and `.passcycle` folder are written into the
project for the run and removed afterwards (`.passcycle` only if it was not there before).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_history import median_seconds  # bench/ is not a package: found on sys.path

MODULES, FUNCTIONS, TESTS_PER_MODULE = 20, 10, 100
PLAN_NAME = "passcycle-bench.toml"
COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")

# -- the generated project ------------------------------------------------------------------


def _function(i: int, j: int) -> str:
    k = 2 + (i + j) % 5
    return (
        f"def f{j}(x, flag=False):\n"
        f"    total = 0\n"
        f"    for n in range(x % 7):\n"
        f"        if n % 2:\n"
        f"            total += n * {k}\n"
        f"        else:\n"
        f"            total -= {j}\n"
        f"    if flag and total > {j}:\n"
        f"        return -total\n"
        f"    elif total > LIMIT:\n"
        f"        return total % LIMIT\n"
        f"    return _helper(total, {k})\n\n\n"
    )


def _module(i: int) -> str:
    helper = (
        "def _helper(value, k):\n"
        "    if value < 0:\n"
        "        return -value * k\n"
        "    return value + k\n\n\n"
    )
    body = "".join(_function(i, j) for j in range(FUNCTIONS))
    return f"LIMIT = {30 + i}\n\n\n{helper}{body}"


def generate(root: Path) -> None:
    """Write the generated project: src/gen/modN.py and tests/test_modN.py."""
    files = {
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
        "src/gen/__init__.py": "",
    }
    for i in range(MODULES):
        files[f"src/gen/mod{i}.py"] = _module(i)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    (root / "tests").mkdir()
    for i in range(MODULES):
        namespace: dict[str, object] = {}
        exec(compile(files[f"src/gen/mod{i}.py"], f"mod{i}", "exec"), namespace)
        lines = [f"from gen import mod{i}\n"]
        for t in range(TESTS_PER_MODULE):
            j, x, flag = t % FUNCTIONS, t // FUNCTIONS + i, t % 3 == 0
            expected = namespace[f"f{j}"](x, flag)  # type: ignore[operator]
            lines.append(
                f"\ndef test_{t}():\n    assert mod{i}.f{j}({x}, {flag}) == {expected!r}\n"
            )
        (root / f"tests/test_mod{i}.py").write_text("\n".join(lines), encoding="utf-8")


# -- one timed command ----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    pythonpath: Path | None = None  # another passcycle source tree to import, to compare


def commands(
    python: str, root: Path, source: str, tests: list[str], db: str, baseline: Path | None
) -> list[Command]:
    pytest = [python, "-m", "pytest", "-q", *tests]
    cov = f"--cov={source}"
    passcycle = [sys.executable, "-m", "passcycle", "-C", str(root), "--plan", PLAN_NAME]
    return [
        Command("pytest", pytest),
        Command("pytest --cov", [*pytest, cov]),
        Command("pytest --cov --cov-branch", [*pytest, cov, "--cov-branch"]),
        Command("pytest --cov --cov-context=test", [*pytest, cov, "--cov-context=test"]),
        Command(
            "pytest --cov --cov-branch --cov-context=test",
            [*pytest, cov, "--cov-branch", "--cov-context=test"],
        ),
        Command("passcycle test", [*passcycle, "--db", db, "test", "--json"]),
    ] + (
        [
            Command(
                f"passcycle test ({baseline.name})",
                [*passcycle, "--db", db, "test", "--json"],
                baseline,
            )
        ]
        if baseline
        else []
    )


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system of the command and every process it waited for


def timed(command: Command, root: Path, env: dict[str, str]) -> tuple[Timing, dict[str, int]]:
    """One run of `command`: its times and its counts; a run that ran no test is an error."""
    if command.pythonpath is not None:
        env = {**env, "PYTHONPATH": str(command.pythonpath)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        command.argv, cwd=root, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counts = _counts(proc.stdout)
    # exit 1: some test failed, still a full run; anything else, or no counts, is not one
    if proc.returncode not in (0, 1) or not counts.get("passed"):
        raise SystemExit(
            f"{command.label} exited {proc.returncode} without a full run:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return Timing(wall, cpu), counts


def _counts(stdout: str) -> dict[str, int]:
    text = stdout.strip()
    if text.startswith("{"):  # passcycle --json
        return {k: v for k, v in json.loads(text)["counts"].items() if v}
    tail = text.splitlines()[-1] if text else ""
    return {word: int(n) for n, word in COUNTS.findall(tail)}


def write_plan(root: Path, python: str, source: str, tests: list[str]) -> Path:
    plan = root / PLAN_NAME
    listed = ", ".join(f'"{t}"' for t in tests)
    plan.write_text(
        f'[project]\npython = "{python}"\nsource = ["{source}"]\ntests = [{listed}]\n',
        encoding="utf-8",
    )
    return plan


def measure(
    root: Path,
    python: str,
    source: str,
    tests: list[str],
    repeat: int,
    baseline: Path | None,
    only: list[str] | None = None,
) -> dict[str, list[Timing]]:
    scratch = Path(tempfile.mkdtemp(prefix="passcycle-bench-"))
    had_state = (root / ".passcycle").exists()
    plan = write_plan(root, python, source, tests)
    # pytest-cov's data file goes to the scratch folder, not into the project
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE"))}
    env["COVERAGE_FILE"] = str(scratch / ".coverage")
    db = f"sqlite:///{scratch / 'history.db'}"
    table = commands(python, root, source, tests, db, baseline)
    if only:
        table = [c for c in table if any(c.label.startswith(o) for o in only)]
    times: dict[str, list[Timing]] = {c.label: [] for c in table}
    try:
        timed(table[0], root, env)  # warm-up: bytecode caches, file system caches
        for rep in range(repeat):
            shift = rep % len(table)
            for command in table[shift:] + table[:shift]:
                timing, counts = timed(command, root, env)
                times[command.label].append(timing)
                print(
                    f"  [{rep + 1}/{repeat}] {command.label:<45} {timing.wall:6.2f} s wall "
                    f"{timing.cpu:6.2f} s CPU  {counts}",
                    flush=True,
                )
    finally:
        plan.unlink(missing_ok=True)
        if not had_state:
            shutil.rmtree(root / ".passcycle", ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return times


# -- the figures ----------------------------------------------------------------------------


REFERENCES = ("pytest --cov", "pytest --cov --cov-branch", "pytest --cov --cov-context=test")


def table(times: dict[str, list[Timing]], what: str) -> str:
    """Medians of `what` ("wall" or "cpu") and their ratios, as a Markdown table."""
    values = {label: [getattr(t, what) for t in timings] for label, timings in times.items()}
    medians = {label: statistics.median(v) for label, v in values.items()}
    references = [r for r in ("pytest", *REFERENCES) if r in medians]  # `--only` may drop some
    refs = " | ".join(f"× `{r}`" for r in references)
    rows = [
        f"| command | {what} median s | min–max s | {refs} |",
        "|---|---:|---:|" + "---:|" * len(references),
    ]
    for label, m in medians.items():
        ratios = " | ".join(f"{m / medians[r]:.2f}" for r in references)
        spread = f"{min(values[label]):.2f}–{max(values[label]):.2f}"
        rows.append(f"| `{label}` | {m:.2f} | {spread} | {ratios} |")
    return "\n".join(rows)


def help_seconds(repeat: int) -> float:
    argv = [sys.executable, "-m", "passcycle", "--help"]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project's root (default: generated)")
    parser.add_argument("--python", default=sys.executable, help="the project's interpreter")
    parser.add_argument("--source", help="what coverage measures (default: src/gen)")
    parser.add_argument("--tests", action="append", help="test paths, repeatable (default tests)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also time `passcycle test` imported from this src/ folder (an older checkout)",
    )
    parser.add_argument(
        "--only",
        action="append",
        help="time only the commands whose label starts with this (repeatable)",
    )
    parser.add_argument("--help-repeat", type=int, default=20)
    parser.add_argument("--results", type=int, default=10_000, help="history write size")
    args = parser.parse_args()

    generated = None
    if args.project is None:
        generated = Path(tempfile.mkdtemp(prefix="passcycle-bench-project-"))
        generate(generated)
        root, source = generated, args.source or "src/gen"
        what = f"generated: {MODULES} modules, {MODULES * TESTS_PER_MODULE} tests"
    else:
        root, source = args.project.resolve(), args.source or "src"
        what = str(args.project)
    tests = args.tests or ["tests"]
    print(f"project {what}; {args.repeat} interleaved repetitions; medians")
    try:
        times = measure(root, args.python, source, tests, args.repeat, args.baseline_src, args.only)
    finally:
        if generated is not None:
            shutil.rmtree(generated, ignore_errors=True)
    print()
    print(table(times, "wall"))
    print()
    print(table(times, "cpu"))
    print()
    print(
        f"`passcycle --help`: {help_seconds(args.help_repeat):.3f} s (median of {args.help_repeat})"
    )
    with tempfile.TemporaryDirectory() as folder:
        seconds = median_seconds(f"sqlite:///{Path(folder) / 'h.db'}", args.results, 5)
    print(f"{args.results:,} results to the SQLite history: {seconds * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
