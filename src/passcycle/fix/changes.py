"""Changes since a run: which files differ, and which lines, in the old and the new numbering.

Two sources, best first:

1. git: `git diff` of the work tree against the run's commit, plus untracked files. Each
   hunk keeps both numberings: the coverage map was recorded against the old file, the
   user edits the new one.
2. the run's snapshot (`files.json`: a content hash per file that matters): a file whose
   hash differs is changed as a whole; no line numbers.

With both, the snapshot corrects git: a run taken on a dirty work tree recorded its map
against the dirty files, not the commit, so a file that is unchanged since the run is
dropped, and one whose content at the run was not the commit's is changed as a whole. An
untracked file is new only if it appeared after the run: one that was there, unchanged, is
no change.

Either way only the project's own files count (fix/tree.py): never a virtualenv, installed
packages, build output, caches, or what git ignores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from passcycle.fix.tree import Tree
from passcycle.vcs import git

if TYPE_CHECKING:
    from passcycle.records import Run

SNAPSHOT_FILE = "files.json"

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

# Past this size a file is told by its size and modification time: an untracked data file
# of gigabytes must not be read at every run.
LARGE_FILE = 32 * 1024 * 1024


class Snapshot(Mapping[str, str]):
    """File -> content hash at a run, and the folders it was taken over (the plan's source
    and tests). Beside the files under those folders it holds the config files at the root
    and, in a git repository, every untracked file and every tracked file that differed
    from the commit: what the run saw that the commit does not say."""

    __slots__ = ("files", "folders")

    def __init__(self, files: Mapping[str, str], folders: Iterable[str]) -> None:
        self.files = dict(sorted(files.items()))
        self.folders = tuple(folders)

    def __getitem__(self, path: str) -> str:
        return self.files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"Snapshot({len(self.files)} files over {list(self.folders)})"


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _digest(path: Path) -> str | None:
    try:
        info = path.stat()
        if info.st_size > LARGE_FILE:
            return f"stat:{info.st_size}:{info.st_mtime_ns}"
        return _hash(path.read_bytes())
    except OSError:  # gone, or a folder (a submodule git lists as a file)
        return None


def _scope(root: Path, paths: Iterable[str]) -> list[str]:
    """The plan's folders and files, relative to `root`; those outside it are not ours."""
    found = []
    for entry in paths:
        target = (root / entry).resolve()
        try:
            relative = target.relative_to(root).as_posix()
        except ValueError:  # a source folder outside the root (a symlink): not ours to watch
            continue
        if relative not in found:
            found.append(relative)
    return found


def snapshot(root: Path, paths: Iterable[str], *, also: Iterable[str] = ()) -> Snapshot:
    """Content hashes (blake2b) of the files a re-test depends on: the project's own files
    under `paths` (the plan's source and tests folders, or single modules), the config files
    at the root, requirements*.txt, and in a git repository the untracked files and the
    tracked ones that differ from HEAD (see Snapshot); `also`: more files to hash."""
    root = root.resolve()
    tree = Tree(root)
    folders = _scope(root, paths)
    found: set[str] = set()
    untracked = tree.untracked()
    if untracked is None:  # no git: walk, skipping what is never the project's
        for folder in folders:
            found.update(tree.walk(folder))
    else:
        found.update(untracked)
        found.update(tree.tracked(folders) or () if folders else ())
        found.update(tree.dirty())
    found.update(name for name in CONFIG_FILES if (root / name).is_file())
    found.update(p.name for p in root.glob("requirements*.txt") if p.is_file())
    found.update(also)
    hashes = {}
    for relative in found:
        digest = _digest(root / relative)
        if digest is not None:
            hashes[relative] = digest
    return Snapshot(hashes, folders)


