"""`passcycle test --order risk`: the tests a change reaches first, then those failing
lately, then the rest fastest first; still the whole suite. Real CLI, real git project."""

from __future__ import annotations

from pathlib import Path

import failkit
import pytest
from gitkit import committed_project, edit

FILES = {
    **failkit.FILES,
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
    "pkg/__init__.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/test_a.py": """\
        import time

        from fails import failing
        from pkg import add


        def test_slow():
            time.sleep(0.4)


        def test_mid():
            time.sleep(0.15)


        def test_flaky():
            assert not failing("flaky")


        def test_fast():
            assert add(1, 1) == 2
    """,
    # last in pytest's order: only the risk order runs it first
    "tests/test_z.py": """\
        from pkg import sub


        def test_sub():
            assert sub(3, 1) == 2
    """,
}


@pytest.fixture
def project(tmp_path: Path, passcycle) -> Path:
    """Run 1 saw test_flaky fail; run 2, the last full run, passed and keeps the map."""
    root = tmp_path / "project"
    committed_project(root, FILES)
    failkit.fail_only(root, "flaky")
    passcycle(root, "test", expect=1)
    failkit.fail_only(root)
    passcycle(root, "test", expect=0)
    return root


def _order(passcycle, root: Path, run_id: int) -> list[str]:
    """The run's results in the order they were recorded: the order they finished."""
    data = passcycle(root, "show", str(run_id), "--json", "--results", expect=0).json()
    return [r["nodeid"] for r in data["results"]]


def test_risk_order_runs_the_change_then_failures_then_fastest(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")  # breaks test_sub
    data = passcycle(project, "test", "--order", "risk", "--json", expect=1).json()
    run = data["run"]
    assert not run["partial"] and data["total"] == 5  # still the whole suite
    assert data["order"]["mode"] == "risk" and data["order"]["base_run"] == 2
    assert data["order"]["tiers"] == {"changed": 1, "failing": 1, "rest": 3}
    first = data["order"]["first"][0]
    assert first["nodeid"] == "tests/test_z.py::test_sub" and "(changed)" in first["reason"]
    ran = _order(passcycle, project, run["id"])
    assert ran[:2] == ["tests/test_z.py::test_sub", "tests/test_a.py::test_flaky"]
    # the rest, fastest first by run 2's durations
    assert ran[2:] == [
        "tests/test_a.py::test_fast",
        "tests/test_a.py::test_mid",
        "tests/test_a.py::test_slow",
    ]

    # pytest's own order, for comparison: the changed test comes last
    default = passcycle(project, "test", "--json", expect=1).json()
    assert default["order"] == {"mode": "default"}
    assert _order(passcycle, project, default["run"]["id"])[-1] == "tests/test_z.py::test_sub"


def test_risk_order_in_the_terminal_and_exitfirst(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")
    text = passcycle(project, "test", "--order", "risk", expect=1).stdout
    assert "order: risk — 1 the change reaches or that failed in run 2, 1 failing" in text
    assert "tests/test_z.py::test_sub — covers pkg/__init__.py:6 (changed)" in text

    # -x reaches pytest: it stops at the first failure, the first test; a run cut short is
    # part of the suite, never the next re-test's base
    data = passcycle(project, "test", "--order", "risk", "-x", "--json", expect=1).json()
    assert data["total"] == 1 and data["failures"][0]["nodeid"] == "tests/test_z.py::test_sub"
    assert data["run"]["partial"]
    dry = passcycle(project, "retest", "--dry-run", "--json", expect=0).json()
    assert dry["base"]["id"] == 3  # the full risk-ordered run above, not the -x one


def test_risk_order_holds_under_xdist(project: Path, passcycle) -> None:
    edit(project, "pkg/__init__.py", "return a - b", "return b - a")
    args = ["test", "--order", "risk", "--", "-p", "xdist.plugin", "-n", "2"]
    result = passcycle(project, *args, expect=1)
    assert "under pytest-xdist each worker takes the next tests of the order" in result.stderr
    run_id = int(result.stdout.split("run ", 1)[1].split()[0])
    ran = _order(passcycle, project, run_id)
    assert len(ran) == 5
    # each worker starts on the front of the order: the changed test is among the first two
    assert "tests/test_z.py::test_sub" in ran[:2]
    assert ran.index("tests/test_a.py::test_slow") >= 2


def test_an_unknown_order_is_one_line(make_project, passcycle) -> None:
    root = make_project({"passcycle.toml": FILES["passcycle.toml"]})
    result = passcycle(root, "test", "--order", "random", expect=2)
    assert "--order: no order 'random'" in result.stderr and "Traceback" not in result.stderr


def test_the_tests_that_ran_the_changed_line_come_before_those_that_ran_its_function(
    tmp_path: Path, passcycle
) -> None:
    root = tmp_path / "signs"
    committed_project(
        root,
        {
            "passcycle.toml": FILES["passcycle.toml"],
            ".gitignore": ".passcycle/\n",
            "pkg/__init__.py": "def sign(x):\n    if x < 0:\n        return -1\n    return 1\n",
            "tests/test_sign.py": """\
                import time

                from pkg import sign


                def test_negative():
                    time.sleep(0.2)  # the slower: fastest first alone would run it last
                    assert sign(-5) == -1


                def test_positive():
                    assert sign(5) == 1
            """,
        },
    )
    passcycle(root, "test", expect=0)
    edit(root, "pkg/__init__.py", "return -1", "return -2")
    data = passcycle(root, "test", "--order", "risk", "--json", expect=1).json()
    first = [(t["nodeid"], t["reason"]) for t in data["order"]["first"]]
    assert first == [
        ("tests/test_sign.py::test_negative", "covers pkg/__init__.py:3 (changed)"),
        ("tests/test_sign.py::test_positive", "runs sign() in pkg/__init__.py, changed at line 3"),
    ]
    assert _order(passcycle, root, data["run"]["id"])[0] == "tests/test_sign.py::test_negative"


def test_risk_order_with_no_run_recorded_says_pytest_orders_them(tmp_path: Path, passcycle):
    # nothing is known of any test: "0 fastest first" and "the history alone orders the
    # tests" told of an order that did not exist
    shown_root, json_root = tmp_path / "shown", tmp_path / "json"
    committed_project(shown_root, FILES)
    committed_project(json_root, FILES)
    shown = passcycle(shown_root, "test", "--order", "risk", expect=0).stdout
    assert "order: risk — no run recorded yet: the 5 tests run in pytest's order" in shown
    assert "fastest first" not in shown and "history alone" not in shown
    data = passcycle(json_root, "test", "--order", "risk", "--json", expect=0).json()
    assert data["order"]["note"] == "no run recorded yet: the tests run in pytest's order"
    assert data["order"]["tiers"] == {"changed": 0, "failing": 0, "rest": 0}
