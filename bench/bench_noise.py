"""Benchmark: does the gate fail on noise, and does it catch a real slowdown?

Run: python bench/bench_noise.py [--runs 20] [--hogs 0]
     python bench/bench_noise.py --project PATH --python PY --source src/pkg --tests tests \
         --slow pkg.module:Class.method [--runs 20]

On a generated project (a package whose one widely used function every test calls, 201
tests) or a git clone of a real one, with the plan `passcycle init` writes:

1. `passcycle run` once, and that run made the baseline (`baseline set --force`: a real
   project may miss one of the plan's targets, e.g. coverage, which is not noise);
2. `--runs` more runs of the unchanged tree: a run whose gate fails on a regression the
   baseline run did not have is a *false failure* (goal: 0). `--hogs K` keeps K busy
   processes running meanwhile, as other jobs on a shared CI runner would;
3. the function named by `--slow` made 30% slower (it busy-waits 0.3x its own time after
   each call, appended to its module), then `--runs` runs: a run whose `suite_duration`
   regressed *detects* it (goal: at least 19 of 20).

Each run's suite_duration detail (solo and CPU time paired over the tests, wall beside it)
is kept; the summary prints a Markdown table. Every pytest runs with plugin autoload off,
so the plugins of this interpreter stay out of the timings.
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
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "NO_COLOR": "1"}
ENV: dict[str, str] = {}  # PYTHONPATH: the clone's source first, before an installed copy

# -- the generated project ----------------------------------------------------------------

CORE = '''\
"""The widely used function: every test calls it."""


def mix(values):
    total = 0
    for i, v in enumerate(values):
        total = (total * 31 + v * (i + 7)) % 1_000_003
    return total
'''

TESTS = """\
import pytest

from gen.core import mix
from gen import shapes


@pytest.mark.parametrize("n", range({count}))
def test_mix_{k}(n):
    values = list(range(n, n + {size}))
    assert mix(values) == mix(list(values))
    assert shapes.area(n % 5 + 1, {k} + 1) > 0
"""

SHAPES = """\
def area(w, h):
    if w <= 0 or h <= 0:
        raise ValueError("sizes are positive")
    return w * h
"""


def generate(root: Path) -> None:
    (root / "src" / "gen").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "gen" / "__init__.py").write_text("")
    (root / "src" / "gen" / "core.py").write_text(CORE)
    (root / "src" / "gen" / "shapes.py").write_text(SHAPES)
    for k in range(5):
        text = TESTS.format(count=40, size=6000, k=k)
        (root / "tests" / f"test_gen_{k}.py").write_text(text)
    (root / "tests" / "test_shapes.py").write_text(
        "import pytest\nfrom gen import shapes\n\n\ndef test_sizes_are_positive():\n"
        "    with pytest.raises(ValueError):\n        shapes.area(0, 1)\n"
    )
    (root / "conftest.py").write_text(
        "import sys, os\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), 'src'))\n"
    )


# -- the slowdown ----------------------------------------------------------------------------

SLOWER = """

