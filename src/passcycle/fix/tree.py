"""The project's own files: what a change can be made of, and the folders that never are.

Never the project's own, in a git repository or not: virtual environments (a folder holding
`pyvenv.cfg` or `conda-meta/history`, as pytest tells them, and `.venv`, `venv`, `env` at the
project's root by convention), installed packages (`site-packages`, `dist-packages`), build
output (`build`, `dist`, `*.egg-info`) and tools' caches. A package (a folder with an
`__init__.py`) named `build` or `env` is the project's: pypa/build's source is `src/build`.
In a git repository, what git ignores is not the project's either: git's own rules decide
(`git ls-files --exclude-standard`), never a matcher of ours.

An untracked `.venv` that the project's .gitignore forgot holds thousands of files and
conftest.py files of other projects; counting them as changes sent `retest` into
site-packages, where pytest failed to import numpy's conftest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from passcycle.vcs import git

ENVIRONMENT_NAMES: frozenset[str] = frozenset({".venv", "venv", "env"})  # at the root
OUTPUT_NAMES: frozenset[str] = frozenset({"build", "dist"})  # unless a package
PACKAGE_FOLDERS: frozenset[str] = frozenset({"site-packages", "dist-packages"})
CACHE_FOLDERS: frozenset[str] = frozenset(
    {
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        "htmlcov",
        "node_modules",
        ".passcycle",
        ".git",
    }
)
SKIPPED_SUFFIXES: tuple[str, ...] = (".pyc", ".pyo")


def is_environment(folder: Path) -> bool:
    """A virtual environment (PEP 405's pyvenv.cfg) or a conda one, as pytest's `_in_venv`
    tells them, so that we skip what pytest itself would not collect."""
    try:
        return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta" / "history").is_file()
    except OSError:
        return False


class Tree:
    """The files of the project under `root`; paths are relative, with forward slashes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._foreign: dict[str, bool] = {}

    def foreign_folder(self, folder: str) -> bool:
        """`folder` is, or lies in, a folder that is not the project's own (see above)."""
        if folder in ("", "."):
            return False
        known = self._foreign.get(folder)
        if known is None:
            parent, _, name = folder.rpartition("/")
            known = self.foreign_folder(parent) or self._foreign_name(folder, name)
            self._foreign[folder] = known
        return known

    def _foreign_name(self, folder: str, name: str) -> bool:
        if name in CACHE_FOLDERS or name in PACKAGE_FOLDERS:
            return True
        if name.endswith((".egg-info", ".egg")):
            return True
        path = self.root / folder
        conventional = name in OUTPUT_NAMES or (name in ENVIRONMENT_NAMES and folder == name)
        if conventional and not (path / "__init__.py").is_file():
            return True
        return is_environment(path)

    def own(self, path: str) -> bool:
        """`path` can be part of a change: not compiled, not in a foreign folder."""
        if not path or path.endswith(SKIPPED_SUFFIXES):
            return False
        return not self.foreign_folder(path.rpartition("/")[0])

    # -- listing --

    def walk(self, folder: str) -> Iterator[str]:
        """The project's files under `folder`, without git: foreign and hidden folders and
        hidden files are skipped."""
        base = self.root / folder
        if base.is_file():
            if self.own(folder):
                yield folder
            return
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath).relative_to(self.root).as_posix()
            prefix = "" if here == "." else here + "/"
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not self.foreign_folder(prefix + d)
            )
            for name in sorted(filenames):
                if not name.startswith(".") and not name.endswith(SKIPPED_SUFFIXES):
                    yield prefix + name

    def tracked(self, folders: Iterable[str]) -> list[str] | None:
        """Files git tracks under `folders` (deleted ones too); None outside a git work tree."""
        listed = self._git("ls-files", "-z", "--cached", "--", *_specs(folders))
        return None if listed is None else [p for p in listed if self.own(p)]

    def untracked(self) -> list[str] | None:
        """Files git neither tracks nor ignores; None outside a git work tree.

        `--directory` names a wholly untracked folder once, so a forgotten `.venv` costs one
        line, not one per installed file; the folders of our own are listed file by file."""
        listed = self._git(
            "ls-files", "-z", "--others", "--exclude-standard", "--directory", "--", "."
        )
        if listed is None:
            return None
        files = [p for p in listed if not p.endswith("/")]
        folders = [p for p in listed if p.endswith("/") and not self.foreign_folder(p[:-1])]
        if folders:
            inside = self._git("ls-files", "-z", "--others", "--exclude-standard", "--", *folders)
            files.extend(inside or ())
        return sorted(p for p in files if self.own(p))

    def dirty(self) -> list[str]:
        """Tracked files whose content differs from HEAD's (staged or not)."""
        listed = self._git("diff", "--name-only", "-z", "--no-renames", "--relative", "HEAD")
        return [p for p in listed or () if self.own(p)]

    def _git(self, *args: str) -> list[str] | None:
        # literal pathspecs: a folder named `a[1]` is that folder, not a pattern
        out = git(self.root, "--literal-pathspecs", *args, timeout=60.0)
        return None if out is None else [p for p in out.split("\0") if p]


def _specs(folders: Iterable[str]) -> list[str]:
    return [f.strip("/") or "." for f in folders] or ["."]
