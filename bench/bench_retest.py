"""Benchmark: the mutation experiment for re-test selection, against pytest-testmon.

Run: python bench/bench_retest.py [--mutations 24] [--seed 1]
     python bench/bench_retest.py --project PATH --source src/pkg --tests tests

On a generated project (10 modules x 10 functions, 400 tests; some functions call into the
next module) or a copy of a real one:

1. a full run with passcycle's runner records the coverage map and the durations;
   testmon records its own database (`pytest --testmon`) on the same clean tree;
2. single-line mutations in the package (flip a comparison, change a constant,
   `return x` -> `return None`), one at a time; for each:
   - plain `pytest` on the whole suite: which tests fail, and its wall time;
   - `changes_since` + `select`: what passcycle's re-test would run, then that selection
     run as `passcycle retest` runs it (passcycle's runner: the selected tests' files, the
     plugin selecting and ordering their tests, no coverage);
   - `pytest --testmon` from the clean database;
   - recall: the failing tests each re-test ran and saw fail, of those the full suite saw;
     share of test time: the selected tests' recorded durations over the suite's;
     wall: the re-test's pytest wall time over the full pytest's.
3. a Markdown table, one row per mutation and a summary.

Every pytest runs with plugin autoload off (testmon is loaded explicitly), so the timings
compare the selections, not the plugins installed in this interpreter. A failing test is a
`FAILED` or `ERROR` line of pytest (a module that fails to import is its path).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from passcycle.errors import RunError
from passcycle.fix.changes import changes_since, snapshot
from passcycle.fix.impact import Selection, select
from passcycle.suite.covmap import impact_maps
from passcycle.suite.runner import SuiteSpec, run_suite

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
TESTMON = ["-p", "testmon.pytest_testmon", "--testmon"]
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - .*)?$", re.M)
COUNTS = re.compile(r"(\d+) (passed|failed|error|errors|deselected|skipped)")


# -- the generated project ----------------------------------------------------------------

MODULES, FUNCTIONS = 10, 10
WORK = 60_000  # loop steps per test: the suite's test time, against pytest's start-up


def _function(i: int, j: int) -> str:
    k = 2 + (i + j) % 5
    tail = f"    return mod{(i + 1) % MODULES}.f{j - 7}(y)\n" if j >= 7 else "    return y\n"
    return (
        f"def f{j}(x):\n"
        f"    if x > {j}:\n"
        f"        y = x * {k} + {j}\n"
        f"    else:\n"
        f"        y = x - {j}\n"
        f"    if y >= LIMIT:\n"
        f"        y = y % LIMIT + {k}\n"
        f"{tail}\n\n"
    )


def _module(i: int) -> str:
    imports = f"from gen import mod{(i + 1) % MODULES}\n\n" if FUNCTIONS > 7 else ""
    body = "".join(_function(i, j) for j in range(FUNCTIONS))
    return f"{imports}LIMIT = {40 + i}\n\n\n{body}"


def generate(root: Path) -> None:
    files = {
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
        ".gitignore": ".passcycle/\n.testmondata*\n.pytest_cache/\n__pycache__/\n",
        "src/gen/__init__.py": "",
        "tests/work.py": f"WORK = {WORK}\n\n\n"
        + (
            "def work(n=WORK):\n    # some real work, as tests have: ~4 ms\n"
            "    return sum(i * i for i in range(n))\n"
        ),
    }
    for i in range(MODULES):
        files[f"src/gen/mod{i}.py"] = _module(i)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    sys.path.insert(0, str(root / "src"))
    try:
        import importlib

        modules = [importlib.import_module(f"gen.mod{i}") for i in range(MODULES)]
        for i, module in enumerate(modules):
            lines = [f"from gen.mod{i} import " + ", ".join(f"f{j}" for j in range(FUNCTIONS))]
            lines.append("from work import work\n")
            for j in range(FUNCTIONS):
                func = getattr(module, f"f{j}")
                for name, x in (("low", j - 1), ("edge", j), ("high", j + 5), ("big", 100)):
                    body = f"    work()\n    assert f{j}({x}) == {func(x)!r}\n"
                    lines.append(f"\ndef test_f{j}_{name}():\n{body}")
            (root / f"tests/test_mod{i}.py").write_text("\n".join(lines))
    finally:
        sys.path.remove(str(root / "src"))
        for name in [n for n in sys.modules if n == "gen" or n.startswith("gen.")]:
            del sys.modules[name]


# -- mutations ------------------------------------------------------------------------------

_FLIP = {
    ast.Lt: (">=", "<"),
    ast.Gt: ("<=", ">"),
    ast.LtE: (">", "<="),
    ast.GtE: ("<", ">="),
    ast.Eq: ("!=", "=="),
    ast.NotEq: ("==", "!="),
}


@dataclass(frozen=True)
class Mutation:
    path: str
    line: int
    before: str
    after: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line} {self.kind}"


def _candidates(root: Path, path: str) -> list[Mutation]:
    text = (root / path).read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    found: list[Mutation] = []
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(range(node.body[0].lineno, (node.end_lineno or 0) + 1))

    def replace(node: ast.AST, start: int, end: int, new: str, kind: str) -> None:
        line = node.lineno  # type: ignore[attr-defined]
        if node.end_lineno != line:  # type: ignore[attr-defined]
            return
        old = lines[line - 1]
        changed = old[:start] + new + old[end:]
        if changed != old:
            found.append(Mutation(path, line, old, changed, kind))

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP:
            new, op = _FLIP[type(node.ops[0])]
            left_end, right_start = node.left.end_col_offset, node.comparators[0].col_offset
            if node.left.end_lineno == node.lineno == node.comparators[0].lineno:
                segment = lines[node.lineno - 1][left_end:right_start]
                if segment.strip() == op:
                    replace(node, left_end, right_start, f" {new} ", "flip comparison")
        elif (
            isinstance(node, ast.Constant)
            and type(node.value) is int
            and node.end_col_offset is not None
        ):
            kind = "change constant" if node.lineno in in_function else "module constant"
            replace(node, node.col_offset, node.end_col_offset, str(node.value + 1), kind)
        elif isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if value.end_col_offset is not None and not (
                isinstance(value, ast.Constant) and value.value is None
            ):
                replace(value, value.col_offset, value.end_col_offset, "None", "return None")
    return found


def pick_mutations(root: Path, source: list[str], count: int, seed: int) -> list[Mutation]:
    paths = sorted(
        p.relative_to(root).as_posix()
        for s in source
        for p in ((root / s).rglob("*.py") if (root / s).is_dir() else [root / s])
    )
    pool = [m for p in paths for m in _candidates(root, p)]
    rng = random.Random(seed)
    body = [m for m in pool if m.kind != "module constant"]
    module = [m for m in pool if m.kind == "module constant"]
    chosen = rng.sample(body, min(len(body), count - min(2, len(module))))
    chosen += rng.sample(module, min(2, len(module), count - len(chosen)))
    return chosen


def apply(root: Path, mutation: Mutation, undo: bool = False) -> None:
    path = root / mutation.path
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[mutation.line - 1] = mutation.before if undo else mutation.after
    path.write_text("\n".join(lines), encoding="utf-8")


# -- running pytest -------------------------------------------------------------------------


@dataclass(frozen=True)
class PytestRun:
    wall: float
    failed: set[str]
    ran: int


def pytest(root: Path, args: list[str]) -> PytestRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PASSCYCLE_"))}
    env.update(QUICK)
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:randomly", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    # 2: collection errors interrupted the session; 4: a named test's module did not import
    if done.returncode not in (0, 1, 2, 4, 5):
        raise RuntimeError(f"pytest {args[:3]} exited {done.returncode}:\n{done.stdout[-2000:]}")
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in COUNTS.findall(tail)}
    ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    return PytestRun(wall, set(FAILED.findall(done.stdout)), ran)


def retest_run(root: Path, selection: Selection) -> PytestRun:
    """The selection as `passcycle retest` runs it: its files collected, its tests selected
    and ordered by the plugin, no coverage (passcycle's own start-up is not in it)."""
    artifacts = Path(tempfile.mkdtemp(prefix="bench-retest-run-"))
    started = time.perf_counter()
    try:
        done = run_suite(
            SuiteSpec(
                root=root,
                artifacts=artifacts,
                tests=selection.paths,
                select=None if selection.everything else selection.args,
                env=QUICK,
            )
        )
    except RunError as exc:  # a conftest that no longer imports: pytest ran nothing
        print(f"    the re-test could not run: {exc}", flush=True)
        return PytestRun(time.perf_counter() - started, set(), 0)
    finally:
        wall = time.perf_counter() - started
        shutil.rmtree(artifacts, ignore_errors=True)
    bad = {r.nodeid for r in done.results if r.outcome in ("failed", "error")}
    ran = sum(r.outcome in ("passed", "failed", "error") for r in done.results)
    return PytestRun(wall, bad, ran)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


# -- the experiment -------------------------------------------------------------------------


@dataclass
class Row:
    mutation: Mutation
    failing: int
    full_wall: float
    selected: int
    recall: float | None
    time_share: float
    wall: float
    select_seconds: float
    everything: bool
    testmon_ran: int
    testmon_recall: float | None
    testmon_wall: float


def _recall(found: set[str], failing: set[str]) -> float | None:
    return len(found & failing) / len(failing) if failing else None


def experiment(root: Path, source: list[str], tests: list[str], count: int, seed: int) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench baseline", "--allow-empty")
    commit = git(root, "rev-parse", "HEAD").strip()

    started = time.perf_counter()
    full = run_suite(
        SuiteSpec(
            root=root,
            artifacts=root / ".passcycle" / "runs" / "1",
            tests=tests,
            source=source,
            env=QUICK,
        )
    )
    mapped = time.perf_counter() - started
    assert full.coverage_file is not None, "no coverage data: check --source"
    test_map, setup_map = impact_maps(full.coverage_file, root)
    snap = snapshot(root, [*source, *tests])
    durations = {r.nodeid: r.duration for r in full.results}
    total_time = sum(durations.values()) or 1e-9
    plain = pytest(root, list(tests))
    testmon_record = pytest(root, [*TESTMON, *tests])
    saved = Path(tempfile.mkdtemp(prefix="bench-testmon-"))
    for data in root.glob(".testmondata*"):
        shutil.copy2(data, saved / data.name)
    print(
        f"project: {len(full.results)} tests; plain pytest {plain.wall:.2f}s; "
        f"passcycle full run with map {mapped:.2f}s ({mapped / plain.wall:.2f}x); "
        f"testmon recording run {testmon_record.wall:.2f}s "
        f"({testmon_record.wall / plain.wall:.2f}x)",
        flush=True,
    )
    if full.note:
        print(f"note: {full.note}")

    rows: list[Row] = []
    for mutation in pick_mutations(root, source, count, seed):
        apply(root, mutation)
        try:
            whole = pytest(root, list(tests))
            t0 = time.perf_counter()
            selection = select(
                root,
                changes=changes_since(root, commit=commit, snapshot=snap),
                test_map=test_map,
                setup_map=setup_map,
                last_results=full.results,
                recent_failure_rate={},
                durations=durations,
                source=source,
                tests=tests,
                plan_file=None,
            )
            select_seconds = time.perf_counter() - t0
            ours = retest_run(root, selection) if selection.args else PytestRun(0.0, set(), 0)
            for data in root.glob(".testmondata*"):
                data.unlink()
            for data in saved.iterdir():
                shutil.copy2(data, root / data.name)
            theirs = pytest(root, [*TESTMON, *tests])
        finally:
            apply(root, mutation, undo=True)
        share = sum(durations.get(t.nodeid, 0.0) for t in selection.tests) / total_time
        rows.append(
            Row(
                mutation=mutation,
                failing=len(whole.failed),
                full_wall=whole.wall,
                selected=ours.ran,
                recall=_recall(ours.failed, whole.failed),
                time_share=1.0 if selection.everything else share,
                wall=(ours.wall + select_seconds) / whole.wall,
                select_seconds=select_seconds,
                everything=selection.everything,
                testmon_ran=theirs.ran,
                testmon_recall=_recall(theirs.failed, whole.failed),
                testmon_wall=theirs.wall / whole.wall,
            )
        )
        why = f" (widened: {selection.reasons[0]})" if selection.reasons else ""
        print(f"  {mutation.label}: {len(whole.failed)} failing{why}", flush=True)
    shutil.rmtree(saved, ignore_errors=True)
    report(rows, len(full.results))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def report(rows: list[Row], suite: int) -> None:
    print()
    print(
        "| mutation | failing | passcycle ran | recall | test-time share | wall vs full "
        "| testmon ran | testmon recall | testmon wall vs full |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        widened = " (all)" if r.everything else ""
        print(
            f"| `{r.mutation.label}` | {r.failing} | {r.selected}{widened} | {_pct(r.recall)} "
            f"| {r.time_share:.1%} | {r.wall:.2f}x | {r.testmon_ran} | "
            f"{_pct(r.testmon_recall)} | {r.testmon_wall:.2f}x |"
        )
    killed = [r for r in rows if r.failing]
    ours = [r.recall for r in killed if r.recall is not None]
    theirs = [r.testmon_recall for r in killed if r.testmon_recall is not None]
    print(
        f"| **{len(rows)} mutations, {len(killed)} caught by the suite of {suite}** | "
        f"{sum(r.failing for r in rows)} | median {statistics.median(r.selected for r in rows):g} "
        f"| min {_pct(min(ours, default=None))} "
        f"| median {statistics.median(r.time_share for r in rows):.1%} "
        f"| median {statistics.median(r.wall for r in rows):.2f}x, "
        f"mean {statistics.mean(r.wall for r in rows):.2f}x "
        f"| median {statistics.median(r.testmon_ran for r in rows):g} "
        f"| min {_pct(min(theirs, default=None))} "
        f"| median {statistics.median(r.testmon_wall for r in rows):.2f}x, "
        f"mean {statistics.mean(r.testmon_wall for r in rows):.2f}x |"
    )
    missed = sum(r.failing - round((r.recall or 0) * r.failing) for r in killed)
    print(
        f"\nfailing tests missed: passcycle {missed}, testmon "
        f"{sum(r.failing - round((r.testmon_recall or 0) * r.failing) for r in killed)}; "
        f"median select() time {statistics.median(r.select_seconds for r in rows) * 1000:.0f} ms; "
        f"median full pytest {statistics.median(r.full_wall for r in rows):.2f}s"
    )


def project_arguments(parser: argparse.ArgumentParser, mutations: int) -> None:
    """The options of a mutation experiment: the project, its layout, the mutations."""
    parser.add_argument("--project", type=Path, help="a real project (copied, never edited)")
    parser.add_argument("--source", action="append", help="coverage source, repeatable")
    parser.add_argument("--tests", action="append", help="tests path, repeatable")
    parser.add_argument("--mutations", type=int, default=mutations)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pythonpath", help="a folder of the project put first on PYTHONPATH (e.g. src)"
    )


def prepare(parser: argparse.ArgumentParser, args: argparse.Namespace, root: Path) -> tuple:
    """The project of a mutation experiment at `root`, a git repository: a copy of
    `--project` or the generated one; its coverage source and tests."""
    if not args.project:
        generate(root)
        git(root, "init", "-q")
        return ["src/gen"], ["tests"]
    if not args.source or not args.tests:
        parser.error("--project needs --source and --tests")
    shutil.copytree(
        args.project, root, ignore=shutil.ignore_patterns(".passcycle", ".testmondata*")
    )
    if args.pythonpath:
        # the copy's code, not an installed release of the same package, must run
        os.environ["PYTHONPATH"] = str(root / args.pythonpath)
    if not (root / ".git").exists():
        git(root, "init", "-q")
    return args.source, args.tests


def run_experiment(doc: str, experiment: Callable[..., None], mutations: int = 24) -> None:
    """Parse a mutation experiment's command line, prepare its project in a temporary
    folder, run `experiment(root, source, tests, count, seed)`, and remove the folder."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    project_arguments(parser, mutations=mutations)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mutations-"))
    try:
        root = work / "project"
        source, tests = prepare(parser, args, root)
        experiment(root, source, tests, args.mutations, args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    run_experiment(__doc__ or "", experiment)


if __name__ == "__main__":
    main()
