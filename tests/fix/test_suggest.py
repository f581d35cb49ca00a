"""Suggestions per issue kind, from the results of real pytest runs and a real git history."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from gitkit import git

from passcycle.fix.suggest import HistoryInfo, suggest
from passcycle.records import FileCoverage, Issue, TestResult
from passcycle.suite.runner import SuiteSpec, run_suite
from passcycle.validate.triage import triage

QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

CALC_GOOD = """\
def add(a, b):
    return a + b + 1


def div(a, b):
    return a / (b or 1)
"""

TESTS = """\
import pytest
from pkg.calc import add, div


def test_add():
    assert add(2, 3) == 6


def test_div():
    assert div(1, 0) == 1


def test_fixture(dbb):
    pass


@pytest.fixture
def db():
    return 1


@pytest.fixture
def broken():
    raise RuntimeError("no database")


def test_broken(broken):
    pass
"""


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def run(root: Path, artifacts: Path, *args: str) -> list[TestResult]:
    spec = SuiteSpec(
        root=root, artifacts=artifacts, tests=["tests"], env=QUICK, pytest_args=list(args)
    )
    return run_suite(spec).results


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[TestResult]]:
    """Passing at the first commit; two commits later add() and div() are broken."""
    root = tmp_path_factory.mktemp("suggest") / "project"
    write(
        root,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": "",
            "src/pkg/calc.py": CALC_GOOD,
            "tests/test_a.py": TESTS.replace("(dbb)", "(db)"),
            "README.md": "calc\n",
        },
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "calc works")
    good = git(root, "rev-parse", "HEAD").strip()
    write(root, {"README.md": "calc, documented\n"})
    git(root, "commit", "-qam", "docs only")
    write(root, {"src/pkg/calc.py": "def add(a, b):\n    return float(a + b)\n\n\n"})
    (root / "src/pkg/calc.py").write_text(
        "def add(a, b):\n    return float(a + b)\n\n\ndef div(a, b):\n    return a / b\n"
    )
    git(root, "commit", "-qam", "simplify calc")
    write(root, {"tests/test_a.py": TESTS})  # uncommitted: the fixture name typo
    results = run(root, root.parent / "art")
    return root, good, results


def issue_for(results: list[TestResult], nodeid: str) -> tuple[Issue, list[TestResult]]:
    issues = triage(results, previous=None, run_id=2)
    issue = next(i for i in issues if nodeid in i.tests)
    return issue, [r for r in results if r.nodeid in issue.tests]


def test_assertion_failure_shows_expected_and_got(broken_project) -> None:
    root, good, results = broken_project
    issue, mine = issue_for(results, "tests/test_a.py::test_add")
    found = suggest(issue, mine, root=root, history_info=HistoryInfo(last_pass_commit=good))
    assert found.location == "tests/test_a.py:6"
    assert found.next_step.startswith("expected 6, got 5.0 — 5.0 came from add(2, 3)")
    # the test body names no other file: every commit since the pass is a suspect
    commits, dirty = found.changed_since_pass[:2], found.changed_since_pass[2:]
    assert [line.split(" ", 1)[1] for line in commits] == ["simplify calc", "docs only"]
    assert dirty == ["uncommitted: tests/test_a.py"]


def test_exception_points_at_the_deepest_project_frame(broken_project) -> None:
    root, good, results = broken_project
    issue, mine = issue_for(results, "tests/test_a.py::test_div")
    found = suggest(issue, mine, root=root, history_info=HistoryInfo(last_pass_commit=good))
    assert found.location == "src/pkg/calc.py:6"
    assert found.next_step == (
        "ZeroDivisionError raised at src/pkg/calc.py:6 in div(): division by zero; "
        "handle that case or fix the caller"
    )
    # only the commits that touched the failing code, not the docs
    assert [line.split(" ", 1)[1] for line in found.changed_since_pass] == ["simplify calc"]


def test_missing_fixture_names_it_and_a_close_match(broken_project) -> None:
    root, _, results = broken_project
    issue, mine = issue_for(results, "tests/test_a.py::test_fixture")
    assert issue.kind == "error"
    step = suggest(issue, mine, root=root).next_step
    assert step.startswith("fixture 'dbb' not found for tests/test_a.py::test_fixture")
    assert "conftest.py above tests" in step and "did you mean db?" in step


def test_fixture_setup_error_blames_the_fixture(broken_project) -> None:
    root, _, results = broken_project
    issue, mine = issue_for(results, "tests/test_a.py::test_broken")
    found = suggest(issue, mine, root=root)
    assert found.location == "tests/test_a.py:24"
    assert found.next_step == (
        "the test's setup failed at tests/test_a.py:24 in broken() "
        "(RuntimeError: no database): fix the fixture, not the test"
    )


def test_missing_module_says_install_or_fix_the_import(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tests/test_b.py": "import os\nimport nosuchmod.sub\n\n\ndef test_x():\n    pass\n",
            "tests/test_c.py": "from json import nosuchname\n\n\ndef test_y():\n    pass\n",
        },
    )
    results = run(tmp_path, tmp_path / "art", "--continue-on-collection-errors")
    issue, mine = issue_for(results, "tests/test_b.py")
    assert suggest(issue, mine, root=tmp_path).next_step == (
        "ModuleNotFoundError: no module named 'nosuchmod': install nosuchmod "
        "(pip install nosuchmod) or fix the import in tests/test_b.py:2"
    )
    issue, mine = issue_for(results, "tests/test_c.py")
    step = suggest(issue, mine, root=tmp_path).next_step
    assert step.startswith("'json' has no 'nosuchname' (renamed or removed?)")
    assert "tests/test_c.py:1" in step


def test_flaky_shows_reruns_and_flip_rate(tmp_path: Path) -> None:
    result = TestResult(
        "tests/test_net.py::test_fetch",
        "failed",
        1.25,
        exc_type="TimeoutError",
        message="timed out after 1s",
        reruns=("passed", "passed", "failed"),
    )
    issue = Issue("fp", "TimeoutError in test_fetch", "flaky", "low", tests=(result.nodeid,))
    info = HistoryInfo(flip_rate=0.3, recent_outcomes=("passed", "failed") * 5)
    step = suggest(issue, [result], root=tmp_path, history_info=info).next_step
    assert step == (
        "tests/test_net.py::test_fetch: failed in the run, passed 2 of 3 isolated re-runs "
        "(failed -> passed -> passed -> failed), took 1.25s; flip rate 30% over 10 runs; "
        "timing-dependent: wait on a condition instead of a fixed delay"
    )


def test_slow_names_the_slowest_phase(tmp_path: Path) -> None:
    fast = TestResult("tests/test_a.py::test_fast", "passed", 0.2)
    slow = TestResult("tests/test_a.py::test_slow", "passed", 3.0)
    issue = Issue("fp", "slow tests", "slow", "medium", tests=(fast.nodeid, slow.nodeid))
    info = HistoryInfo(
        slow_threshold=1.0,
        phases={slow.nodeid: {"setup": 2.6, "call": 0.3, "teardown": 0.1}},
    )
    step = suggest(issue, [fast, slow], root=tmp_path, history_info=info).next_step
    assert step.startswith(
        "tests/test_a.py::test_slow spends 2.6s of 3s in setup (a fixture); "
        "tests/test_a.py::test_fast took 0.2s (threshold 1s)"
    )


def test_coverage_gap_lists_the_worst_files(tmp_path: Path) -> None:
    files = (
        FileCoverage("src/pkg/ok.py", 10, 0, percent=100.0),
        FileCoverage("src/pkg/calc.py", 20, 8, percent=60.0, missing_lines="12-15, 30-33"),
        FileCoverage("src/pkg/io.py", 10, 2, percent=80.0, missing_lines="7, 9"),
    )
    issue = Issue("fp", "coverage 72% misses target >= 90%", "coverage_gap", "high")
    found = suggest(issue, [], root=tmp_path, history_info=HistoryInfo(coverage=files))
    assert found.location == "src/pkg/calc.py:12"
    assert found.next_step == (
        "write tests for the uncovered lines: src/pkg/calc.py 60% (missing 12-15, 30-33); "
        "src/pkg/io.py 80% (missing 7, 9)"
    )
    assert found.changed_since_pass == []


def test_a_wrong_value_quotes_pytests_comparison_and_points_at_the_suspect(
    tmp_path: Path,
) -> None:
    from passcycle.validate.localize import Suspect

    long = "x" * 200
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": "",
            "src/pkg/html.py": "def escape(s):\n    return s.replace(\"'\", '&#39;')\n",
            "tests/test_html.py": (
                "from pkg.html import escape\n\n\n"
                "def test_quote():\n    assert escape(\"'\") == '&#x27;'\n\n\n"
                f"def test_long():\n    assert escape(\"{long}'\") == '{long}&#x27;'\n"
            ),
        },
    )
    results = run(tmp_path, tmp_path / "art")
    suspect = Suspect("src/pkg/html.py", 2, "escape", 1.0, 2, 0, True)
    issue, mine = issue_for(results, "tests/test_html.py::test_quote")
    tip = suggest(issue, mine, root=tmp_path, suspects=[suspect], tests=["tests"])
    assert tip.location == "src/pkg/html.py:2"
    # pytest's diff of the two strings, and the suspect, not the test, as where to look
    assert tip.next_step == (
        "expected '&#x27;', got '&#39;'; pytest: - &#x27; / + &#39;; check the code under "
        "test at src/pkg/html.py:2 in escape (changed since it passed), the top suspect"
    )
    issue, mine = issue_for(results, "tests/test_html.py::test_long")
    step = suggest(issue, mine, root=tmp_path, suspects=[suspect], tests=["tests"]).next_step
    # reprs too long to quote whole: pytest's account of the difference instead
    assert step.startswith("wrong value; pytest: ") and "..." not in step
    assert "- xxxxxxxx&#x27; / + xxxxxxxx&#39;" in step
    assert step.endswith(
        "check the code under test at src/pkg/html.py:2 in escape (changed since it passed), "
        "the top suspect"
    )
