"""Benchmark: passcycle's counts and gate against plain pytest's, on a real test suite.

    python bench/bench_agreement.py --project PATH --python PY [--source SRC] [--tests T]
        [--mutate FILE OLD NEW] [--subtests DIR] [--keep DIR]

`--python` is the project's interpreter (pytest and coverage installed there, the project
importable). passcycle runs in the interpreter running this script. Each variant of the
project runs twice:

    PY -m pytest -p no:cacheprovider --junitxml=X [T ...]     the reference
    passcycle --plan PLAN -C PATH --db DB run --json            then `show RUN --results`

The plan (`[project] python = PY`, plus `source` and `tests` when given), the JUnit XML
and the history are kept outside the project, in a temporary folder (or, with `--keep
DIR`, in DIR/VARIANT, to look into afterwards), so the project sees only what a user's run leaves
(`.passcycle`, `.pytest_cache`; both are removed again unless they were there before).
Both runs get this script's environment, less what an outer pytest or passcycle run set.

Variants: the project as it is; with `--mutate`, the same with OLD replaced by NEW in
FILE (OLD must occur once; the file is restored afterwards), a one-line change that
should fail some tests; with `--subtests`, the same with a test file written into DIR
(removed afterwards): a unittest `self.subTest` loop whose first subtest passes and later
ones fail, and a pytest `subtests` fixture test.

They agree when the gate passes exactly when pytest exits 0 (and passcycle exits 0 exactly
then), and the outcomes are the same test by test. JUnit XML has no xfail or xpass:
pytest writes an xfail as skipped and an xpass as passed, so passcycle's are compared as
such. A test JUnit writes more than once (a failing call and an erroring teardown, or
several failing subtests) is one test, and its worst outcome is its outcome. Every
disagreement is printed test by test, then a Markdown table of the variants; the script
exits 1 when any variant disagrees.
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
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("passed", "failed", "error", "skipped")
AS_JUNIT = {"xfailed": "skipped", "xpassed": "passed"}
JUNIT_TAGS = (("failure", "failed"), ("error", "error"), ("skipped", "skipped"))
WORST_FIRST = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
SUBTESTS_FILE = "test_agreement_subtests.py"
OUTER_VARIABLES = (
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_",
    "PYTEST_VERSION",
    "PASSCYCLE_",
    "COV_CORE",
)
SHOWN = 20  # disagreeing tests printed per variant

SUBTESTS = '''"""Written by bench/bench_agreement.py for one run, then removed."""

import unittest


class TestSubTests(unittest.TestCase):
    def test_first_passes_later_fail(self):
        for i in range(4):
            with self.subTest(i=i):
                self.assertLess(i, 1)

    def test_all_pass(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertGreaterEqual(i, 0)


def test_fixture_first_passes_later_fail(subtests):
    for i in range(4):
        with subtests.test(msg="even", i=i):
            assert i % 2 == 0


def test_fixture_all_pass(subtests):
    for i in range(2):
        with subtests.test(i=i):
            assert i < 2
'''


# -- the two runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """What one tool says of a run: exit status, gate, outcome of each test."""

    exit_code: int
    passed: bool  # pytest: exit 0; passcycle: its gate
    outcomes: dict[tuple[str, str], str]  # JUnit (classname, name) -> outcome
    seconds: float
    note: str = ""
    details: dict[tuple[str, str], str] = field(default_factory=dict)  # why, when not passed

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())


def junit_key(nodeid: str) -> tuple[str, str]:
    """The (classname, name) pytest's JUnit XML gives a node id (junitxml.mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def junit_outcomes(path: Path) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """Each test's worst outcome in the JUnit XML, and the message of each one not passed."""
    tests: dict[tuple[str, str], str] = {}
    details: dict[tuple[str, str], str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        for tag, outcome in [*JUNIT_TAGS, ("", "passed")]:
            child = case.find(tag) if tag else None
            if tag and child is None:
                continue
            if key not in tests or WORST_FIRST[outcome] < WORST_FIRST[tests[key]]:
                tests[key] = outcome
                if child is not None:
                    details[key] = f"{tag}: {child.get('message', '')}"
            break
    return tests, details


def run_pytest(
    root: Path, python: str, tests: list[str], scratch: Path, env: dict[str, str], timeout: float
) -> Account:
    xml = scratch / "pytest.xml"
    argv = [python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={xml}", *tests]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
        code, note = proc.returncode, proc.stdout.strip().splitlines()[-1:] or [""]
    except subprocess.TimeoutExpired:
        code, note = -9, [f"killed after {timeout:.0f} s"]
    seconds = time.perf_counter() - started
    outcomes, details = junit_outcomes(xml) if xml.is_file() else ({}, {})
    return Account(code, code == 0, outcomes, seconds, note[0], details)


def run_passcycle(
    root: Path, plan: Path, scratch: Path, env: dict[str, str], timeout: float
) -> Account:
    db = f"sqlite:///{scratch / 'history.db'}"
    base = [sys.executable, "-m", "passcycle", "--plan", str(plan), "-C", str(root), "--db", db]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [*base, "run", "--json"], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"passcycle did not finish in {timeout:.0f} s (--timeout)") from None
    seconds = time.perf_counter() - started
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"passcycle exited {proc.returncode} without JSON:\n{proc.stderr[-3000:]}"
        ) from None
    shown = subprocess.run(
        [*base, "show", str(data["run"]["id"]), "--json", "--results"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    outcomes = {
        junit_key(r["nodeid"]): AS_JUNIT.get(r["outcome"], r["outcome"])
        for r in json.loads(shown.stdout)["results"]
    }
    # the counts passcycle prints must be those of its own results
    printed: Counter[str] = Counter()
    for outcome, number in data["counts"].items():
        printed[AS_JUNIT.get(outcome, outcome)] += number
    if +printed != Counter(outcomes.values()):
        theirs = dict(Counter(outcomes.values()))
        raise SystemExit(f"passcycle's counts {dict(printed)} are not its results' {theirs}")
    details = {junit_key(f["nodeid"]): f"{f['exc_type']}: {f['message']}" for f in data["failures"]}
    note = data["run"]["note"] or ""
    gate = bool(data["gate"]["passed"])
    return Account(proc.returncode, gate, outcomes, seconds, note, details)


def write_plan(folder: Path, python: str, source: list[str], tests: list[str]) -> Path:
    lines = ["[project]", f"python = {json.dumps(python)}"]
    if source:
        lines.append(f"source = {json.dumps(source)}")
    if tests:
        lines.append(f"tests = {json.dumps(tests)}")
    plan = folder / "plan.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


# -- variants -------------------------------------------------------------------------------


@dataclass
class Variant:
    label: str
    pytest: Account
    passcycle: Account
    problems: list[str] = field(default_factory=list)

    def compare(self) -> None:
        p, c = self.pytest, self.passcycle
        if p.passed != c.passed:
            self.problems.append(
                f"gate: pytest exited {p.exit_code}, passcycle's gate "
                f"{'passed' if c.passed else 'failed'}"
            )
        if c.passed != (c.exit_code == 0):
            self.problems.append(f"passcycle exited {c.exit_code} with gate passed={c.passed}")
        if p.counts != c.counts:
            self.problems.append(f"counts: pytest {fmt(p.counts)}, passcycle {fmt(c.counts)}")
        for key in sorted(p.outcomes.keys() | c.outcomes.keys()):
            mine, theirs = c.outcomes.get(key, "absent"), p.outcomes.get(key, "absent")
            if mine != theirs:
                why = c.details.get(key) or p.details.get(key) or ""
                self.problems.append(
                    f"  {'::'.join(key)}: pytest {theirs}, passcycle {mine}  {why[:300]!r}"
                )
        if self.problems and c.note:  # a crash, a resume, a disagreement the runner saw
            self.problems.append(f"passcycle's note on the run: {c.note}")


def fmt(counts: Counter[str]) -> str:
    return "/".join(str(counts.get(o, 0)) for o in OUTCOMES)


class Changed:
    """The project with one variant's change, undone on exit whatever happens."""

    def __init__(self, root: Path, mutate: list[str] | None, subtests: str | None) -> None:
        self.root, self.mutate, self.subtests = root, mutate, subtests
        self.original: str | None = None
        self.written: Path | None = None

    def __enter__(self) -> Changed:
        if self.mutate:
            name, old, new = self.mutate
            path = self.root / name
            self.original = path.read_text(encoding="utf-8")
            path.write_text(self.original.replace(old, new), encoding="utf-8")
        if self.subtests is not None:
            self.written = self.root / self.subtests / SUBTESTS_FILE
            self.written.write_text(SUBTESTS, encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.mutate and self.original is not None:
            (self.root / self.mutate[0]).write_text(self.original, encoding="utf-8")
        if self.written is not None:
            self.written.unlink(missing_ok=True)


def check_changes(root: Path, mutate: list[str] | None, subtests: str | None) -> None:
    """Refuse a change that cannot be made before anything runs, in one line."""
    if mutate:
        name, old, _ = mutate
        path = root / name
        if not path.is_file():
            raise SystemExit(f"--mutate: no file {name} in {root}")
        found = path.read_text(encoding="utf-8").count(old)
        if found != 1:
            raise SystemExit(f"--mutate: {old!r} occurs {found} times in {name}; give a unique OLD")
    if subtests is not None:
        folder = root / subtests
        if not folder.is_dir():
            raise SystemExit(f"--subtests: no folder {subtests} in {root}")
        if (folder / SUBTESTS_FILE).exists():
            raise SystemExit(f"--subtests: {subtests}/{SUBTESTS_FILE} exists already")


def run_variant(label: str, root: Path, args: argparse.Namespace, env: dict[str, str]) -> Variant:
    leftovers = [root / ".passcycle", root / ".pytest_cache"]
    had = {p for p in leftovers if p.exists()}
    with tempfile.TemporaryDirectory(prefix="passcycle-agree-") as folder:
        scratch = Path(folder)
        if args.keep:  # the plan, the JUnit XML and the history, to look into afterwards
            scratch = args.keep.resolve() / label.replace(" ", "-")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
        plan = write_plan(scratch, args.python, args.source or [], args.tests or [])
        try:
            reference = run_pytest(root, args.python, args.tests or [], scratch, env, args.timeout)
            print(f"  {label}: pytest exit {reference.exit_code}: {reference.note}", flush=True)
            ours = run_passcycle(root, plan, scratch, env, args.timeout)
            print(
                f"  {label}: passcycle exit {ours.exit_code} {fmt(ours.counts)} {ours.note}",
                flush=True,
            )
        finally:
            for path in set(leftovers) - had:
                shutil.rmtree(path, ignore_errors=True)
    variant = Variant(label, reference, ours)
    variant.compare()
    return variant


def check_mutation(variants: list[Variant]) -> None:
    """A mutation that fails no test shows nothing about failures: say so, do not hide it."""
    for v in variants:
        if v.label == "mutated" and v.pytest.exit_code == 0:
            print("warning: the mutation failed no test; choose a line the tests cover")


def commit(root: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() or "?"


def table(name: str, sha: str, variants: list[Variant]) -> str:
    rows = [
        "| project | commit | variant | tests | pytest exit | pytest p/f/e/s | pytest s "
        "| passcycle gate | passcycle p/f/e/s | passcycle s | agreement |",
        "|---|---|---|---:|---:|---|---:|---|---|---:|---|",
    ]
    for v in variants:
        p, c = v.pytest, v.passcycle
        rows.append(
            f"| {name} | {sha} | {v.label} | {sum(p.counts.values())} | {p.exit_code} "
            f"| {fmt(p.counts)} | {p.seconds:.1f} | {'passed' if c.passed else 'failed'} "
            f"| {fmt(c.counts)} | {c.seconds:.1f} | {'yes' if not v.problems else '**no**'} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="the project's root")
    parser.add_argument("--python", required=True, help="the project's interpreter")
    parser.add_argument("--source", action="append", help="what coverage measures, repeatable")
    parser.add_argument("--tests", action="append", help="test paths, repeatable")
    parser.add_argument(
        "--mutate", nargs=3, metavar=("FILE", "OLD", "NEW"), help="a one-line change to test"
    )
    parser.add_argument("--subtests", metavar="DIR", help="write the subtests file into DIR")
    parser.add_argument("--name", help="the project's name in the table (default: folder name)")
    parser.add_argument("--keep", type=Path, help="keep plans, JUnit XML and histories here")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per command")
    args = parser.parse_args()

    root = args.project.resolve()
    name = args.name or root.name
    # what an outer pytest or passcycle run set would mislead both runs; the user's own
    # PYTEST_ADDOPTS or PYTEST_DISABLE_PLUGIN_AUTOLOAD apply to both alike, and stay
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTER_VARIABLES)}
    check_changes(root, args.mutate, args.subtests)
    plans = [("as is", None, None)]
    if args.mutate:
        plans.append(("mutated", args.mutate, None))
    if args.subtests:
        plans.append(("subtests", None, args.subtests))
    print(f"{name} at {commit(root)}: {', '.join(label for label, _, _ in plans)}")
    variants = []
    for label, mutate, subtests in plans:
        with Changed(root, mutate, subtests):
            variants.append(run_variant(label, root, args, env))
    check_mutation(variants)
    for v in variants:
        if v.problems:
            print(f"\n{name} {v.label}: pytest and passcycle disagree")
            print("\n".join(v.problems[:SHOWN]))
            if len(v.problems) > SHOWN:
                print(f"  ... and {len(v.problems) - SHOWN} more")
    print()
    print(table(name, commit(root), variants))
    if any(v.problems for v in variants):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
