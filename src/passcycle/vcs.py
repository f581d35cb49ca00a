"""The project's git state: commit, branch and whether the work tree is dirty."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class GitState:
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False


def git(root: Path, *args: str, timeout: float = 10.0) -> str | None:
    """Run git in `root`; None when git is missing or `root` is not in a repository."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path) -> GitState:
    commit = git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitState()
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    return GitState(
        commit=commit.strip(),
        branch=(branch or "").strip() or None,
        dirty=bool(status and status.strip()),
    )


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@")


def changed_lines(root: Path, base: str, paths: tuple[str, ...] = ()) -> dict[str, set[int]] | None:
    """Lines added or changed in the work tree against `base`, per file (relative to the
    repository's top, as git names them); None when there is no git or no such base."""
    if git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}") is None:
        return None
    diff = git(root, "diff", "-U0", "--no-color", "--no-ext-diff", "--relative", base, "--", *paths)
    if diff is None:
        return None
    return parse_diff(diff)


def parse_diff(diff: str) -> dict[str, set[int]]:
    changed: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:].strip()
            if name == "/dev/null":
                current = None
                continue
            current = changed.setdefault(name.removeprefix("b/"), set())
        elif line.startswith("@@") and current is not None:
            match = _HUNK.match(line)
            if match:
                start = int(match["start"])
                count = int(match["count"]) if match["count"] is not None else 1
                current.update(range(start, start + count))
    return changed
