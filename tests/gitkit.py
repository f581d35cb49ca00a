"""git for tests: a throw-away identity, no signing, stdout back; a committed project to edit."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def committed_project(root: Path, files: dict[str, str]) -> str:
    """Write `files` (dedented) under `root`, commit them as one repository: the commit."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    return git(root, "rev-parse", "HEAD").strip()


def edit(root: Path, relative: str, old: str, new: str) -> None:
    """Replace the first `old` in a file of the project; it must be there."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# A small committed project for re-test tests: two functions and three tests, one of which
# reads a file outside the source and the tests (no map can tie it to a test)
CALC_FILES = {
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
    ".gitignore": ".passcycle/\ncounter\n",
    "pkg/__init__.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "settings.txt": "fast\n",
    "tests/test_calc.py": """\
        from pathlib import Path

        from pkg import add, sub


        def test_add():
            assert add(1, 2) == 3


        def test_sub():
            assert sub(3, 1) == 2


        def test_mode():
            root = Path(__file__).parent.parent
            assert (root / "settings.txt").read_text().strip() == "fast"
    """,
}
