"""The suite runner on real pytest subprocesses: counts, coverage, crashes, hangs, xdist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from passcycle.errors import ExitCode, PytestUsageError, RunError
from passcycle.suite.covmap import tests_by_file
from passcycle.suite.runner import Progress, SuiteSpec, run_suite

PYPROJECT = """\
[tool.pytest.ini_options]
pythonpath = ["src"]
"""

PACKAGE = """\
def add(a, b):
    if a > 100:
        return 0
    return a + b


def div(a, b):
    return a / b


def unused(x):
    if x:
        return 1
    return 2
"""

OUTCOMES_TESTS = """\
import pytest
from pkg import add, div


@pytest.fixture
def broken():
    raise RuntimeError("setup broke")


def test_pass():
    assert add(1, 2) == 3


def test_pass_too():
    assert div(4, 2) == 2


def test_fail():
    assert div(4, 2) == 3


def test_error(broken):
    pass


def test_skip():
    pytest.skip("not today")


@pytest.mark.skip(reason="marked")
def test_skip_mark():
    pass


@pytest.mark.xfail(reason="known")
def test_xfail():
    div(1, 0)


@pytest.mark.xfail(reason="fixed?")
def test_xpass():
    assert add(1, 1) == 2


@pytest.mark.xfail(reason="strict", strict=True)
def test_xpass_strict():
    assert add(2, 2) == 4
"""

_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


# pytest starts in 0.3 s instead of 2 s without the many plugins installed here; the first
# test keeps them all, to show that the plugin lives beside them.
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # An outer pytest-xdist run must not leak its worker identity into the projects' pytest.
    return {k: v for k, v in os.environ.items() if k not in _OUTER} | (extra or {})


def plain_counts(root: Path, *args: str, coverage: bool = False, quick: bool = True) -> Counter:
    """What plain pytest -q says about the project: outcome -> number."""
    prefix = ["-m", "coverage", "run", "--branch", "--source=src"] if coverage else []
    proc = subprocess.run(
        [sys.executable, *prefix, "-m", "pytest", "-q", *args],
        cwd=root,
        env=_env(QUICK if quick else None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = proc.stdout.strip().splitlines()[-1]
    counts: Counter = Counter()
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)", last):
        counts["error" if word.startswith("error") else word] += int(number)
    return counts


def outcome_counts(results) -> Counter:
    return Counter(r.outcome for r in results)


def spec(root: Path, quick: bool = True, **kw) -> SuiteSpec:
    return SuiteSpec(root=root, artifacts=root / ".art", env=QUICK if quick else {}, **kw)


@pytest.fixture
def outcomes_project(make_project):
    return make_project(
        files={
            "pyproject.toml": PYPROJECT,
            "src/pkg/__init__.py": PACKAGE,
            "tests/test_outcomes.py": OUTCOMES_TESTS,
        }
    )


def test_counts_and_coverage_equal_plain_pytest_and_coverage_report(outcomes_project):
    seen: list[Progress] = []
    streamed = []
    outcome = run_suite(
        spec(outcomes_project, quick=False, tests=["tests"], source=["src"]),
        on_progress=seen.append,
        on_result=streamed.append,
    )

    reference = plain_counts(outcomes_project, "tests", coverage=True, quick=False)
    assert reference == Counter(passed=2, failed=2, error=1, skipped=2, xfailed=1, xpassed=1), (
        reference
    )
    assert outcome_counts(outcome.results) == reference
    assert outcome.collected == 9 and outcome.exit_status == 1 and outcome.note is None
    assert streamed == outcome.results
    assert seen[-1].done == 9 and seen[-1].total == 9 and seen[-1].failures == 3

    by_id = {r.nodeid.split("::")[1]: r for r in outcome.results}
    fail = by_id["test_fail"]
    assert (fail.exc_type, fail.when, fail.file) == (
        "AssertionError",
        "call",
        "tests/test_outcomes.py",
    )
    assert fail.message.startswith("assert 2.0 == 3")
    assert [(f.path, f.line, f.function) for f in fail.frames] == [
        ("tests/test_outcomes.py", 19, "test_fail")
    ]
    error = by_id["test_error"]
    assert (error.exc_type, error.message, error.when) == ("RuntimeError", "setup broke", "setup")
    assert error.frames[-1].function == "broken" and error.frames[-1].in_project
    assert by_id["test_xpass_strict"].message == "[XPASS(strict)] strict"
    assert by_id["test_skip"].message == "not today"
    assert "RuntimeError: setup broke" in error.traceback

    subprocess.run(
        [sys.executable, "-m", "coverage", "json", "-o", "ref.json"],
        cwd=outcomes_project,
        env=_env(),
        check=True,
        capture_output=True,
    )
    ref = json.loads((outcomes_project / "ref.json").read_text())
    assert outcome.coverage_file == outcomes_project / ".art" / "coverage.db"
    assert outcome.coverage.percent == float(ref["totals"]["percent_covered_display"])
    assert outcome.coverage.statements == ref["totals"]["num_statements"]
    assert outcome.coverage.covered_branches == ref["totals"]["covered_branches"]
    assert {f.path: f.percent for f in outcome.files} == {
        name: float(entry["summary"]["percent_covered_display"])
        for name, entry in ref["files"].items()
    }
    assert not list((outcomes_project / ".art").glob("coverage.db.*"))


def test_teardown_error_after_a_pass_is_one_error_result(make_project):
    # pytest counts such a test twice (1 passed, 1 error); we keep one result per test.
    root = make_project(
        files={
            "tests/test_teardown.py": """\
                import pytest

                @pytest.fixture
                def bad_teardown():
                    yield
                    raise OSError("teardown broke")

                def test_it(bad_teardown):
                    pass
            """
        }
    )
    outcome = run_suite(spec(root, tests=["tests"]))
    [result] = outcome.results
    assert (result.outcome, result.when, result.exc_type) == ("error", "teardown", "OSError")


def test_pytest_args_pass_through(make_project):
    root = make_project(
        files={
            "tests/test_args.py": """\
                def test_a_fails():
                    assert 0

                def test_b_fails():
                    assert 0

                def test_c_slow():
                    pass
            """
        }
    )
    outcome = run_suite(spec(root, tests=["tests"], pytest_args=["-k", "not slow", "--maxfail=1"]))
    assert outcome.collected == 2  # -k deselected one
    assert [r.nodeid for r in outcome.results] == ["tests/test_args.py::test_a_fails"]
    assert outcome.exit_status == 1 and outcome.note is None


def test_select_runs_only_the_named_tests(make_project):
    root = make_project(files={"tests/test_sel.py": "def test_one(): pass\ndef test_two(): pass\n"})
    outcome = run_suite(spec(root, tests=["tests"], select=["tests/test_sel.py::test_two"]))
    assert [r.nodeid for r in outcome.results] == ["tests/test_sel.py::test_two"]
    assert outcome.collected == 1


def test_a_long_test_is_probed_at_both_ends(make_project):
    # The probe is what equal machine speed divides by; here it reads 10 us, then 30 us
    # (a machine that slowed down), then 10 us again, and so on.
    conftest = """
