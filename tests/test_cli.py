"""`passcycle test`, `history`, `show`, `baseline`, `import junit` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

KNOWN = {
    "src/calc/__init__.py": """
        def add(a, b):
            return a + b

        def div(a, b):
            if b == 0:
                raise ZeroDivisionError("no")
            return a / b

        def unused(x):
            if x:
                return 1
            return 2
        """,
    "tests/test_calc.py": """
        import pytest
        from calc import add, div

        def test_add():
            assert add(1, 2) == 3

        def test_div():
            assert div(4, 2) == 2

        def test_wrong():
            assert add(2, 2) == 5

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")

        def test_setup_error(broken):
            pass

        @pytest.mark.skip(reason="later")
        def test_skipped():
            pass

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert div(1, 0)

        @pytest.mark.xfail(reason="fixed already")
        def test_xpass():
            assert add(0, 0) == 0
        """,
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        """,
}
KNOWN_COUNTS = {"passed": 2, "failed": 1, "error": 1, "skipped": 1, "xfailed": 1, "xpassed": 1}

PASSING = {
    "src/calc/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_ok.py": "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
}


def _coverage_report_total(root) -> str:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--branch",
            "--source=src/calc",
            "-m",
            "pytest",
            "-q",
            "tests",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
    )
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "report"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return report.strip().splitlines()[-1].split()[-1]