# --- bench_noise: {target} made {share:.0%} slower -------------------------------------
def _bench_noise_slower(function, share):
    import functools
    import time

    @functools.wraps(function)
    def slower(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            until = time.perf_counter() + share * (time.perf_counter() - started)
            while time.perf_counter() < until:
                pass

    return slower


{assign} = _bench_noise_slower({assign}, {share})
"""


def slow_down(root: Path, source: str, target: str, share: float) -> Path:
    """Append the wrapper to the module that defines `target` ("pkg.mod:Class.method")."""
    module, _, qualname = target.partition(":")
    parts = module.split(".")
    base = root / source
    for candidate in (base.parent.joinpath(*parts).with_suffix(".py"),
                      base.parent.joinpath(*parts, "__init__.py")):  # fmt: skip
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            candidate.write_text(
                text + SLOWER.format(target=target, share=share, assign=qualname),
                encoding="utf-8",
            )
            return candidate
    raise SystemExit(f"cannot find the module {module} under {base.parent}")


# -- runs ------------------------------------------------------------------------------------


@dataclass
class Judged:
    gate: bool
    regressed: list[str]  # KPIs judged regressed
    detail: str  # suite_duration's
    wall: float | None
    seconds: float


def passcycle(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "passcycle", "-C", str(root), *args],
        capture_output=True, text=True, check=False,
        env={**os.environ, **QUICK, **ENV, **(env or {})},
    )  # fmt: skip


def judged_run(root: Path) -> Judged:
    started = time.perf_counter()
    proc = passcycle(root, "run", "--json")
    seconds = time.perf_counter() - started
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        message = f"passcycle run failed ({proc.returncode}):\n{proc.stderr[-2000:]}"
        raise SystemExit(message) from None
    kpis = {k["name"]: k for k in data["kpis"]}
    duration = kpis.get("suite_duration", {})
    return Judged(
        gate=bool(data["gate"]["passed"]),
        regressed=sorted(k for k, v in kpis.items() if v.get("regressed")),
        detail=duration.get("detail") or "",
        wall=duration.get("value"),
        seconds=seconds,
    )


def write_plan(
    root: Path, python: str | None, source: str, tests: str, pytest_args: list[str]
) -> None:
    proc = passcycle(root, "init")
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    plan = root / "passcycle.toml"
    keys = [f'source = ["{source}"]', f'tests = ["{tests}"]']
    if python:
        keys.append(f'python = "{python}"')
    if pytest_args:
        keys.append(f"pytest_args = {json.dumps(pytest_args)}")
    text = plan.read_text(encoding="utf-8").replace(
        "[project]\n", "[project]\n" + "\n".join(keys) + "\n", 1
    )
    plan.write_text(text, encoding="utf-8")
    git(root, "add", "passcycle.toml")  # the plan is part of the tree, as in a real project
    git(root, "commit", "-qm", "passcycle plan")


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def series(root: Path, runs: int, label: str, hog_count: int) -> list[Judged]:
    busy = hogs(hog_count)
    found = []
    try:
        for index in range(runs):
            judged = judged_run(root)
            found.append(judged)
            print(f"{label} {index + 1:2d}/{runs}: gate {'passed' if judged.gate else 'FAILED'}"
                  f" regressed={judged.regressed or '-'}  {judged.detail}", flush=True)  # fmt: skip
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a git checkout (cloned, never modified)")
    parser.add_argument("--python", help="the project's interpreter (default: this one)")
    parser.add_argument("--source", default="src/gen")
    parser.add_argument("--tests", default="tests")
    parser.add_argument("--slow", default="gen.core:mix", help="module:qualname to slow down")
    parser.add_argument("--share", type=float, default=0.30, help="how much slower")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hogs", type=int, default=0, help="busy processes during the noise runs")
    parser.add_argument(
        "--pytest-arg", action="append", default=[], help="the plan's pytest_args (repeatable)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-noise-"))
    root = work / "project"
    try:
        if args.project:
            subprocess.run(["git", "clone", "-q", str(args.project), str(root)], check=True)
        else:
            root.mkdir()
            generate(root)
            git(root, "init", "-q")
            git(root, "add", "-A")
            git(root, "commit", "-qm", "generated")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        # the clone's package, not the copy the interpreter may have installed elsewhere
        # (a PYTHONPATH of the caller's, e.g. another passcycle tree to measure, comes after)
        ENV["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str((root / args.source).parent), os.environ.get("PYTHONPATH")])
        )
        write_plan(root, args.python, args.source, args.tests, args.pytest_arg)
        # the first run after a clone fills caches (.pyc files, hypothesis's example
        # database): it is not the baseline, as a CI runner's cached checkout would not be
        judged_run(root)
        first = judged_run(root)
        proc = passcycle(root, "baseline", "set", "--force")
        print(f"baseline: {proc.stdout.strip()} gate {'passed' if first.gate else 'failed'}")
        noise = series(root, args.runs, "unchanged", args.hogs)
        module = slow_down(root, args.source, args.slow, args.share)
        print(f"slowed: {args.slow} in {module.relative_to(root)}")
        slowed = series(root, args.runs, "slowed", 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base_regressed = set(first.regressed)
    false = [j for j in noise if set(j.regressed) - base_regressed]
    gate_failed = [j for j in noise if not j.gate]
    detected = [j for j in slowed if "suite_duration" in j.regressed]
    name = args.project.name if args.project else "generated (201 tests)"
    walls = [j.wall for j in noise if j.wall is not None]
    spread = f"{min(walls):.2f}–{max(walls):.2f}" if walls else "—"
    print()
    print(
        "| project | commit | runs | false failures | gate failed (any reason) | wall s min–max "
        "| slowed | detected | median run s |"
    )
    print("|---|---|---:|---:|---:|---|---|---:|---:|")
    print(
        f"| {name} | {commit} | {len(noise)} | {len(false)} of {len(noise)} |"
        f" {len(gate_failed)} of {len(noise)} | {spread} | `{args.slow}` +{args.share:.0%} |"
        f" {len(detected)} of {len(slowed)} |"
        f" {statistics.median(j.seconds for j in noise + slowed):.1f} |"
    )
    if first.regressed or not first.gate:
        print(f"\n(the baseline run itself: gate {'passed' if first.gate else 'failed'})")


if __name__ == "__main__":
    main()
