"""Benchmark: what a re-test costs beyond the tests it runs, against pytest-testmon.

    python bench/bench_retest_cost.py --project PATH --source pkg --tests tests \
        --change pkg/mod.py:LINE [--pythonpath .] [--repeat 5]

On a copy of the project (a git checkout, never modified): `passcycle init`, one full
`passcycle test` (the map) and one `pytest --testmon` (testmon's database). Then, in a
rotated order, `--repeat` times each:

    passcycle retest        with nothing changed (its fixed cost: nothing to run)
    pytest --testmon        with nothing changed
and, with a no-op statement added after line LINE of the change's file:
    passcycle retest        (the selection and its run)
    pytest IDS              the same node ids, plain
    pytest --testmon

and prints the medians. Every pytest runs with plugin autoload off (testmon loaded
explicitly), as passcycle's own runs do. `--baseline-src OLD/src` adds
`passcycle retest` imported from an older tree, before and after the change, in the same
rotation, on a second copy with a history of its own (recorded by that tree). Then, in one
process that has imported passcycle once, as `passcycle cycle --watch` re-tests on every
save, `--repeat` re-tests with the change and without it: the cost a warm process pays,
without the start-up's imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
# Bytecode is written and read, as for any installed package: with PYTHONDONTWRITEBYTECODE
# set (some CI images set it), an editable passcycle compiles its ~75 modules from source on
# every start, about 0.1 s that an installed wheel never pays, while pytest's and testmon's
# own bytecode, written when they were installed, is read either way.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
TESTMON = ["-p", "testmon.pytest_testmon", "--testmon"]


# the folder of each copy put first on PYTHONPATH (--pythonpath), and the older tree's
# source put before it for the baseline's commands (--baseline-src)
PATHS: dict[str, str | None] = {"project": None, "baseline": None}


def environment(root: Path, *, baseline: bool = False) -> dict[str, str]:
    env = {**os.environ, **QUICK}
    first = [PATHS["baseline"] or ""] if baseline else []
    if PATHS["project"]:
        first.append(str(root / PATHS["project"]))
    if first:
        env["PYTHONPATH"] = os.pathsep.join([*first, env.get("PYTHONPATH", "")])
    return env


def timed(command: list[str], root: Path) -> tuple[float, subprocess.CompletedProcess]:
    baseline = command[0] == "baseline"
    env = environment(root, baseline=baseline)
    command = command[1:] if baseline else command
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done


def passcycle(*args: str) -> list[str]:
    return [sys.executable, "-m", "passcycle", *args]


def pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", *args]


# One process, as `passcycle cycle --watch` runs: re-tests timed from the call to the answer.
WARM = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench_retest_cost import change
from passcycle.cycle import Cycle, open_history
from passcycle.plan import load_plan

root, where, repeat = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
plan = load_plan(root, None)
cycle = Cycle(plan, open_history(plan, None))
cycle.retest()  # the first call imports what the loop keeps
times = {"warm retest, nothing changed": [], "warm retest, one change": []}
for _ in range(repeat):
    started = time.perf_counter()
    assert cycle.retest().outcome is None
    times["warm retest, nothing changed"].append(time.perf_counter() - started)
    change(root, where)
    started = time.perf_counter()
    assert cycle.retest().exit_code == 0
    times["warm retest, one change"].append(time.perf_counter() - started)
    change(root, where, undo=True)
print(json.dumps(times))
"""


