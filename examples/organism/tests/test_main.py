"""The launcher: backends as child processes that never outlive the service."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

import organism
from organism.__main__ import (
    Backend,
    BackendStartError,
    parse_args,
    start_backends,
    stop_backends,
)
from organism.backend import answer_for

SRC = str(Path(organism.__file__).resolve().parent.parent)


def backend_children() -> list[psutil.Process]:
    return [
        p for p in psutil.Process().children(recursive=True) if "organism.backend" in p.cmdline()
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_defaults_and_fixed_ports_must_match_the_count() -> None:
    args = parse_args(["--port", "8000"])
    assert (args.port, args.backends, args.backend_timeout) == (8000, 3, 1.0)
    assert parse_args(
        ["--port", "1", "--backends", "2", "--backend-ports", "5,6"]
    ).backend_ports == [
        5,
        6,
    ]
    with pytest.raises(SystemExit):
        parse_args(["--port", "1", "--backends", "2", "--backend-ports", "5"])


def test_backends_start_listening_with_their_roles_and_stop() -> None:
    args = parse_args(
        ["--port", "1", "--backends", "2", "--disagreeing", "1", "--slow-backend-delay-ms", "300"]
    )
    backends = start_backends(args)
    try:
        answers = [httpx.post(f"{b.url}/answer", json={"prompt": "q"}) for b in backends[:1]]
        started = time.perf_counter()
        answers.append(httpx.post(f"{backends[1].url}/answer", json={"prompt": "q"}))
        assert time.perf_counter() - started >= 0.3, "the last backend is the slow one"
        assert [a.json()["answer"] for a in answers] == [
            answer_for("q", disagree=True),
            answer_for("q"),
        ]
    finally:
        stop_backends(backends)
    assert all(b.process.returncode is not None for b in backends)
    assert backend_children() == []


def test_a_backend_that_cannot_start_stops_the_ones_already_started() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = parse_args(["--port", "1", "--backends", "2", "--backend-ports", f"0,{port}"])
        with pytest.raises(BackendStartError):
            start_backends(args)
    assert backend_children() == []


def test_a_backend_deaf_to_sigterm_is_killed() -> None:
    deaf = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert deaf.stdout is not None
    deaf.stdout.readline()  # SIGTERM is ignored from here on
    deaf.stdout.close()
    stop_backends([Backend("http://127.0.0.1:1", deaf)], timeout=0.3)
    assert deaf.returncode == -signal.SIGKILL


def start_service(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    command = [sys.executable, "-m", "organism", "--port", str(port), "--backends", "2"]
    command += ["--db", str(tmp_path / "service.db"), *extra]
    service = subprocess.Popen(command, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert service.poll() is None, "the service exited while starting"
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return service, url
        except httpx.TransportError:
            time.sleep(0.05)
    service.kill()
    service.wait()
    raise AssertionError("the service did not become healthy")


def test_the_service_runs_and_stops_its_backends_on_sigterm(tmp_path: Path) -> None:
    service, url = start_service(tmp_path)
    try:
        result = httpx.post(f"{url}/orchestrate", json={"prompt": "alive?"}).json()
        assert (result["answered"], result["harmony"]) == (2, 1.0)
        children = psutil.Process(service.pid).children()
        assert len(children) == 2
        service.send_signal(signal.SIGTERM)
        assert service.wait(10) == 0
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


def test_backends_exit_by_themselves_when_the_service_is_killed(tmp_path: Path) -> None:
    service, _ = start_service(tmp_path)
    children = psutil.Process(service.pid).children()
    service.kill()  # SIGKILL: the launcher gets no chance to stop anything
    service.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    for process in alive:
        process.kill()
    assert alive == []
