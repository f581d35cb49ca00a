"""Coverage that measured nothing says so: the tests import another copy of the package.

Real projects, the real CLI, real pytest (and pytest-xdist) subprocesses: the source tree
`src/calc` is measured while the tests import a second `calc` put first on sys.path by
their conftest, as an installed wheel or a vendored copy would be.
"""

from __future__ import annotations

import json
from pathlib import Path

from passcycle.errors import ExitCode

CALC = """\
def add(a, b):
    return a + b


def sub(a, b):
    return a - b
"""

# the user's own pytest settings: a coverage warning must never fail their suite
STRICT_PYTEST = """\
[tool.pytest.ini_options]
filterwarnings = ["error"]
"""

PLAN = """\
[project]
source = ["src/calc"]
tests = ["tests"]

[kpis]
coverage = ">= 80%"
"""

SHADOWED = {
    "pyproject.toml": STRICT_PYTEST,
    "passcycle.toml": PLAN,
    "src/calc/__init__.py": CALC,
    "vendor/calc/__init__.py": CALC,
    "tests/conftest.py": """\
        import sys
        from pathlib import Path

        # the tests' copy of calc comes first, as a wheel in site-packages would
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vendor"))
    """,
    "tests/test_calc.py": """\
        from calc import add, sub


        def test_add():
            assert add(1, 2) == 3


        def test_sub():
            assert sub(3, 2) == 1
    """,
}

# pytest-benchmark, when installed, warns under xdist, and the strict filter would fail on it
XDIST = ("-n", "2", "-p", "no:benchmark")

WARNED = 'coverage.py warned "No data was collected. (no-data-collected)"'
WHY = "the tests import calc from vendor/calc/__init__.py, not from src/calc"
FIX = "install the project editable (pip install -e .), or set [project] source to what"


def _flat(text: str) -> str:
    """The terminal wraps long lines; what the user reads is the words."""
    return " ".join(text.split())


def _coverage_issue(data: dict) -> dict:
    (issue,) = [i for i in data["issues"] if i["kind"] == "coverage_gap"]
    return issue


def _assert_says_measured_nothing(data: dict) -> None:
    assert data["counts"]["passed"] == 2 and data["coverage"]["total"] == 0.0
    for note in (data["note"], data["run"]["note"]):
        assert note.startswith(f"coverage measured nothing of src/calc: {WARNED}: {WHY}")
        assert FIX in note
    issue = _coverage_issue(data)
    assert issue["root_cause"] == f"{WARNED}: {WHY}"
    step = issue["suggestion"]["next_step"]
    assert step.startswith(FIX) and WHY in step
    assert "write tests" not in step
    # the tests passed: nothing of this is a failed run, only a gate that misses coverage
    assert data["run"]["status"] == "passed"
    assert data["gate"]["reasons"] == ["coverage misses its target >= 80%"]


def test_a_shadowed_package_says_coverage_measured_nothing_and_how_to_fix_it(
    make_project, passcycle
):
    root = make_project(SHADOWED)
    shown = passcycle(root, "run", expect=ExitCode.FAILED)
    words = _flat(shown.stdout)
    assert f"warning: coverage measured nothing of src/calc: {WARNED}: {WHY}" in words
    assert FIX in words
    assert "write tests" not in words
    assert "2 passed" in words  # filterwarnings = error did not turn the warning into errors

    data = passcycle(root, "run", "--json", expect=ExitCode.FAILED).json()
    _assert_says_measured_nothing(data)


def test_a_shadowed_package_under_xdist_is_said_once_from_the_workers(make_project, passcycle):
    root = make_project(SHADOWED)
    result = passcycle(root, "run", "--json", "--", *XDIST, expect=ExitCode.FAILED, autoload=True)
    data = result.json()
    _assert_says_measured_nothing(data)
    assert data["note"].count("no-data-collected") == 1
    # every process said it (the controller too), the note says it once
    reports = _warning_reports(root, data["run"]["id"])
    assert sorted(r["role"] for r in reports) == ["controller", "worker", "worker"]
    assert all(r["warnings"][0]["slug"] == "no-data-collected" for r in reports)


def _warning_reports(root: Path, run_id: int) -> list[dict]:
    folder = root / ".passcycle" / "runs" / str(run_id)
    files = sorted(folder.glob("coverage-warnings.*.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


NORMAL = {
    "pyproject.toml": STRICT_PYTEST + 'pythonpath = ["src"]\n',
    "passcycle.toml": PLAN,
    "src/calc/__init__.py": CALC,
    "tests/test_calc.py": """\
        def test_add():
            from calc import add

            assert add(1, 2) == 3
    """,
    # imports nothing of calc: under xdist its worker may measure nothing at all
    "tests/test_other.py": """\
        def test_other():
            assert sorted([2, 1]) == [1, 2]
    """,
}


def test_a_measured_project_has_no_such_note_and_gaps_still_ask_for_tests(make_project, passcycle):
    root = make_project(NORMAL)
    data = passcycle(root, "run", "--json", expect=ExitCode.FAILED).json()
    assert data["note"] is None and data["run"]["note"] is None
    assert 0 < data["coverage"]["total"] < 80
    issue = _coverage_issue(data)
    assert issue["root_cause"].startswith("src/calc/__init__.py")
    assert issue["suggestion"]["next_step"].startswith("write tests for the uncovered lines")
    (report,) = _warning_reports(root, data["run"]["id"])
    assert report == {"role": "single", "warnings": [], "imported": {}}


def test_a_worker_that_measured_nothing_is_not_the_runs_story(make_project, passcycle):
    root = make_project(NORMAL)
    args = ("run", "--json", "--", *XDIST, "--dist", "loadfile")
    data = passcycle(root, *args, expect=ExitCode.FAILED, autoload=True).json()
    assert data["note"] is None
    assert data["coverage"]["total"] > 0
    # one worker never imported calc (or ran no test) and said so; the run measured calc
    reports = [r for r in _warning_reports(root, data["run"]["id"]) if r["role"] == "worker"]
    said = [[w["slug"] for w in r["warnings"]] for r in reports]
    assert sorted(said) == [[], ["no-data-collected"]]
