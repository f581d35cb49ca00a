"""Benchmark: is passcycle's load accurate, and what does it cost on top of Locust?

Run: python bench/bench_load.py [--seconds 10] [--users 50] [--repeat 2] [--organism 60]
     python bench/bench_load.py --delay-ms 0 --organism 0 [--pin 0]   # the fast endpoint

1. Accuracy. A loopback service whose handler waits 20 ms sets the pace; at the same
   concurrency (50 connections / users) passcycle's scenario throughput and p50/p95 are
   compared with `wrk --latency -c 50 -t 2` (p95 via a wrk Lua `done` hook). Target:
   within 15%.
2. Cost. The same behaviour as a plain locustfile run by `locust --headless` alone, against
   passcycle's `run_scenarios` (harness, progress, health probes, stats reading). Both run
   in a subprocess of their own; CPU is that process tree's rusage. Target ratio <= 1.10.
3. Organism (if examples/organism exists): 100 users for `--organism` seconds, p95, error
   rate and passcycle's own peak RSS (target < 300 MB).

Prints a Markdown table. Needs wrk (Debian: apt-get install -y wrk) and locust.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ORGANISM = ROOT / "examples" / "organism"

# An asyncio HTTP/1.1 keep-alive server: cheap per request, so the 20 ms wait sets the pace.
# With STALL and PERIOD (bench_openmodel.py), while the clock is within the first STALL
# seconds of each PERIOD every request also waits for the stall's end.
SERVER = r"""
import asyncio, sys, time
DELAY = float(sys.argv[2])
STALL, PERIOD = (float(x) for x in (sys.argv[3:5] or ["0", "1"]))
BODY = b'{"ok": true}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            if not head.startswith(b"GET /health"):
                phase = time.time() % PERIOD
                await asyncio.sleep(DELAY + (STALL - phase if phase < STALL else 0.0))
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""

WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %f %f %f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, summary.errors.status
    + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""

PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, task

class Plain(FastHttpUser):
    @task
    def root(self):
        self.client.get("/", name="GET /")
"""

# Runs in its own process: passcycle's whole scenario path, as `passcycle run` calls it.
DRIVER = """
import json, resource, sys, time
from pathlib import Path
from passcycle.scenarios import ScenarioSection, ServiceSection, run_scenarios

spec = json.loads(sys.argv[1])
service = ServiceSection.model_validate(spec["service"])
scenario = ScenarioSection.model_validate(spec["scenario"])
started = time.monotonic()
outcome = run_scenarios(service, [scenario], Path(spec["root"]), Path(spec["artifacts"]),
                        workers=spec.get("workers", 0))
