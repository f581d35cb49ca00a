"""The guardian: a tiny process that stops passcycle's process groups when passcycle dies.

passcycle starts the test phase's pytest (test/runner.py), the service, its upstreams and
Locust (scenarios/processes.py) each as the leader of a process group of its own. While it
lives, passcycle stops them itself. A SIGKILL
runs none of that code, so a second process holds the other end of a pipe and keeps the
list of groups: the kernel closes the pipe whatever kills passcycle, and on that EOF the
guardian sends SIGTERM to every group still listed, then SIGKILL after its grace.

Why a guardian, and not the kernel's own tools (checked on Linux):

- PR_SET_PDEATHSIG on a direct child signals that child only, and is cleared in its own
  children: `sh -c "python app.py"` or a uvicorn reloader lose their worker to init.
- PR_SET_CHILD_SUBREAPER on passcycle adopts orphans only while passcycle lives; once it is
  killed they go to init, as before.
- cgroups would catch every descendant but are not available to an ordinary user everywhere.

What is covered: every process that stays in the group of the process passcycle started
(forks, `sh -c`, reloaders, worker pools), whatever kills passcycle. What is not: a
descendant that moves to a process group of its own (`setsid`, a double-forking daemon)
escapes killpg; while passcycle lives, psutil still finds it from the tree (processes.py),
but after a SIGKILL of passcycle nothing knows of it. Nor a process started in the
microseconds between fork and its registration here; the parent-death signal set on the
leader (processes.py, runner.py) covers that window for the leader itself.

It sits beside the phases, not in one of them, so that the Test phase does not import the
scenarios to use it.

The protocol is one line per change, written by passcycle: `+PGID GRACE` and `-PGID`.
The guardian lives only while passcycle owns a group: passcycle closes the pipe when the
last one is stopped, so no process is left behind after a normal exit either.

This file is run by path with `python -I -S`: standard library only, nothing of passcycle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

POLL_SECONDS = 0.1
EXIT_WAIT = 2.0  # for the guardian to exit after the last group is released


class Guardian:
    """passcycle's side: start the guardian when the first group is owned, tell it of each
    group, and let it go when none is left. Never raises: without a guardian, the
    parent-death signal and the atexit hook of processes.py still apply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[int, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None  # the write end; the guardian's stdin is the read end
        self._owner = os.getpid()

    @property
    def pid(self) -> int | None:
        """The guardian's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def watch(self, pgid: int, grace: float) -> None:
        """Stop group `pgid` (SIGTERM, SIGKILL after `grace` seconds) if passcycle dies."""
        with self._lock:
            self._forked()
            self._groups[pgid] = grace
            if not self._send(f"+{pgid} {grace:g}\n"):
                # The guardian died (or never started): a new one gets every group.
                self._retire()
                self._send("".join(f"+{g} {s:g}\n" for g, s in self._groups.items()))

    def release(self, pgid: int) -> None:
        """Group `pgid` is stopped: forget it; the guardian exits with the last one."""
        with self._lock:
            self._forked()
            if self._groups.pop(pgid, None) is None:
                return
            if self._groups:
                self._send(f"-{pgid}\n")
            else:
                self._retire()

    def _send(self, text: str) -> bool:
        if self._pipe is None and not self._start():
            return False
        assert self._pipe is not None
        try:
            # One write of less than PIPE_BUF bytes per group: atomic on a pipe.
            os.write(self._pipe, text.encode())
        except OSError:
            return False
        return True

    def _start(self) -> bool:
        read, write = os.pipe()  # not inherited by other children (PEP 446)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                # Apart from passcycle's terminal and group: Ctrl-C, or a kill of passcycle's
                # whole process group, must not take the guardian with it.
                start_new_session=True,
            )
        except OSError:
            os.close(write)
            return False
        finally:
            os.close(read)
        self._pipe = write
        return True

    def _retire(self) -> None:
        """Close the pipe; with no group listed, the guardian exits at once on the EOF."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(EXIT_WAIT)
            if proc.returncode is None:  # groups it still listed are stopped by now
                proc.kill()
                proc.wait()

    def _forked(self) -> None:
        # A forked copy of passcycle shares the pipe but owns none of the groups.
        if os.getpid() != self._owner:
            self._owner = os.getpid()
            self._groups.clear()
            self._proc = None
            if self._pipe is not None:
                with contextlib.suppress(OSError):
                    os.close(self._pipe)
                self._pipe = None


# One per passcycle process: every group it owns is listed with the same guardian process.
GUARDIAN = Guardian()


# --- the guardian process ----------------------------------------------------------------


def read_groups(lines: Iterable[bytes]) -> dict[int, float]:
    """Follow passcycle's `+PGID GRACE` / `-PGID` lines until EOF; the groups still listed."""
    groups: dict[int, float] = {}
    for raw in lines:
        line = raw.decode("ascii", errors="replace").strip()
        with contextlib.suppress(ValueError):
            if line.startswith("+"):
                pgid, _, grace = line[1:].partition(" ")
                groups[int(pgid)] = float(grace or 0)
            elif line.startswith("-"):
                groups.pop(int(line[1:]), None)
    return groups


def stop_groups(groups: dict[int, float]) -> None:
    """SIGTERM to every group, then SIGKILL to each one still alive after its grace."""
    started = time.monotonic()
    for pgid in groups:
        _signal(pgid, signal.SIGTERM)
    waiting = dict(groups)
    while waiting:
        alive = _alive(waiting)
        for pgid in list(waiting):
            if pgid not in alive:
                del waiting[pgid]
            elif time.monotonic() - started >= waiting[pgid]:
                _signal(pgid, signal.SIGKILL)
                del waiting[pgid]
        if waiting:
            time.sleep(POLL_SECONDS)


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _alive(pgids: Iterable[int]) -> set[int]:
    """The groups with a member that still runs. A zombie does not count: with passcycle
    gone, its zombie children wait for init, which in a container may never reap them."""
    wanted = set(pgids)
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: any member, zombies included
        return {pgid for pgid in wanted if _exists(pgid)}
    alive: set[int] = set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != b"Z" and int(fields[2]) in wanted:
            alive.add(int(fields[2]))
    return alive


def _exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> None:
    # Detached from the terminal, no terminal signal reaches it; ignore them all the same, so
    # that only the EOF decides.
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    stop_groups(read_groups(sys.stdin.buffer))


if __name__ == "__main__":
    main()
