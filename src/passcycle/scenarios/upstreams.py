"""The service's declared dependencies: started if the plan says how, each behind a fault
proxy, and always stopped.

    with Upstreams(plan.upstreams, root, artifacts) as upstreams:
        section = upstreams.resolve(plan.service)   # {upstream.NAME} -> the proxy's host:port
        upstreams.proxies["model"].arm(...)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from passcycle.errors import PlanError, RunError
from passcycle.scenario_sections import ServiceSection, UpstreamSection
from passcycle.scenarios.faults import FaultProxy
from passcycle.scenarios.load import free_port
from passcycle.scenarios.processes import OwnedProcess, log_tail
from passcycle.scenarios.safety import check_target
from passcycle.scenarios.service import fill_port, listening

POLL_SECONDS = 0.1


class Upstreams:
    """Every upstream of the plan, running and proxied, for the length of a `with`."""

    def __init__(
        self,
        sections: Mapping[str, UpstreamSection],
        root: Path,
        artifacts: Path,
        allow_hosts: list[str] | None = None,
    ) -> None:
        self.sections = dict(sections)
        self.root = root
        self.artifacts = artifacts
        self.allow_hosts = list(allow_hosts or [])
        self.proxies: dict[str, FaultProxy] = {}
        self.processes: dict[str, OwnedProcess] = {}

    def __enter__(self) -> Upstreams:
        return self.start()

    def start(self) -> Upstreams:
        """Start what the plan says to start, and a proxy in front of each upstream."""
        try:
            for name, section in self.sections.items():
                host, port = self._target(name, section)
                self.proxies[name] = self._proxy(name, section, host, port)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        for process in self.processes.values():
            process.stop()

    def resolve(self, section: ServiceSection) -> ServiceSection:
        """The service's section with `{upstream.NAME}` written as each proxy's host:port."""
        if not self.proxies:
            return section
        fill = self.fill
        command = (
            fill(section.command)
            if isinstance(section.command, str)
            else [fill(part) for part in section.command]
        )
        env = {key: fill(value) for key, value in section.env.items()}
        return section.model_copy(update={"command": command, "env": env})

    def fill(self, text: str) -> str:
        """`text` with `{upstream.NAME}` written as that upstream's proxy's host:port."""
        for name, proxy in self.proxies.items():
            text = text.replace(f"{{upstream.{name}}}", proxy.address)
        return text

    def _proxy(self, name: str, section: UpstreamSection, host: str, port: int) -> FaultProxy:
        try:
            return FaultProxy(name, host, port, listen=section.proxy_port).start()
        except OSError as exc:
            raise RunError(
                f"upstreams.{name}: the fault proxy cannot listen on 127.0.0.1:"
                f"{section.proxy_port}: {exc.strerror or exc}",
                hint=f"free that port, or set upstreams.{name}.proxy_port = 0 (any free port)",
            ) from None

    def _target(self, name: str, section: UpstreamSection) -> tuple[str, int]:
        if section.address:
            host, _, port = section.address.rpartition(":")
            host = host.strip("[]")
            check_target(f"http://{section.address}", self.allow_hosts, f"upstreams.{name}")
            return host, int(port)
        return "127.0.0.1", self._start(name, section)

    def _start(self, name: str, section: UpstreamSection) -> int:
        port = free_port()
        argv = [fill_port(part, port) for part in section.argv]
        if not argv:
            raise PlanError(f"upstreams.{name}.command: empty")
        cwd = (self.root / section.cwd).resolve() if section.cwd else self.root
        if not cwd.is_dir():
            raise PlanError(f"upstreams.{name}.cwd: no such folder {section.cwd!r}")
        env = {
            **os.environ,
            "PORT": str(port),
            **{k: fill_port(v, port) for k, v in section.env.items()},
        }
        log = self.artifacts / f"upstream-{name}.log"
        try:
            process = OwnedProcess(argv, log=log, cwd=cwd, env=env, grace=5.0)
        except OSError as exc:
            raise RunError(f"upstreams.{name}.command: cannot start {argv[0]!r}: {exc}") from None
        self.processes[name] = process
        deadline = time.monotonic() + section.ready_timeout
        while not listening(port):
            if not process.running or time.monotonic() > deadline:
                why = (
                    f"exited with code {process.poll()}"
                    if not process.running
                    else f"did not listen on {{port}} within {section.ready_timeout:g}s"
                )
                tail = "\n".join(f"  | {line}" for line in log_tail(log, 10))
                raise RunError(
                    f"upstream {name!r} {why}"
                    + (f"; last lines of {log.name}:\n{tail}" if tail else ""),
                    hint=f"check upstreams.{name}.command; it must listen on 127.0.0.1:{{port}};"
                    f" full log: {log}",
                )
            time.sleep(POLL_SECONDS)
        return port
