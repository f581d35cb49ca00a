"""Noise: a change within what comparable runs show is never a regression (#9)."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from passcycle.records import Run, TestResult
from passcycle.validate.noise import (
    LARGE_BOUND,
    MIN_PAIRED,
    TestTimes,
    compare_paired,
    compare_to_history,
    history_spreads,
    on_busier_machine,
    second_look,
    second_timings,
    spread,
    timed_tests,
    within_history,
)

# the project of the end-to-end tests: its pytest configuration and plan
CALC_CONFIG = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "passcycle.toml": """
        [project]
        source = ["src/calc"]
        [kpis]
        test_pass_rate = "== 100%"
        suite_duration = { target = "< 10min", regression = "10%" }
    """,
}


def _run(run_id: int, commit: str = "abc", dirty: bool = False) -> Run:
    return Run(run_id, "p", "run", "passed", datetime.now(UTC), commit=commit, dirty=dirty)


def test_with_too_little_history_only_a_large_change_fails():
    small = compare_to_history(
        1.0, 1.6, spread([1.0], "runs"), higher_is_better=False, min_effect=0.10
    )
    assert not small.regressed
    assert "n=1: not enough runs to judge a regression" in small.detail
    large = compare_to_history(1.0, 1.0 + LARGE_BOUND + 0.2, None, higher_is_better=False,
                               min_effect=0.10)  # fmt: skip
    assert large.regressed


def test_a_change_within_the_spread_is_noise_whatever_its_size():
    history = spread([10.0, 12.0, 9.0, 13.0, 10.5, 11.0], "runs of the baseline's tree")
    assert history is not None and history.n == 6
    within = compare_to_history(10.0, 12.5, history, higher_is_better=False, min_effect=0.10)
    assert not within.regressed  # +25%, but runs of this tree went as far
    assert "within the spread of 6" in within.detail
    beyond = compare_to_history(10.0, 20.0, history, higher_is_better=False, min_effect=0.10)
    assert beyond.regressed and "beyond the spread" in beyond.detail


def test_a_history_that_never_varied_makes_any_large_enough_move_count():
    history = spread([100.0, 100.0, 100.0], "runs of the baseline's tree")
    assert compare_to_history(100.0, 111.0, history, higher_is_better=False,
                              min_effect=0.10).regressed  # fmt: skip
    assert not compare_to_history(100.0, 109.0, history, higher_is_better=False,
                                  min_effect=0.10).regressed  # fmt: skip
    # higher is better: a fall is the regression
    assert compare_to_history(100.0, 85.0, history, higher_is_better=True,
                              min_effect=0.10).regressed  # fmt: skip


def test_coverage_falls_count_even_with_one_run_but_not_within_its_tolerance():
    fell = compare_to_history(92.0, 87.0, None, higher_is_better=True, min_effect=0.1,
                              absolute=True, unit="%")  # fmt: skip
    assert fell.regressed
    held = compare_to_history(92.0, 91.95, None, higher_is_better=True, min_effect=0.1,
                              absolute=True, unit="%")  # fmt: skip
    assert not held.regressed


def test_wall_time_under_its_floor_is_never_a_regression():
    # a tiny suite: 0.3 s -> 0.8 s is start-up noise, not a slower suite
    tiny = compare_to_history(0.3, 0.8, spread([0.3, 0.3, 0.31], "runs"), higher_is_better=False,
                              min_effect=0.10, min_change=1.0)  # fmt: skip
    assert not tiny.regressed


def _times(values: dict[str, float]) -> TestTimes:
    return TestTimes(solo=values, cpu={})


def test_paired_times_catch_a_slowdown_of_every_test():
    rng = random.Random(1)
    before = {f"t{i}": rng.uniform(0.001, 0.05) for i in range(200)}
    after = {k: v * 1.3 * rng.uniform(0.97, 1.03) for k, v in before.items()}
    found = compare_paired(_times(before), _times(after), min_effect=0.10)
    assert found is not None and found.regressed
    assert found.method == "paired solo time"
    assert "over 200 tests both runs timed" in found.detail


def test_paired_times_let_noise_and_small_shifts_pass():
    rng = random.Random(2)
    before = {f"t{i}": rng.uniform(0.001, 0.05) for i in range(200)}
    noisy = {k: v * rng.uniform(0.8, 1.2) for k, v in before.items()}
    assert not compare_paired(_times(before), _times(noisy), min_effect=0.10).regressed
    # significant but small: 3% slower everywhere is under the plan's 10%
    small = {k: v * 1.03 for k, v in before.items()}
    shifted = compare_paired(_times(before), _times(small), min_effect=0.10)
    assert shifted.p_value is not None and shifted.p_value < 0.01
    assert not shifted.regressed


def test_paired_needs_enough_shared_tests_and_falls_back_to_cpu():
    few = {f"t{i}": 0.01 for i in range(MIN_PAIRED - 1)}
    assert compare_paired(_times(few), _times(few), min_effect=0.1) is None
    cpu = {f"t{i}": 0.01 * (i + 1) for i in range(50)}
    slower = {k: v * 1.5 for k, v in cpu.items()}
    found = compare_paired(TestTimes({}, cpu), TestTimes({}, slower), min_effect=0.1)
    assert found is not None and found.method == "paired CPU time" and found.regressed


def test_only_passed_tests_are_timed():
    results = [
        TestResult("a", "passed", duration=0.5, cpu=0.2, solo=0.3),
        TestResult("b", "failed", duration=0.1, cpu=0.1, solo=0.1),
        TestResult("c", "passed", duration=0.5),  # measured by an older passcycle
    ]
    times = timed_tests(results)
    assert dict(times.solo) == {"a": 0.3} and dict(times.cpu) == {"a": 0.2}


def test_spreads_come_from_the_baseline_tree_else_from_recent_runs():
    baseline = _run(1)
    window = [(_run(4), {"p95": 1.3}), (_run(3), {"p95": 1.1}), (_run(2), {"p95": 0.9})]
    found = history_spreads(window, baseline, {"p95": 1.0})
    assert found["p95"].where == "runs of the baseline's tree" and found["p95"].n == 4
    other_tree = [(_run(3, commit="def"), {"p95": 1.2}), (_run(2, commit="def"), {"p95": 1.4})]
    recent = history_spreads(other_tree, baseline, {"p95": 1.0})["p95"]
    assert recent.where == "recent runs" and recent.centre == 1.0  # around the baseline
    dirty = history_spreads([(_run(2, dirty=True), {"p95": 5.0})], baseline, {"p95": 1.0})
    assert dirty["p95"].where == "recent runs" and dirty["p95"].n == 2


@pytest.mark.slow
def test_another_job_on_the_machine_fails_no_build_a_slower_function_does(make_project, passcycle):
    root = make_project(
        {
            "src/calc/__init__.py": """
                import os
                SLOWER = float(os.environ.get("CALC_SLOWER", "0"))

                def work(n):
                    total = 0
                    for i in range(int(n * (1 + SLOWER))):
                        total += i * i % 7
                    return total
            """,
            "tests/test_calc.py": """
                import pytest
                from calc import work

                @pytest.mark.parametrize("i", range(40))
                def test_work(i):
                    assert work(30000) >= 0
            """,
            **CALC_CONFIG,
        }
    )
    passcycle(root, "run", expect=0)
    passcycle(root, "baseline", "set", expect=0)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        busy = passcycle(root, "run", "--json").json()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    duration = {k["name"]: k for k in busy["kpis"]}["suite_duration"]
    assert busy["gate"]["passed"], duration
    assert not duration["regressed"] and "solo time" in duration["detail"]
    assert "solo time at equal machine speed" in duration["detail"], duration

    slower = passcycle(root, "run", "--json", env={"CALC_SLOWER": "0.5"}).json()
    duration = {k["name"]: k for k in slower["kpis"]}["suite_duration"]
    if "busier than at the baseline" in duration["detail"]:
        # other tests kept this machine busy: the documented verdict then, not a skip
        assert "fails only beyond +100%" in duration["detail"], duration
        assert not duration["regressed"], duration  # +50% is under that bound
        return
    assert duration["regressed"], duration
    reason = next(r for r in slower["gate"]["reasons"] if r.startswith("suite_duration"))
    assert "solo time" in reason and "Wilcoxon p=" in reason
    # a slower function stays slower when the slower tests are timed again
    assert "tests a second time" in slower["note"], slower["note"]


def test_a_paired_slowdown_within_what_unchanged_runs_showed_is_noise():
    rng = random.Random(3)
    before = {f"t{i}": rng.uniform(0.001, 0.05) for i in range(200)}
    slower = {k: v * 1.12 for k, v in before.items()}  # a whole run 12% slower
    paired = compare_paired(_times(before), _times(slower), min_effect=0.10)
    assert paired is not None and paired.regressed
    total = sum(slower.values())
    base = sum(before.values())
    # unchanged runs of this tree moved their total by as much: noise
    wide = spread([base, base * 1.1, base * 0.93, base * 1.14, base * 0.9], "runs")
    assert not within_history(paired, total, wide, min_effect=0.10).regressed
    assert (
        "within the spread of 5 runs" in within_history(paired, total, wide, min_effect=0.10).detail
    )
    # they hardly moved: a real slowdown
    narrow = spread([base, base * 1.01, base * 0.99, base * 1.005], "runs")
    assert within_history(paired, total, narrow, min_effect=0.10).regressed
    # with too few runs to know, the paired test decides alone
    assert within_history(paired, total, spread([base], "runs"), min_effect=0.10).regressed


def test_a_second_look_only_when_slower_and_within_its_budget():
    rng = random.Random(7)
    before = {f"t{i}": rng.uniform(0.01, 0.05) for i in range(100)}
    assert second_look(_times(before), _times(dict(before)), min_effect=0.10) == []
    burst = {k: v * (3.0 if i < 40 else 1.0) for i, (k, v) in enumerate(before.items())}
    chosen = second_look(_times(before), _times(burst), min_effect=0.10)
    assert set(chosen) == {f"t{i}" for i in range(40)}  # the ones that rose, and only them
    rises = [burst[n] - before[n] for n in chosen]
    assert rises == sorted(rises, reverse=True)  # the largest rise first
    long = {k: v * 1000 for k, v in before.items()}  # a long suite: half its time at most
    slower = {k: v * 1.5 for k, v in long.items()}
    picked = second_look(_times(long), _times(slower), min_effect=0.10)
    assert 0 < len(picked) < 100
    assert sum(slower[n] for n in picked) <= 0.5 * sum(slower.values()) + max(slower.values())


def test_the_second_timing_counts_for_tests_that_passed_twice():
    def result(nodeid, outcome, cpu, solo, probe=None):
        return TestResult(nodeid, outcome, 0.1, file="t.py", cpu=cpu, solo=solo, probe=probe)

    first = [result("a", "passed", 0.5, 0.6), result("b", "passed", 0.2, 0.3),
             result("c", "failed", 0.1, 0.1)]  # fmt: skip
    second = [result("a", "passed", 0.3, 0.9, 2e-5), result("b", "failed", 0.1, 0.1),
              result("c", "passed", 0.01, 0.01)]  # fmt: skip
    # not the faster one: a least of two would read lower than the baseline's single timings
    assert second_timings(first, second) == {"a": (0.3, 0.9, 2e-5)}


@pytest.mark.slow
def test_a_burst_of_slowness_in_one_run_fails_no_build(make_project, passcycle, tmp_path):
    # each test in a stretch of the suite burns extra CPU once, the next time it runs: what
    # a host that slows this machine for a second looks like to one run and not the next
    burst = tmp_path / "burst"
    burst.mkdir()
    root = make_project(
        {
            "src/calc/__init__.py": """
                def work(n):
                    total = 0
                    for i in range(n):
                        total += i * i % 7
                    return total
            """,
            "tests/test_calc.py": """
                import os
                import pathlib
                import pytest
                from calc import work

                @pytest.mark.parametrize("i", range(40))
                def test_work(i):
                    once = pathlib.Path(os.environ["BURST"], str(i))
                    if once.exists():
                        once.unlink()
                        work(60000)
                    assert work(20000) >= 0
            """,
            **CALC_CONFIG,
        }
    )
    env = {"BURST": str(burst)}
    passcycle(root, "run", env=env, expect=0)
    passcycle(root, "baseline", "set", expect=0)
    for i in range(10, 30):
        (burst / str(i)).touch()
    judged = passcycle(root, "run", "--json", env=env).json()
    duration = {k["name"]: k for k in judged["kpis"]}["suite_duration"]
    assert not list(burst.iterdir())  # the burst happened
    assert "tests a second time" in judged["note"], judged["note"]
    assert not duration["regressed"], duration
    assert judged["gate"]["passed"], judged["gate"]


def test_tests_are_compared_at_equal_machine_speed_where_probed():
    rng = random.Random(11)
    names = [f"t{i}" for i in range(120)]
    solo = {n: rng.uniform(0.005, 0.05) for n in names}
    probe = {n: 2e-5 * rng.uniform(0.98, 1.02) for n in names}
    base = TestTimes(solo, {}, probe)
    # the whole machine 1.7x slower for the run: the probe says so, the work is the same
    phase = TestTimes(
        {n: t * 1.7 for n, t in solo.items()}, {}, {n: p * 1.7 for n, p in probe.items()}
    )
    paired = compare_paired(base, phase, min_effect=0.10)
    assert paired is not None and paired.method == "paired solo time at equal machine speed"
    assert not paired.regressed and abs(paired.effect) < 0.01
    # slower code on a machine as fast as before
    slower = TestTimes({n: t * 1.3 for n, t in solo.items()}, {}, probe)
    paired = compare_paired(base, slower, min_effect=0.10)
    assert paired is not None and paired.regressed and 0.25 < paired.effect < 0.35
    assert "solo time at equal machine speed" in paired.detail
    # without probes in one run, plain solo times
    plain = compare_paired(TestTimes(solo, {}), slower, min_effect=0.10)
    assert plain is not None and plain.method == "paired solo time"


def test_a_slowdown_a_few_heavy_tests_carry_is_judged_on_the_total():
    rng = random.Random(13)
    before = {f"t{i}": rng.uniform(0.001, 0.01) for i in range(200)}
    before.update({f"heavy{i}": 2.0 for i in range(3)})  # a few tests hold most of the time
    after = {k: v * rng.uniform(0.97, 1.02) for k, v in before.items()}  # noise, a bit faster
    after.update({f"heavy{i}": 2.0 * 1.3 for i in range(3)})  # their function 30% slower
    paired = compare_paired(_times(before), _times(after), min_effect=0.10)
    assert paired is not None and paired.effect > 0.2
    assert not paired.regressed  # the median test did not move: the paired test misses it
    base = sum(before.values())
    quiet = spread([base, base * 1.02, base * 0.98, base * 1.01], "runs")
    assert within_history(paired, sum(after.values()), quiet, min_effect=0.10).regressed
    noisy = spread([base, base * 1.3, base * 0.75, base * 1.25, base * 0.8], "runs")
    assert not within_history(paired, sum(after.values()), noisy, min_effect=0.10).regressed
    # and it is worth a second look: the heavy tests first
    looked = second_look(_times(before), _times(after), min_effect=0.10)
    assert set(looked[:3]) == {"heavy0", "heavy1", "heavy2"}


def test_on_a_busier_machine_only_a_large_slowdown_fails():
    rng = random.Random(5)
    before = {f"t{i}": rng.uniform(0.001, 0.05) for i in range(200)}
    slower = {k: v * 1.3 for k, v in before.items()}
    paired = compare_paired(_times(before), _times(slower), min_effect=0.10)
    assert paired is not None and paired.regressed
    busier = on_busier_machine(paired, 2.1, 0.05)
    assert not busier.regressed
    assert "other work kept 2.1 CPUs busy, 0.1 then" in busier.detail
    assert on_busier_machine(paired, 0.4, 0.05).regressed  # about as quiet as the baseline
    assert on_busier_machine(paired, None, 0.05).regressed  # not measured: no excuse
    doubled = {k: v * (2 + LARGE_BOUND) for k, v in before.items()}
    far = compare_paired(_times(before), _times(doubled), min_effect=0.10)
    assert far is not None and on_busier_machine(far, 2.1, 0.05).regressed


def test_the_work_of_other_processes_is_measured_in_cpus():
    import time

    from passcycle.suite.machine import mark, others_since

    start = mark()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)
        others = others_since(start)  # before the hog is waited for: it is other work
    finally:
        hog.kill()
        hog.wait()
    assert others is not None and others >= 0.5, others


def test_the_share_is_taken_against_the_baseline_window_not_a_slow_baseline_run():
    rng = random.Random(17)
    before = {f"t{i}": rng.uniform(0.005, 0.01) for i in range(200)}
    base = sum(before.values())
    typical = base / 1.1  # the baseline run happened to be 10% slow
    after = {k: v * 1.08 for k, v in before.items()}  # +8% on the baseline run: under 10%
    paired = compare_paired(_times(before), _times(after), min_effect=0.10)
    assert paired is not None and not paired.regressed
    window = spread([base, typical, typical * 1.01, typical * 0.99, typical * 1.02], "runs")
    judged = within_history(paired, sum(after.values()), window, min_effect=0.10)
    assert judged.regressed  # +19% on what unchanged runs of the tree take
    assert "on their median" in judged.detail
