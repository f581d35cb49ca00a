"""`passcycle retest` after pyproject.toml changed into a file no TOML reader reads (pytest,
coverage and pip included): one line naming it, exit 2, nothing run nor recorded. An earlier
content that does not parse only widens the re-test."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import git

from passcycle.errors import ExitCode
from passcycle.fix.config import pyproject_change

PYPROJECT = (
    '[project]\nname = "pkg"\nversion = "1.0"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
)
# Far deeper than tomllib's recursion reaches, on line 8 of the file.
TOO_DEEP = PYPROJECT + "\n[tool.other]\nx = " + "[" * 2000 + "]" * 2000 + "\n"
MALFORMED = PYPROJECT + "\n[tool.other\n"
TEST_ADD = "from pkg import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


@pytest.fixture
def project(make_project, passcycle) -> Path:
    """A project whose plan is passcycle.toml, tested once at a commit."""
    root = make_project(
        {
            "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
            "pyproject.toml": PYPROJECT,
            "pkg/__init__.py": "def add(a, b):\n    return a + b\n",
            "tests/test_add.py": TEST_ADD,
        }
    )
    (root / ".gitignore").write_text(".passcycle/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    passcycle(root, "test", expect=0)
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TOO_DEEP, "pyproject.toml: line 9 (x): nested more than 64 levels deep"),
        (MALFORMED, "pyproject.toml: not valid TOML: Expected ']' at the end of a table"),
    ],
    ids=["too-deep", "malformed"],
)
@pytest.mark.parametrize("dry_run", [False, True], ids=["retest", "dry-run"])
def test_a_pyproject_no_reader_reads_is_one_line(
    project: Path, passcycle, text: str, expected: str, dry_run: bool
) -> None:
    (project / "pyproject.toml").write_text(text)
    args = ["retest", "--dry-run"] if dry_run else ["retest"]
    result = passcycle(project, *args, expect=ExitCode.USAGE_ERROR)
    assert result.stdout == ""
    error, tip = result.stderr.splitlines()
    assert error.startswith(f"error: {expected}"), error
    assert tip.startswith("Tip: ")
    runs = passcycle(project, "history", "--json", expect=0).json()["runs"]
    assert [r["kind"] for r in runs] == ["test"]  # no re-test recorded


def test_an_earlier_pyproject_that_does_not_parse_widens(make_project) -> None:
    # pytest cannot run at such a commit, so no run of the CLI starts there: the reason
    # is checked on the file's two contents, as git gives them
    root = make_project({"pyproject.toml": TOO_DEEP})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "deep")
    (root / "pyproject.toml").write_text(PYPROJECT)
    reason = pyproject_change(root, git(root, "rev-parse", "HEAD").strip())
    assert reason == "pyproject.toml changed and its earlier content does not parse"
