"""Started ahead, told later: pytest waits, before any conftest is imported, for the file
PASSCYCLE_WAIT names, which says what to run.

A re-test knows its tests only once it has read the history and the map, a third of a
second of passcycle's start-up; pytest's own start-up (the interpreter, pytest and its
plugins) takes about as long and needs none of that. So passcycle starts pytest first with
the plan's test paths and tells it the selection when it has one (suite/early.py): the
file is JSON `{"paths": [...], "replace": [...], "select": FILE|null}`: the words of
`replace` on the command line give way to `paths`, and `select` becomes PASSCYCLE_SELECT.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

STEP_SECONDS = 0.002
# passcycle kills a pytest it no longer needs; this is for a passcycle that could not
DEADLINE_SECONDS = 600.0


def wait_for_go(config: pytest.Config, args: list[str]) -> None:
    """Block until the file exists, then apply it to `args` (pytest's own list, which it
    parses after this hook) and to the early namespace that finds the initial conftests."""
    path = Path(os.environ.pop("PASSCYCLE_WAIT"))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise pytest.UsageError(f"passcycle: no selection arrived in {path}")
        time.sleep(STEP_SECONDS)
    go: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if go.get("select"):
        os.environ["PASSCYCLE_SELECT"] = go["select"]
    old, new = list(go.get("replace") or []), list(go.get("paths") or [])
    at = len(args)
    for word in old:
        if word in args:
            index = args.index(word)
            at = min(at, index)
            del args[index]
    args[min(at, len(args)) : min(at, len(args))] = new
    namespace = config.known_args_namespace
    kept = [word for word in namespace.file_or_dir if word not in old]
    namespace.file_or_dir = [*new, *kept]
