"""Benchmark: the mutation experiment for fault localization, against FauxPy.

Run: python bench/bench_localize.py [--mutations 20] [--seed 1] [--fauxpy PYTHON]
     python bench/bench_localize.py --project PATH --source src/pkg --tests tests \
         [--pythonpath src] [--fauxpy PYTHON]

On the generated project of bench/bench_retest.py (or a copy of a real one), committed, with
a plan naming its source and tests:

1. `passcycle run --json` on the clean tree: the failures that were there before (a real
   project may have some) and the run every later one is compared with;
2. bench_retest.py's single-line mutations, one at a time; for each, `passcycle run --json`
   on the mutated tree, as a user would run it after the change:
   - issues: how many of the run's issues hold the tests the mutation made fail (the goal
     is 1: one issue per bug);
   - shown: the rank of the mutated line among the suspects of the issue holding most of
     those tests (its `suggestion.suspects`, one line per function, 5 at most; "-" when
     not among them) and whether the issue's location is the mutated line;
   - line rank: the mutated line's place among all the lines the failing tests ran, as
     validate/localize.py orders them, with the change since the clean commit (history)
     and without it (spectrum only);
   - FauxPy (`--fauxpy`, an interpreter where FauxPy is installed): `pytest --src SOURCE`
     on the same tree, its statement-level Ochiai ranking (Scores_Ochiai.csv, in its
     order) and its wall time, beside `passcycle run`'s.
3. a Markdown table, one row per mutation that the suite caught, and a summary.

Ranks are 1-based places in each tool's printed order (ties broken as the tool breaks
them); a line the tool did not rank is "-".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_retest import (
    QUICK,
    Mutation,
    apply,
    generate,
    git,
    pick_mutations,
    project_arguments,
)

from passcycle.fix.locating import changed_lines, read_map
from passcycle.validate.localize import MAP_FILE, Spectrum, ranked_lines, source_filter

BAD = ("failed", "error")


@dataclass
class Row:
    mutation: Mutation
    failing: int
    issues: int
    shown: int | None  # rank among the main issue's suspects
    located: bool  # the main issue's location is the mutated line
    history: int | None  # line rank with the change history
    spectrum: int | None  # line rank without it
    wall: float
    fauxpy: int | None = None
    fauxpy_wall: float | None = None


# The project's folder put first on the path of its tests (and FauxPy's), never on
# passcycle's own: a mutated click must not break the click that passcycle's CLI runs on.
PROJECT_PATH: list[str] = []
CALLER_PATH = os.environ.get("PYTHONPATH", "")


def _own_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PASSCYCLE_"))}
    env["PYTHONPATH"] = CALLER_PATH
    return env


def passcycle_run(root: Path) -> tuple[dict, float]:
    env = _own_env()
    env.update(QUICK)
    command = [sys.executable, "-m", "passcycle", "run", "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if not done.stdout.strip():
        raise RuntimeError(f"passcycle run exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout), wall


def failing_tests(root: Path, verdict: dict) -> tuple[set[str], list[str]]:
    """The run's failing and passing node ids, from its stored results."""
    run_id = str(verdict["run"]["id"])
    done = subprocess.run(
        [sys.executable, "-m", "passcycle", "show", run_id, "--json", "--results"],
        cwd=root,
        env=_own_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(done.stdout)["results"]
    bad = {r["nodeid"] for r in results if r["outcome"] in BAD}
    return bad, [r["nodeid"] for r in results if r["outcome"] == "passed"]


def _rank(ranked: list[tuple[str, int]], where: tuple[str, int]) -> int | None:
    return ranked.index(where) + 1 if where in ranked else None


def fauxpy_run(python: str, root: Path, source: list[str], tests: list[str]) -> tuple[Path, float]:
    """FauxPy's SBFL session on the tree; its report folder and wall time."""
    before = set(root.parent.glob("FauxPyReport_*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PASSCYCLE_"))}
    # FauxPy's coverage reads the project's coverage settings, which may measure something
    # else (itsdangerous' name "jinja2" and "tests"): then it records no line at all
    blank = root.parent / "fauxpy.coveragerc"
    blank.write_text("")
    env["COVERAGE_RCFILE"] = str(blank)
    # FauxPy's coverage warns that the package was imported before it measured; a project
    # whose filterwarnings turns warnings into errors (click's) would end in an internal error
    quiet = ["-W", "ignore::coverage.exceptions.CoverageWarning"]
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *quiet, *tests]
    command += ["--src", source[0]]
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    made = sorted(set(root.parent.glob("FauxPyReport_*")) - before)
    if not made:
        raise RuntimeError("FauxPy wrote no report: is it installed in --fauxpy's interpreter?")
    return made[-1], wall


