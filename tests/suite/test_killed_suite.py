"""A `passcycle test` killed by SIGKILL while pytest-xdist workers run leaves no pytest process
behind, and the next command records the run `interrupted`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

# Each test starts a process of its own, as a test of a server or a CLI does, writes the
# pids of its worker and of that process, then sleeps far past the test's end. The workers
# stop some seconds after their pytest dies (execnet interrupts them); nothing stops the
# processes the tests started.
SLEEPING_TESTS = """
import os, subprocess, sys, time
from pathlib import Path

def _sleep():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(os.environ["WORKER_PIDS"], f"{os.getpid()}-{child.pid}").touch()
    time.sleep(120)

def test_one(): _sleep()
def test_two(): _sleep()
def test_three(): _sleep()
def test_four(): _sleep()
"""


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return str(proc.pid)


def test_kill_9_of_passcycle_test_leaves_no_xdist_worker(
    make_project: Callable[..., Path], passcycle: Callable[..., Any], tmp_path: Path
) -> None:
    root = make_project({"tests/test_sleep.py": SLEEPING_TESTS})
    pids = tmp_path / "worker-pids"
    pids.mkdir()
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "WORKER_PIDS": str(pids),
    }
    env.pop("PASSCYCLE_DB", None)
    command = ["test", "--", "-p", "xdist.plugin", "-n", "2"]
    with (tmp_path / "err.txt").open("wb") as err:
        driver = subprocess.Popen(
            [sys.executable, "-m", "passcycle", "-C", str(root), *command],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2:  # both workers are inside a test
            assert driver.poll() is None, (tmp_path / "err.txt").read_text()
            assert time.monotonic() < deadline, "the xdist workers never started a test"
            time.sleep(0.1)
        started = {int(pid) for p in pids.iterdir() for pid in p.name.split("-")}
        tree = psutil.Process(driver.pid).children(recursive=True)
        commands = [_command(p) for p in tree]
        assert started <= {p.pid for p in tree}, commands  # workers and their children
        assert any("guardian.py" in c for c in commands), commands
        killed = time.monotonic()
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        left = tree
        while left and time.monotonic() - killed < 10:
            left = [p for p in left if _alive(p)]
            time.sleep(0.05)
        assert left == [], [_command(p) for p in left]
    finally:
        driver.kill()
        driver.wait()
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()  # only after a failure: do not leak into the next tests

    listed = passcycle(root, "history", "--json", expect=0).json()["runs"]
    assert [(r["kind"], r["status"]) for r in listed] == [("test", "interrupted")], listed
    assert listed[0]["note"] == "its process ended before the run finished"
