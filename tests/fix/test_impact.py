"""Test selection for re-tests, on a real git project whose map comes from passcycle's runner."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitkit import committed_project, edit, git

from passcycle.fix.changes import changes_since, snapshot
from passcycle.fix.impact import Selection, explain, select
from passcycle.records import TestResult
from passcycle.suite.covmap import tests_by_file
from passcycle.suite.runner import SuiteSpec, run_suite

QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

CALC = """\
RATE = 2


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def scale(a):
    return a * RATE
"""

FILES = {
    "pyproject.toml": """\
        [project]
        name = "pkg"
        version = "1.0"
        dependencies = ["attrs"]

        [tool.pytest.ini_options]
        pythonpath = ["src"]

        [tool.ruff]
        line-length = 100
    """,
    "passcycle.toml": '[project]\nsource = ["src/pkg"]\n',
    "requirements.txt": "attrs\n",
    "README.md": "# pkg\n",
    "src/pkg/__init__.py": "",
    "src/pkg/calc.py": CALC,
    "src/pkg/text.py": """\
        def shout(text):
            return text.upper() + "!"


        def whisper(text):
            return text.lower()
    """,
    "src/pkg/loader.py": """\
        import json
        from pathlib import Path


        def load():
            return json.loads(Path(__file__).with_name("data.json").read_text())
    """,
    "src/pkg/data.json": '{"limit": 3}\n',
    "tests/test_calc.py": """\
        from pkg.calc import add, scale, sub


        def test_add():
            assert add(1, 2) == 3


        def test_sub():
            assert sub(3, 1) == 2


        def test_scale():
            assert scale(2) == 4
    """,
    "tests/test_text.py": """\
        from pkg.text import shout, whisper


        def test_shout():
            assert shout("a") == "A!"


        def test_whisper():
            assert whisper("A") == "a"
    """,
    "tests/test_loader.py": """\
        from pkg.loader import load


        def test_load():
            assert load() == {"limit": 3}
    """,
    "tests/api/conftest.py": """\
        import pytest


        @pytest.fixture
        def greeting():
            return "hi"
    """,
    "tests/api/test_api.py": """\
        from pkg.text import whisper


        def test_greeting(greeting):
            assert whisper(greeting.upper()) == greeting
    """,
}
ALL_TESTS = {
    "tests/test_calc.py::test_add",
    "tests/test_calc.py::test_sub",
    "tests/test_calc.py::test_scale",
    "tests/test_text.py::test_shout",
    "tests/test_text.py::test_whisper",
    "tests/test_loader.py::test_load",
    "tests/api/test_api.py::test_greeting",
}


@dataclass
class Baseline:
    """A committed project and its full run: results, map, snapshot."""

    root: Path
    commit: str
    results: list[TestResult]
    test_map: dict[str, dict[str, set[int]]]
    snap: dict[str, str]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("impact") / "project"
    commit = committed_project(root, FILES)
    outcome = run_suite(
        SuiteSpec(
            root=root,
            artifacts=root.parent / "artifacts",
            tests=["tests"],
            source=["src/pkg"],
            env=QUICK,
        )
    )
    assert {r.nodeid for r in outcome.results if r.outcome == "passed"} == ALL_TESTS
    assert outcome.coverage_file is not None
    return Baseline(
        root=root,
        commit=commit,
        results=outcome.results,
        test_map=tests_by_file(outcome.coverage_file, root),
        snap=snapshot(root, ["src/pkg", "tests"]),
    )


@pytest.fixture
def project(baseline: Baseline, tmp_path: Path) -> Path:
    """A private copy of the baseline project (with its .git) to edit."""
    root = tmp_path / "project"
    shutil.copytree(baseline.root, root)
    return root


def retest(
    baseline: Baseline,
    root: Path,
    *,
    use_git: bool = True,
    results: list[TestResult] | None = None,
    rates: dict[str, float] | None = None,
    durations: dict[str, float] | None = None,
) -> Selection:
    changes = changes_since(
        root, commit=baseline.commit if use_git else None, snapshot=baseline.snap
    )
    return select(
        root,
        changes=changes,
        test_map=baseline.test_map,
        last_results=baseline.results if results is None else results,
        recent_failure_rate=rates or {},
        durations=durations or {},
        source=["src/pkg"],
        tests=["tests"],
        plan_file="passcycle.toml",
        last_run=7,
    )


def ids(selection: Selection) -> set[str]:
    return {t.nodeid for t in selection.tests}


def run_selected(root: Path, selection: Selection, artifacts: Path) -> dict[str, str]:
    outcome = run_suite(SuiteSpec(root=root, artifacts=artifacts, tests=selection.args, env=QUICK))
    return {r.nodeid: r.outcome for r in outcome.results}


# -- the map --------------------------------------------------------------------------------


def test_no_change_selects_nothing(baseline: Baseline, project: Path) -> None:
    selection = retest(baseline, project)
    assert selection.tests == [] and not selection.everything and selection.args == []


def test_one_function_change_selects_exactly_its_tests(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    edit(project, "src/pkg/calc.py", "return a - b", "return b - a")  # the bug
    selection = retest(baseline, project)
    assert ids(selection) == {"tests/test_calc.py::test_sub"}
    assert not selection.everything and selection.reasons == []
    assert explain(selection) == [
        "tests/test_calc.py::test_sub  — covers src/pkg/calc.py:9 (changed)"
    ]
    # pytest is given the node id alone, and the failure the change caused is caught
    assert selection.args == ["tests/test_calc.py::test_sub"]
    assert run_selected(project, selection, tmp_path / "art") == {
        "tests/test_calc.py::test_sub": "failed"
    }


def test_line_move_keeps_the_functions_tests(baseline: Baseline, project: Path) -> None:
    # Five lines inserted above `sub` push its body (old line 9) to line 14: in the old
    # numbering line 13 is `scale`'s body. Reading new lines against the map would select
    # test_scale and miss test_sub.
    edit(
        project,
        "src/pkg/calc.py",
        "def sub(a, b):\n    return a - b",
        "# helpers\ndef double(x):\n    return 2 * x\n\n\ndef sub(a, b):\n    return a - b - 0",
    )
    selection = retest(baseline, project)
    assert ids(selection) == {"tests/test_calc.py::test_sub"}
    assert explain(selection) == [
        "tests/test_calc.py::test_sub  — covers src/pkg/calc.py:14 (changed)"
    ]


def test_comment_and_blank_lines_select_nothing(baseline: Baseline, project: Path) -> None:
    edit(project, "src/pkg/calc.py", "def add(a, b):", "# adds\n\ndef add(a, b):  # two numbers")
    edit(project, "src/pkg/calc.py", "def add(a, b):  # two numbers", "def add(a, b):")
    assert retest(baseline, project).tests == []


def test_change_inside_a_function_selects_tests_that_ran_other_lines(
    baseline: Baseline, project: Path
) -> None:
    # the changed line itself never ran (a new branch), but test_add ran `add`
    guarded = "    if a is None:\n        a = 0\n    return a + b"
    edit(project, "src/pkg/calc.py", "    return a + b", guarded)
    selection = retest(baseline, project)
    assert ids(selection) == {"tests/test_calc.py::test_add"}
    assert selection.tests[0].reason == "runs add() in src/pkg/calc.py, changed at line 5"


def test_module_level_change_selects_the_modules_importers(
    baseline: Baseline, project: Path
) -> None:
    edit(project, "src/pkg/calc.py", "RATE = 2", "RATE = 3")
    selection = retest(baseline, project)
    # every test that ran calc.py: not the text, loader or api tests
    calc = {t for t in ALL_TESTS if t.startswith("tests/test_calc.py")}
    assert ids(selection) == calc
    assert {t.reason for t in selection.tests} == {
        "imports src/pkg/calc.py (module-level change at src/pkg/calc.py:1)"
    }


def test_module_level_change_selects_test_files_that_read_it(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    # test_rate reads RATE at import and runs no line of calc.py: the map does not know it
    (project / "tests/test_rate.py").write_text(
        "from pkg.calc import RATE\n\n\ndef test_rate():\n    assert RATE == 2\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "rate test")
    base = git(project, "rev-parse", "HEAD").strip()
    edit(project, "src/pkg/calc.py", "RATE = 2", "RATE = 3")
    edit(project, "src/pkg/text.py", "def shout", "QUIET = 1\n\n\ndef shout")
    selection = select(
        project,
        changes=changes_since(project, commit=base, snapshot=None),
        test_map=baseline.test_map,
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file=None,
    )
    assert "tests/test_rate.py" in selection.args
    # test_calc.py imports functions, not RATE; nothing reads the new QUIET
    assert "tests/test_calc.py" not in selection.args
    assert "tests/test_loader.py::test_load" not in ids(selection)
    ran = run_selected(project, selection, tmp_path / "art")
    assert ran["tests/test_rate.py::test_rate"] == "failed"


def test_decorated_new_function_is_a_module_level_change(baseline: Baseline, project: Path) -> None:
    registered = "@staticmethod\ndef quiet(t):\n    return t\n\n\ndef whisper"
    edit(project, "src/pkg/text.py", "def whisper", registered)
    selection = retest(baseline, project)
    assert "tests/test_text.py::test_shout" in ids(selection)


def test_failed_tests_are_selected_first(baseline: Baseline, project: Path) -> None:
    last = [
        *baseline.results,
        TestResult("tests/test_text.py::test_whisper", "failed", 0.5),
    ]
    last = [r for r in last if not (r.nodeid.endswith("test_whisper") and r.outcome == "passed")]
    edit(project, "src/pkg/calc.py", "RATE = 2", "RATE = 3")
    selection = retest(
        baseline,
        project,
        results=last,
        rates={"tests/test_calc.py::test_sub": 0.4},
        durations={
            "tests/test_calc.py::test_add": 0.3,
            "tests/test_calc.py::test_scale": 0.1,
            "tests/test_calc.py::test_sub": 2.0,
        },
    )
    assert selection.nodeids == [
        "tests/test_text.py::test_whisper",  # failed
        "tests/test_calc.py::test_sub",  # fails often, although slow
        "tests/test_calc.py::test_scale",  # then fastest first
        "tests/test_calc.py::test_add",
    ]
    assert selection.tests[0].reason == "failed in run 7"
    assert selection.args[0] == "tests/test_text.py::test_whisper"


def test_changed_test_file_runs_whole_with_its_new_tests(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    (project / "tests/test_text.py").write_text(
        (project / "tests/test_text.py").read_text() + "\n\ndef test_new():\n    assert 1\n"
    )
    selection = retest(baseline, project)
    assert ids(selection) == {"tests/test_text.py::test_shout", "tests/test_text.py::test_whisper"}
    assert selection.args == ["tests/test_text.py"]
    ran = run_selected(project, selection, tmp_path / "art")
    assert set(ran) == {
        "tests/test_text.py::test_shout",
        "tests/test_text.py::test_whisper",
        "tests/test_text.py::test_new",
    }


def test_added_test_file_is_selected(baseline: Baseline, project: Path) -> None:
    (project / "tests/test_more.py").write_text("def test_more():\n    assert 1\n")
    selection = retest(baseline, project)
    assert [(t.nodeid, t.reason) for t in selection.tests] == [
        ("tests/test_more.py", "test file added")
    ]
    assert selection.args == ["tests/test_more.py"]


def test_files_outside_source_and_tests_select_nothing(baseline: Baseline, project: Path) -> None:
    (project / "README.md").write_text("# changed\n")
    (project / ".passcycle" / "runs" / "3").mkdir(parents=True)
    (project / ".passcycle" / "runs" / "3" / "coverage.db").write_text("x")
    selection = retest(baseline, project)
    assert selection.tests == [] and not selection.everything
    assert selection.ignored == ["README.md: outside the source and tests"]


def test_without_git_a_changed_file_selects_its_tests_and_importers(
    baseline: Baseline, project: Path
) -> None:
    shutil.rmtree(project / ".git")
    edit(project, "src/pkg/text.py", "text.lower()", "text.casefold()")
    selection = retest(baseline, project, use_git=False)
    # lines unknown: every test that ran text.py, and the test files importing it
    assert ids(selection) == {
        "tests/test_text.py::test_shout",
        "tests/test_text.py::test_whisper",
        "tests/api/test_api.py::test_greeting",
    }


# -- widening: one test per rule, each failing without its rule --------------------------------


def test_conftest_change_selects_every_test_under_it(baseline: Baseline, project: Path) -> None:
    edit(project, "tests/api/conftest.py", 'return "hi"', 'return "hey"')
    selection = retest(baseline, project)
    assert not selection.everything
    assert ids(selection) == {"tests/api/test_api.py::test_greeting"}
    assert selection.args == ["tests/api"]
    assert selection.reasons == ["conftest.py changed: every test under tests/api"]


def test_root_conftest_change_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "tests/conftest.py").write_text("import pytest\n")
    selection = retest(baseline, project)
    assert selection.everything and ids(selection) == ALL_TESTS
    assert selection.args == ["tests"]


def test_plan_change_selects_everything(baseline: Baseline, project: Path) -> None:
    edit(project, "passcycle.toml", 'source = ["src/pkg"]', 'source = ["src/pkg"]\ntimeout = 5')
    selection = retest(baseline, project)
    assert selection.everything and ids(selection) == ALL_TESTS
    assert selection.reasons == ["passcycle.toml changed: the plan"]


def test_pytest_config_change_selects_everything(baseline: Baseline, project: Path) -> None:
    edit(project, "pyproject.toml", 'pythonpath = ["src"]', 'pythonpath = ["src"]\naddopts = "-q"')
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["pyproject.toml [tool.pytest] changed (config)"]


def test_inert_pyproject_change_selects_nothing(baseline: Baseline, project: Path) -> None:
    edit(project, "pyproject.toml", "line-length = 100", "line-length = 88")
    selection = retest(baseline, project)
    assert not selection.everything and selection.tests == []


def test_pytest_ini_added_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "pytest.ini").write_text("[pytest]\naddopts = -x\n")
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["pytest.ini changed: pytest or coverage config"]


def test_new_module_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "src/pkg/extra.py").write_text("VALUE = 1\n")
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["new module src/pkg/extra.py: the map cannot know who imports it"]


def test_deleted_file_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "src/pkg/text.py").unlink()
    selection = retest(baseline, project)
    assert selection.everything and ids(selection) == ALL_TESTS
    assert selection.reasons == ["src/pkg/text.py deleted: the map cannot know who needed it"]


def test_data_file_change_selects_everything(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    (project / "src/pkg/data.json").write_text('{"limit": 4}\n')
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["src/pkg/data.json changed: a data file the code may read"]
    # the map knew nothing of data.json, yet the change broke a test: the widening caught it
    ran = run_selected(project, selection, tmp_path / "art")
    assert ran["tests/test_loader.py::test_load"] == "failed"


def test_requirements_change_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "requirements.txt").write_text("attrs>=23\n")
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["requirements.txt changed: dependencies"]


def test_project_dependencies_change_selects_everything(baseline: Baseline, project: Path) -> None:
    edit(project, "pyproject.toml", 'dependencies = ["attrs"]', 'dependencies = ["attrs>=23"]')
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == ["pyproject.toml [project.dependencies] changed (dependencies)"]


def test_lock_file_added_selects_everything(baseline: Baseline, project: Path) -> None:
    (project / "uv.lock").write_text("version = 1\n")
    assert retest(baseline, project).everything


def test_unknown_changes_select_everything(baseline: Baseline, project: Path) -> None:
    shutil.rmtree(project / ".git")
    selection = select(
        project,
        changes=changes_since(project, commit=baseline.commit, snapshot=None),
        test_map=baseline.test_map,
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file="passcycle.toml",
    )
    assert selection.everything and ids(selection) == ALL_TESTS
    assert selection.reasons[0].startswith("cannot tell what changed")


def test_no_map_selects_everything(baseline: Baseline, project: Path) -> None:
    edit(project, "src/pkg/calc.py", "return a - b", "return b - a")
    selection = select(
        project,
        changes=changes_since(project, commit=baseline.commit, snapshot=None),
        test_map={},
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file=None,
    )
    assert selection.everything
    assert selection.reasons == ["src/pkg/calc.py changed and the run has no coverage map"]


def test_test_helper_change_selects_its_importers(baseline: Baseline, project: Path) -> None:
    (project / "tests/helpers.py").write_text("WORD = 'a'\n")
    edit(project, "tests/test_text.py", "from pkg.text", "from helpers import WORD\nfrom pkg.text")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "helpers")
    commit = git(project, "rev-parse", "HEAD").strip()
    (project / "tests/helpers.py").write_text("WORD = 'b'\n")
    selection = select(
        project,
        changes=changes_since(project, commit=commit, snapshot=None),
        test_map=baseline.test_map,
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file=None,
    )
    assert not selection.everything
    assert selection.args == ["tests/test_text.py"]


def test_conftest_outside_the_suite_widens_nothing(baseline: Baseline, project: Path) -> None:
    # docs/ holds no test of the suite; src/pkg holds none either: pytest pointed at them
    # would import code of no concern to the project (another project's conftest, even)
    (project / "docs").mkdir()
    (project / "docs/conftest.py").write_text("raise ImportError('sphinx only')\n")
    (project / "src/pkg/conftest.py").write_text("import pytest\n")
    selection = retest(baseline, project)
    assert selection.tests == [] and selection.reasons == [] and not selection.everything
    assert sorted(selection.ignored) == [
        "docs/conftest.py: outside the source and tests",
        "src/pkg/conftest.py: no test of the suite under src/pkg",
    ]


def test_reasons_name_the_import_chain(baseline: Baseline, project: Path, tmp_path: Path) -> None:
    (project / "src/pkg/util.py").write_text("LIMIT = 3\n")
    (project / "src/pkg/api.py").write_text("from pkg.util import LIMIT\n\nDEFAULT = LIMIT * 2\n")
    (project / "tests/test_default.py").write_text(
        "from pkg.api import DEFAULT\n\n\ndef test_default():\n    assert DEFAULT == 6\n"
    )
    edit(project, "tests/api/conftest.py", "import pytest", "import pytest\nimport pkg.api")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "api")
    base = git(project, "rev-parse", "HEAD").strip()
    edit(project, "src/pkg/util.py", "LIMIT = 3", "LIMIT = 4")
    selection = select(
        project,
        changes=changes_since(project, commit=base, snapshot=None),
        test_map=baseline.test_map,
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file=None,
    )
    why = "module-level change at src/pkg/util.py:1"
    assert selection.reasons == [
        f"{why}, imported by tests/api/conftest.py via src/pkg/api.py: every test under tests/api"
    ]
    assert (
        "tests/test_default.py",
        f"imports src/pkg/util.py via src/pkg/api.py ({why})",
    ) in [(t.nodeid, t.reason) for t in selection.tests]
    assert sorted(selection.args) == ["tests/api", "tests/test_default.py"]
    ran = run_selected(project, selection, tmp_path / "art")
    assert ran == {
        "tests/test_default.py::test_default": "failed",
        "tests/api/test_api.py::test_greeting": "passed",
    }
