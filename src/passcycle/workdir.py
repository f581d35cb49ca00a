"""The project's `.passcycle/` folder (history, run artifacts, reports): created with a
`.gitignore` of its own, as pytest does for `.pytest_cache`, so that it never shows in
`git status` whatever the project's own `.gitignore` says."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

FOLDER = ".passcycle"
HISTORY_ENV = "PASSCYCLE_DB"
HISTORY_PATH = Path(FOLDER) / "history.db"
# sqlite:///relative/path or sqlite:////absolute/path, with no query: a file, found without
# importing the database layer (fix/brief.py stats it)
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///([^?#]+)")
_IGNORE = "# created by passcycle: nothing here belongs in version control\n*\n"


def make_folder(folder: Path) -> Path:
    """mkdir -p `folder`; every `.passcycle` folder on its way gets its `.gitignore`."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in (folder, *folder.parents):
        if part.name == FOLDER:
            ignore = part / ".gitignore"
            if not ignore.exists():
                # a read-only folder keeps what it has; the run goes on
                with contextlib.suppress(OSError):
                    ignore.write_text(_IGNORE, encoding="utf-8")
            break
    return folder


def history_url(url: str | None, root: Path, plan_url: str | None = None) -> str:
    """The history URL as given, before it is parsed: the one place its sources are ranked,
    later wins: sqlite:///<root>/.passcycle/history.db, the plan's `history` (`plan_url`),
    PASSCYCLE_DB, then `url` (--db)."""
    return url or os.environ.get(HISTORY_ENV) or plan_url or f"sqlite:///{root / HISTORY_PATH}"


def sqlite_file(url: str, root: Path) -> Path | None:
    """The file of a plain SQLite history URL (relative paths from `root`); None for any
    other URL."""
    found = _SQLITE_FILE.fullmatch(url)
    if found is None or found.group(1) == ":memory:":
        return None
    return root / found.group(1)