def test_counts_and_coverage_equal_pytest_and_coverage_report(make_project, passcycle):
    root = make_project(KNOWN)
    result = passcycle(root, "test", "--json", expect=1)
    data = result.json()
    assert data["counts"] == KNOWN_COUNTS
    assert data["run"]["status"] == "failed"
    assert set(data["coverage"]) >= {"line", "branch", "total"}
    assert f"{data['coverage']['total']:.0f}%" == _coverage_report_total(root)
    assert data["detected"] == {"tests": "tests", "source": "src/calc"}
    failures = {f["nodeid"]: f for f in data["failures"]}
    assert failures["tests/test_calc.py::test_wrong"]["exc_type"] == "AssertionError"
    assert failures["tests/test_calc.py::test_setup_error"]["outcome"] == "error"

    plain = (
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=root,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            check=False,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    for outcome, number in KNOWN_COUNTS.items():
        word = "errors" if outcome == "error" and number > 1 else outcome
        assert f"{number} {word}" in plain, plain


def test_summary_reads_well_and_history_lists_the_run(make_project, passcycle):
    root = make_project(KNOWN)
    shown = passcycle(root, "test", expect=1)
    out = shown.stdout
    assert "2 passed, 1 failed, 1 error, 1 skipped, 1 xfailed, 1 xpassed" in out
    assert "pass rate 50.0%" in out
    assert re.search(r"coverage \d+% \(line [\d.]+%, branch [\d.]+%\)", out)
    assert "slowest tests" in out
    assert "tests/test_calc.py::test_wrong" in out and "AssertionError" in out
    assert "detected" in shown.stderr and "src/calc" in shown.stderr
    assert max(len(line) for line in out.splitlines()) <= 100

    history = passcycle(root, "history", "--json", expect=0).json()
    assert [r["status"] for r in history["runs"]] == ["failed"]
    run_id = history["runs"][0]["id"]
    show = passcycle(root, "show", str(run_id), "--json", "--results", expect=0).json()
    assert show["counts"] == KNOWN_COUNTS
    assert len(show["results"]) == sum(KNOWN_COUNTS.values())


def test_exit_codes(make_project, passcycle):
    ok = make_project(PASSING, name="ok")
    assert passcycle(ok, "test", expect=0)
    empty = make_project({"tests/test_nothing.py": "x = 1\n"}, name="empty")
    none = passcycle(empty, "test", "--json", expect=3)
    assert none.json()["note"] == "no tests collected"
    bad_plan = make_project(
        {**PASSING, "passcycle.toml": "[kpis]\ncoverage = '>= lots'\n"}, name="bad"
    )
    error = passcycle(bad_plan, "test", expect=2)
    lines = error.stderr.strip().splitlines()
    assert lines[0].startswith("error: passcycle.toml: kpis.coverage.target: cannot read")
    assert len(lines) == 2 and lines[1].startswith("Tip:")
    runs = len(passcycle(ok, "history", "--json").json()["runs"])
    missing = passcycle(ok, "test", "--", "tests/nope.py", expect=2)
    lines = [line for line in missing.stderr.splitlines() if not line.startswith("no plan keys")]
    assert lines[0] == "error: pytest usage error: file or directory not found: tests/nope.py"
    assert len(lines) == 2 and lines[1].startswith("Tip:")
    typo = passcycle(ok, "run", "--", "--no-such-flag", expect=2)
    assert "error: pytest usage error: unrecognized arguments: --no-such-flag\n" in typo.stderr
    # a typo is not history: neither command left a run behind
    assert len(passcycle(ok, "history", "--json").json()["runs"]) == runs


def test_paths_after_the_dashes_replace_the_plans_tests(make_project, passcycle):
    root = make_project(KNOWN)
    data = passcycle(root, "test", "--json", "--", "tests/test_calc.py::test_add", expect=0)
    assert sum(data.json()["counts"].values()) == 1  # only what pytest would run
    assert data.json()["run"]["partial"] is True
    # `-k` runs part of the suite too; neither is what validate, report or baseline judge
    passcycle(root, "test", "--", "-k", "add", expect=0)
    assert passcycle(root, "validate", "--json", expect=2).stderr.startswith(
        "error: no full run in the history"
    )


def test_pytest_arguments_pass_through(make_project, passcycle):
    root = make_project(KNOWN)
    data = passcycle(root, "test", "--json", "--", "-k", "add", expect=0).json()
    assert data["counts"]["passed"] == 1 and sum(data["counts"].values()) == 1
    data = passcycle(root, "test", "--json", "--", "--maxfail=1", "-p", "no:randomly", expect=1)
    assert data.json()["counts"]["failed"] + data.json()["counts"]["error"] == 1


def test_xdist_gives_the_same_counts(make_project, passcycle):
    root = make_project(KNOWN)
    data = passcycle(root, "test", "--json", "--", "-n", "2", expect=1, autoload=True).json()
    assert data["counts"] == KNOWN_COUNTS
    assert data["coverage"]["total"] > 0


def test_baseline_set_refuses_what_later_runs_must_not_match(make_project, passcycle):
    root = make_project(KNOWN)
    failed = passcycle(root, "run", "--json", expect=1).json()["run"]
    refused = passcycle(root, "baseline", "set", expect=2)
    assert refused.stderr.startswith(
        f"error: run {failed['id']} failed its gate (status failed): a baseline is"
    )
    assert "--force" in refused.stderr
    assert passcycle(root, "baseline", "show", "--json").json() == {"baseline": None}
    forced = passcycle(root, "baseline", "set", "--force", "--json", expect=0).json()
    assert forced["baseline"]["id"] == failed["id"]
    part = passcycle(root, "test", "--json", "--", "-k", "add", expect=0).json()["run"]
    refused = passcycle(root, "baseline", "set", str(part["id"]), expect=2)
    assert f"run {part['id']} is a test of part of the suite" in refused.stderr
    # validate and report judge the newest full run, not the slice that came after it
    judged = passcycle(root, "validate", "--json", expect=1).json()
    assert judged["run"]["id"] == failed["id"]


def test_baseline_set_and_show(make_project, passcycle):
    root = make_project(PASSING)
    assert passcycle(root, "baseline", "show", "--json", expect=0).json() == {"baseline": None}
    passcycle(root, "test", expect=0)
    chosen = passcycle(root, "baseline", "set", "--json", expect=0).json()["baseline"]
    assert passcycle(root, "baseline", "show", "--json").json()["baseline"]["id"] == chosen["id"]
    assert passcycle(root, "history", "--json").json()["baseline"] == chosen["id"]
    missing = passcycle(root, "baseline", "set", "99", expect=2)
    assert "no run 99" in missing.stderr


def test_import_junit(make_project, passcycle, tmp_path):
    root = make_project(PASSING)
    xml = tmp_path / "go.xml"
    xml.write_text(
        '<testsuites><testsuite name="pkg">'
        '<testcase classname="pkg" name="TestA" time="0.5"/>'
        '<testcase classname="pkg" name="TestB" time="0.1"><failure message="boom" type="E">'
        "trace</failure></testcase>"
        '<testcase classname="pkg" name="TestC"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    data = passcycle(root, "import", "junit", str(xml), "--json", expect=1).json()
    assert data["counts"] == {
        "passed": 1,
        "failed": 1,
        "error": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
    }
    assert data["run"]["kind"] == "import"
    not_xml = tmp_path / "notes.txt"
    not_xml.write_text("hello")
    assert "notes.txt" in passcycle(root, "import", "junit", str(not_xml), expect=2).stderr


def test_hostile_names_do_not_reach_the_terminal_raw(make_project, passcycle):
    root = make_project(
        {
            "tests/test_evil.py": """
            import pytest

            @pytest.mark.parametrize("x", ["\\x1b[31mred\\x1b[0m", "[bold]markup[/bold]"])
            def test_evil(x):
                raise AssertionError("\\x1b]0;pwned\\x07 " + x)
            """,
        }
    )
    shown = passcycle(root, "test", expect=1)
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "[bold]markup[/bold]" in shown.stdout  # shown as written, not as markup


def _wait_for_results(db, at_least, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    (n,) = conn.execute("select count(*) from test_results").fetchone()
                if n >= at_least:
                    return n
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    raise AssertionError("the run wrote no results in time")


def test_sigkill_mid_suite_leaves_an_interrupted_run_and_the_next_run_works(
    make_project, passcycle
):
    slow = "import time\n" + "".join(f"def test_{i}():\n    time.sleep(0.1)\n" for i in range(100))
    root = make_project({"tests/test_slow.py": slow, **PASSING})
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "passcycle", "-C", str(root), "test"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _wait_for_results(root / ".passcycle" / "history.db", at_least=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    runs = passcycle(root, "history", "--json", expect=0).json()["runs"]
    assert runs[0]["status"] == "interrupted"
    kept = passcycle(root, "show", str(runs[0]["id"]), "--json", expect=0).json()
    assert sum(kept["counts"].values()) >= 5  # what finished before the kill is kept
    again = passcycle(root, "test", "--json", "--", "tests/test_ok.py", expect=0).json()
    assert again["run"]["id"] == runs[0]["id"] + 1
    # the killed run's pytest died with it: nothing is still writing its events
    time.sleep(0.5)
    assert passcycle(root, "history", "--json").json()["runs"][1]["status"] == "interrupted"


def test_two_runs_at_once_both_land(make_project, passcycle):
    root = make_project(PASSING)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "passcycle", "-C", str(root), "test"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    runs = passcycle(root, "history", "--json").json()["runs"]
    assert sorted(r["status"] for r in runs) == ["passed", "passed"]
    assert all(r["counts"]["passed"] == 1 for r in runs)


def test_two_histories_on_one_project_keep_their_runs_files_apart(
    make_project, passcycle, tmp_path
):
    # run ids restart in each history: run 1 of the second must not reuse run 1's folder
    root = make_project(PASSING)
    first = passcycle(root, "--db", f"sqlite:///{tmp_path / 'a.db'}", "test", "--json", expect=0)
    second = passcycle(root, "--db", f"sqlite:///{tmp_path / 'b.db'}", "test", "--json", expect=0)
    a, b = first.json()["run"], second.json()["run"]
    assert a["id"] == b["id"] == 1
    assert a["artifacts"] == ".passcycle/runs/1" and b["artifacts"] == ".passcycle/runs/1.2"
    assert first.json()["coverage"] == second.json()["coverage"]
    assert (root / a["artifacts"] / "coverage.db").is_file()
    assert (root / b["artifacts"] / "coverage.db").is_file()


@pytest.mark.postgres
def test_history_on_postgresql(make_project, passcycle, pg_url):
    root = make_project(KNOWN)
    data = passcycle(root, "--db", pg_url, "test", "--json", expect=1).json()
    assert data["counts"] == KNOWN_COUNTS
    env = {"PASSCYCLE_DB": pg_url}
    runs = passcycle(root, "history", "--json", env=env, expect=0).json()["runs"]
    assert [r["id"] for r in runs] == [data["run"]["id"]]
    assert not (root / ".passcycle" / "history.db").exists()
