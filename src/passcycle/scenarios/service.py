"""The service under test: started from the plan's command on a free loopback port,
health-checked, and always stopped with every child it started.

    with Service(section, root, artifacts) as service:   # RunError (exit 3) if not healthy
        service.url                                      # http://127.0.0.1:PORT
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import httpx

from passcycle.errors import PlanError, RunError
from passcycle.scenario_sections import ServiceSection
from passcycle.scenarios.load import free_port
from passcycle.scenarios.processes import OwnedProcess, log_tail

LOG_NAME = "service.log"
POLL_SECONDS = 0.1
TAIL_LINES = 10


class Service:
    """One start of the plan's service; `url` is where load goes."""

    def __init__(self, section: ServiceSection, root: Path, artifacts: Path) -> None:
        self.section = section
        self.root = root
        self.log = artifacts / LOG_NAME
        self.process: OwnedProcess | None = None
        self.port: int | None = None
        self.url = section.url.rstrip("/") if section.url else ""
        self.exit_code: int | None = None

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def started_here(self) -> bool:
        return bool(self.section.command)

    def endpoint(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.url + path

    def start(self) -> None:
        """Start the command (if any) and wait until the service is healthy."""
        section = self.section
        if not section.command:
            self._wait_ready(None, time.monotonic() + section.ready_timeout)
            return
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [fill_port(part, self.port) for part in section.argv]
        if not argv:
            raise PlanError("service.command: empty", hint='e.g. command = "python -m app {port}"')
        cwd = (self.root / section.cwd).resolve() if section.cwd else self.root
        if not cwd.is_dir():
            raise PlanError(f"service.cwd: no such folder {section.cwd!r}")
        executable = argv[0]
        if os.sep not in executable and shutil.which(executable) is None:
            raise RunError(
                f"service.command: {executable!r} is not found on PATH",
                hint="install it, or write the command with its full path",
            )
        env = {
            **os.environ,
            "PORT": str(self.port),
            **{k: fill_port(v, self.port) for k, v in section.env.items()},
        }
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            handle.write(f"# passcycle: the service on {self.url}\n$ {' '.join(argv)}\n".encode())
        try:
            self.process = OwnedProcess(
                argv, log=self.log, cwd=cwd, env=env, grace=section.stop_timeout
            )
        except OSError as exc:
            raise RunError(f"service.command: cannot start {executable!r}: {exc}") from None
        try:
            self._wait_ready(self.process, time.monotonic() + section.ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, process: OwnedProcess | None, deadline: float) -> None:
        health = self.endpoint(self.section.health) if self.section.health else ""
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process is not None and not process.running:
                    code = process.poll()
                    raise self._error(
                        f"the service exited with code {code} before it was healthy",
                        "check the command and its log; it must listen on 127.0.0.1:{port}",
                    )
                if health:
                    try:
                        response = client.get(health)
                        if response.is_success:
                            return
                        last = f"{health} answered {response.status_code}"
                    except httpx.HTTPError as exc:
                        last = f"{health}: {type(exc).__name__}"
                elif self._port_open():
                    return
                if time.monotonic() > deadline:
                    raise self._error(
                        f"the service was not healthy within {self.section.ready_timeout:g}s"
                        f" ({last})",
                        "raise service.ready_timeout, or check service.health and that the"
                        " command listens on {port}",
                    )
                time.sleep(POLL_SECONDS)

    def _port_open(self) -> bool:
        return self.port is not None and listening(self.port)

    def _error(self, what: str, hint: str) -> RunError:
        lines = log_tail(self.log, TAIL_LINES) if self.process else []
        tail = "\n".join(f"  | {line}" for line in lines)
        where = f"; last lines of {self.log.name}:\n{tail}" if tail else ""
        return RunError(f"{what}{where}", hint=f"{hint}; full log: {self.log}")

    def crashed(self) -> str | None:
        """Why the service is gone, or None while it runs (or when it is not ours)."""
        if self.process is None or self.process.running:
            return None
        self.exit_code = self.process.poll()
        return f"the service exited with code {self.exit_code}"

    def crash_error(self, scenario: str, elapsed: float) -> RunError:
        return self._error(
            f"scenario {scenario!r}: the service exited with code {self.exit_code}"
            f" {elapsed:.1f}s into the scenario",
            "the scenario's load crashed the service: see its log",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.exit_code = self.process.stop()


def fill_port(text: str, port: int) -> str:
    # Not str.format: commands carry JSON and shell braces of their own.
    return text.replace("{port}", str(port)).replace("{host}", "127.0.0.1")


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
