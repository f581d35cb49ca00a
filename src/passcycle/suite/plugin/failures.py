"""A failure's details, taken where the exception is (an xdist worker, or the one process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from .text import bounded_head

FRAME_LIMIT = 60
# Frames in pytest's own machinery are not the user's traceback.
_INTERNAL_DIRS = tuple(
    os.path.dirname(str(m.__file__)) + os.sep
    for m in (pytest, sys.modules.get("_pytest"), sys.modules.get("pluggy"))
    if m is not None and getattr(m, "__file__", None)
)


class Failures:
    """The exception's type, message and frames on a failed report, as a plain attribute
    that travels with the report through pytest-xdist's serialisation."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.failed and call.excinfo is not None:
            excinfo = call.excinfo
            report.passcycle = {
                "exc_type": excinfo.typename,
                "message": _message(excinfo),
                "frames": _frames(item, excinfo),
            }


def _frames(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> list[list[Any]]:
    root = str(item.config.rootpath) + os.sep
    frames: list[list[Any]] = []
    for entry in excinfo.traceback:
        path = str(entry.path)
        if path.startswith(_INTERNAL_DIRS) or _hidden(entry, excinfo):
            continue
        inside = path.startswith(root)
        in_project = inside and "site-packages" not in path and "dist-packages" not in path
        shown = Path(path[len(root) :]).as_posix() if inside else path
        frames.append([shown, entry.lineno + 1, entry.name, in_project])
    return frames[-FRAME_LIMIT:]


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return bounded_head(str(excinfo.value).strip())


def _hidden(entry: Any, excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    try:
        return bool(entry.ishidden(excinfo))  # pytest >= 8
    except TypeError:
        return bool(entry.ishidden())
