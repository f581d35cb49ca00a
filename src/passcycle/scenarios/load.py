"""Load: one scenario on Locust, run in processes of its own and read back as statistics.

`import locust` monkey-patches the standard library with gevent (locust/__init__.py), so
Locust never runs inside passcycle: it is `python -m locust --headless` in its own
process group (or a master and N workers), bounded by `--run-time`, a request cap in the
harness, and a hard deadline here. Its statistics come back through files:

- `stats.json` (`--json-file`): final per-request entries with Locust's response-time
  histogram, for percentiles per step and overall;
- `locust_stats_history.csv` (`--csv`): one row a second, read while it grows for the
  live progress line and, at the end, for the number of users actually sustained;
- `samples-PID.json` (the harness): a reservoir sample of raw response times per process;
- `fatal.json` (the harness): a mistake in the scenario, such as a JSON path never found.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passcycle.errors import RunError
from passcycle.records import TimelinePoint
from passcycle.scenario_sections import ScenarioSection
from passcycle.scenarios.loadstats import (
    PhaseStats,
    RequestStats,
    _exact,
    _harness_files,
    _phases,
    _read_json,
    _samples,
    request_stats,
)
from passcycle.scenarios.processes import OwnedProcess, log_tail
from passcycle.scenarios.saturation import (
    SATURATED_CPU,
    CpuWatch,
    bound_note,
    generator_bound,
    loop_lag,
)
from passcycle.scenarios.schedule import Schedule, read_schedule

POLL_SECONDS = 0.25
START_SLACK = 30.0  # seconds allowed beyond the duration for start-up and shut-down


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """One tick of the live progress line."""

    scenario: str
    elapsed: float
    duration: float
    users: int
    rps: float
    failures: int
    requests: int
    p95: float | None  # seconds, over the run so far


@dataclass(frozen=True, slots=True)
class LoadResult:
    scenario: str
    total: RequestStats
    steps: tuple[RequestStats, ...]
    samples: tuple[float, ...]  # response times in seconds, a uniform sample
    users_peak: int
    users_sustained: int
    generator_cpu: float  # % of one core, the busiest Locust process
    saturated: bool
    capped: bool  # stopped by max_requests before its duration
    elapsed: float
    stopped_by: str | None = None  # why passcycle stopped it early (the service died, ...)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # with faults: "before", "during", "after" a fault was on
    phases: dict[str, PhaseStats] = field(default_factory=dict)
    generator_demand: float = 0.0  # % of one core the busiest Locust process wanted
    generator_wait: float = 0.0  # % of that spent runnable, waiting for a core
    timeline: tuple[TimelinePoint, ...] = ()  # one point per second Locust sampled
    schedule: Schedule | None = None  # an open model's (rate): times from intended starts
    processes: int = 1  # Locust processes that generated the load (workers, or the one)
    generator_lag: float = 0.0  # s: how late the slowest process's event loop ran, mean


@dataclass(frozen=True)
class LoadSpec:
    scenario: ScenarioSection
    host: str  # base URL load goes to
    locustfiles: list[Path]
    out: Path  # this scenario's folder in the run's artifacts
    workers: int = 0  # local Locust workers; 0: one process
    remote_workers: int = 0  # workers on other machines the master waits for
    master_bind: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port
    env: dict[str, str] = field(default_factory=dict)


def started_file(spec: LoadSpec) -> Path:
    """Written by the harness when Locust starts the test: {"t": epoch seconds}."""
    return spec.out / "started.json"


def locust_command(spec: LoadSpec, *, role: str = "local", master_port: int = 0) -> list[str]:
    """The Locust command line of one process: local, master or worker."""
    files = ",".join(str(p) for p in spec.locustfiles)
    base = [sys.executable, "-m", "locust", "-f", files]
    if role == "worker":
        return [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    scenario = spec.scenario
    users, spawn = scenario.users, scenario.spawn_per_second
    run_time = max(1, math.ceil(scenario.duration))
    if scenario.rate:  # an open model: one scheduling user per process (arrivals.py)
        users = spawn = max(1, spec.workers + spec.remote_workers)
        # its users end the schedule themselves; Locust's clock starts before they do
        run_time = math.ceil(scenario.duration + scenario.stop_timeout) + 1
    command = [
        *base,
        "--headless",
        "--host", spec.host,
        "--users", str(users),
        "--spawn-rate", f"{spawn:g}",
        "--run-time", f"{run_time}s",
        "--stop-timeout", f"{scenario.stop_timeout:g}",
        "--csv", str(spec.out / "locust"),
        "--json-file", str(spec.out / "stats"),
        "--html", str(spec.out / "report.html"),
        "--only-summary",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    if role == "master":
        command += [
            "--master",
            "--master-bind-host", spec.master_bind,
            "--master-bind-port", str(master_port),
            "--expect-workers", str(spec.workers + spec.remote_workers),
            "--expect-workers-max-wait", "60",
        ]  # fmt: skip
    return command


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_load(
    spec: LoadSpec,
    *,
    on_progress: Callable[[LoadProgress], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> LoadResult:
    """Run one scenario to its end (duration, cap, iterations) and read its statistics.

    `should_stop` is asked on every tick; a reason stops Locust early (the service died).
    Locust's processes are always stopped, whatever happens here.
    """
    scenario = spec.scenario
    spec.out.mkdir(parents=True, exist_ok=True)
    stale_files = [*spec.out.glob("samples-*.json"), *spec.out.glob("schedule-*.json")]
    for stale in [*stale_files, spec.out / "fatal.json", started_file(spec)]:
        stale.unlink(missing_ok=True)
    env = {**os.environ, **spec.env, "PASSCYCLE_OUT": str(spec.out)}
    env.pop("PYTEST_CURRENT_TEST", None)
    procs: list[OwnedProcess] = []
    stopped_by: str | None = None
    started = time.monotonic()
    deadline = started + scenario.duration + scenario.stop_timeout + START_SLACK
    cpu = CpuWatch()
    try:
        if spec.workers or spec.remote_workers:
            port = spec.master_port or free_port()
            master = OwnedProcess(
                locust_command(spec, role="master", master_port=port),
                log=spec.out / "locust.log", env=env, grace=10.0,
            )  # fmt: skip
            procs.append(master)
            for index in range(spec.workers):
                procs.append(
                    OwnedProcess(
                        locust_command(spec, role="worker", master_port=port),
                        log=spec.out / f"worker-{index + 1}.log",
                        env=env,
                        grace=10.0,
                    )
                )
        else:
            master = OwnedProcess(
                locust_command(spec), log=spec.out / "locust.log", env=env, grace=10.0
            )
            procs.append(master)
        history = spec.out / "locust_stats_history.csv"
        while master.running:
            time.sleep(POLL_SECONDS)
            cpu.sample(procs)
            if (spec.out / "fatal.json").exists():
                stopped_by = "fatal"
                break
            reason = should_stop() if should_stop else None
            if reason:
                stopped_by = reason
                break
            if time.monotonic() > deadline:
                stopped_by = f"Locust ran past its bound of {deadline - started:.0f}s"
                break
            if on_progress is not None:
                progress = _progress(history, scenario, time.monotonic() - started)
                if progress is not None:
                    on_progress(progress)
    finally:
        # The master first: it writes its statistics on SIGTERM; then the workers.
        for proc in procs:
            proc.stop(grace=10.0)
    elapsed = time.monotonic() - started
    code = master.popen.returncode
    fatal = _read_json(spec.out / "fatal.json")
    if fatal is not None:
        raise _fatal_error(spec, fatal)
    stats = _read_json(spec.out / "stats.json")
    if stats is None:
        if stopped_by is not None and stopped_by != "fatal":
            stats = []
        else:
            tail = "\n".join(log_tail(spec.out / "locust.log", 10))
            raise RunError(
                f"scenario {scenario.name!r}: Locust exited with code {code} and no"
                f" statistics; last lines of its log:\n{tail}",
                hint=f"see {spec.out / 'locust.log'}",
            )
    return _result(spec, stats, cpu, elapsed, stopped_by)


def _fatal_error(spec: LoadSpec, fatal: dict[str, Any]) -> RunError:
    step = f", step {fatal['step']!r}" if fatal.get("step") else ""
    hint = (
        "fix the step's save path in the plan (see the response in the message)"
        if fatal.get("step")
        else "load goes only to the service and service.allow_hosts"
    )
    return RunError(f"scenario {spec.scenario.name!r}{step}: {fatal.get('message')}", hint=hint)


def _progress(history: Path, scenario: ScenarioSection, elapsed: float) -> LoadProgress | None:
    rows = _history_rows(history)
    if not rows:
        return None
    last = rows[-1]
    rps = 0.0
    if len(rows) >= 2:
        prev = rows[-2]
        span = max(1.0, last["time"] - prev["time"])
        rps = (last["requests"] - prev["requests"]) / span
    return LoadProgress(
        scenario.name,
        elapsed,
        scenario.duration,
        int(last["users"]),
        rps,
        int(last["failures"]),
        int(last["requests"]),
        last["p95"],
    )


def _ms(text: str | None) -> float | None:
    return None if text in ("N/A", "", None) else float(text) / 1000.0


def _aggregated(path: Path) -> list[dict[str, str]]:
    """The Aggregated rows of Locust's stats history (it may be growing as we read)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.DictReader(handle) if row.get("Name") == "Aggregated"]
    except OSError:
        return []


