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

# pytest's exit codes (pytest.ExitCode), spelt out: pytest need not be importable here.
PYTEST_OK, PYTEST_FAILED, PYTEST_INTERRUPTED = 0, 1, 2
PYTEST_INTERNAL_ERROR, PYTEST_USAGE_ERROR, PYTEST_NO_TESTS = 3, 4, 5


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


def disagreements(
    status: int, ours: set[str], theirs: list[str] | None, stopped: str | None
) -> list[str]:
    """pytest's exit status and summary (`theirs`: the failed tests it counted) against the
    failed tests a process recorded (`ours`): where they disagree, a fold of reports lost or
    invented a failure, and the run must not pass on passcycle's word alone (#9)."""
    problems = []
    if status == PYTEST_FAILED and not ours:
        problems.append("pytest exited 1 (tests failed) but passcycle recorded no failure")
    elif status == PYTEST_OK and ours:
        problems.append(f"pytest exited 0 but passcycle recorded {len(ours)} failed tests")
    elif status == PYTEST_INTERRUPTED and not ours:
        why = f" ({stopped})" if stopped else ""
        problems.append(f"pytest was interrupted{why} before the session finished")
    elif status == PYTEST_INTERNAL_ERROR:
        problems.append("pytest stopped with an internal error (exit 3)")
    if theirs is not None:
        missing, extra = sorted(set(theirs) - ours), sorted(ours - set(theirs))
        if missing:
            problems.append(
                f"pytest counted {len(missing)} failed tests passcycle did not (e.g. {missing[0]})"
            )
        if extra:
            problems.append(
                f"passcycle recorded {len(extra)} failed tests pytest did not (e.g. {extra[0]})"
            )
    return problems