wall = time.monotonic() - started
found = {m.name: m.value for m in outcome.measurements}
own = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({"wall": wall, "m": found, "notes": outcome.notes,
      "own_cpu": own.ru_utime + own.ru_stime, "own_maxrss": own.ru_maxrss * 1024}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_measured(argv: list[str], **kwargs: Any) -> tuple[str, float]:
    """Run a command to its end; returns (stdout, wall seconds). Its CPU, and that of the
    children it waited for, then shows in RUSAGE_CHILDREN (children_cpu)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    out, err = proc.communicate(timeout=900)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    return out.decode(), wall


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_server(
    work: Path, delay: float, stall: float = 0.0, period: float = 1.0
) -> tuple[subprocess.Popen[bytes], int]:
    (work / "server.py").write_text(SERVER)
    port = free_port()
    argv = [sys.executable, str(work / "server.py"), str(port), str(delay), str(stall), str(period)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
    return proc, port


def bench_wrk(port: int, users: int, seconds: int, work: Path) -> dict[str, float]:
    (work / "p95.lua").write_text(WRK_LUA)
    out, _ = run_measured(
        ["wrk", "--latency", "-c", str(users), "-t", "2", "-d", f"{seconds}s",
         "-s", str(work / "p95.lua"), f"http://127.0.0.1:{port}/"]
    )  # fmt: skip
    match = re.search(r"BENCH (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out)
    assert match, out
    requests, duration, p50, p95, errors = match.groups()
    return {
        "rps": int(requests) / float(duration),
        "p50": float(p50),
        "p95": float(p95),
        "errors": float(errors),
    }


def bench_locust_alone(port: int, users: int, seconds: int, work: Path) -> dict[str, float]:
    from passcycle.scenario_sections import ScenarioSection
    from passcycle.scenarios.load import request_stats

    (work / "plain.py").write_text(PLAIN_LOCUSTFILE)
    before = children_cpu()
    out, wall = run_measured(
        [*PIN, sys.executable, "-m", "locust", "--headless", "-f", str(work / "plain.py"),
         "--host", f"http://127.0.0.1:{port}", "-u", str(users), "-r", str(users),
         "-t", f"{seconds}s", "--stop-timeout", "1", "--json", "--skip-log",
         "--exit-code-on-error", "0"]
    )  # fmt: skip
    cpu = children_cpu() - before
    entries = json.loads(out)
    scenario = ScenarioSection(name="plain", users=users, duration=seconds, locustfile="x")
    stats = request_stats("all", "", entries, scenario)
    return {
        "rps": stats.throughput,
        "p50": (stats.p50 or 0) * 1000,
        "p95": (stats.p95 or 0) * 1000,
        "errors": stats.failures,
        "cpu": cpu,
        "wall": wall,
    }


# `--pin CPU`: the generator (passcycle's driver, Locust alone, and the processes they start)
# is held to that core with taskset, as on a CI runner with one core to spare
PIN: list[str] = []


def drive(spec: dict[str, Any], work: Path) -> tuple[dict[str, Any], float, float]:
    (work / "driver.py").write_text(DRIVER)
    before = children_cpu()
    out, wall = run_measured(
        [*PIN, sys.executable, str(work / "driver.py"), json.dumps(spec)], cwd=work
    )
    cpu = children_cpu() - before
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), wall, cpu


def bench_passcycle(
    port: int, users: int, seconds: int, work: Path, workers: int = 0
) -> dict[str, float]:
    artifacts = Path(tempfile.mkdtemp(dir=work))
    spec = {
        "service": {"url": f"http://127.0.0.1:{port}"},  # started by the bench, as for the others
        "scenario": {
            "name": "paced",
            "users": users,
            "spawn_rate": users,
            "duration": seconds,
            "steps": [{"get": "/"}],
        },
        "root": str(work),
        "artifacts": str(artifacts),
        "workers": workers,
    }
    result, wall, cpu = drive(spec, work)
    m = result["m"]
    return {
        "rps": m["throughput"],
        "p50": m["p50_response_time"] * 1000,
        "p95": m["p95_response_time"] * 1000,
        "errors": m["error_rate"],
        "cpu": cpu,
        "wall": wall,
        "generator": m["generator_cpu"],
        "own": result["own_cpu"],
        "bound": float(m.get("generator_bound", 0.0)),
        "lag": 1000.0 * float(m.get("generator_lag", 0.0)),
        "demand": float(m.get("generator_demand", 0.0)),
        "wait": float(m.get("generator_wait", 0.0)),
        "notes": "; ".join(result["notes"]),
    }


def bench_organism(seconds: int, work: Path) -> dict[str, Any]:
    spec = {
        "service": {
            "command": [sys.executable, "-m", "organism", "--port", "{port}",
                        "--db", str(work / "organism.db")],
            "env": {"PYTHONPATH": str(ORGANISM / "src")},
            "cwd": str(ORGANISM),
            "metrics": "/metrics",
        },
        "scenario": {
            "name": "steady-100",
            "users": 100,
            "spawn_rate": 25,
            "duration": seconds,
            "think_time": ["0.5s", "1.5s"],
            "steps": [
                {"post": "/sessions", "json": {"user": "u{user}"}, "expect": 201,
                 "save": {"id": "$.id"}, "name": "create"},
                {"get": "/sessions/{id}", "expect": 200, "name": "read"},
                {"post": "/orchestrate", "json": {"prompt": "p{user}-{iteration}",
                 "session_id": "{id}"}, "name": "orchestrate"},
            ],
        },
        "root": str(work),
        "artifacts": str(work / "organism-run"),
    }  # fmt: skip
    result, wall, _ = drive(spec, work)
    return {**result, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--organism", type=int, default=60, help="seconds; 0 skips it")
    parser.add_argument("--workers", type=int, default=0, help="also run with N Locust workers")
    parser.add_argument("--pin", help="taskset the generator to this CPU (e.g. 0)")
    parser.add_argument(
        "--hogs", type=int, default=0, help="busy-loop processes beside it (starve the generator)"
    )
    args = parser.parse_args()
    if args.pin is not None:
        PIN[:] = ["taskset", "-c", args.pin]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    server, port = start_server(work, args.delay_ms / 1000)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    runs: dict[str, list[dict[str, Any]]] = {"wrk": [], "locust": [], "passcycle": []}
    if args.workers:
        runs[f"passcycle --workers {args.workers}"] = []
    try:
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits all
            runs["wrk"].append(bench_wrk(port, args.users, args.seconds, work))
            runs["locust"].append(bench_locust_alone(port, args.users, args.seconds, work))
            runs["passcycle"].append(bench_passcycle(port, args.users, args.seconds, work))
            if args.workers:
                runs[f"passcycle --workers {args.workers}"].append(
                    bench_passcycle(port, args.users, args.seconds, work, args.workers)
                )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()

    def med(tool: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[tool])

    load = os.getloadavg()[0]
    pinned = f", generator pinned to CPU {args.pin}" if args.pin is not None else ""
    pinned += f", {args.hogs} busy loops beside it" if args.hogs else ""
    print(f"\n### Load accuracy: {args.users} connections, handler waits {args.delay_ms:g} ms,"
          f" {args.seconds} s, median of {args.repeat} (load {load:.1f}){pinned}\n")  # fmt: skip
    print("| tool | requests/s | p50 ms | p95 ms | CPU s | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for tool in runs:
        cpu = f"{med(tool, 'cpu'):.1f}" if tool != "wrk" else "-"
        wall = f"{med(tool, 'wall'):.1f}" if tool != "wrk" else "-"
        print(f"| {tool} | {med(tool, 'rps'):.0f} | {med(tool, 'p50'):.1f} | "
              f"{med(tool, 'p95'):.1f} | {cpu} | {wall} |")  # fmt: skip
    print("\n| check | value | target |")
    print("|---|---:|---:|")
    for key, label in (("rps", "throughput"), ("p50", "p50"), ("p95", "p95")):
        diff = med("passcycle", key) / med("wrk", key) - 1
        print(f"| passcycle {label} vs wrk | {diff:+.1%} | within ±15% |")
    print(f"| passcycle CPU / Locust alone | {med('passcycle', 'cpu') / med('locust', 'cpu'):.2f}"
          " | <= 1.10 |")  # fmt: skip
    print(f"| passcycle wall / Locust alone | "
          f"{med('passcycle', 'wall') / med('locust', 'wall'):.2f} | <= 1.10 |")  # fmt: skip
    print(f"| passcycle throughput / Locust alone | "
          f"{med('passcycle', 'rps') / med('locust', 'rps'):.2f} | >= 0.90 |")  # fmt: skip
    print(f"| passcycle's own process (imports, monitor, probes) | {med('passcycle', 'own'):.2f} s"
          " CPU | |")  # fmt: skip
    print(f"| generator CPU (busiest Locust process) | {med('passcycle', 'generator'):.0f}% "
          "| < 90% |")  # fmt: skip
    bound = sum(r["bound"] > 0 for r in runs["passcycle"])
    close = abs(med("passcycle", "p50") / med("wrk", "p50") - 1) <= 0.15
    print("| flagged generator-bound (a latency it fails: not judged) |"
          f" {bound} of {args.repeat} runs |"
          f" p50 within 15% of wrk ({'yes' if close else 'no'}) or flagged |")  # fmt: skip
    print("\n| round | passcycle p50 / wrk p50 | generator loop lag | lag / p50 |"
          " demand / wait | generator-bound |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---|")
    for i, (ours, theirs) in enumerate(zip(runs["passcycle"], runs["wrk"], strict=True), 1):
        print(f"| {i} | {ours['p50']:.1f} / {theirs['p50']:.1f} ms"
              f" ({ours['p50'] / theirs['p50']:.2f}×) | {ours['lag']:.2f} ms |"
              f" {ours['lag'] / ours['p50']:.0%} |"
              f" {ours['demand']:.0f}% / {ours['wait']:.0f}% |"
              f" {'yes' if ours['bound'] else 'no'} |")  # fmt: skip
    notes = {r["notes"] for r in runs["passcycle"] if r["notes"]}
    for note in notes:
        print(f"\nnote: {note}")

    if args.organism and (ORGANISM / "src" / "organism").is_dir():
        result = bench_organism(args.organism, work)
        m = result["m"]
        print(f"\n### organism: 100 users, {args.organism} s, steps create/read/orchestrate\n")
        print("| figure | value | target |")
        print("|---|---:|---:|")
        print(f"| requests | {m['requests']:.0f} | |")
        print(f"| throughput | {m['throughput']:.0f}/s | |")
        print(f"| concurrent_users | {m['concurrent_users']:.0f} | 100 |")
        print(f"| p95_response_time | {m['p95_response_time'] * 1000:.0f} ms | |")
        print(f"| error_rate | {m['error_rate']:.2f}% | |")
        print(f"| service memory_rss (peak) | {m['memory_rss'] / 2**20:.0f} MB | |")
        print(f"| service cpu_utilization | {m['cpu_utilization']:.0f}% | |")
        print(f"| generator CPU | {m['generator_cpu']:.0f}% of a core | < 90% |")
        print(f"| passcycle's own peak RSS | {result['own_maxrss'] / 2**20:.0f} MB | < 300 MB |")
        print(f"| passcycle's own CPU | {result['own_cpu']:.1f} s | |")
        for note in result["notes"]:
            print(f"\nnote: {note}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
