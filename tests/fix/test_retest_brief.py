"""A re-test decides from the brief kept beside the history (fix/brief.py) when nothing was
written to the history since, and opens the history when something was. Real CLI, real git
project, real SQLite and PostgreSQL; which modules a command imported is read from Python's
own `-X importtime` report (PYTHONPROFILEIMPORTTIME)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from gitkit import CALC_FILES as FILES
from gitkit import committed_project, edit

BRIEF = Path(".passcycle") / "retest-brief.json"
IMPORTS = {"PYTHONPROFILEIMPORTTIME": "1"}


@pytest.fixture
def project(calc_project: Path) -> Path:
    return calc_project


def opened_the_history(result) -> bool:
    """Whether the command imported the history's database layer."""
    return "| sqlalchemy" in result.stderr


def test_nothing_to_re_test_is_answered_without_the_history(project: Path, passcycle) -> None:
    assert json.loads((project / BRIEF).read_text())["base"]["id"] == 1
    quick = passcycle(project, "retest", "--json", expect=0, env=IMPORTS)
    assert not opened_the_history(quick)
    (project / BRIEF).unlink()
    slow = passcycle(project, "retest", "--json", expect=0, env=IMPORTS)
    assert opened_the_history(slow)
    assert quick.json() == slow.json()  # the same answer, the same run re-tested
    assert quick.json()["base"]["id"] == 1 and quick.json()["selection"]["tests"] == []
    assert (project / BRIEF).is_file()  # kept again by the re-test that opened the history


def test_a_selection_from_the_brief_runs_and_is_recorded(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")  # breaks test_sub
    dry = passcycle(project, "retest", "--dry-run", "--json", expect=0, env=IMPORTS)
    assert not opened_the_history(dry)
    selected = [t["nodeid"] for t in dry.json()["selection"]["tests"]]
    assert selected == ["tests/test_calc.py::test_sub"]

    data = passcycle(project, "retest", "--json", expect=1).json()
    assert data["run"]["kind"] == "retest" and data["run"]["parent_id"] == 1
    assert [(r["nodeid"], r["outcome"]) for r in data["results"]] == [
        ("tests/test_calc.py::test_sub", "failed")
    ]
    runs = project / ".passcycle" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["1", "2"]  # no pending folder left
    # kept again after run 2: a fix is re-tested from the brief, and recorded as run 3
    edit(project, "pkg/__init__.py", "return b - a", "return -(b - a)")
    fixed = passcycle(project, "retest", "--json", expect=0, env=IMPORTS)
    assert opened_the_history(fixed)  # to record the run, once its pytest had started
    again = fixed.json()
    assert again["run"]["id"] == 3 and again["run"]["parent_id"] == 1
    assert [(r["nodeid"], r["outcome"]) for r in again["results"]] == [
        ("tests/test_calc.py::test_sub", "passed")
    ]
    assert sorted(p.name for p in runs.iterdir()) == ["1", "2", "3"]


def test_a_history_written_since_is_read_again(project: Path, passcycle) -> None:
    # another program marks test_add failed in run 1: the brief no longer says the truth
    with sqlite3.connect(project / ".passcycle" / "history.db") as db:
        db.execute("UPDATE test_results SET outcome = 'failed' WHERE nodeid LIKE '%test_add'")
    db.close()
    result = passcycle(project, "retest", "--dry-run", "--json", expect=0, env=IMPORTS)
    assert opened_the_history(result)
    assert [t["nodeid"] for t in result.json()["selection"]["tests"]] == [
        "tests/test_calc.py::test_add"
    ]


def test_a_brief_that_cannot_be_read_is_left_aside(project: Path, passcycle) -> None:
    (project / BRIEF).write_text('{"version": 1, "base": ', encoding="utf-8")
    result = passcycle(project, "retest", expect=0)
    assert "nothing to re-test: no change since run 1" in result.stdout
    assert "Traceback" not in result.stderr
    # a brief is for its own history: another database has no run to re-test from
    other = passcycle(project, "retest", expect=2, env={"PASSCYCLE_DB": "sqlite:///other.db"})
    assert "no full run with a coverage map to re-test from" in other.stderr


def test_a_server_history_keeps_no_brief(tmp_path: Path, passcycle, pg_url: str) -> None:
    root = tmp_path / "project"
    committed_project(root, FILES)
    env = {"PASSCYCLE_DB": pg_url}
    passcycle(root, "test", expect=0, env=env)
    assert not (root / BRIEF).exists()
    result = passcycle(root, "retest", expect=0, env=env)
    assert "nothing to re-test: no change since run" in result.stdout


# Imported by pytest only when it collects this module: each import leaves a line.
OTHER = """\
    from pathlib import Path

    with open(Path(__file__).parent.parent / "counter", "a") as seen:
        seen.write("collected\\n")


    def test_other():
        assert True
"""


@pytest.mark.parametrize("workers", [None, "2"], ids=["one-process", "xdist"])
def test_the_selections_pytest_starts_first_and_collects_only_its_files(
    tmp_path: Path, passcycle, workers: str | None
) -> None:
    root = tmp_path / "project"
    files = {**FILES, "tests/test_other.py": OTHER}
    if workers:  # under pytest-xdist each worker collects on its own
        files["passcycle.toml"] += f'pytest_args = ["-p", "xdist.plugin", "-n", "{workers}"]\n'
    committed_project(root, files)
    passcycle(root, "test", expect=0)
    collected = (root / "counter").read_text().count("collected")
    edit(root, "pkg/__init__.py", "return a - b", "return b - a")  # breaks test_sub

    data = passcycle(root, "retest", "--json", expect=1).json()
    assert [(r["nodeid"], r["outcome"]) for r in data["results"]] == [
        ("tests/test_calc.py::test_sub", "failed")
    ]
    # started before the selection was known, pytest still never imported test_other.py
    assert (root / "counter").read_text().count("collected") == collected
    assert sorted(p.name for p in (root / ".passcycle" / "runs").iterdir()) == ["1", "2"]


def test_a_change_that_selects_nothing_stops_the_pytest_it_started(
    project: Path, passcycle
) -> None:
    import psutil

    # a function no test calls: pytest is started while the map is read, then stopped
    edit(
        project,
        "pkg/__init__.py",
        "return a - b\n",
        "return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
    )
    result = passcycle(project, "retest", expect=0)
    assert "nothing to re-test" in result.stdout
    assert sorted(p.name for p in (project / ".passcycle" / "runs").iterdir()) == ["1"]
    left = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        environ = proc.info["environ"] or {}
        if "PASSCYCLE_AWAIT" in environ and str(project) in environ["PASSCYCLE_AWAIT"]:
            left.append(proc.info["cmdline"])
    assert left == []


def test_the_last_full_run_is_found_after_many_re_tests(project: Path, passcycle) -> None:
    from passcycle.store import History

    # a day of `cycle --watch`: more re-tests since the full run than any window of runs
    with History.open(f"sqlite:///{project / '.passcycle' / 'history.db'}") as history:
        for _ in range(60):
            run = history.start_run("project", "retest", parent_id=1)
            history.finish_run(run.id, "passed", 0)
    data = passcycle(project, "retest", "--dry-run", "--json", expect=0).json()
    assert data["base"]["id"] == 1
