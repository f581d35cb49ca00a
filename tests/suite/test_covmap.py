"""The coverage map: numbers equal `coverage report`'s, and the per-test impact map."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import coverage
import pytest

from passcycle.errors import RunError
from passcycle.suite import covmap
from passcycle.suite.runner import SuiteSpec, run_suite

QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # pytest starts faster without other plugins

RCFILE = """\
[run]
omit = src/pkg/generated.py

[report]
precision = 2
exclude_lines =
    pragma: no cover
    raise NotImplementedError
"""

PACKAGE = """\
def grade(score):
    if score >= 90:
        return "A"
    if score >= 50:
        return "B"
    return "C"


def later():
    raise NotImplementedError


def debug():  # pragma: no cover
    return "never"
"""

OTHER = """\
def shout(text, loud=False):
    if loud:
        return text.upper()
    return text
"""

TESTS = """\
from pkg import grade
from pkg.other import shout


def test_a():
    assert grade(95) == "A"


def test_b():
    assert grade(60) == "B"


def test_shout():
    assert shout("x") == "x"
"""


def _report_rows(root: Path) -> dict[str, tuple[str, str]]:
    """`coverage report -m` rows: name -> (Cover, Missing), as the user reads them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")} | QUICK
    command = [sys.executable, "-m", "coverage", "run", "--branch", "--source=src", "-m", "pytest"]
    subprocess.run([*command, "-q", "tests"], cwd=root, env=env, capture_output=True, check=True)
    text = subprocess.run(
        [sys.executable, "-m", "coverage", "report", "-m"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {}
    for line in text.splitlines():
        match = re.match(r"(\S+)\s+\d+\s+\d+\s+\d+\s+\d+\s+([\d.]+)%\s*(.*)$", line)
        if match:
            rows[match[1]] = (match[2], match[3].strip())
    return rows


def test_summary_and_files_equal_coverage_report_with_the_projects_rcfile(make_project):
    root = make_project(
        files={
            ".coveragerc": RCFILE,
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": PACKAGE,
            "src/pkg/other.py": OTHER,
            "src/pkg/generated.py": "VALUE = 1\n",
            "src/pkg/unused.py": "def never():\n    return 1\n",  # imported by no test
            "tests/test_pkg.py": TESTS,
        }
    )
    outcome = run_suite(
        SuiteSpec(root=root, artifacts=root / ".art", tests=["tests"], source=["src"], env=QUICK)
    )
    rows = _report_rows(root)

    summary, files = covmap.summarize(outcome.coverage_file, root)
    assert summary == outcome.coverage
    assert summary.precision == 2
    assert f"{summary.percent:.2f}" == rows["TOTAL"][0]
    assert {f.path: (f"{f.percent:.2f}", f.missing_lines) for f in files} == {
        name: row for name, row in rows.items() if name != "TOTAL"
    }
    assert "src/pkg/generated.py" not in {f.path for f in files}  # omitted by the rcfile
    assert next(f for f in files if f.path == "src/pkg/unused.py").percent == 0.0
    init = next(f for f in files if f.path == "src/pkg/__init__.py")
    assert (init.statements, init.missing, init.branches) == (7, 1, 4)  # excluded lines gone


def test_tests_by_file_maps_each_test_to_its_lines(make_project):
    root = make_project(
        files={
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": PACKAGE,
            "src/pkg/other.py": OTHER,
            "tests/test_pkg.py": TESTS,
        }
    )
    outcome = run_suite(
        SuiteSpec(root=root, artifacts=root / ".art", tests=["tests"], source=["src"], env=QUICK)
    )
    impact = covmap.tests_by_file(outcome.coverage_file, root)
    assert impact == {
        "tests/test_pkg.py::test_a": {"src/pkg/__init__.py": {2, 3}},
        "tests/test_pkg.py::test_b": {"src/pkg/__init__.py": {2, 4, 5}},
        "tests/test_pkg.py::test_shout": {"src/pkg/other.py": {2, 4}},
    }
    by_line = covmap.tests_by_line(impact)
    assert by_line["src/pkg/__init__.py"][2] == {
        "tests/test_pkg.py::test_a",
        "tests/test_pkg.py::test_b",
    }
    assert covmap.tests_touching(impact, "src/pkg/__init__.py", {5}) == {
        "tests/test_pkg.py::test_b"
    }
    assert covmap.tests_touching(impact, "src/pkg/other.py") == {"tests/test_pkg.py::test_shout"}


def test_tests_by_file_reads_arcs_and_lines_data_of_many_tests(tmp_path):
    for branch in (True, False):
        data = coverage.CoverageData(basename=str(tmp_path / f"{branch}.db"))
        source = str(tmp_path / "src" / "mod.py")
        for n in range(300):
            data.set_context(f"tests/test_m.py::test_{n}")
            lines = [n + 1, n + 2, n + 3]
            if branch:
                data.add_arcs(
                    {source: [(-1, lines[0]), *itertools.pairwise(lines), (lines[-1], -1)]}
                )
            else:
                data.add_lines({source: lines})
        impact = covmap.tests_by_file(tmp_path / f"{branch}.db", tmp_path)
        assert len(impact) == 300
        assert impact["tests/test_m.py::test_41"] == {"src/mod.py": {42, 43, 44}}


SHAPES = """\
import pytest

from pkg import grade
from pkg.other import shout


@pytest.fixture(scope="module")
def loud():
    return shout("setup", loud=True)  # runs once, inside the first test that asks for it


@pytest.fixture
def quiet():
    yield shout("x")
    grade(10)  # teardown belongs to the test too


def test_module_fixture(loud):
    assert loud == "SETUP"


def test_function_fixture(quiet):
    assert grade(95) == "A"


@pytest.mark.parametrize("score", [95, 60, 10])
def test_param(score):
    assert grade(score)


class TestClass:
    def test_method(self, loud):
        assert shout("y") == "y"


def test_fails():
    assert grade(60) == "A"


def test_touches_nothing():
    assert True
"""


def _map_project(make_project):
    return make_project(
        files={
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": PACKAGE,
            "src/pkg/other.py": OTHER,
            "tests/test_shapes.py": SHAPES,
        }
    )


def _run(root, name, env=None, args=(), branch=True):
    return run_suite(
        SuiteSpec(
            root=root,
            artifacts=root / name,
            tests=["tests"],
            source=["src"],
            env={**QUICK, **(env or {})},
            pytest_args=list(args),
            branch=branch,
        )
    )


def test_the_map_equals_coverages_per_test_contexts_alone_and_under_xdist(make_project):
    root = _map_project(make_project)
    lines = _run(root, ".lines")
    contexts = _run(root, ".contexts", env={"PASSCYCLE_COVERAGE_CONTEXTS": "1"})
    # the Python tracer records arcs unpacked: the map takes them through flush_data
    portable = _run(root, ".portable", env={"COVERAGE_CORE": "pytrace"})
    # loadfile: one worker runs the file in order, so the module fixture is set up where it
    # is in one process (elsewhere a worker's first test would set it up, rightly)
    xdist = _run(root, ".xdist", args=["-p", "xdist.plugin", "-n", "2", "--dist", "loadfile"])

    reference, setup = covmap.impact_maps(contexts.coverage_file, root)
    test = "tests/test_shapes.py::"
    # a module-scoped fixture runs inside the first test that asks for it, but its lines
    # are the module's setup: a change there re-tests every test of the module
    assert test + "test_module_fixture" not in reference
    assert setup["tests/test_shapes.py"]["src/pkg/other.py"] >= {2, 3}
    assert reference[test + "test_function_fixture"] == {
        "src/pkg/other.py": {2, 4},
        "src/pkg/__init__.py": {2, 3, 4, 6},
    }
    assert reference[test + "test_param[60]"] == {"src/pkg/__init__.py": {2, 4, 5}}
    assert test + "test_touches_nothing" not in reference
    assert len(reference) == 6
    for outcome in (lines, portable, xdist):
        assert covmap.impact_maps(outcome.coverage_file, root) == (reference, setup)
    summaries = [covmap.summarize(o.coverage_file, root) for o in (lines, contexts, xdist)]
    assert (
        summaries[0]
        == summaries[1]
        == summaries[2]
        == covmap.summarize(portable.coverage_file, root)
    )

    # the map is kept beside coverage's tables, not as arcs per test context
    data = coverage.CoverageData(basename=str(lines.coverage_file))
    data.read()
    assert data.measured_contexts() == {""}
    data = coverage.CoverageData(basename=str(contexts.coverage_file))
    data.read()
    # the six tests that ran a line of the source, the module's setup (its module-scoped
    # fixture) and the import of each of the two source modules
    contexts_seen = data.measured_contexts()
    assert len(contexts_seen) == 9
    assert "<setup>tests/test_shapes.py" in contexts_seen
    imported = {c.rsplit("/", 1)[-1] for c in contexts_seen if c.startswith("<setup>import:")}
    assert imported == {"__init__.py", "other.py"}


def test_a_crash_keeps_the_coverage_and_map_of_the_tests_before_it(make_project):
    root = make_project(
        files={
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "src/pkg/__init__.py": PACKAGE,
            "tests/test_crash.py": """\
                import ctypes

                from pkg import grade

                def test_a():
                    assert grade(95) == "A"

                def test_segfault():
                    ctypes.string_at(0)

                def test_b():
                    assert grade(60) == "B"
            """,
        }
    )
    # written after every test: the crashed process's data is all on disk
    outcome = _run(root, ".art", env={"PASSCYCLE_COVERAGE_WRITE": "0"})
    assert [r.outcome for r in outcome.results] == ["passed", "error", "passed"]
    impact = covmap.tests_by_file(outcome.coverage_file, root)
    assert impact == {
        "tests/test_crash.py::test_a": {"src/pkg/__init__.py": {2, 3}},
        "tests/test_crash.py::test_b": {"src/pkg/__init__.py": {2, 4, 5}},
    }
    init = next(f for f in outcome.files if f.path == "src/pkg/__init__.py")
    assert init.missing_lines == "6, 10"  # grade's "C" and later(): test_a's lines are kept
    assert not list((root / ".art").glob("coverage.db.*"))


def test_the_map_of_line_coverage_equals_its_contexts_too(make_project):
    root = _map_project(make_project)
    lines = _run(root, ".lines", branch=False)
    contexts = _run(root, ".contexts", env={"PASSCYCLE_COVERAGE_CONTEXTS": "1"}, branch=False)
    reference = covmap.impact_maps(contexts.coverage_file, root)
    assert reference[0]["tests/test_shapes.py::test_param[10]"] == {
        "src/pkg/__init__.py": {2, 4, 6}
    }
    assert covmap.impact_maps(lines.coverage_file, root) == reference
    summary, _ = covmap.summarize(lines.coverage_file, root)
    assert summary == covmap.summarize(contexts.coverage_file, root)[0]
    assert summary.branches == 0


def test_an_unreadable_data_file_is_a_run_error(tmp_path):
    data_file = tmp_path / "coverage.db"
    data_file.write_bytes(b"not a database" * 100)
    with pytest.raises(RunError, match="cannot read the coverage map"):
        covmap.tests_by_file(data_file, tmp_path)
