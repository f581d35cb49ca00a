"""Benchmark: instructions, not seconds — `passcycle test` under valgrind's callgrind.

    python bench/bench_instructions.py TREE_SRC [TREE_SRC ...] [--modules 2]
    python bench/bench_instructions.py TREE_SRC ... --project CLONE --source SRC --tests T \
        [--pythonpath DIR]

On a 2-core shared VM, wall and CPU time of the same command move by 15% and more between
runs, so a change of a few percent cannot be told from noise. The number of instructions a
process executes barely moves: this runs `passcycle test` once per tree (each tree's `src/`
first on PYTHONPATH) on its own copy of the generated project of bench_test_phase.py
(`--modules` of its modules, 100 tests each, branch coverage and the per-test map on), or
on a copy of a real project (`--project`), every process under callgrind, and prints the
instructions of passcycle's own process and of the pytest process it starts. Trees run at
once (one per core): instruction counts do not depend on the machine's load. passcycle's
own count includes the loop that waits for pytest, whose turns depend on time; pytest's is
the test phase proper.
About 2 minutes per tree for 2 modules; needs valgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_test_phase import generate, write_plan

TOTALS = re.compile(r"^totals:\s*(\d+)", re.M)
COMMAND = re.compile(r"^cmd:\s*(.*)$", re.M)


def measure(src: Path, work: Path, tests: list[str], pythonpath: str | None) -> dict[str, int]:
    """Instructions per process kind for one `passcycle test` with `src` first on the path."""
    project = work / "project"
    shutil.copytree(work.parent / "project", project, ignore=shutil.ignore_patterns(".passcycle"))
    out = work / "callgrind"
    out.mkdir()
    path = os.pathsep.join([str(src), *([str(project / pythonpath)] if pythonpath else [])])
    env = {**os.environ, "PYTHONPATH": path, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    argv = [
        "valgrind", "--tool=callgrind", "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p",
        sys.executable, "-m", "passcycle", "-C", str(project),
        "--plan", str(project / "passcycle-bench.toml"),
        "--db", f"sqlite:///{work / 'history.db'}", "test", "--json", "--", *tests,
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    try:
        counts = json.loads(done.stdout)["counts"]
    except (json.JSONDecodeError, KeyError):
        raise SystemExit(f"{src}: passcycle test failed:\n{done.stderr[-2000:]}") from None
    found = {"passcycle": 0, "pytest": 0, "tests": counts["passed"]}
    for file in out.iterdir():
        text = file.read_text(encoding="utf-8", errors="replace")
        command, total = COMMAND.search(text), TOTALS.search(text)
        if command is None or total is None:
            continue
        if " -m pytest " in command.group(1):
            found["pytest"] += int(total.group(1))
        elif " -m passcycle " in command.group(1) and "exec" not in command.group(1):
            found["passcycle"] += int(total.group(1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path, help="src/ folders of passcycle trees")
    parser.add_argument("--modules", type=int, default=2, help="generated modules (100 tests)")
    parser.add_argument("--project", type=Path, help="a real project's checkout (copied)")
    parser.add_argument(
        "--source", default="src/gen", help="with --project: what coverage measures"
    )
    parser.add_argument("--tests", action="append", help="with --project: test paths")
    parser.add_argument("--pythonpath", help="with --project: a folder of it first on PYTHONPATH")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    try:
        if args.project:
            shutil.copytree(
                args.project, work / "project", ignore=shutil.ignore_patterns(".passcycle")
            )
            tests = args.tests or ["tests"]
        else:
            generate(work / "project")
            tests = [f"tests/test_mod{i}.py" for i in range(args.modules)]
        write_plan(work / "project", sys.executable, args.source, tests)
        folders = [work / str(i) for i in range(len(args.trees))]
        for folder in folders:
            folder.mkdir()
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(measure, tree.resolve(), folder, tests, args.pythonpath)
                for tree, folder in zip(args.trees, folders, strict=True)
            ]
            results = [job.result() for job in jobs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = results[0]
    if len({found["tests"] for found in results}) > 1:
        print("warning: the trees did not pass the same number of tests")
    print(
        f"| tree | tests passed | pytest process | passcycle process | total | × {args.trees[0]} |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for tree, found in zip(args.trees, results, strict=True):
        total = found["pytest"] + found["passcycle"]
        ratio = total / (first["pytest"] + first["passcycle"])
        print(
            f"| {tree} | {found['tests']} | {found['pytest'] / 1e6:,.0f} M |"
            f" {found['passcycle'] / 1e6:,.0f} M |"
            f" {total / 1e6:,.0f} M | {ratio:.4f} |"
        )


if __name__ == "__main__":
    main()
