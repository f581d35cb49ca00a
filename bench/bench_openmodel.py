"""Benchmark: does an open-model scenario (`rate`, #16) show a stall that a closed one hides,
and does it keep its rate?

Run: python bench/bench_openmodel.py [--repeat 3] [--seconds 20] [--rate 100]

1. Stall. A loopback service answers in 5 ms but stalls for 1 s every 5 s (of the clock):
   every request that arrives in a stall waits for its end. With arrivals spread evenly,
   a fifth of them fall in a stall and wait uniformly 0-1 s, so the true p95 is about
   0.75 s and the true p99 about 0.95 s. passcycle's open model at `--rate`/s is set
   against a closed one at about the same throughput (3 users, 15 ms think time), which
   sends nothing while the service stalls.
2. Rate. The same service without stalls (5 ms a request): achieved throughput at
   `rate = R` for R in 50, 200 and 500 per second, and how late the generator sent requests.

Each figure is the median of `--repeat` runs, interleaved. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_load import drive, start_server

ROOT = Path(__file__).resolve().parents[1]
RATES = (50, 200, 500)


def start(work: Path, stall: float) -> tuple[subprocess.Popen[bytes], int]:
    """bench_load's asyncio server: 5 ms a request, and a stall of `stall` s every 5 s."""
    return start_server(work, 0.005, stall, 5.0)


def scenario(port: int, work: Path, **fields: Any) -> dict[str, Any]:
    spec = {
        "service": {"url": f"http://127.0.0.1:{port}"},
        "scenario": {"name": "bench", "steps": [{"get": "/"}], **fields},
        "root": str(work),
        "artifacts": tempfile.mkdtemp(dir=work),
    }
    result, _, _ = drive(spec, work)
    m = result["m"]
    return {
        "throughput": m["throughput"],
        **{p: m[f"{p}_response_time"] for p in ("p50", "p95", "p99")},
        "lag99": m.get("p99_schedule_lag", 0.0),
        "lagmax": m.get("max_schedule_lag", 0.0),
        "notes": "; ".join(result["notes"]),
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-openmodel-"))
    stalls: dict[str, list[dict[str, Any]]] = {"open": [], "closed": []}
    rates: dict[int, list[dict[str, Any]]] = {r: [] for r in RATES}
    loads = []
    server, port = start(work, stall=1.0)
    try:
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both
            loads.append(os.getloadavg()[0])
            open_model = {"rate": f"{args.rate}/s", "users": 10 * args.rate}
            stalls["open"].append(scenario(port, work, duration=args.seconds, **open_model))
            closed = {"users": 3, "think_time": "15ms"}
            stalls["closed"].append(scenario(port, work, duration=args.seconds, **closed))
    finally:
        stop(server)
    server, port = start(work, stall=0.0)
    try:
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            for rate in RATES:
                rates[rate].append(scenario(port, work, rate=f"{rate}/s", duration=10))
    finally:
        stop(server)

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r.get(key, 0.0)) for r in runs)

    print(f"\n### Stall of 1 s every 5 s, {args.seconds} s, median of {args.repeat}"
          f" (load average {min(loads):.1f}-{max(loads):.1f})\n")  # fmt: skip
    print("| model | requests/s | p50 | p95 | p99 |")
    print("|---|---:|---:|---:|---:|")
    print("| true (arrivals spread evenly) | | 5 ms | ~750 ms | ~950 ms |")
    labels = {"open": f"passcycle rate = {args.rate}/s", "closed": "closed: 3 users, 15 ms think"}
    for model, runs in stalls.items():
        label = labels[model]
        cells = [f"{med(runs, k) * 1000:.0f} ms" for k in ("p50", "p95", "p99")]
        print(f"| {label} | {med(runs, 'throughput'):.1f} | {' | '.join(cells)} |")
    print(f"\n### Rate kept at 5 ms a request, 10 s, median of {args.repeat}\n")
    print("| rate | achieved/s | achieved / rate | schedule lag p99 | max | p99 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for rate, runs in rates.items():
        got = med(runs, "throughput")
        ms = [f"{med(runs, k) * 1000:.1f} ms" for k in ("lag99", "lagmax", "p99")]
        print(f"| {rate}/s | {got:.1f} | {got / rate:.3f} | {' | '.join(ms)} |")
    for note in {r["notes"] for runs in [*stalls.values(), *rates.values()] for r in runs}:
        if note:
            print(f"\nnote: {note}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