def warm(root: Path, where: str, repeat: int) -> dict[str, list[float]]:
    done = subprocess.run(
        [sys.executable, "-c", WARM, str(Path(__file__).parent), str(root), where, str(repeat)],
        cwd=root, env=environment(root),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the warm re-tests failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def change(root: Path, where: str, undo: bool = False) -> None:
    path, line = where.rsplit(":", 1)
    file = root / path
    lines = file.read_text(encoding="utf-8").split("\n")
    index = int(line)
    if undo:
        del lines[index]
    else:
        indent = lines[index - 1][: len(lines[index - 1]) - len(lines[index - 1].lstrip())]
        lines.insert(index, f"{indent}_bench_noop = 1")
    file.write_text("\n".join(lines), encoding="utf-8")


def baseline_command(*args: str) -> list[str]:
    """`passcycle ARGS` imported from the older tree (`timed` puts it first on the path)."""
    return ["baseline", *passcycle(*args)]


def setup(args: argparse.Namespace, root: Path, command: Callable[..., list[str]]) -> None:
    """A clone of the project at `root` with its plan committed and one full run recorded
    by `command` (passcycle, or the baseline's)."""
    subprocess.run(["git", "clone", "-q", str(args.project), str(root)], check=True)
    timed(command("init"), root)
    plan = root / "passcycle.toml"
    text = plan.read_text(encoding="utf-8")
    keys = f'source = ["{args.source}"]\ntests = ["{args.tests}"]\n'
    plan.write_text(text.replace("[project]\n", "[project]\n" + keys, 1), encoding="utf-8")
    subprocess.run(["git", "add", "passcycle.toml"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "plan"],
        cwd=root,
        check=True,
    )
    timed(command("test"), root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--tests", required=True)
    parser.add_argument("--change", required=True, help="FILE:LINE, a statement inside a function")
    parser.add_argument("--pythonpath", help="a folder of the copy put first on PYTHONPATH")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--baseline-src", type=Path, help="also time `passcycle retest` imported from OLD/src"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-retest-cost-"))
    root = work / "project"
    # the older tree's re-tests get a copy and a history of their own: each version keeps
    # what it keeps (its re-test brief) undisturbed by the other's runs
    other = work / "baseline"
    PATHS["project"] = args.pythonpath
    if args.baseline_src is not None:
        PATHS["baseline"] = str(args.baseline_src.resolve())
    try:
        setup(args, root, passcycle)
        if args.baseline_src is not None:
            setup(args, other, baseline_command)
        timed(pytest(*TESTMON, args.tests), root)
        saved = work / "testmon"
        saved.mkdir()
        for data in root.glob(".testmondata*"):
            shutil.copy2(data, saved / data.name)

        def fresh_testmon() -> None:
            for data in root.glob(".testmondata*"):
                data.unlink()
            for data in saved.iterdir():
                shutil.copy2(data, root / data.name)

        change(root, args.change)
        _, dry = timed(passcycle("retest", "--dry-run", "--json"), root)
        ids = json.loads(dry.stdout)["selection"]["args"]
        change(root, args.change, undo=True)
        print(f"the change selects {len(ids)} node ids", flush=True)
        times: dict[str, list[float]] = {}

        def baseline(what: str) -> list[tuple[str, list[str]]]:
            if args.baseline_src is None:
                return []
            return [(f"passcycle retest (baseline), {what}", baseline_command("retest"))]

        for _ in range(args.repeat):
            fresh_testmon()
            for name, command in (
                ("passcycle retest, nothing changed", passcycle("retest")),
                *baseline("nothing changed"),
                ("pytest --testmon, nothing changed", pytest(*TESTMON, args.tests)),
            ):
                seconds, done = timed(command, other if "baseline" in name else root)
                if done.returncode not in (0, 5):
                    raise SystemExit(f"{name} exited {done.returncode}:\n{done.stdout[-1500:]}")
                times.setdefault(name, []).append(seconds)
            change(root, args.change)
            if args.baseline_src is not None:
                change(other, args.change)
            for name, command in (
                ("passcycle retest, one change", passcycle("retest")),
                *baseline("one change"),
                ("pytest IDS, the same selection", pytest(*ids)),
                ("pytest --testmon, one change", pytest(*TESTMON, args.tests)),
            ):
                if "testmon" in name:
                    fresh_testmon()
                seconds, done = timed(command, other if "baseline" in name else root)
                if done.returncode not in (0, 5):
                    raise SystemExit(f"{name} exited {done.returncode}:\n{done.stdout[-1500:]}")
                times.setdefault(name, []).append(seconds)
            change(root, args.change, undo=True)
            if args.baseline_src is not None:
                change(other, args.change, undo=True)
        times.update(warm(root, args.change, args.repeat))
        print("| command | median s | min–max s |\n|---|---:|---|")
        for name, values in times.items():
            print(
                f"| {name} | {statistics.median(values):.2f} |"
                f" {min(values):.2f}–{max(values):.2f} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
