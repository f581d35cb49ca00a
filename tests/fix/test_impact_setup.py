"""Re-test selection for code that runs outside any test: while a test module is imported
(a class decorator), while a folder's conftest is imported, in wider fixtures. The map comes
from passcycle's runner on a real git project; recall is checked against the full suite."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from gitkit import committed_project, edit

from passcycle.fix.changes import changes_since
from passcycle.fix.impact import Selection, select
from passcycle.records import TestResult
from passcycle.suite.covmap import impact_maps
from passcycle.suite.runner import run_suite
from passcycle.suite.spec import SuiteOutcome, SuiteSpec

QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

FILES = {
    "pyproject.toml": """\
        [project]
        name = "pkg"
        version = "1.0"

        [tool.pytest.ini_options]
        pythonpath = ["src"]
    """,
    # `pkg.lazy` is imported when first used (as attrs imports `attr.validators`)
    "src/pkg/__init__.py": """\
        import importlib


        def __getattr__(name):
            if name == "lazy":
                return importlib.import_module("pkg.lazy")
            raise AttributeError(name)
    """,
    "src/pkg/lazy.py": """\
        def make_table():
            return {"a": 1}


        TABLE = make_table()


        def lookup(key):
            return TABLE[key]
    """,
    # the first test to use pkg.lazy imports it: make_table() runs inside that test alone
    "tests/test_lazy.py": """\
        import pkg


        def test_first():
            assert pkg.lazy.lookup("a") == 1


        def test_second():
            assert pkg.lazy.lookup("a") + 1 == 2
    """,
    "src/pkg/deco.py": """\
        REGISTRY = {}


        def register(cls):
            REGISTRY[cls.__name__] = cls
            return cls


        def lookup(name):
            return REGISTRY[name]
    """,
    # named() registers a function under a name: the decorator runs where `hello` is
    # defined, at import; no test runs hello's body
    "src/pkg/handlers.py": """\
        from pkg.deco import REGISTRY


        def named(name):
            def wrap(func):
                REGISTRY[name] = func
                return func

            return wrap


        @named("hello")
        def hello():
            return "hi"


        def unused():
            return 1
    """,
    "tests/test_handlers.py": """\
        import pkg.handlers
        from pkg.deco import REGISTRY


        def test_hello_is_registered():
            assert "hello" in REGISTRY
    """,
    "src/pkg/config.py": """\
        def load():
            return {"mode": "fast"}


        def describe(settings):
            return ", ".join(sorted(settings))
    """,
    "tests/conftest.py": """\
        import pytest

        from pkg.config import load


        @pytest.fixture(scope="session")
        def settings():
            return load()
    """,
    # register() runs while this module is imported, never inside its tests
    "tests/test_models.py": """\
        from pkg.deco import lookup, register


        @register
        class Point:
            pass


        def test_point_is_registered():
            assert lookup("Point") is Point


        def test_name():
            assert Point.__name__ == "Point"
    """,
    "tests/test_registry.py": """\
        import pytest

        from pkg.config import describe
        from pkg.deco import REGISTRY


        @pytest.fixture(scope="module")
        def described():
            return describe({"a": 1})


        def test_registry_is_a_dict():
            assert isinstance(REGISTRY, dict)


        def test_described(described):
            assert described == "a"
    """,
    "tests/test_settings.py": """\
        def test_mode(settings):
            assert settings["mode"] == "fast"


        def test_keys(settings):
            assert list(settings) == ["mode"]
    """,
    # register() runs while this folder's conftest is imported
    "tests/shapes/conftest.py": """\
        from pkg.deco import register


        @register
        class Shape:
            pass
    """,
    "tests/shapes/test_shape.py": """\
        from pkg.deco import lookup


        def test_shape():
            assert lookup("Shape").__name__ == "Shape"
    """,
}


@dataclass
class Baseline:
    root: Path
    commit: str
    results: list[TestResult]
    maps: tuple[dict, dict]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("setup") / "project"
    commit = committed_project(root, FILES)
    outcome = full_run(root, root.parent / "artifacts")
    assert {r.outcome for r in outcome.results} == {"passed"} and len(outcome.results) == 10
    assert outcome.coverage_file is not None
    return Baseline(
        root=root,
        commit=commit,
        results=outcome.results,
        maps=impact_maps(outcome.coverage_file, root),
    )


def full_run(root: Path, artifacts: Path) -> SuiteOutcome:
    spec = SuiteSpec(root=root, artifacts=artifacts, tests=["tests"], source=["src/pkg"])
    return run_suite(replace(spec, env=QUICK))


@pytest.fixture
def project(baseline: Baseline, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(baseline.root, root)
    return root


def retest(baseline: Baseline, root: Path) -> Selection:
    test_map, setup_map = baseline.maps
    return select(
        root,
        changes=changes_since(root, commit=baseline.commit, snapshot=None),
        test_map=test_map,
        setup_map=setup_map,
        last_results=baseline.results,
        recent_failure_rate={},
        durations={},
        source=["src/pkg"],
        tests=["tests"],
        plan_file=None,
    )


def failing(root: Path, artifacts: Path) -> set[str]:
    outcome = full_run(root, artifacts)
    return {r.nodeid for r in outcome.results if r.outcome != "passed"}


def test_the_map_keeps_setup_apart_from_tests(baseline: Baseline) -> None:
    test_map, setup_map = baseline.maps
    deco = "src/pkg/deco.py"
    register_body = 5
    # no test ran register(); the module and the folder that imported it did
    assert not any(register_body in files.get(deco, ()) for files in test_map.values())
    assert register_body in setup_map["tests/test_models.py"][deco]
    assert register_body in setup_map["tests/shapes"][deco]
    assert 2 in setup_map[""]["src/pkg/config.py"]  # load(), in a session fixture
    assert 6 in setup_map["tests/test_registry.py"]["src/pkg/config.py"]  # a module fixture
    assert not any(key.startswith("<") for key in test_map)


def test_class_decorator_change_selects_the_modules_that_ran_it(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    edit(project, "src/pkg/deco.py", "[cls.__name__] = cls", "[cls.__name__.lower()] = cls")
    selection = retest(baseline, project)
    chosen = {t.nodeid for t in selection.tests}
    assert chosen == {
        "tests/test_models.py::test_point_is_registered",
        "tests/test_models.py::test_name",
        "tests/shapes/test_shape.py::test_shape",
    }
    assert not selection.everything
    assert selection.reasons == [
        "register() in src/pkg/deco.py changed at line 5: "
        "it ran while tests/shapes was collected (its conftest files)"
    ]
    reasons = {t.nodeid: t.reason for t in selection.tests}
    assert reasons["tests/test_models.py::test_name"] == (
        "register() in src/pkg/deco.py changed at line 5: "
        "it ran while tests/test_models.py was imported or set up"
    )
    # every test the change broke is in the selection
    broken = failing(project, tmp_path / "full")
    assert broken == {"tests/test_models.py::test_point_is_registered",
                      "tests/shapes/test_shape.py::test_shape"}  # fmt: skip
    assert broken <= chosen


def test_a_change_to_what_a_lazy_import_ran_selects_every_user_of_the_module(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    edit(project, "src/pkg/lazy.py", 'return {"a": 1}', 'return {"a": 2}')
    selection = retest(baseline, project)
    chosen = {t.nodeid for t in selection.tests}
    assert chosen == {"tests/test_lazy.py::test_first", "tests/test_lazy.py::test_second"}
    assert {t.reason for t in selection.tests} == {
        "imports src/pkg/lazy.py (make_table() in src/pkg/lazy.py changed at line 2:"
        " it ran while src/pkg/lazy.py was imported)"
    }
    assert failing(project, tmp_path / "full") == chosen


def test_session_fixture_change_widens(baseline: Baseline, project: Path) -> None:
    edit(project, "src/pkg/config.py", 'return {"mode": "fast"}', 'return {"mode": "slow"}')
    selection = retest(baseline, project)
    assert selection.everything
    assert selection.reasons == [
        "load() in src/pkg/config.py changed at line 2: "
        "it ran in the session's setup (before collection, a fixture)"
    ]


def test_module_fixture_change_selects_its_module(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    edit(project, "src/pkg/config.py", "sorted(settings))", "sorted(settings)[1:])")
    selection = retest(baseline, project)
    chosen = {t.nodeid for t in selection.tests}
    assert chosen == {
        "tests/test_registry.py::test_registry_is_a_dict",
        "tests/test_registry.py::test_described",
    }
    assert failing(project, tmp_path / "full") == {"tests/test_registry.py::test_described"}


def test_a_changed_decorator_selects_what_reads_the_function(
    baseline: Baseline, project: Path, tmp_path: Path
) -> None:
    # hello's body never ran; its decorator did, at import, and now registers another name
    edit(project, "src/pkg/handlers.py", '@named("hello")', '@named("hullo")')
    selection = retest(baseline, project)
    chosen = {t.nodeid for t in selection.tests}
    assert chosen == {"tests/test_handlers.py::test_hello_is_registered"}
    assert selection.tests[0].reason == (
        "imports src/pkg/handlers.py (the definition of hello() changed at src/pkg/handlers.py:12)"
    )
    assert failing(project, tmp_path / "full") == chosen


def test_a_function_no_test_ran_selects_nothing_and_says_so(
    baseline: Baseline, project: Path
) -> None:
    edit(project, "src/pkg/handlers.py", "return 1", "return 2")
    selection = retest(baseline, project)
    assert selection.tests == [] and not selection.everything
    assert selection.ignored == [
        "src/pkg/handlers.py:18: unused() never ran in the last run: no test reaches it"
    ]
