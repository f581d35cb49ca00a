"""Crash-and-recovery drills: kill the service, restart it, time it back to healthy and
count the records that survived.

Each drill is an experiment in chaostoolkit's shape:

1. hypothesis: the service is healthy and takes `records` writes (the `before` steps);
2. method: its whole process group gets the drill's signal; passcycle restarts the same
   command on the same port, as a supervisor would, and polls health: `recovery_time` is
   from the kill to the first healthy answer; then every record is read back with the
   `after` steps: `data_survival` is the share read back as expected;
3. rollbacks: the service and every child are stopped, whatever happened.

A service that does not come back within `recover_timeout` has no `recovery_time` (it is
never invented): the drill adds a note and the KPI shows as not measured.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from passcycle.errors import PlanError
from passcycle.records import Measurement
from passcycle.scenario_sections import DrillSection, ServiceSection, StepSection, UpstreamSection
from passcycle.scenarios.processes import OwnedProcess, log_tail
from passcycle.scenarios.service import Service, fill_port
from passcycle.scenarios.steps import MISSING, extract, render
from passcycle.scenarios.upstreams import Upstreams

POLL_SECONDS = 0.05  # recovery_time is read to this precision
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class DrillOutcome:
    """What the drills of a run produced."""

    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Aborted(Exception):
    """The drill cannot go on; the message is its note."""


def check_drills(service: ServiceSection, drills: Sequence[DrillSection]) -> None:
    """Refuse, before any process starts, drills that cannot run (PlanError, exit 2)."""
    if drills and not service.command:
        raise PlanError(
            "drills: passcycle must start the service to kill and restart it",
            hint="declare [service] command = ... (a service given by url cannot be drilled)",
        )
    names: set[str] = set()
    for index, drill in enumerate(drills):
        if drill.name in names:
            raise PlanError(f"drills[{index}] ({drill.name}): two drills are named {drill.name!r}")
        names.add(drill.name)


def run_drills(
    service_section: ServiceSection,
    drills: Sequence[DrillSection],
    root: Path,
    artifacts: Path,
    *,
    service: Service | None = None,
    upstreams: Mapping[str, UpstreamSection] | None = None,
) -> DrillOutcome:
    """Run every drill; each starts the service (the first may reuse `service` if it is
    running) and stops it with every child at the end, whatever happens.

    Raises PlanError for drills that cannot run and RunError (exit 3) when the service
    does not start at all; a service that does not come back is a note, not an error."""
    check_drills(service_section, drills)
    measurements: list[Measurement] = []
    notes: list[str] = []
    with Upstreams(upstreams or {}, root, artifacts, service_section.allow_hosts) as deps:
        # the service's dependencies run (and are reached through their proxies) as in
        # the scenarios; drills inject no faults
        section = deps.resolve(service_section)
        for drill in drills:
            running = (
                service is not None and service.process is not None and service.process.running
            )
            target = service if running and service else Service(section, root, artifacts)
            service = None  # only the first drill may reuse it: each drill stops its service
            found, note = _one(drill, target)
            measurements.extend(found)
            if note:
                notes.append(f"drill {drill.name!r}: {note}")
    return DrillOutcome(measurements, notes)


def _one(drill: DrillSection, service: Service) -> tuple[list[Measurement], str]:
    source = f"drill:{drill.name}"
    found: list[Measurement] = []
    try:
        if service.process is None:
            service.start()  # RunError if it never gets healthy: nothing to drill
        # Hypothesis: healthy, and it takes the writes.
        with httpx.Client(timeout=2.0) as client:
            if not _healthy(service, client):
                return found, "the service was not healthy before the crash; nothing was killed"
        try:
            written = _write(drill, service)
        except _Aborted as exc:
            return found, f"the writes before the crash failed, nothing was killed: {exc}"
        # Method: crash, restart, time it.
        try:
            recovery = _crash_and_restart(drill, service)
        except _Aborted as exc:
            return found, f"the service did not come back within {drill.recover_timeout:g}s: {exc}"
        found.append(Measurement("recovery_time", recovery, "s", source))
        if drill.after and written:
            percent = 100.0 * _read_back(drill, service, written) / len(written)
            found.append(Measurement("data_survival", percent, "%", source))
        return found, ""
    finally:
        service.stop()  # rollback: the service and every child, whatever happened


def _write(drill: DrillSection, service: Service) -> list[dict[str, Any]]:
    """Play the `before` steps once per record; the values each record saved."""
    written: list[dict[str, Any]] = []
    with httpx.Client(base_url=service.url, timeout=REQUEST_TIMEOUT) as client:
        for i in range(drill.records):
            values: dict[str, Any] = {"i": i}
            for step in drill.before:
                problem = _play(client, step, values)
                if problem:
                    raise _Aborted(f"record {i}, {step.label}: {problem}")
            written.append(values)
    # The client closed its connections first, so TIME_WAIT stays on its side and the
    # service's port is free for the restart.
    return written


def _read_back(drill: DrillSection, service: Service, written: list[dict[str, Any]]) -> int:
    """How many records every `after` step reads back as expected."""
    survived = 0
    with httpx.Client(base_url=service.url, timeout=REQUEST_TIMEOUT) as client:
        for saved in written:
            values = dict(saved)
            survived += all(not _play(client, step, values) for step in drill.after)
    return survived


def _crash_and_restart(drill: DrillSection, service: Service) -> float:
    """Kill the process group, restart on the same port; seconds from the kill to healthy."""
    old, port = service.process, service.port
    assert old is not None and port is not None  # started by passcycle: check_drills
    known = old.descendants()
    started = time.monotonic()
    deadline = started + drill.recover_timeout
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(old.pid, signal.Signals[drill.signal])
    _mark(service, f"drill {drill.name!r}: {drill.signal} to the process group {old.pid}")
    _wait(lambda: not old.running, deadline, f"the service did not die from {drill.signal}")
    # What a supervisor does before a restart: nothing of the old tree may hold the port.
    # A zombie holds nothing: it counts as gone (init reaps it in its own time).
    with contextlib.suppress(_Aborted):
        _wait(lambda: not any(map(_alive, known)), min(deadline, time.monotonic() + 1.0), "")
    for proc in filter(_alive, known):
        with contextlib.suppress(psutil.Error):
            proc.kill()
    old.stop(grace=0)
    _wait(lambda: _bindable(port, reuse=True), deadline, f"port {port} is still in use")
    while True:
        process = _respawn(service, port)
        healthy, why = _wait_healthy(service, process, deadline)
        if healthy is not None:
            return healthy - started
        # A service binding without SO_REUSEADDR cannot bind while old connections to its
        # port sit in TIME_WAIT; wait for them to clear, then start it once more.
        if process.running or _bindable(port, reuse=False) or _left(deadline) <= 0:
            raise _Aborted(why)
        process.stop(grace=0)
        _mark(service, f"port {port} is in TIME_WAIT: waiting to start the service again")
        _wait(lambda: _bindable(port, reuse=False), deadline, f"{why}; port {port} in TIME_WAIT")


def _respawn(service: Service, port: int) -> OwnedProcess:
    """The same command, environment and folder as Service.start, on the same port."""
    section = service.section
    argv = [fill_port(part, port) for part in section.argv]
    cwd = (service.root / section.cwd).resolve() if section.cwd else service.root
    env = {
        **os.environ,
        "PORT": str(port),
        **{k: fill_port(v, port) for k, v in section.env.items()},
    }
    _mark(service, f"restart on {service.url}\n$ {' '.join(argv)}")
    try:
        service.process = OwnedProcess(
            argv, log=service.log, cwd=cwd, env=env, grace=section.stop_timeout
        )
    except OSError as exc:
        raise _Aborted(f"cannot start {argv[0]!r}: {exc}") from None
    return service.process


def _wait_healthy(
    service: Service, process: OwnedProcess, deadline: float
) -> tuple[float | None, str]:
    """The monotonic time of the first healthy answer, or None and why not."""
    last = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while True:
            if not process.running:
                tail = "; ".join(log_tail(service.log, 3))
                return None, f"the restarted service exited with code {process.poll()} ({tail})"
            if _healthy(service, client):
                return time.monotonic(), ""
            if _left(deadline) <= 0:
                return None, f"not healthy again ({last})"
            last = f"{service.section.health or 'the port'} did not answer 2xx"
            time.sleep(POLL_SECONDS)


def _healthy(service: Service, client: httpx.Client) -> bool:
    """The health path answers 2xx; without one, the port accepts connections."""
    if not service.section.health:
        try:
            with socket.create_connection(("127.0.0.1", service.port or 0), timeout=0.5):
                return True
        except OSError:
            return False
    try:
        return client.get(service.endpoint(service.section.health)).is_success
    except httpx.HTTPError:
        return False


def _bindable(port: int, *, reuse: bool) -> bool:
    """Can a new server bind the port? With reuse: no one listens on it; without: not even
    connections in TIME_WAIT hold it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _wait(done: Callable[[], bool], deadline: float, what: str) -> None:
    while not done():
        if _left(deadline) <= 0:
            raise _Aborted(what)
        time.sleep(POLL_SECONDS)


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _mark(service: Service, text: str) -> None:
    with service.log.open("ab") as handle:
        handle.write(f"# passcycle: {text}\n".encode())


