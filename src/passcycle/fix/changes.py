"""Changes since a run: which files differ, and which lines, in the old and the new numbering.

Two sources, best first:

1. git: `git diff` of the work tree against the run's commit, plus untracked files. Each
   hunk keeps both numberings: the coverage map was recorded against the old file, the
   user edits the new one.
2. the run's snapshot (`files.json`: a content hash per file that matters): a file whose
   hash differs is changed as a whole; no line numbers.

With both, the snapshot corrects git: a run taken on a dirty work tree recorded its map
against the dirty files, not the commit, so a file that is unchanged since the run is
dropped, and one whose content at the run was not the commit's is changed as a whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.vcs import git

SNAPSHOT_FILE = "files.json"
OWN_FOLDER = ".passcycle"

# Config files that change how tests run or what they import (at the project root).
CONFIG_FILES: frozenset[str] = frozenset(
    {
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "tox.ini",
        "pytest.ini",
        ".coveragerc",
        "passcycle.toml",
        "conftest.py",
        "poetry.lock",
        "uv.lock",
        "Pipfile",
        "Pipfile.lock",
    }
)
# Folders never walked: tools' caches, environments, build output.
SKIPPED_DIRS: frozenset[str] = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "venv", "env", "htmlcov"}
)
SKIPPED_SUFFIXES: tuple[str, ...] = (".pyc", ".pyo", ".egg-info")


@dataclass(frozen=True, slots=True)
class Hunk:
    """One change: `old_count` lines from `old_start` became `new_count` lines from
    `new_start`. A count of 0 is a pure insertion (after `old_start`) or deletion."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int


@dataclass(frozen=True, slots=True)
class FileChange:
    old_lines: frozenset[int] = frozenset()  # changed or removed, numbered as in the old file
    new_lines: frozenset[int] = frozenset()  # changed or added, numbered as in the new file
    whole_file: bool = False  # the lines are not known: treat every line as changed
    hunks: tuple[Hunk, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Paths are relative to the project root, with forward slashes."""

    modified: Mapping[str, FileChange] = field(default_factory=dict)
    added: frozenset[str] = frozenset()
    deleted: frozenset[str] = frozenset()
    base: str | None = None  # the commit the old numbering refers to (git), else None
    known: bool = True  # False: neither git nor a snapshot could tell what changed
    note: str | None = None  # how the changes were found, or why they are unknown

    @property
    def empty(self) -> bool:
        return self.known and not (self.modified or self.added or self.deleted)

    @property
    def paths(self) -> set[str]:
        return set(self.modified) | set(self.added) | set(self.deleted)


# -- snapshot ---------------------------------------------------------------------------


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _walk(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".") and d not in SKIPPED_DIRS and not d.endswith(".egg-info")
        ]
        for name in filenames:
            if not name.endswith(SKIPPED_SUFFIXES) and not name.startswith("."):
                yield Path(dirpath, name)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def snapshot(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """Content hashes (blake2b) of the files a re-test depends on: every file under `paths`
    (the plan's source and tests folders, or single modules), the config files at the root,
    requirements*.txt and conftest.py files."""
    root = root.resolve()
    found: set[Path] = set()
    for entry in paths:
        target = (root / entry).resolve()
        if target.is_file():
            found.add(target)
        elif target.is_dir():
            found.update(_walk(target))
    for name in CONFIG_FILES:
        if (root / name).is_file():
            found.add(root / name)
    found.update(p for p in root.glob("requirements*.txt") if p.is_file())
    hashes = {}
    for path in found:
        try:
            relative = _relative(path, root)
        except ValueError:  # a source folder outside the root (a symlink): not ours to watch
            continue
        try:
            hashes[relative] = _hash(path.read_bytes())
        except OSError:
            continue
    return dict(sorted(hashes.items()))


def save_snapshot(path: Path, snap: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(dict(snap), indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # a killed run never leaves half a snapshot


def load_snapshot(path: Path) -> dict[str, str] | None:
    """The saved snapshot, or None when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


# -- git --------------------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_diff(diff: str) -> tuple[dict[str, FileChange], set[str], set[str]]:
    """`git diff -U0 --no-renames` read as (modified, added, deleted)."""
    hunks: dict[str, list[Hunk]] = {}
    binary: set[str] = set()
    added: set[str] = set()
    deleted: set[str] = set()
    old_name = new_name = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            old_name = new_name = None
        elif line.startswith("--- "):
            name = line[4:].strip()
            old_name = None if name == "/dev/null" else name.removeprefix("a/")
        elif line.startswith("+++ "):
            name = line[4:].strip()
            new_name = None if name == "/dev/null" else name.removeprefix("b/")
            if old_name is None and new_name is not None:
                added.add(new_name)
            elif new_name is None and old_name is not None:
                deleted.add(old_name)
            elif new_name is not None:
                hunks.setdefault(new_name, [])
        elif line.startswith("Binary files "):
            match = re.match(r"Binary files (?:a/)?(.+?) and (?:b/)?(.+?) differ", line)
            if match:
                old, new = match.groups()
                if old == "/dev/null":
                    added.add(new)
                elif new == "/dev/null":
                    deleted.add(old)
                else:
                    binary.add(new)
        elif line.startswith("@@") and new_name is not None and new_name in hunks:
            match = _HUNK.match(line)
            if match:
                a, b, c, d = match.groups()
                hunks[new_name].append(
                    Hunk(int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d))
                )
    modified = {name: _file_change(found) for name, found in hunks.items() if found}
    modified.update({name: FileChange(whole_file=True) for name in binary})
    return modified, added, deleted


def _file_change(hunks: list[Hunk]) -> FileChange:
    old: set[int] = set()
    new: set[int] = set()
    for h in hunks:
        old.update(range(h.old_start, h.old_start + h.old_count))
        new.update(range(h.new_start, h.new_start + h.new_count))
    return FileChange(frozenset(old), frozenset(new), False, tuple(hunks))


def _own(path: str) -> bool:
    """passcycle's own artifacts (runs, history) are no change to the project."""
    return path == OWN_FOLDER or path.startswith(OWN_FOLDER + "/")


def old_content(root: Path, commit: str, path: str) -> str | None:
    """The text of `path` (relative to `root`) at `commit`, or None."""
    return git(root, "show", f"{commit}:./{path}")


def _git_changes(root: Path, commit: str) -> ChangeSet | None:
    if git(root, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}") is None:
        return None
    diff = git(
        root,
        "diff",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--relative",
        commit,
        "--",
        ".",
        timeout=60.0,
    )
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "--", ".")
    if diff is None or untracked is None:
        return None
    modified, added, deleted = parse_diff(diff)
    added.update(line for line in untracked.splitlines() if line.strip())
    modified = {p: c for p, c in modified.items() if not _own(p)}
    added = {p for p in added if not _own(p)}
    deleted = {p for p in deleted if not _own(p)}
    return ChangeSet(modified, frozenset(added), frozenset(deleted), base=commit, note="git")