def save_snapshot(path: Path, snap: Snapshot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    data = {"folders": list(snap.folders), "files": snap.files}
    tmp.write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # a killed run never leaves half a snapshot


def load_snapshot(path: Path) -> Snapshot | None:
    """The saved snapshot, or None when there is none or it cannot be read. Runs recorded
    before the folders were kept hold the hashes alone: their folders are inferred."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    files, folders = data.get("files"), data.get("folders")
    if isinstance(files, dict) and isinstance(folders, list):
        return Snapshot({str(k): str(v) for k, v in files.items()}, map(str, folders))
    flat = {str(k): str(v) for k, v in data.items()}
    return Snapshot(flat, _folders(flat))


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


def old_content(root: Path, commit: str, path: str) -> str | None:
    """The text of `path` (relative to `root`) at `commit`, or None."""
    return git(root, "show", f"{commit}:./{path}")


def _git_changes(root: Path, commit: str) -> ChangeSet | None:
    if git(root, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}") is None:
        return None
    diff = git(
        root,
        "-c",
        "core.quotePath=false",
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
    tree = Tree(root)
    untracked = tree.untracked()
    if diff is None or untracked is None:
        return None
    modified, added, deleted = parse_diff(diff)
    added.update(untracked)
    # a committed virtualenv or build folder is no more the project's than an untracked one
    return ChangeSet(
        {p: c for p, c in modified.items() if tree.own(p)},
        frozenset(p for p in added if tree.own(p)),
        frozenset(p for p in deleted if tree.own(p)),
        base=commit,
        note="git",
    )


def _snapshot_changes(root: Path, snap: Snapshot) -> ChangeSet:
    current = snapshot(root, snap.folders)
    modified = {
        p: FileChange(whole_file=True) for p, h in current.items() if p in snap and snap[p] != h
    }
    added = frozenset(p for p in current if p not in snap)
    deleted = frozenset(p for p in snap if p not in current)
    return ChangeSet(modified, added, deleted, note="file hashes")


def _folders(snap: Mapping[str, str]) -> list[str]:
    """The folders and files a snapshot of an older run covered, to take a new one alike:
    per top-level name, the deepest folder holding all of its files (`src/pkg`, `tests`)."""
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


def _in_scope(path: str, folders: Iterable[str]) -> bool:
    return any(f in ("", ".") or path == f or path.startswith(f + "/") for f in folders)


def _reconcile(root: Path, changes: ChangeSet, snap: Snapshot) -> ChangeSet:
    """git's view, corrected by what the files were at the run (see the module docstring).
    Files the snapshot did not hash (tracked, outside its folders, clean at the run) keep
    git's view."""
    folders = snap.folders
    # every file hashed at the run is hashed again, wherever it is: an untracked file or a
    # dirty one outside the folders that is gone or reverted since is a change too
    now = snapshot(root, folders, also=snap)
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
            added.add(path)  # appeared after the run
        elif now.get(path) != snap[path]:
            modified[path] = FileChange(whole_file=True)
        # else: untracked, or new to git, but there unchanged at the run: no change
    for path in changes.deleted:
        if path in snap or not _in_scope(path, folders):
            deleted.add(path)
    # changed since the run although git sees no change against the commit (reverted edits)
    seen = changes.paths
    for path, digest in now.items():
        if path not in seen and path in snap and snap[path] != digest:
            modified[path] = FileChange(whole_file=True)
        elif path not in seen and path not in snap and _in_scope(path, folders):
            added.add(path)  # present at the commit, absent at the run
    deleted.update(path for path in snap if path not in now)
    return ChangeSet(
        modified,
        frozenset(added),
        frozenset(deleted),
        base=changes.base,
        note="git, checked against the run's file hashes",
    )


def changes_since_run(root: Path, run: Run) -> ChangeSet:
    """What changed in the project since `run`: from its commit and the hashes it kept."""
    snap = load_snapshot(root / (run.artifacts or "") / SNAPSHOT_FILE)
    return changes_since(root, commit=run.commit, snapshot=snap)


def changes_since(root: Path, *, commit: str | None, snapshot: Snapshot | None) -> ChangeSet:
    """What changed in the project since a run taken at `commit` with file hashes `snapshot`."""
    snap = snapshot
    found = _git_changes(root, commit) if commit else None
    if found is not None:
        return _reconcile(root, found, snap) if snap else found
    if snap:
        return _snapshot_changes(root, snap)
    why = f"commit {commit[:12]} is not in this repository" if commit else "no git commit"
    return ChangeSet(known=False, note=f"{why} and no file hashes from the run")
