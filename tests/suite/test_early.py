"""pytest started ahead of its run (suite/early.py): it runs while passcycle records the run,
its outcome is whole once followed, and it never outlives a run that did not come."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from passcycle.suite.early import PENDING, plan_spec, start_suite
from passcycle.suite.runner import SuiteSpec, run_suite

CONFTEST = """\
import os
from pathlib import Path

Path(os.environ["CONFTEST_MARK"]).write_text(str(os.getpid()))
"""

# collected, this module is an error: a run given only test_b.py never sees it
BROKEN = "raise RuntimeError('test_a.py was collected')\n"

TESTS_B = """\
def test_one():
    assert 1

def test_two():
    assert 2

def test_three():
    assert 3
"""


def _pytests_in(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        try:
            ours = proc.info["cwd"] == str(root) and "pytest" in " ".join(proc.info["cmdline"])
            if ours and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _spec(root: Path, mark: Path) -> SuiteSpec:
    return SuiteSpec(
        root=root,
        artifacts=root / ".passcycle" / "runs" / f"{PENDING}test",
        tests=["tests"],
        env={"CONFTEST_MARK": str(mark)},
    )


def test_a_started_pytest_runs_its_suite_before_it_is_followed(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(
        {
            "tests/conftest.py": CONFTEST,
            "tests/test_a.py": BROKEN,
            "tests/test_b.py": TESTS_B,
        }
    )
    mark = tmp_path / "conftest-imported"
    spec = replace(_spec(root, mark), tests=["tests/test_b.py"])
    started = start_suite(spec)
    try:
        deadline = time.monotonic() + 30
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # nothing follows it yet: pytest goes on by itself
        assert mark.exists()
        outcome = run_suite(started.check(["tests/test_b.py"], None), started=started)
    finally:
        started.discard()
    # everything it did before it was followed is in the outcome, and nothing else
    assert [r.nodeid.rsplit("::", 1)[1] for r in outcome.results] == [
        "test_one",
        "test_two",
        "test_three",
    ]
    assert outcome.exit_status == 0 and outcome.note is None
    assert outcome.duration > 0


def test_a_discarded_pytest_is_killed_and_its_folder_removed(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project({"tests/conftest.py": CONFTEST, "tests/test_b.py": TESTS_B})
    started = start_suite(_spec(root, tmp_path / "mark"))
    assert started.proc is not None
    pid = started.proc.pid
    assert psutil.pid_exists(pid)
    started.discard()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not started.spec.artifacts.exists()
    started.discard()  # twice is harmless


def test_passcycle_test_moves_the_started_run_into_its_own_folder(
    make_project: Callable[..., Path], passcycle: Callable[..., Any]
) -> None:
    root = make_project(
        {
            "src/pkg/__init__.py": "def add(a, b):\n    return a + b\n",
            "tests/test_add.py": (
                "from pkg import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
            ),
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
        }
    )
    passcycle(root, "init", expect=0)
    run = passcycle(root, "test", "--json", expect=0).json()
    folder = root / ".passcycle" / "runs" / str(run["run"]["id"])
    assert (folder / "coverage.db").is_file() and (folder / "pytest.log").is_file()
    assert run["coverage"]["total"] == 100.0
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(PENDING)]
    # the map moved with it: a change re-tests the test that ran it
    (root / "src/pkg/__init__.py").write_text("def add(a, b):\n    return b + a\n")
    again = passcycle(root, "retest", "--json", expect=0).json()
    assert [r["nodeid"] for r in again["results"]] == ["tests/test_add.py::test_add"]
    # `run` starts its Test phase ahead too
    passcycle(root, "run", expect=None)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1", "2", "3"]
    assert (folder.parent / "3" / "coverage.db").is_file()


def test_no_pytest_outlives_a_run_that_never_came(
    make_project: Callable[..., Path], passcycle: Callable[..., Any]
) -> None:
    root = make_project(
        {
            "tests/conftest.py": CONFTEST,
            "tests/test_b.py": "import time\n\ndef test_slow():\n    time.sleep(30)\n",
        }
    )
    passcycle(root, "init", expect=0)
    env = {"CONFTEST_MARK": str(root / "mark")}
    # the history cannot be opened: pytest had started, and must be gone with its folder
    bad = passcycle(
        root, "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x", "test", expect=3, env=env
    )
    assert "cannot connect to the history" in bad.stderr
    assert _pytests_in(root) == []
    runs = root / ".passcycle" / "runs"
    assert not runs.exists() or os.listdir(runs) == []  # no pending folder, no run


def test_plan_spec_is_what_the_test_phase_runs(make_project: Callable[..., Path]) -> None:
    from passcycle.plan import load_plan

    root = make_project(
        {
            "passcycle.toml": (
                '[project]\nname = "p"\nsource = ["src/p"]\ntests = ["tests"]\n'
                'pytest_args = ["-q"]\ntimeout = 7\n'
            ),
            "src/p/__init__.py": "",
            "tests/test_x.py": "def test_x():\n    pass\n",
        }
    )
    plan = load_plan(root)
    spec = plan_spec(plan, root / "out", ["tests"], ["-x"], coverage=False)
    assert spec.pytest_args == ["-q", "-x"] and spec.timeout == 7.0 and spec.source == []
    assert plan_spec(plan, root / "out", [], []).source == ["src/p"]