def timeline(path: Path) -> tuple[TimelinePoint, ...]:
    """The scenario second by second, from Locust's stats history."""
    points: list[TimelinePoint] = []
    first: float | None = None
    for row in _aggregated(path):
        try:
            now = float(row["Timestamp"])
            first = now if first is None else first
            points.append(
                TimelinePoint(
                    now - first, int(row["User Count"]), float(row["Requests/s"]),
                    float(row["Failures/s"]),
                    _ms(row.get("50%")), _ms(row.get("95%")), _ms(row.get("99%")),
                )
            )  # fmt: skip
        except (KeyError, ValueError, TypeError):
            continue  # a row cut short as Locust stopped
    return tuple(points)


def _history_rows(path: Path) -> list[dict[str, Any]]:
    """Time, users, totals and p95 (s) of each second Locust sampled."""
    rows: list[dict[str, Any]] = []
    for row in _aggregated(path):
        try:
            rows.append(
                {
                    "time": float(row["Timestamp"]),
                    "users": int(row["User Count"]),
                    "requests": int(row["Total Request Count"]),
                    "failures": int(row["Total Failure Count"]),
                    "p95": _ms(row.get("95%")),
                }
            )
        except (KeyError, ValueError, TypeError):
            continue  # a row being written as we read
    return rows


