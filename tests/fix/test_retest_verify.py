"""`passcycle retest --verify` runs the full suite afterwards and names any failure the
re-test left out; `--reruns N` re-runs the re-test's failures in isolation. Real CLI, real
git project."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from gitkit import CALC_FILES as FILES
from gitkit import edit, git


@pytest.fixture
def project(calc_project: Path) -> Path:
    return calc_project


def test_verify_names_the_failure_the_selection_left_out(project: Path, passcycle) -> None:
    (project / "settings.txt").write_text("slow\n")  # outside the source and tests
    edit(project, "pkg/__init__.py", "return a + b", "return b + a")  # harmless
    result = passcycle(project, "retest", "--verify", "--json", expect=1)
    data = result.json()
    assert [t["nodeid"] for t in data["selection"]["tests"]] == ["tests/test_calc.py::test_add"]
    assert data["selection"]["unaffected"] == ["settings.txt: outside the source and tests"]
    assert data["counts"]["passed"] == 1
    verify = data["verify"]
    assert verify["counts"]["failed"] == 1 and verify["counts"]["passed"] == 2
    assert verify["missed"] == ["tests/test_calc.py::test_mode"]
    assert verify["run"]["kind"] == "test" and not verify["run"]["partial"]

    # the full run is the next re-test's base: its failure is selected, nothing is missed
    (project / "settings.txt").write_text("fast\n")
    text = passcycle(project, "retest", "--verify", expect=0).stdout
    assert f"re-testing run {verify['run']['id']}" in text
    assert "verify: the full suite" in text and "the re-test missed no failure" in text


def test_verify_in_the_terminal(project: Path, passcycle) -> None:
    (project / "settings.txt").write_text("slow\n")
    text = passcycle(project, "retest", "--verify", expect=1).stdout
    assert "nothing to re-test" in text
    assert "verify: the full suite" in text
    assert "the re-test missed 1 failing tests:" in text
    assert "\n    tests/test_calc.py::test_mode\n" in text


def test_verify_after_a_selection_that_caught_everything(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")  # breaks test_sub
    data = passcycle(project, "retest", "--verify", "--json", expect=1).json()
    assert [r["nodeid"] for r in data["results"]] == ["tests/test_calc.py::test_sub"]
    assert data["verify"]["missed"] == [] and data["verify"]["counts"]["failed"] == 1
    text = passcycle(project, "retest", "--verify", expect=1).stdout
    assert "the re-test missed no failure" in text


def test_without_verify_there_is_no_full_run(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")
    data = passcycle(project, "retest", "--json", expect=1).json()
    assert data["verify"] is None
    runs = passcycle(project, "history", "--json", expect=0).json()["runs"]
    assert [r["kind"] for r in runs] == ["retest", "test"]


def test_reruns_only_when_asked(project: Path, passcycle) -> None:
    # fails on its first two runs (the base run and the re-test), passes after
    flaky = """
def test_flaky():
    counter = Path(__file__).parent.parent / "counter"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    assert count > 2
"""
    (project / "tests/test_calc.py").write_text(dedent(FILES["tests/test_calc.py"]) + flaky)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "flaky")
    passcycle(project, "test", expect=1)  # count 1
    data = passcycle(project, "retest", "--reruns", "2", "--json", expect=1).json()
    results = {r["nodeid"]: r for r in data["results"]}
    flaky_result = results["tests/test_calc.py::test_flaky"]
    assert flaky_result["outcome"] == "failed"  # count 2: the first outcome stays
    assert flaky_result["reruns"] == ["passed", "passed"]  # counts 3 and 4
    data = passcycle(project, "retest", "--json", expect=0).json()  # count 5, no re-runs
    assert data["results"][0]["reruns"] == []
    assert (project / "counter").read_text() == "5"


def test_reruns_out_of_range_is_a_usage_error(project: Path, passcycle) -> None:
    result = passcycle(project, "retest", "--reruns", "-1", expect=2)
    assert "--reruns" in result.stderr and "Traceback" not in result.stderr