def fauxpy_rank(report: Path, root: Path, where: tuple[str, int]) -> int | None:
    with (report / "Scores_Ochiai.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    wanted = f"{(root / where[0]).resolve()}::{where[1]}"
    for n, row in enumerate(rows, 1):
        entity = row["Entity"]
        path, _, line = entity.rpartition("::")
        if f"{Path(path).resolve()}::{line}" == wanted:
            return n
    return None


def experiment(
    root: Path, source: list[str], tests: list[str], count: int, seed: int, fauxpy: str | None
) -> None:
    if not (root / "passcycle.toml").exists():
        plan = f"source = {json.dumps(source)}\ntests = {json.dumps(tests)}\n"
        if PROJECT_PATH:  # pytest's own `pythonpath`, for the suite passcycle runs
            plan += f'pytest_args = ["-o", "pythonpath={PROJECT_PATH[0]}"]\n'
        (root / "passcycle.toml").write_text(f'[project]\nname = "bench"\n{plan}')
    with (root / ".gitignore").open("a") as f:
        f.write("\n.passcycle/\n.pytest_cache/\n__pycache__/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench baseline", "--allow-empty")
    commit = git(root, "rev-parse", "HEAD").strip()
    clean, clean_wall = passcycle_run(root)
    before, _ = failing_tests(root, clean)
    print(
        f"project: {clean['total']} tests, {len(before)} failing before any mutation; "
        f"passcycle run {clean_wall:.2f}s",
        flush=True,
    )
    keep = source_filter(source, tests)
    rows: list[Row] = []
    for mutation in pick_mutations(root, source, count, seed):
        apply(root, mutation)
        try:
            verdict, wall = passcycle_run(root)
            bad, passing = failing_tests(root, verdict)
            made = bad - before
            if not made:
                print(f"  {mutation.label}: not caught by the suite", flush=True)
                continue
            where = (mutation.path, mutation.line)
            holding = [i for i in verdict["issues"] if made & set(i["nodeids"])]
            main = max(holding, key=lambda i: len(made & set(i["nodeids"])), default=None)
            suspects = (main or {}).get("suggestion", {}).get("suspects") or []
            shown = next(
                (n for n, s in enumerate(suspects, 1) if (s["path"], s["line"]) == where), None
            )
            located = bool(main) and main["suggestion"].get("location") == f"{where[0]}:{where[1]}"
            data = root / verdict["run"]["artifacts"] / MAP_FILE
            test_map, imports = read_map(data, root)
            changes = changed_lines(root, commit)
            shared = Spectrum(test_map, bad, passing, keep, imports)
            with_history = ranked_lines(root, shared, bad, changed=changes)
            spectrum_only = ranked_lines(root, shared, bad)
            row = Row(
                mutation,
                failing=len(made),
                issues=len(holding),
                shown=shown,
                located=located,
                history=_rank(with_history, where),
                spectrum=_rank(spectrum_only, where),
                wall=wall,
            )
            if fauxpy:
                folder, row.fauxpy_wall = fauxpy_run(fauxpy, root, source, tests)
                row.fauxpy = fauxpy_rank(folder, root, where)
                shutil.rmtree(folder, ignore_errors=True)
        finally:
            apply(root, mutation, undo=True)
        rows.append(row)
        print(
            f"  {mutation.label}: {row.failing} failing, {row.issues} issue(s), "
            f"line rank {row.history} (spectrum only {row.spectrum})"
            + (f", FauxPy {row.fauxpy}" if fauxpy else ""),
            flush=True,
        )
    report(rows, fauxpy is not None)


def _r(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def _share(ranks: list[int | None], top: int) -> str:
    hit = sum(r is not None and r <= top for r in ranks)
    return f"{hit}/{len(ranks)}"


def report(rows: list[Row], with_fauxpy: bool) -> None:
    print()
    head = "| mutation | failing | issues | shown | location | line rank | spectrum only |"
    rule = "|---|---:|---:|---:|:-:|---:|---:|"
    if with_fauxpy:
        head += " FauxPy rank | passcycle run | FauxPy run |"
        rule += "---:|---:|---:|"
    print(head)
    print(rule)
    for r in rows:
        line = (
            f"| `{r.mutation.label}` | {r.failing} | {r.issues} | {_r(r.shown)} "
            f"| {'yes' if r.located else 'no'} | {_r(r.history)} | {_r(r.spectrum)} |"
        )
        if with_fauxpy:
            line += f" {_r(r.fauxpy)} | {r.wall:.2f}s | {r.fauxpy_wall or 0:.2f}s |"
        print(line)
    if not rows:
        return
    one = sum(r.issues == 1 for r in rows)
    print(
        f"\n{len(rows)} mutations caught: exactly one issue {one}/{len(rows)}; "
        f"the main issue's top suspect is the mutated line {_share([r.shown for r in rows], 1)}, "
        f"among its 5 suspects {_share([r.shown for r in rows], 5)}; "
        f"line rank top-1 {_share([r.history for r in rows], 1)}, "
        f"top-5 {_share([r.history for r in rows], 5)}; spectrum only top-1 "
        f"{_share([r.spectrum for r in rows], 1)}, top-5 {_share([r.spectrum for r in rows], 5)}"
    )
    print(f"median passcycle run {statistics.median(r.wall for r in rows):.2f}s")
    if with_fauxpy:
        ranks = [r.fauxpy for r in rows]
        walls = [r.fauxpy_wall or 0.0 for r in rows]
        print(
            f"FauxPy (SBFL, Ochiai, statements): top-1 {_share(ranks, 1)}, top-5 "
            f"{_share(ranks, 5)}; median run {statistics.median(walls):.2f}s"
        )


def _pythonpath(root: Path, relative: str) -> None:
    """The project's code first (not an installed release of it), then the caller's path
    (a copy of passcycle's tree, say), for the project's tests and FauxPy's."""
    PROJECT_PATH.append(relative)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root / relative), os.environ.get("PYTHONPATH", "")) if p
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    project_arguments(parser, mutations=20)
    parser.add_argument("--fauxpy", help="a Python interpreter with FauxPy installed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-localize-"))
    root = work / "project"
    try:
        if args.project:
            if not args.source or not args.tests:
                parser.error("--project needs --source and --tests")
            shutil.copytree(args.project, root, ignore=shutil.ignore_patterns(".passcycle"))
            source, tests = args.source, args.tests
            if args.pythonpath:
                _pythonpath(root, args.pythonpath)
            if not (root / ".git").exists():
                git(root, "init", "-q")
        else:
            generate(root)
            source, tests = ["src/gen"], ["tests"]
            _pythonpath(root, "src")
            git(root, "init", "-q")
        experiment(root, source, tests, args.mutations, args.seed, args.fauxpy)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
