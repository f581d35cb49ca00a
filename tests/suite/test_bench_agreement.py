"""bench/bench_agreement.py on throw-away projects: it sees agreement where there is
agreement, names a disagreement test by test, and leaves the project as it found it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_agreement.py"

CALC = """
    def double(x):
        return 2 * x
"""

TESTS = """
    import pytest

    from calc import double

    class TestDouble:
        def test_two(self):
            assert double(2) == 4

    @pytest.mark.parametrize("value", [0, 1, "a::b", "[x]"])
    def test_parametrized(value):
        assert double(value) == value + value

    @pytest.mark.skip(reason="later")
    def test_skipped():
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert double(1) == 3

    @pytest.mark.xfail(reason="known")
    def test_xpass():
        assert double(1) == 2

    @pytest.fixture
    def broken_teardown():
        yield
        raise RuntimeError("teardown broke")

    def test_teardown_error(broken_teardown):
        pass
"""

PYPROJECT = '[tool.pytest.ini_options]\npythonpath = ["src"]\n'


def _bench(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(BENCH), "--project", str(root), "--python", sys.executable]
    # the plugins installed beside passcycle (pytest-benchmark writes .benchmarks) are not
    # the throw-away project's: both runs go without them, as the bench passes this on
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [*argv, "--source", "src", "--tests", "tests", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _rows(stdout: str) -> dict[str, list[str]]:
    cells = [line.strip("|").split("|") for line in stdout.splitlines() if line.startswith("| ")]
    return {row[2].strip(): [c.strip() for c in row] for row in cells[1:]}


@pytest.mark.slow
def test_agreement_on_the_project_as_is_mutated_and_with_subtests(make_project):
    root = make_project(
        {"pyproject.toml": PYPROJECT, "src/calc.py": CALC, "tests/test_calc.py": TESTS}
    )
    before = sorted(p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts)
    calc = (root / "src/calc.py").read_text()

    done = _bench(root, "--mutate", "src/calc.py", "2 * x", "3 * x", "--subtests", "tests")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    rows = _rows(done.stdout)
    assert set(rows) == {"as is", "mutated", "subtests"}
    # p/f/e/s: the teardown error counts once, xfail as skipped, xpass as passed
    assert rows["as is"][4:6] == ["1", "6/0/1/2"]
    assert rows["as is"][7:9] == ["failed", "6/0/1/2"]
    # 3 * x: double(0) still passes; the xfail now passes (an xpass, written as passed)
    # and the xpass fails (an xfail, written as skipped)
    assert rows["mutated"][4:6] == ["1", "2/4/1/2"]
    # the unittest test and the fixture test whose first subtest passes each fail once
    assert rows["subtests"][3:6] == ["13", "1", "8/2/1/2"]
    assert all(row[-1] == "yes" for row in rows.values())
    after = sorted(p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
    assert (root / "src/calc.py").read_text() == calc


@pytest.mark.slow
def test_a_disagreement_is_named_test_by_test(make_project):
    # a test that fails only under passcycle's plugin: a real disagreement to report
    root = make_project(
        {
            "pyproject.toml": PYPROJECT,
            "src/calc.py": CALC,
            "tests/test_env.py": """
                import os

                def test_plain_pytest_only():
                    assert "PASSCYCLE_EVENTS" not in os.environ

                def test_fine():
                    pass
            """,
        }
    )
    done = _bench(root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate: pytest exited 0, passcycle's gate failed" in done.stdout
    assert "counts: pytest 2/0/0/0, passcycle 1/1/0/0" in done.stdout
    assert "tests.test_env::test_plain_pytest_only: pytest passed, passcycle failed" in (
        done.stdout
    )
    assert _rows(done.stdout)["as is"][-1] == "**no**"


def test_a_mutation_that_is_not_there_is_refused(make_project):
    root = make_project({"src/calc.py": CALC, "tests/test_calc.py": "def test_a(): pass\n"})
    done = _bench(root, "--mutate", "src/calc.py", "4 * x", "5 * x")
    assert done.returncode == 1
    assert "--mutate: '4 * x' occurs 0 times in src/calc.py" in done.stderr
    assert "Traceback" not in done.stderr
