"""Liveness: whether the process that started a run can still be writing it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psutil  # type: ignore[import-untyped]

# Another machine's process cannot be checked from here, so its runs get a day.
FOREIGN_RUN_TTL = timedelta(days=1)
# psutil's create_time() is rounded differently across calls on some systems.
_CREATE_TIME_SLACK = 1.0


def writer_alive(run: Any, host: str, now: datetime) -> bool:
    """`run` has host, pid, pid_created (epoch seconds) and started; `host` is this machine."""
    if run.host != host:
        return bool(now - run.started < FOREIGN_RUN_TTL)
    if run.pid is None:
        return False
    try:
        process = psutil.Process(run.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to a process created after our writer.
        created = process.create_time()
        return run.pid_created is None or abs(created - run.pid_created) < _CREATE_TIME_SLACK
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists, under another user