import itertools
from passcycle_pytest_plugin import timing

readings = itertools.cycle([1e-5, 3e-5])
timing.Clock.probe = staticmethod(lambda: next(readings))
"""
    tests = "import time\n\ndef test_short(): pass\n\ndef test_long():\n    time.sleep(0.2)\n"
    root = make_project(files={"tests/conftest.py": conftest, "tests/test_p.py": tests})
    outcome = run_suite(spec(root, tests=["tests"]))
    probes = {r.nodeid.split("::")[1]: r.probe for r in outcome.results}
    assert probes == {"test_short": 1e-5, "test_long": 2e-5}  # its start only; both ends


def test_select_takes_node_ids_and_paths_and_runs_them_in_its_order(make_project):
    root = make_project(
        files={
            "tests/test_a.py": "def test_1(): pass\ndef test_2(): pass\ndef test_3(): pass\n",
            "tests/sub/test_b.py": "def test_4(): pass\ndef test_5(): pass\n",
        }
    )
    select = ["tests/test_a.py::test_3", "tests/sub", "tests/test_a.py::test_1"]
    outcome = run_suite(spec(root, tests=["tests/test_a.py", "tests/sub"], select=select))
    assert [r.nodeid for r in outcome.results] == [
        "tests/test_a.py::test_3",
        "tests/sub/test_b.py::test_4",
        "tests/sub/test_b.py::test_5",
        "tests/test_a.py::test_1",
    ]


def test_selected_tests_of_modules_that_fail_to_import_are_each_an_error(make_project):
    # given as node ids, pytest would stop at "found no collectors" and report only some
    # of the broken modules; given their files and a selection, it reports every one
    root = make_project(
        files={
            "tests/test_ok.py": "def test_ok(): pass\n",
            "tests/test_b1.py": "raise TypeError('one')\n\ndef test_x(): pass\n",
            "tests/test_b2.py": "raise TypeError('two')\n\ndef test_y(): pass\n",
        }
    )
    select = ["tests/test_b1.py::test_x", "tests/test_b2.py", "tests/test_ok.py::test_ok"]
    files = ["tests/test_b1.py", "tests/test_b2.py", "tests/test_ok.py"]
    outcome = run_suite(spec(root, tests=files, select=select))
    assert sorted((r.nodeid, r.outcome, r.message) for r in outcome.results) == [
        ("tests/test_b1.py", "error", "one"),
        ("tests/test_b2.py", "error", "two"),
    ]


def test_timeout_fails_the_hanging_test_and_the_suite_goes_on(make_project):
    root = make_project(
        files={
            "tests/test_hang.py": """\
                import signal, time

                def test_sleeps():
                    time.sleep(30)

                def test_blocks_the_alarm():
                    # like a test stuck in C code: SIGALRM never reaches Python
                    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
                    time.sleep(30)

                def test_after():
                    pass
            """
        }
    )
    started = time.monotonic()
    outcome = run_suite(spec(root, tests=["tests"], timeout=0.5))
    assert time.monotonic() - started < 15
    by_name = {r.nodeid.split("::")[1]: r for r in outcome.results}
    sleeps = by_name["test_sleeps"]
    assert (sleeps.outcome, sleeps.exc_type) == ("failed", "Timeout")
    assert sleeps.message == "test exceeded the 0.5s timeout"
    blocked = by_name["test_blocks_the_alarm"]
    assert (blocked.outcome, blocked.exc_type) == ("error", "Timeout")
    assert by_name["test_after"].outcome == "passed"
    assert "hung past the 0.5s timeout and was killed" in outcome.note
    assert "remaining tests were resumed" in outcome.note


def test_crashes_are_recorded_and_the_rest_is_resumed(make_project):
    root = make_project(
        files={
            "tests/test_crash.py": """\
                import ctypes, os

                def test_1():
                    pass

                def test_segfault():
                    ctypes.string_at(0)

                def test_3():
                    pass

                def test_exit():
                    os._exit(3)

                def test_5():
                    pass
            """
        }
    )
    outcome = run_suite(spec(root, tests=["tests"]))
    by_name = {r.nodeid.split("::")[1]: r for r in outcome.results}
    assert list(by_name) == ["test_1", "test_segfault", "test_3", "test_exit", "test_5"]
    segv = by_name["test_segfault"]
    assert (segv.outcome, segv.exc_type) == ("error", "Crash")
    assert segv.message == "the interpreter died while running this test (signal 11, SIGSEGV)"
    assert "Segmentation fault" in segv.traceback  # faulthandler's dump, from the log
    assert (
        by_name["test_exit"].message == "the interpreter died while running this test (exit code 3)"
    )
    assert [by_name[n].outcome for n in ("test_1", "test_3", "test_5")] == ["passed"] * 3
    assert outcome.collected == 5 and outcome.exit_status == 1
    assert outcome.note == (
        "the interpreter crashed in tests/test_crash.py::test_segfault (SIGSEGV); "
        "the remaining tests were resumed; "
        "the interpreter crashed in tests/test_crash.py::test_exit (exit code 3); "
        "the remaining tests were resumed"
    )


def test_collection_error_is_an_error_result(make_project):
    root = make_project(
        files={
            "tests/test_ok.py": "def test_ok(): pass\n",
            "tests/test_broken.py": "raise ValueError('bad module')\n",
        }
    )
    outcome = run_suite(spec(root, tests=["tests"]))
    assert outcome_counts(outcome.results) == plain_counts(root, "tests") == Counter(error=1)
    [error] = outcome.results
    assert (error.nodeid, error.outcome, error.exc_type) == (
        "tests/test_broken.py",
        "error",
        "ValueError",
    )
    assert error.message == "bad module"
    assert outcome.note == "1 collection error; pytest ran no tests"


def test_a_named_test_whose_module_fails_to_import_is_an_error_not_a_usage_error(make_project):
    # A re-test names node ids; pytest exits 4 ("found no collectors") when their module
    # cannot be imported, but the collection error is the news, not the command line.
    root = make_project(
        files={
            "tests/test_ok.py": "def test_ok(): pass\n",
            "tests/test_broken.py": "raise TypeError('bad class')\n\ndef test_b(): pass\n",
        }
    )
    outcome = run_suite(spec(root, tests=["tests/test_broken.py::test_b", "tests/test_ok.py"]))
    assert outcome.exit_status == 4
    assert [(r.nodeid, r.outcome, r.exc_type, r.message) for r in outcome.results] == [
        ("tests/test_broken.py", "error", "TypeError", "bad class"),
    ]
    assert outcome.note == "1 collection error; pytest ran no tests"
    assert outcome.disagreement is None


def test_empty_suite_says_no_tests_collected(make_project):
    root = make_project(files={"tests/test_nothing.py": "X = 1\n"})
    outcome = run_suite(spec(root, tests=["tests"]))
    assert outcome.results == [] and outcome.collected == 0
    assert outcome.note == "no tests collected" and outcome.exit_status == 5


def test_a_source_that_measures_nothing_is_zero_percent_not_a_pass(make_project):
    root = make_project(files={"tests/test_one.py": "def test_one(): pass\n"})
    outcome = run_suite(spec(root, tests=["tests"], source=["no_such_package"]))
    assert outcome.coverage.percent == 0.0 and outcome.files == []
    # coverage.py's own warnings say why, and what to do instead of writing tests
    assert outcome.note == (
        "coverage measured nothing of no_such_package: coverage.py warned "
        '"Module no_such_package was never imported. (module-not-imported)" and '
        '"No data was collected. (no-data-collected)": the tests ran no code from '
        "no_such_package (another copy of it, or none) — fix: install the project editable "
        "(pip install -e .), "
        "or set [project] source to what the tests import"
    )


def test_xdist_gives_the_same_counts_and_a_context_per_test(outcomes_project):
    outcome = run_suite(
        spec(
            outcomes_project,
            tests=["tests"],
            source=["src"],
            pytest_args=["-p", "xdist.plugin", "-n", "2"],
        )
    )
    assert outcome_counts(outcome.results) == Counter(
        passed=2, failed=2, error=1, skipped=2, xfailed=1, xpassed=1
    )
    assert outcome.collected == 9
    impact = tests_by_file(outcome.coverage_file, outcomes_project)
    calling = {
        "test_pass",
        "test_pass_too",
        "test_fail",
        "test_xfail",
        "test_xpass",
        "test_xpass_strict",
    }
    assert {t.split("::")[1] for t in impact} == calling
    assert impact["tests/test_outcomes.py::test_fail"] == {"src/pkg/__init__.py": {8}}
    assert not list((outcomes_project / ".art").glob("coverage.db.*"))  # one data file kept


def test_pytest_that_cannot_start_is_a_run_error(make_project):
    root = make_project(files={"tests/test_x.py": "def test_x(): pass\n"})
    with pytest.raises(RunError, match="cannot start"):
        run_suite(spec(root, python=str(root / "no-such-python")))
    no_site = root / "python-without-pytest"  # the interpreter without its site-packages
    no_site.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    no_site.chmod(0o755)
    with pytest.raises(RunError, match="No module named pytest") as raised:
        run_suite(spec(root, python=str(no_site)))
    assert raised.value.hint.startswith("install pytest in that interpreter")
    # pytest's own `error:` line, alone, whatever pytest prints before it (9.2: "usage: ...")
    with pytest.raises(PytestUsageError) as refused:
        run_suite(spec(root, pytest_args=["--no-such-option"]))
    assert refused.value.message == ("pytest usage error: unrecognized arguments: --no-such-option")
    assert refused.value.exit_code == ExitCode.USAGE_ERROR
    with pytest.raises(PytestUsageError) as refused:
        run_suite(spec(root, tests=["missing"]))
    assert refused.value.message == "pytest usage error: file or directory not found: missing"


def test_a_conftest_that_fails_to_import_is_named_not_a_usage_error(make_project):
    root = make_project(
        files={
            "tests/conftest.py": "import os\n\nraise TypeError('bad conftest')\n",
            "tests/test_x.py": "def test_x(): pass\n",
        }
    )
    with pytest.raises(RunError) as raised:
        run_suite(spec(root, tests=["tests"]))
    assert not isinstance(raised.value, PytestUsageError)
    assert raised.value.message == "cannot import tests/conftest.py: TypeError: bad conftest"
    assert raised.value.exit_code == ExitCode.RUN_ERROR
    assert "shows the traceback" in (raised.value.hint or "")


def test_a_crash_under_xdist_is_a_crash_error(make_project):
    root = make_project(
        files={
            "tests/test_xcrash.py": """\
                import ctypes

                def test_1():
                    pass

                def test_segfault():
                    ctypes.string_at(0)

                def test_3():
                    pass
            """
        }
    )
    outcome = run_suite(spec(root, tests=["tests"], pytest_args=["-p", "xdist.plugin", "-n", "2"]))
    by_name = {r.nodeid.split("::")[1]: r for r in outcome.results}
    assert [by_name[n].outcome for n in ("test_1", "test_segfault", "test_3")] == [
        "passed",
        "error",
        "passed",
    ]
    segv = by_name["test_segfault"]
    assert segv.exc_type == "Crash"
    assert re.fullmatch(
        r"the interpreter died while running this test \(worker 'gw\d' crashed\)", segv.message
    )
    assert (
        outcome.note
        == "the interpreter crashed in tests/test_xcrash.py::test_segfault (xdist worker)"
    )