def _result(
    spec: LoadSpec, stats: list[dict[str, Any]], cpu: CpuWatch, elapsed: float, stopped: Any
) -> LoadResult:
    scenario = spec.scenario
    steps = [request_stats(e["name"], e["method"], [e], scenario) for e in stats]
    total = request_stats("Aggregated", "", stats, scenario)
    pools = _harness_files(spec.out)
    users = [r["users"] for r in _history_rows(spec.out / "locust_stats_history.csv")]
    peak = max(users, default=0)
    if not peak:  # over before the stats history caught a user: the harness counted them
        peak = sum(int(p.get("spawned") or 0) for p in pools)
        users = [peak] if peak else []
    steady = users[users.index(peak) :] if peak else []
    sustained = sorted(steady)[len(steady) // 2] if steady else 0
    samples, capped, exact, by_step = _samples(pools, stats)
    phases = _phases(pools)
    if exact:
        # Raw times beat Locust's histogram, which rounds to whole milliseconds (a fast
        # loopback reply would read as 0 ms).
        total = _exact(total, samples)
        steps = [_exact(s, by_step.get(f"{s.method} {s.name}", ())) for s in steps]
    schedule = read_schedule(spec.out) if scenario.rate else None
    if schedule is not None:
        # HdrHistograms of every request beat both: no sample, no rounding
        total, steps = schedule.timed(total), [schedule.timed(s) for s in steps]
        peak = sustained = schedule.peak  # an open model's users are its requests in flight
    generator = cpu.busiest()
    wanted, waiting = cpu.demand()
    lag = loop_lag(pools)
    saturated = generator_bound(generator, wanted, waiting, lag, total.p50)
    warnings = []
    if saturated:
        warnings.append(bound_note(scenario.name, generator, wanted, waiting, lag, total.p50))
    busy = cpu.machine[len(cpu.machine) // 4 :]  # after start-up
    machine = sum(busy) / len(busy) if busy else 0.0
    if machine > SATURATED_CPU and not saturated:
        warnings.append(
            f"scenario {scenario.name!r} (this machine's CPU {machine:.0f}% busy): response"
            " times include the load generator waiting for a core"
        )
    if schedule is not None:
        saturated = saturated or schedule.behind
        warnings.extend(schedule.notes(scenario.name, scenario.in_flight))
    if capped:
        warnings.append(
            f"scenario {scenario.name!r}: stopped at max_requests ({scenario.max_requests})"
            " before its duration"
        )
    if peak and peak < scenario.users and not scenario.rate:
        warnings.append(
            f"scenario {scenario.name!r}: reached {peak} of {scenario.users} users"
            " (spawn_rate too low for the duration?)"
        )
    return LoadResult(
        scenario.name,
        total,
        tuple(steps),
        samples,
        peak,
        sustained,
        generator,
        saturated,
        capped,
        elapsed,
        None if stopped == "fatal" else stopped,
        tuple(warnings),
        phases,
        wanted,
        100.0 * waiting,
        timeline(spec.out / "locust_stats_history.csv"),
        schedule,
        max(1, spec.workers + spec.remote_workers),
        lag,
    )
