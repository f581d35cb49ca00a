"""Tests that fail on demand: a project's `tests/fails.py` reads `fails.txt`, which lies
outside the source and the tests, so saying which tests fail changes no code."""

from __future__ import annotations

from pathlib import Path

FILES = {
    ".gitignore": ".passcycle/\nfails.txt\n",
    "tests/fails.py": """\
        from pathlib import Path


        def failing(name):
            path = Path(__file__).parent.parent / "fails.txt"
            return path.exists() and name in path.read_text().split()
    """,
}


def fail_only(root: Path, *names: str) -> None:
    """From now on the tests that call `failing(name)` with one of `names` fail."""
    (root / "fails.txt").write_text(" ".join(names) + "\n", encoding="utf-8")
