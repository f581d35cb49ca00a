"""The project's own files: environments, installed packages, build output and what git
ignores are never listed, with git or without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import git

from passcycle.fix.tree import Tree

OWN = {
    "src/pkg/__init__.py",
    "src/pkg/env/__init__.py",  # a package named env is code of the project
    "src/build/__init__.py",  # pypa/build's layout: a package named build
    "tests/test_a.py",
    "tests/env/test_env.py",  # `env` deep in the tests is no virtualenv
    "tests/venvs/conftest.py",
    "tools/check.py",
    "README.md",
}
FOREIGN = {
    ".venv/pyvenv.cfg",
    ".venv/lib/python3.11/site-packages/fakepkg/conftest.py",
    "py311/pyvenv.cfg",  # any name: pyvenv.cfg tells a virtualenv
    "py311/lib/python3.11/site-packages/fakepkg/__init__.py",
    "tools/sandbox/pyvenv.cfg",  # nested, inside a folder of the project's own
    "tools/sandbox/bin/activate_this.py",
    "condaenv/conda-meta/history",
    "condaenv/lib/tools.py",
    "venv/bin/activate_this.py",  # the convention, even without pyvenv.cfg
    "env/lib/thing.py",
    "vendor/lib/python3.11/dist-packages/x.py",
    "build/lib/pkg/conftest.py",
    "dist/pkg-1.0.tar.gz",
    "src/pkg.egg-info/PKG-INFO",
    "src/pkg/__pycache__/calc.cpython-311.pyc",
    ".tox/py311/log.txt",
    ".nox/tests/x.py",
    ".mypy_cache/3.11/x.json",
    ".pytest_cache/v/cache/lastfailed",
    ".ruff_cache/content",
    "node_modules/left-pad/index.js",
    ".passcycle/history.db",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for relative in OWN | FOREIGN:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    return root


def test_foreign_folders_are_told_apart(project: Path) -> None:
    tree = Tree(project)
    assert {p for p in OWN if not tree.own(p)} == set()
    assert {p for p in FOREIGN if tree.own(p)} == set()


def test_walk_without_git_lists_only_the_projects_files(project: Path) -> None:
    assert set(Tree(project).walk(".")) == OWN
    assert set(Tree(project).walk("tools")) == {"tools/check.py"}


def test_outside_git_nothing_is_tracked(project: Path) -> None:
    assert Tree(project).tracked(["."]) is None
    assert Tree(project).untracked() is None


def test_git_lists_untracked_files_by_its_own_ignore_rules(project: Path) -> None:
    (project / ".gitignore").write_text("/generated/\n*.log\n")
    (project / "generated").mkdir()
    (project / "generated/data.py").write_text("")
    (project / "tests/run.log").write_text("")
    git(project, "init", "-q")
    tree = Tree(project)
    # nothing tracked yet: every own file is untracked; ignored and foreign ones are not
    assert set(tree.untracked() or ()) == OWN | {".gitignore"}
    assert tree.tracked(["."]) == []
    git(project, "add", "src", "tests")
    assert set(tree.tracked(["tests"]) or ()) == {
        "tests/test_a.py",
        "tests/env/test_env.py",
        "tests/venvs/conftest.py",
    }
    assert set(tree.untracked() or ()) == {"tools/check.py", "README.md", ".gitignore"}


def test_a_committed_environment_is_still_not_the_projects(project: Path) -> None:
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "everything, venv too")
    assert set(Tree(project).tracked(["."]) or ()) == OWN
