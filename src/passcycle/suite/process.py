"""pytest's process: how it died, how it dies with passcycle, its group killed, its events read."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

from passcycle.records import Frame, TestResult


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def death(returncode: int) -> tuple[str, str]:
    """(the message's parenthesis, the note's short form) for a dead pytest process."""
    if returncode < 0:
        name = signal_name(-returncode)
        return f"signal {-returncode}, {name}", name
    return f"exit code {returncode}", f"exit code {returncode}"


def set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    # Linux: pytest dies with passcycle even when passcycle is SIGKILLed. The signal is tied
    # to the thread that forked, so run_suite must not be called from a short-lived thread.
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def result_from_event(event: dict[str, Any]) -> TestResult:
    return TestResult(
        nodeid=event["nodeid"],
        outcome=event["outcome"],
        duration=float(event.get("duration") or 0.0),
        file=event.get("file") or event["nodeid"].split("::", 1)[0],
        exc_type=event.get("exc_type"),
        message=event.get("message"),
        traceback=event.get("traceback"),
        frames=tuple(Frame(str(p), int(n), str(f), bool(i)) for p, n, f, i in event["frames"]),
        when=event.get("when"),
        cpu=event.get("cpu"),
        solo=event.get("solo"),
        probe=event.get("probe"),
    )


class Exit:
    """Waits up to a timeout for a process to end, waking the moment it does (a pidfd on
    Linux): a sleep between polls kept every run 50 ms longer on average, a small
    re-test's tenth."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.fd: int | None = None

    def __enter__(self) -> Exit:
        try:
            self.fd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
            self.fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def wait(self, seconds: float) -> None:
        if self.fd is None:
            time.sleep(seconds)
        else:
            select.select([self.fd], [], [], seconds)
