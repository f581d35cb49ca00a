"""The project's `.passcycle/` folder (history, run artifacts, reports): created with a
`.gitignore` of its own, as pytest does for `.pytest_cache`, so that it never shows in
`git status` whatever the project's own `.gitignore` says."""

from __future__ import annotations

import contextlib
from pathlib import Path

FOLDER = ".passcycle"
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
