"""A `passcycle run` killed by SIGKILL in the middle of a scenario leaves no process behind:
not the service, not the worker it forked, not an upstream's, not Locust; and the next
command records that run `interrupted`, never `passed`."""

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
import pytest
from scenario_kit import gone, write

# A real HTTP server that forks a worker in its own process group, as `sh -c` or a
# reloader does, and writes both pids to the file named by its first argument.
FORKING_SERVER = """
import os, subprocess, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
Path(sys.argv[1]).write_text(f"{worker.pid} {os.getpid()}")
server.serve_forever()
"""

SERVICE = '[service]\ncommand = ["{python}", "server.py", "service.pids", "{{port}}"]\n'
UPSTREAM = '[upstreams.dep]\ncommand = ["{python}", "server.py", "upstream.pids", "{{port}}"]\n'
SCENARIO = '[[scenarios]]\nname = "load"\nusers = 2\nduration = "30s"\nsteps = [ { get = "/" } ]\n'


def _project(root: Path, sections: str) -> None:
    write(root / "tests" / "test_ok.py", "def test_ok():\n    assert True\n")
    write(root / "server.py", FORKING_SERVER)
    write(root / "passcycle.toml", sections.format(python=sys.executable) + SCENARIO)


def _wait_for(path_glob: str, root: Path, driver: subprocess.Popen[bytes]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = sorted(root.glob(path_glob))
        if found and found[0].read_text().strip():
            return found[0]
        assert driver.poll() is None, (root / "err.txt").read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path_glob} never appeared")


def _pids(path: Path) -> list[int]:
    return [int(pid) for pid in path.read_text().split()]


def _command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def assert_interrupted(passcycle: Callable[..., Any], root: Path) -> None:
    """The next command finds the killed run `interrupted`, and its gate does not pass."""
    listed = passcycle(root, "history", "--json", expect=0).json()["runs"]
    assert len(listed) == 1, listed
    run = listed[0]
    assert run["status"] == "interrupted", run
    assert run["note"] == "its process ended before the run finished", run
    judged = passcycle(root, "validate", str(run["id"]), "--json", expect=1).json()
    assert judged["run"]["status"] == "interrupted", judged["run"]
    assert judged["gate"]["passed"] is False, judged["gate"]
    reasons = judged["gate"]["reasons"]
    assert reasons[0] == "the run ended interrupted: " + run["note"], reasons


@pytest.mark.parametrize("forks", ["service", "upstream"])
def test_kill_9_of_passcycle_leaves_no_process(
    tmp_path: Path, forks: str, passcycle: Callable[..., Any]
) -> None:
    root = tmp_path / "project"
    _project(root, SERVICE + (UPSTREAM if forks == "upstream" else ""))
    env = {**os.environ, "NO_COLOR": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with (tmp_path / "out.txt").open("wb") as out, (root / "err.txt").open("wb") as err:
        driver = subprocess.Popen(
            [sys.executable, "-m", "passcycle", "-C", str(root), "run"],
            stdout=out,
            stderr=err,
            env=env,
        )
    tree: list[psutil.Process] = []
    try:
        # Healthy and under load: the scenario's Locust test has started.
        _wait_for(".passcycle/runs/*/scenarios/load/started.json", root, driver)
        owned = _pids(_wait_for(f"{forks}.pids", root, driver))
        tree = psutil.Process(driver.pid).children(recursive=True)
        commands = [_command(p) for p in tree]
        assert any("locust" in c for c in commands), commands
        assert any("guardian.py" in c for c in commands), commands
        assert set(owned) <= {p.pid for p in tree}  # the worker is in passcycle's tree
        killed = time.monotonic()
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        left = [
            p for p in tree if not gone(p.pid, timeout=max(0.1, killed + 10 - time.monotonic()))
        ]
        assert left == [], [_command(p) for p in left]
        # The tests had all passed when it was killed: the run must not say so.
        assert_interrupted(passcycle, root)
    finally:
        driver.kill()
        driver.wait()
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()  # only after a failure: do not leak into the next tests


# --- the guardian itself, with OwnedProcess in a throw-away driver ------------------------

STUBBORN = """
import signal, subprocess, sys, time
from pathlib import Path
from passcycle.scenarios.processes import OwnedProcess

# A leader and a worker that both ignore SIGTERM: only SIGKILL stops them.
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
leader = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    f"w = subprocess.Popen([sys.executable, '-c', {code!r}]); print(w.pid, flush=True); "
    "time.sleep(600)"
)
log = Path(sys.argv[1])
proc = OwnedProcess([sys.executable, "-c", leader], log=log, grace=1.0)
while not log.read_text().strip():
    time.sleep(0.05)
print(proc.pid, log.read_text().strip(), flush=True)
time.sleep(600)
"""


def test_a_group_that_ignores_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    write(tmp_path / "driver.py", STUBBORN)
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "leader.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    pids: list[int] = []
    try:
        pids = [int(pid) for pid in driver.stdout.readline().split()]
        assert len(pids) == 2  # the leader and its worker
        killed = time.monotonic()
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        # SIGTERM is ignored, so the leader's parent-death signal does nothing either:
        # only the guardian's SIGKILL, one second (the grace) later, stops them.
        assert not gone(pids[1], timeout=0.5)
        assert all(gone(pid, timeout=8.0) for pid in pids)
        assert time.monotonic() - killed >= 1.0
    finally:
        driver.kill()
        driver.wait()
        driver.stdout.close()
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def test_the_guardian_exits_when_nothing_is_owned(tmp_path: Path) -> None:
    from passcycle.scenarios import processes

    code = "import time; time.sleep(600)"
    first = processes.OwnedProcess([sys.executable, "-c", code], log=tmp_path / "a.log")
    second = processes.OwnedProcess([sys.executable, "-c", code], log=tmp_path / "b.log")
    guardian = processes._guardian.pid
    assert guardian is not None
    assert "guardian.py" in _command(psutil.Process(guardian))
    first.stop(grace=1.0)
    assert processes._guardian.pid == guardian  # still on watch for the second
    assert not gone(guardian, timeout=0.3)
    second.stop(grace=1.0)
    assert processes._guardian.pid is None
    assert gone(guardian, timeout=2.0)
