"""The service under test: started on a free loopback port, health-checked, always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
from scenario_kit import gone, port_open

from passcycle.errors import ExitCode, PlanError, RunError
from passcycle.scenario_sections import ServiceSection
from passcycle.scenarios.service import Service


def test_starts_healthy_and_stops_with_its_children(app, tmp_path: Path) -> None:
    service = Service(app(APP_CHILD="1"), tmp_path, tmp_path / "artifacts")
    with service:
        assert service.url.startswith("http://127.0.0.1:")
        assert httpx.get(service.url + "/health").json() == {"status": "ok"}
        leader = psutil.Process(service.pid)
        tree = [leader, *leader.children(recursive=True)]
        assert len(tree) == 2  # the app and the worker it started
        assert os.getpgid(service.pid) == service.pid  # its own process group
        assert service.port is not None
        port = service.port
    assert all(gone(p.pid) for p in tree)
    assert not port_open(port)
    log = (tmp_path / "artifacts" / "service.log").read_text()
    assert "boot line 14" in log and "listening" in log


def test_a_child_that_leaves_the_group_is_stopped_too(tmp_path: Path) -> None:
    # A daemon-like child in a session of its own is out of reach of killpg; psutil finds it.
    script = tmp_path / "svc.py"
    script.write_text(
        textwrap.dedent(
            """
            import subprocess, sys, http.server
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             start_new_session=True)
            http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])),
                                   http.server.SimpleHTTPRequestHandler).serve_forever()
            """
        )
    )
    section = ServiceSection(command=[sys.executable, str(script), "{port}"], health="/")
    with Service(section, tmp_path, tmp_path / "a") as service:
        children = psutil.Process(service.pid).children(recursive=True)
        assert len(children) == 1
        assert os.getpgid(children[0].pid) != service.pid
    assert gone(children[0].pid)


def test_never_healthy_is_a_run_error_with_the_log_tail(app, tmp_path: Path) -> None:
    section = app(APP_HEALTH="never", ready_timeout="1.5s")
    started = time.monotonic()
    with pytest.raises(RunError) as caught:
        Service(section, tmp_path, tmp_path / "a").start()
    assert 1.5 <= time.monotonic() - started < 8
    error = caught.value
    assert error.exit_code == ExitCode.RUN_ERROR
    assert "not healthy within 1.5s" in error.message
    assert "/health answered 503" in error.message
    assert "boot line 14" in error.message and "listening" in error.message
    assert "boot line 3" not in error.message  # only the last lines
    assert error.hint and "ready_timeout" in error.hint


def test_exits_early_is_a_run_error_with_its_reason(app, tmp_path: Path) -> None:
    with pytest.raises(RunError) as caught:
        Service(app(APP_EXIT="2"), tmp_path, tmp_path / "a").start()
    assert "exited with code 2 before it was healthy" in caught.value.message
    assert "DATABASE_URL is not set" in caught.value.message


def test_a_command_not_found_is_a_run_error(tmp_path: Path) -> None:
    section = ServiceSection(command="no-such-program-xyz --port {port}")
    with pytest.raises(RunError, match="not found on PATH"):
        Service(section, tmp_path, tmp_path / "a").start()


def test_port_reaches_the_command_and_the_environment(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, http.server
            assert os.environ["PORT"] == sys.argv[1] == os.environ["MY_PORT"]
            os.chdir(os.environ["EXPECT_CWD"])
            http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])),
                                   http.server.SimpleHTTPRequestHandler).serve_forever()
            """
        )
    )
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "ready.txt").write_text("yes")
    section = ServiceSection(
        command=f"{sys.executable} {script} {{port}}",
        env={"MY_PORT": "{port}", "EXPECT_CWD": str(tmp_path / "web")},
        cwd="web",
        health="/ready.txt",
    )
    with Service(section, tmp_path, tmp_path / "a") as service:
        assert httpx.get(service.url + "/ready.txt").text == "yes"


def test_a_missing_cwd_is_a_plan_error(tmp_path: Path) -> None:
    section = ServiceSection(command="python -V", cwd="nowhere")
    with pytest.raises(PlanError, match=r"service\.cwd"):
        Service(section, tmp_path, tmp_path / "a").start()


def test_command_and_url_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either command"):
        ServiceSection(command="x {port}", url="http://127.0.0.1:1")


DRIVER = """
import sys, time
from pathlib import Path
from passcycle.scenario_sections import ServiceSection
from passcycle.scenarios.service import Service

section = ServiceSection(command=[sys.executable, sys.argv[1], "{port}"])
service = Service(section, Path(sys.argv[2]), Path(sys.argv[2]) / "a")
service.start()
print(service.pid, service.port, flush=True)
time.sleep(600)
"""


def test_the_service_dies_when_passcycle_is_killed(tmp_path: Path) -> None:
    # SIGKILL runs no cleanup at all: Linux's parent-death signal is what stops the leader.
    from scenario_kit import APP

    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "driver.py").write_text(DRIVER)
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "app.py"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert driver.stdout is not None
        pid, port = map(int, driver.stdout.readline().split())
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        assert gone(pid), "the service outlived passcycle"
        assert not port_open(port)
    finally:
        driver.kill()
        driver.wait()
        driver.stdout.close()  # type: ignore[union-attr]


def test_interpreter_exit_stops_a_service_left_running(app, tmp_path: Path) -> None:
    # atexit: a caller that forgets stop() does not leak the service.
    from scenario_kit import APP

    (tmp_path / "app.py").write_text(APP)
    script = DRIVER.replace("time.sleep(600)", "sys.exit(0)")
    (tmp_path / "driver.py").write_text(script)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "app.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid, port = map(int, proc.stdout.split())
    assert gone(pid)
    assert not port_open(port)