def _snapshot_changes(root: Path, snap: Mapping[str, str]) -> ChangeSet:
    current = snapshot(root, _folders(snap))
    modified = {
        p: FileChange(whole_file=True) for p, h in current.items() if p in snap and snap[p] != h
    }
    added = frozenset(p for p in current if p not in snap)
    deleted = frozenset(p for p in snap if p not in current)
    return ChangeSet(modified, added, deleted, note="file hashes")


def _folders(snap: Mapping[str, str]) -> list[str]:
    """The folders and files a snapshot covered, to take a new one alike: per top-level
    name, the deepest folder holding all of its files (`src/pkg`, `tests`)."""
    groups: dict[str, list[str]] = {}
    for path in snap:
        groups.setdefault(path.split("/", 1)[0], []).append(path)
    folders = []
    for top, files in groups.items():
        if files == [top]:
            folders.append(top)  # a file at the root
        else:
            folders.append(os.path.commonpath([f.rsplit("/", 1)[0] for f in files]))
    return sorted(folders)


def _in_scope(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f + "/") for f in folders)


def _reconcile(root: Path, changes: ChangeSet, snap: Mapping[str, str]) -> ChangeSet:
    """git's view, corrected by what the files were at the run (see the module docstring).
    Files outside the snapshot's folders keep git's view."""
    folders = _folders(snap)
    now = snapshot(root, folders)
    modified: dict[str, FileChange] = {}
    added: set[str] = set()
    deleted: set[str] = set()
    for path, change in changes.modified.items():
        if path in snap:
            if now.get(path) == snap[path]:
                continue  # the same as when the map was recorded
            before = old_content(root, changes.base, path) if changes.base else None
            if before is None or _hash(before.encode()) != snap[path]:
                change = FileChange(whole_file=True)  # dirty at the run: numbering unknown
            modified[path] = change
        elif _in_scope(path, folders):
            added.add(path)  # absent when the run was taken
        else:
            modified[path] = change
    for path in changes.added:
        if path not in snap:
            added.add(path)
        elif now.get(path) != snap[path]:
            modified[path] = FileChange(whole_file=True)
    for path in changes.deleted:
        if path in snap or not _in_scope(path, folders):
            deleted.add(path)
    # changed since the run although git sees no change against the commit (reverted edits)
    seen = changes.paths
    for path, digest in now.items():
        if path not in seen and path in snap and snap[path] != digest:
            modified[path] = FileChange(whole_file=True)
        elif path not in seen and path not in snap:
            added.add(path)  # present at the commit, absent at the run
    deleted.update(path for path in snap if path not in now)
    return ChangeSet(
        modified,
        frozenset(added),
        frozenset(deleted),
        base=changes.base,
        note="git, checked against the run's file hashes",
    )


def changes_since(
    root: Path, *, commit: str | None, snapshot: Mapping[str, str] | None
) -> ChangeSet:
    """What changed in the project since a run taken at `commit` with file hashes `snapshot`."""
    snap = snapshot
    found = _git_changes(root, commit) if commit else None
    if found is not None:
        return _reconcile(root, found, snap) if snap else found
    if snap:
        return _snapshot_changes(root, snap)
    why = f"commit {commit[:12]} is not in this repository" if commit else "no git commit"
    return ChangeSet(known=False, note=f"{why} and no file hashes from the run")
