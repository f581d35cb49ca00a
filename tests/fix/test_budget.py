"""`passcycle test --budget`: the riskiest tests that fit a time, as a partial run that says
what it left out and what such a subset caught over the history. Real CLI, real project."""

from __future__ import annotations

from pathlib import Path

import failkit
import pytest
from gitkit import committed_project

from passcycle.fix.budget import Budget, parse_budget

FILES = {
    **failkit.FILES,
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
    "pkg/__init__.py": "def one():\n    return 1\n",
    "tests/test_a.py": """\
        import time

        from fails import failing


        def test_slow():
            time.sleep(1.0)
            assert not failing("slow")


        def test_mid():
            time.sleep(0.3)
            assert not failing("mid")


        def test_fast():
            assert not failing("fast")


        def test_quick():
            assert not failing("quick")
    """,
}


@pytest.fixture
def project(tmp_path: Path, passcycle) -> Path:
    """Three full runs: all pass; test_slow fails; test_fast fails."""
    root = tmp_path / "project"
    committed_project(root, FILES)
    for fails, code in (("", 0), ("slow", 1), ("fast", 1)):
        failkit.fail_only(root, *fails.split())
        passcycle(root, "test", expect=code)
    failkit.fail_only(root)
    return root


def test_budget_runs_what_fits_as_a_partial_run(project: Path, passcycle) -> None:
    data = passcycle(project, "test", "--budget", "50%", "--json", expect=0).json()
    budget = data["budget"]
    assert data["run"]["partial"] and data["order"]["mode"] == "risk"
    # test_fast failed in run 3: first; test_slow (failing lately, 1 s) does not fit half
    # of the ~1.3 s recorded, so the faster ones take its place
    assert budget["ran_seconds"] <= budget["seconds"] < budget["recorded"]
    assert [t["nodeid"] for t in budget["left_out"]] == ["tests/test_a.py::test_slow"]
    assert budget["left_out_seconds"] >= 1.0
    assert data["total"] == budget["ran"] == 3
    # recall, by hand: before run 2 nothing had failed, the fastest three fit and test_slow
    # (its failure) was left out: 0%; before run 3 test_slow led the order but did not fit,
    # and test_fast, run 3's failure, did: 100%. The mean: 50%, 1 of 2 failing tests.
    assert budget["recall"] == {"runs": 2, "share": 0.5, "caught": 1, "failing": 2, "whole": 1}

    # never the baseline, a re-test's base, or the run `validate` judges as the suite
    baseline = passcycle(project, "baseline", "set", str(data["run"]["id"]), expect=2)
    assert "part of the suite" in baseline.stderr
    dry = passcycle(project, "retest", "--dry-run", "--json", expect=0).json()
    assert dry["base"]["id"] == 3
    judged = passcycle(project, "validate", "--json").json()
    assert judged["run"]["id"] == 3


def test_budget_in_the_terminal(project: Path, passcycle) -> None:
    text = " ".join(passcycle(project, "test", "--budget", "50%", expect=0).stdout.split())
    assert "note: budget 50%: 3 of 4 tests; 1 left out" in text
    assert "a partial run, never a baseline" in text
    assert "left out 1 tests (1." in text and "0 the change reaches, 1 failing lately" in text
    assert "recall over the history: 50% — of the failing tests of 2 past full runs" in text
    assert "would have run 1 of 2 (every one in 1)" in text


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("abc", "--budget: cannot read 'abc'"),
        ("20", "--budget: cannot read '20'"),
        ("0%", "--budget: '0%' is not a share from 0% to 100%"),
        ("120%", "--budget: '120%' is not a share from 0% to 100%"),
        ("0s", "--budget: '0s' leaves no time for any test"),
        ("-5s", "--budget: cannot read '-5s'"),
    ],
)
def test_a_bad_budget_is_one_line_and_exit_2(make_project, passcycle, given, said) -> None:
    root = make_project({"passcycle.toml": FILES["passcycle.toml"]})
    result = passcycle(root, "test", f"--budget={given}", expect=2)
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: {said}" and lines[1].startswith("Tip: give a share")
    assert result.stdout == "" and not (root / ".passcycle").exists()


def test_budget_without_history_or_room(make_project, passcycle, project: Path) -> None:
    root = make_project({**FILES, "passcycle.toml": FILES["passcycle.toml"]}, name="fresh")
    result = passcycle(root, "test", "--budget", "20%", expect=2)
    assert "--budget needs recorded durations: no full run yet" in result.stderr
    tight = passcycle(project, "test", "--budget", "0.00001s", expect=2)
    assert "fits no test" in tight.stderr
    # both times in a precision that tells them apart: it read "(0.00s) ... took 0.00s"
    assert "--budget 0.00001s (0.01ms) fits no test: the fastest took " in tight.stderr
    assert "0.00s" not in tight.stderr
    both = passcycle(project, "test", "--order", "default", "--budget", "20%", expect=2)
    assert "--budget picks tests by the risk order" in both.stderr


def test_parse_budget() -> None:
    assert parse_budget("20%") == Budget("20%", share=0.2)
    assert parse_budget(" 2min ") == Budget("2min", seconds=120.0)
    assert parse_budget("90s").limit(1000.0) == 90.0
    assert parse_budget("1.5h").seconds == 5400.0
    assert parse_budget("50%").limit(30.0) == 15.0
