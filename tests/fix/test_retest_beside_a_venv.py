"""`passcycle retest` on a project with a virtualenv in its folder that git was not told to
ignore (what `python -m venv .venv` leaves): the re-test runs what pytest would run, and
exits as pytest would, with git and without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import git

PROJECT = {
    "pyproject.toml": """\
        [project]
        name = "pkg"
        version = "1.0"

        [tool.pytest.ini_options]
        pythonpath = ["src"]
    """,
    "src/pkg/__init__.py": "",
    "src/pkg/calc.py": """\
        def add(a, b):
            return a + b


        def sub(a, b):
            return a - b
    """,
    "tests/test_calc.py": """\
        from pkg.calc import add, sub


        def test_add():
            assert add(1, 2) == 3


        def test_sub():
            assert sub(3, 1) == 2
    """,
    "tests/test_more.py": """\
        from pkg.calc import add


        def test_add_more():
            assert add(2, 2) == 4
    """,
}
FAKEPKG = "lib/python3.11/site-packages/fakepkg"
BROKEN = ("return a - b", "return b - a")  # one line: the change that breaks test_sub
HARMLESS = ("return a - b", "return -(b - a)")  # one line: same results


def add_venv(root: Path, name: str) -> None:
    """A virtualenv as `python -m venv` lays it out, with an installed package whose
    conftest.py cannot be imported here (as numpy's needs its test dependencies)."""
    (root / name).mkdir()
    (root / name / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.7\n")
    package = root / name / FAKEPKG
    (package / "tests").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "conftest.py").write_text("raise ImportError('fakepkg needs its test extras')\n")
    (package / "tests/test_x.py").write_text("def test_x():\n    pass\n")


def edit(root: Path, old: str, new: str) -> None:
    path = root / "src/pkg/calc.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# What a one-line change to `sub` selects: with git, the changed line's tests; with file
# hashes alone the lines are unknown, so every test that ran calc.py.
SELECTED = {
    "git": ["tests/test_calc.py::test_sub"],
    "file hashes": ["tests/test_calc.py", "tests/test_more.py"],
}


@pytest.fixture(params=sorted(SELECTED))
def project(request: pytest.FixtureRequest, make_project) -> tuple[Path, str]:
    root = make_project(PROJECT)
    if request.param == "git":
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "initial")
    add_venv(root, ".venv")  # after the commit: untracked, and .gitignore does not list it
    return root, request.param


def test_retest_selects_only_the_changed_functions_tests(
    project: tuple[Path, str], passcycle
) -> None:
    root, how = project
    passcycle(root, "run", expect=0)
    (root / ".venv" / FAKEPKG / "conftest.py").write_text("raise ImportError('upgraded')\n")
    edit(root, *BROKEN)
    text = passcycle(root, "retest", "--dry-run", expect=0).stdout
    assert ".venv" not in text and "widened" not in text, text
    dry = passcycle(root, "retest", "--dry-run", "--json", expect=0).json()
    assert sorted(dry["selection"]["args"]) == SELECTED[how]  # in recorded-duration order
    assert dry["selection"]["reasons"] == [] and not dry["selection"]["everything"]
    ran = len(dry["selection"]["tests"])

    # pytest's verdict: 1 when the change breaks the test...
    broken = passcycle(root, "retest", "--json", expect=1).json()
    assert broken["counts"]["failed"] == 1 and sum(broken["counts"].values()) == ran
    assert "fakepkg" not in str(broken)

    # ...0 when it does not (the run re-tested is still the full one, not the re-test)
    edit(root, BROKEN[1], HARMLESS[1])
    fixed = passcycle(root, "retest", "--json", expect=0).json()
    assert fixed["counts"]["passed"] == ran == sum(fixed["counts"].values())


def test_a_virtualenv_of_any_name_inside_a_flat_project(make_project, passcycle) -> None:
    # no tests folder: the tests are the whole folder, the virtualenv is inside them
    root = make_project(
        {
            "calc.py": PROJECT["src/pkg/calc.py"],
            "test_calc.py": PROJECT["tests/test_calc.py"].replace("pkg.calc", "calc"),
        }
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    add_venv(root, "py311")
    passcycle(root, "run", expect=0)
    # an upgrade in the virtualenv since the run, then the one-line change
    (root / "py311" / FAKEPKG / "conftest.py").write_text("raise ImportError('upgraded')\n")
    (root / "py311" / FAKEPKG / "tests/test_y.py").write_text("def test_y():\n    pass\n")
    (root / "calc.py").write_text((root / "calc.py").read_text().replace(*BROKEN))
    done = passcycle(root, "retest", "--json", expect=1).json()
    assert "py311" not in str(done["selection"])
    assert done["selection"]["args"] == ["test_calc.py::test_sub"]
    assert done["counts"]["failed"] == 1 and sum(done["counts"].values()) == 1


def test_untracked_files_count_only_when_they_appeared_after_the_run(
    make_project, passcycle
) -> None:
    root = make_project(PROJECT)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    # untracked before the run: data the code may read, were it new
    (root / "src/pkg/table.csv").write_text("a,b\n")
    passcycle(root, "run", expect=0)
    edit(root, *BROKEN)
    dry = passcycle(root, "retest", "--dry-run", "--json", expect=0).json()
    assert dry["selection"]["args"] == ["tests/test_calc.py::test_sub"]

    (root / "src/pkg/extra.csv").write_text("c\n")  # after the run: the map cannot know it
    dry = passcycle(root, "retest", "--dry-run", "--json", expect=0).json()
    assert dry["selection"]["everything"]
    assert dry["selection"]["reasons"] == [
        "new file src/pkg/extra.csv under the source or tests: the code may read it"
    ]


def test_virtualenvs_inside_the_tests_folder_without_git(make_project, passcycle) -> None:
    root = make_project(PROJECT)
    add_venv(root, "tests/.venv")
    add_venv(root, "tests/env311")
    passcycle(root, "run", expect=0)
    (root / "tests/env311" / FAKEPKG / "conftest.py").write_text("raise ImportError('new')\n")
    (root / "tests/env311" / FAKEPKG / "tests/test_y.py").write_text("def test_y(): pass\n")
    edit(root, *BROKEN)
    done = passcycle(root, "retest", "--json", expect=1).json()
    assert sorted(done["selection"]["args"]) == SELECTED["file hashes"]  # duration order
    assert done["counts"]["failed"] == 1 and sum(done["counts"].values()) == 3
