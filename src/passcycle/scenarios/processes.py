"""Owned child processes: started in their own process group, always stopped with every child.

The service and Locust run in sessions of their own, so a Ctrl-C in the terminal reaches
passcycle only and passcycle decides how they stop. They are stopped, in order:

1. SIGTERM to the process group, then SIGKILL after a grace period;
2. psutil finds stragglers that left the group (daemons, `setsid` children) and kills them;
3. an atexit hook stops whatever is still registered when the interpreter exits normally;
4. if passcycle itself dies, even by SIGKILL, the guardian (passcycle/guardian.py) stops
   every group still registered, and Linux sends each group leader SIGTERM
   (PR_SET_PDEATHSIG) in case the guardian is gone too. What this does and does not reach
   is written in guardian.py.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from passcycle.guardian import GUARDIAN as _guardian

_PR_SET_PDEATHSIG = 1
_live: dict[int, OwnedProcess] = {}
_live_lock = threading.Lock()


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the thread that forks it dies.

    Linux ties the signal to the forking *thread*, not the process, so it is only set when
    the caller is the main thread: a worker thread that ends would kill a healthy service.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_signal


class OwnedProcess:
    """A child in its own session, logging stdout and stderr to one file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        grace: float = 10.0,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self.grace = grace
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = log.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        except OSError:
            self._log_handle.close()
            raise
        self.pid = self.popen.pid
        self._stopped = False
        _guardian.watch(self.pid, grace)
        with _live_lock:
            _live[self.pid] = self

    def poll(self) -> int | None:
        return self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.pid).children(recursive=True)
        return []

    def stop(self, grace: float | None = None) -> int | None:
        """Stop the process and every child; idempotent. Returns the leader's exit code."""
        if self._stopped:
            return self.popen.returncode
        grace = self.grace if grace is None else grace
        # Remember the tree before signalling: children re-parented to init leave it.
        known = self.descendants()
        try:
            _signal_group(self.pid, signal.SIGTERM)
            for child in known:
                with contextlib.suppress(psutil.Error):
                    child.terminate()
            _wait_gone(self.popen, known, grace)
        except KeyboardInterrupt:
            # A second Ctrl-C while stopping: stop at once, then let it through.
            self._kill(known)
            raise
        self._kill(known)
        return self.popen.returncode

    def _kill(self, known: list[psutil.Process]) -> None:
        _signal_group(self.pid, signal.SIGKILL)
        for proc in [*known, *self.descendants()]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5.0)
        psutil.wait_procs(known, timeout=2.0)
        self._stopped = True
        self._log_handle.close()
        with _live_lock:
            _live.pop(self.pid, None)
        _guardian.release(self.pid)

    def tail(self, lines: int = 10) -> list[str]:
        return log_tail(self.log, lines)


def _signal_group(pid: int, sig: int) -> None:
    # The leader is our child: its pgid equals its pid even after it exits (a zombie
    # keeps the group), so the group of an exited leader can still be signalled.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(popen: subprocess.Popen[bytes], known: list[psutil.Process], grace: float) -> None:
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(max(0.0, deadline - time.monotonic()))
    psutil.wait_procs(known, timeout=max(0.0, deadline - time.monotonic()))


def log_tail(path: Path, lines: int = 10) -> list[str]:
    """The last `lines` non-empty lines of a log, decoded leniently."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64_000))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


def stop_all() -> None:
    """Stop every process still owned; run at interpreter exit."""
    with _live_lock:
        owned = list(_live.values())
    for proc in owned:
        with contextlib.suppress(Exception):
            proc.stop(grace=2.0)


atexit.register(stop_all)
