"""Why pytest did not start, in one line, from the tail of its log."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from passcycle.errors import PytestUsageError, RunError

# pytest's line when a conftest loaded at start fails (_pytest/config: ConftestImportFailure)
_CONFTEST_FAILED = re.compile(r"^ImportError while loading conftest '(.+)'\.$", re.M)


def refusal(tail: str, root: Path, python: str) -> PytestUsageError | RunError:
    """pytest exited 4 before running anything: its command line was wrong, or a conftest
    failed to import (the project's error, not the user's)."""
    conftest = _CONFTEST_FAILED.search(tail)
    if conftest:
        path = Path(conftest.group(1))
        with contextlib.suppress(ValueError):
            path = path.relative_to(root)
        raised = re.findall(r"^E   (.+)$", tail[conftest.end() :], re.M)
        why = raised[-1].strip() if raised else "see the log"
        return RunError(
            f"cannot import {path}: {why}",
            hint=f"pytest stopped before collecting; `{python} -m pytest` shows the traceback",
        )
    return PytestUsageError(
        f"pytest usage error: {first_error(tail)}",
        hint="check the plan's [project] tests and pytest_args, and the arguments after --",
    )


def first_error(tail: str) -> str:
    """pytest's own line saying what is wrong with its command line."""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for line in lines:
        # argparse: "python -m pytest: error: unrecognized arguments: -x" (pytest >= 9.2
        # prints "ERROR: usage: ..." first, so the program name may hold spaces)
        found = re.search(r": error: (.+)$", line)
        if found:
            return found.group(1).strip()
    first = next((ln for ln in lines if ln.startswith("ERROR:")), lines[0] if lines else "")
    return first.removeprefix("ERROR:").strip()


def start_hint(tail: str, root: Path, python: str) -> str:
    """What to do when pytest stopped before collecting anything."""
    if "No module named pytest" in tail:
        return f"install pytest in that interpreter: {python} -m pip install pytest"
    if "coverage is not installed" in tail:
        return f"install coverage there: {python} -m pip install coverage"
    return f"run `{python} -m pytest` in {root} to see the problem"
