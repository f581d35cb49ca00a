"""passcycle's counts and gate against pytest's own, outcome by outcome (#9).

Each case is a project of its own, run twice: plain `pytest --junitxml` (the reference:
its exit status and, per test case, what its JUnit XML says) and `passcycle run`. The gate
passes exactly when pytest exits 0, and the counts are the same test by test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

SUBTESTS_UNITTEST = """
    import unittest

    class TestCase(unittest.TestCase):
        def test_numbers(self):
            for i in range(3):
                with self.subTest(i=i):
                    self.assertEqual(i, 0)

        def test_fine(self):
            with self.subTest(i=0):
                self.assertTrue(True)
"""

SUBTESTS_FIXTURE = """
    def test_values(subtests):
        for i in range(4):
            with subtests.test(msg="value", i=i):
                assert i % 2 == 0

    def test_all_good(subtests):
        for i in range(2):
            with subtests.test(i=i):
                assert True
"""

TEARDOWN_ERROR = """
    import pytest

    @pytest.fixture
    def resource():
        yield 1
        raise RuntimeError("teardown broke")

    def test_uses(resource):
        assert resource == 1

    def test_fails_and_teardown(resource):
        assert resource == 2

    def test_plain():
        pass
"""

SETUP_ERROR = """
    import pytest

    @pytest.fixture
    def broken():
        raise RuntimeError("setup broke")

    def test_needs(broken):
        pass

    def test_plain():
        pass
"""

XFAIL_STRICT = """
    import pytest

    @pytest.mark.xfail(strict=True, reason="known")
    def test_unexpectedly_fine():
        pass

    def test_plain():
        pass
"""

XPASS_AND_XFAIL = """
    import pytest

    @pytest.mark.xfail(reason="known")
    def test_xpass():
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert 0
"""

SKIP_IN_SETUP = """
    import pytest

    @pytest.fixture
    def service():
        pytest.skip("no service here")

    def test_needs_service(service):
        pass

    @pytest.mark.skip(reason="later")
    def test_marked():
        pass

    def test_plain():
        pass
"""

PYTEST_EXIT = """
    import pytest

    def test_first():
        pass

    def test_stops():
        pytest.exit("the environment is unusable")

    def test_never():
        pass
"""

CRASH = """
    import os

    def test_first():
        pass

    def test_dies():
        os._exit(3)

    def test_after():
        pass
"""

HANG = """
    import time

    def test_first():
        pass

    def test_hangs():
        while True:
            time.sleep(0.05)
"""

ODD_IDS = """
    import pytest

    @pytest.mark.parametrize("value", ["a::b", "[x]", "ünï cødé", "new\\nline", "<b>&amp;", " "])
    def test_odd(value):
        assert value != "[x]"
"""

ALL_PASS = """
    def test_one():
        pass

    def test_two():
        assert 1 + 1 == 2
"""

CASES = {
    "subtests-unittest": ({"tests/test_sub.py": SUBTESTS_UNITTEST}, None),
    "subtests-fixture": ({"tests/test_sub.py": SUBTESTS_FIXTURE}, None),
    "teardown-error": ({"tests/test_td.py": TEARDOWN_ERROR}, None),
    "setup-error": ({"tests/test_setup.py": SETUP_ERROR}, None),
    "xfail-strict": ({"tests/test_x.py": XFAIL_STRICT}, None),
    "xpass-xfail": ({"tests/test_x.py": XPASS_AND_XFAIL}, None),
    "skip-in-setup": ({"tests/test_skip.py": SKIP_IN_SETUP}, None),
    "collection-error": (
        {"tests/test_ok.py": ALL_PASS, "tests/test_broken.py": "import no_such_module\n"},
        None,
    ),
    "pytest-exit": ({"tests/test_exit.py": PYTEST_EXIT}, None),
    "crash": ({"tests/test_crash.py": CRASH}, None),
    "hang": ({"tests/test_hang.py": HANG}, 'timeout = "2s"'),
    "odd-ids": ({"tests/test_odd.py": ODD_IDS}, None),
    "all-pass": ({"tests/test_ok.py": ALL_PASS}, None),
}

# JUnit XML has no xfail or xpass: pytest writes an xfail as skipped, an xpass as passed
_AS_JUNIT = {"xfailed": "skipped", "xpassed": "passed"}


def _junit_outcomes(path: Path) -> Counter[str]:
    """Each test's outcome as pytest's JUnit XML gives it. A test whose call failed and
    whose teardown errored is written twice (pytest counts it as failed and as an error);
    it is one test, failed, as passcycle keeps it."""
    rank = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
    tests: dict[tuple[str, str], str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if "failure" in tags:
            outcome = "failed"
        elif "error" in tags:
            outcome = "error"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        key = (case.get("classname", ""), case.get("name", ""))
        if key not in tests or rank[outcome] < rank[tests[key]]:
            tests[key] = outcome
    return Counter(tests.values())


def _pytest(root: Path, timeout: float | None) -> tuple[int, Counter[str] | None]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--junitxml=ref.xml"],
            cwd=root,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = -9  # what a CI job's timeout does to a hanging pytest
    junit = root / "ref.xml"
    return code, _junit_outcomes(junit) if junit.is_file() else None


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_counts_and_gate_agree_with_pytest(case, make_project, passcycle):
    files, project_keys = CASES[case]
    plan = f"[project]\n{project_keys}\n" if project_keys else ""
    root = make_project({**files, **({"passcycle.toml": plan} if plan else {})})
    expected_code, expected = _pytest(root, timeout=20 if case == "hang" else 60)
    (root / "ref.xml").unlink(missing_ok=True)

    ran = passcycle(root, "run", "--json")
    data = ran.json()
    counts = Counter()
    for outcome, number in data["counts"].items():
        counts[_AS_JUNIT.get(outcome, outcome)] += number
    counts = +counts  # drop zeros

    # the gate passes exactly when pytest passes
    assert (expected_code == 0) == (ran.exit_code == 0), (case, expected_code, ran)
    assert data["gate"]["passed"] is (expected_code == 0)
    if expected is not None and expected_code in (0, 1):
        assert counts == +expected, (case, counts, expected)


def test_each_failing_subtest_is_kept(make_project, passcycle):
    root = make_project({"tests/test_sub.py": SUBTESTS_UNITTEST})
    passcycle(root, "test", expect=1)
    shown = passcycle(root, "show", "--json", "--results").json()
    outcomes = {r["nodeid"]: r["outcome"] for r in shown["results"]}
    assert outcomes == {
        "tests/test_sub.py::TestCase::test_numbers": "failed",
        "tests/test_sub.py::TestCase::test_fine": "passed",
    }
    (failure,) = shown["failures"]
    assert failure["exc_type"] == "AssertionError"
    assert failure["message"] == "2 subtests failed: (i=1) 1 != 0; (i=2) 2 != 0"


def test_pytest_exit_is_an_error_run_that_says_why(make_project, passcycle):
    root = make_project({"tests/test_exit.py": PYTEST_EXIT})
    ran = passcycle(root, "run", "--json", expect=3)
    run = ran.json()["run"]
    assert run["status"] == "error"
    assert "the environment is unusable" in run["note"]
    assert ran.json()["gate"]["passed"] is False
