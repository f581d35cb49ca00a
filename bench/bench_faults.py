"""The fault proxy's cost when it passes traffic on, against socat (a plain TCP relay), and
how exactly it adds the latency it is asked for.

    python bench/bench_faults.py [--requests 2000] [--rounds 5] [--threads 8]

An HTTP/1.1 keep-alive upstream (stdlib, its own process) is asked directly, through socat,
and through passcycle's FaultProxy (its own process, as in a run, where passcycle's process
is otherwise idle while Locust makes the load). Per path: median per-request latency of
sequential requests and requests per second with --threads clients; rounds interleave the
paths, and the medians over rounds are printed. Then a latency fault of 50 ms: the median
added delay, which should be 50 ms plus the pass-through cost.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

UPSTREAM = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    def log_message(self, *a):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

PROXY = r"""
import json, sys, time
from passcycle.scenario_sections import FaultSection
from passcycle.scenarios.faults import FaultProxy

proxy = FaultProxy("bench", "127.0.0.1", int(sys.argv[1])).start()
if len(sys.argv) > 2:
    start = time.time()
    fault = FaultSection.model_validate(
        {"upstream": "bench", "kind": "latency", "delay": sys.argv[2]}
    )
    proxy.arm([fault], lambda: start)
print(proxy.port, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(argv: list[str], *, stdin: bool = False) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def sequential(port: int, requests: int) -> float:
    """Median seconds per request over one keep-alive connection."""
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        client.get("/")
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/")
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def concurrent(port: int, requests: int, threads: int) -> float:
    """Requests per second with `threads` clients, each on its own connection."""
    each = max(1, requests // threads)

    def work() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(each):
                client.get("/")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return each * threads / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("socat") is None:
        print("socat is not installed (apt-get install socat)", file=sys.stderr)
        return 2
    up = free_port()
    relay = free_port()
    with (
        process([sys.executable, "-c", UPSTREAM, str(up)]),
        process(
            ["socat", f"TCP-LISTEN:{relay},fork,reuseaddr,bind=127.0.0.1", f"TCP:127.0.0.1:{up}"]
        ),
        process([sys.executable, "-c", PROXY, str(up)], stdin=True) as proxy_proc,
        process([sys.executable, "-c", PROXY, str(up), "50ms"], stdin=True) as slow_proc,
    ):
        assert proxy_proc.stdout is not None and slow_proc.stdout is not None
        ours = int(proxy_proc.stdout.readline())
        slow = int(slow_proc.stdout.readline())
        for port in (up, relay, ours, slow):
            wait_port(port)
        paths = {"direct": up, "socat": relay, "passcycle": ours}
        latency: dict[str, list[float]] = {k: [] for k in paths}
        rate: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(args.rounds):
            for name, port in paths.items():
                latency[name].append(sequential(port, args.requests))
                rate[name].append(concurrent(port, args.requests, args.threads))
        delayed = sequential(slow, 100)
    med = {k: statistics.median(v) for k, v in latency.items()}
    per_s = {k: statistics.median(v) for k, v in rate.items()}
    print(f"{args.rounds} rounds x {args.requests} requests; medians over rounds")
    print(f"{'path':<10} {'latency':>10} {'added':>10} {'req/s':>9}  ({args.threads} clients)")
    for name in paths:
        added = med[name] - med["direct"]
        print(f"{name:<10} {med[name] * 1e6:>8.0f}µs {added * 1e6:>8.0f}µs {per_s[name]:>9.0f}")
    ratio = (med["passcycle"] - med["direct"]) / max(1e-9, med["socat"] - med["direct"])
    print(f"added latency, passcycle / socat: {ratio:.2f}x")
    print(f"throughput, passcycle / socat: {per_s['passcycle'] / per_s['socat']:.2f}x")
    print(
        f"latency fault of 50ms: median added {(delayed - med['direct']) * 1000:.1f}ms"
        f" (pass-through alone {(med['passcycle'] - med['direct']) * 1000:.2f}ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