# --- one request of a drill: the declarative step, played with httpx ----------------------


def _play(client: httpx.Client, step: StepSection, values: dict[str, Any]) -> str:
    """Play one step; "" when it answered as expected (its saves added to `values`),
    else what went wrong."""
    values.setdefault("uuid", uuid.uuid4().hex)
    kwargs: dict[str, Any] = {}
    if step.body is not None:
        kwargs["json"] = render(step.body, values)
    if step.data is not None:
        kwargs["data" if isinstance(step.data, dict) else "content"] = render(step.data, values)
    try:
        response = client.request(
            step.method,
            render(step.path, values, quote=True),
            params=render(step.params, values),
            headers=render(step.headers, values),
            **kwargs,
        )
    except httpx.HTTPError as exc:
        return f"no response ({type(exc).__name__})"
    code = response.status_code
    if (code not in step.expect) if step.expect else code >= 400:
        wanted = "/".join(map(str, step.expect)) if step.expect else "a code below 400"
        return f"expected {wanted}, got {code}"
    for var, path in step.save.items():
        try:
            found = extract(response.json(), path)
        except (ValueError, json.JSONDecodeError):
            found = MISSING
        if found is MISSING:
            return f"save {var}: {path} is not in the response ({response.text[:200]!r})"
        values[var] = found
    return ""
