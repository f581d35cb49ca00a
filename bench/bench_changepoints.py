"""Benchmark: change points found in synthetic KPI histories with known shifts, scored
against the truth, passcycle beside Apache Otava's own library on the same series; and
breach forecasts on synthetic drifts, scored by how often their interval holds the truth.

    pip install --no-deps apache-otava==0.8.0    # its library; its pins are not needed here
    python bench/bench_changepoints.py [--series 40] [--length 60] [--noise 0.10]

Each case draws `--series` series of `--length` runs around a level of 100 with Gaussian
noise of `--noise` of the level:

    step N%     one shift of the level by N% (up or down) at a random run in the middle half
    outlier     one run 60% off, nothing else: no change to find
    drift       the level rising 30% over the series, run by run: no step to find
    flat        noise only

Forecasts (`--forecasts N`): N drifts of 100 + r·t (r 0.5–3 a day) toward a ceiling of
150, 8–30 runs at random times over as many days, noise 1–8: the share of forecasts whose
80% interval holds the day the true line crosses 150.

A detection is right when it lies within 2 runs of the true shift. passcycle is
`passcycle.validate.changepoints.change_points` (Otava's E-divisive means vendored, with 3
runs on each side of a change and shifts under 2% left out); Otava is
`otava.analysis.compute_change_points(window_len=30, max_pvalue=0.001)` as released.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from passcycle.validate.changepoints import MAX_PVALUE, WINDOW, change_points

TOLERANCE = 2  # runs between a detection and the true shift


def series_for(case: str, length: int, noise: float, rng: random.Random) -> tuple[list, list]:
    """(values, true change indexes)."""
    level = [100.0] * length
    truth: list[int] = []
    if case.startswith("step"):
        size = int(case.split()[1].rstrip("%")) / 100 * rng.choice((1, -1))
        at = rng.randint(length // 4, 3 * length // 4)
        level = [100.0 if i < at else 100.0 * (1 + size) for i in range(length)]
        truth = [at]
    elif case == "drift":
        level = [100.0 * (1 + 0.3 * i / (length - 1)) for i in range(length)]
    values = [v * (1 + rng.gauss(0, noise)) for v in level]
    if case == "outlier":
        values[rng.randint(5, length - 6)] *= 1.6
    return values, truth


def otava(values: list[float]) -> list[int]:
    from otava.analysis import compute_change_points

    found, _ = compute_change_points(values, window_len=WINDOW, max_pvalue=MAX_PVALUE)
    return [int(p.index) for p in found]


def ours(values: list[float]) -> list[int]:
    return [s.index for s in change_points(list(enumerate(values)))]


def score(found: list[int], truth: list[int], tolerance: int) -> tuple[int, int, int, int]:
    """(right detections, detections, true shifts, true shifts found)."""
    right = sum(1 for f in found if any(abs(f - t) <= tolerance for t in truth))
    hits = sum(1 for t in truth if any(abs(f - t) <= tolerance for f in found))
    return right, len(found), len(truth), hits


def forecast_coverage(trials: int, seed: int) -> None:
    from datetime import UTC, datetime, timedelta

    from passcycle.validate.forecast import LEVEL, forecast

    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    held = made = 0
    for _ in range(trials):
        rate, n = rng.uniform(0.5, 3.0), rng.randint(8, 30)
        days = sorted(rng.uniform(0, n) for _ in range(n))
        noise = rng.uniform(1, 8)
        series = [(t0 + timedelta(days=d), 100 + rate * d + rng.gauss(0, noise)) for d in days]
        ahead = forecast(series, 150.0, False, "")
        if ahead.days is not None:
            made += 1
            held += (ahead.low or 0) <= 50 / rate - days[-1] <= (ahead.high or 0)
    print(
        f"\nforecasts: {made} of {trials} drifts forecast (the others: no slope sure at 80%,"
        " a jump, crossed already,"
        f" or too far ahead for the runs' span); the {LEVEL:.0%} interval held the true crossing in"
        f" {held} = {held / made:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--noise", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=int, default=TOLERANCE, help="runs off still right")
    parser.add_argument("--forecasts", type=int, default=1000, help="drifts to forecast; 0: none")
    args = parser.parse_args()
    cases = ["step 5%", "step 10%", "step 20%", "step 30%", "outlier", "drift", "flat"]
    print(
        f"{args.series} series of {args.length} runs per case, noise {args.noise:.0%},"
        f" a detection right within {args.tolerance} runs\n"
    )
    print(
        "| case | passcycle recall | passcycle precision | passcycle false detections"
        " | Otava recall | Otava precision | Otava false detections | passcycle ms | Otava ms |"
        "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for case in cases:
        rng = random.Random(f"{args.seed}-{case}")
        totals = {"ours": [0, 0, 0, 0], "otava": [0, 0, 0, 0]}
        times: dict[str, list[float]] = {"ours": [], "otava": []}
        for _ in range(args.series):
            values, truth = series_for(case, args.length, args.noise, rng)
            for name, detect in (("ours", ours), ("otava", otava)):
                started = time.perf_counter()
                found = detect(values)
                times[name].append(time.perf_counter() - started)
                for i, n in enumerate(score(found, truth, args.tolerance)):
                    totals[name][i] += n

        def recall(name: str, totals: dict[str, list[int]] = totals) -> str:
            _, _, true, hits = totals[name]
            return f"{hits}/{true} ({hits / true:.0%})" if true else "—"

        def precision(name: str, totals: dict[str, list[int]] = totals) -> str:
            right, found, _, _ = totals[name]  # of the detections, the share at a true shift
            return f"{right}/{found} ({right / found:.0%})" if found else "—"

        def false(name: str, totals: dict[str, list[int]] = totals) -> str:
            right, found, _, _ = totals[name]
            return f"{found - right} in {args.series} series"

        print(
            f"| {case} | {recall('ours')} | {precision('ours')} | {false('ours')}"
            f" | {recall('otava')} | {precision('otava')} | {false('otava')}"
            f" | {statistics.median(times['ours']) * 1000:.1f}"
            f" | {statistics.median(times['otava']) * 1000:.1f} |"
        )
    if args.forecasts:
        forecast_coverage(args.forecasts, args.seed)


if __name__ == "__main__":
    main()
