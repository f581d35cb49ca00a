"""History: runs and what is recorded about them, written and read back on both backends."""

from __future__ import annotations

import os
import socket
from datetime import UTC

import pytest

from passcycle.errors import HistoryError, UsageError
from passcycle.records import (
    CoverageSummary,
    FileCoverage,
    Frame,
    Measurement,
    TestResult,
)
from passcycle.refs import resolve_run
from passcycle.store import History

FAILURE = TestResult(
    nodeid="tests/test_calc.py::test_div[zero]",
    outcome="failed",
    duration=0.25,
    file="tests/test_calc.py",
    exc_type="ZeroDivisionError",
    message="division by zero — ünïcode",
    traceback="tests/test_calc.py:7: in test_div\n    1 / 0\nE   ZeroDivisionError",
    frames=(
        Frame("tests/test_calc.py", 7, "test_div"),
        Frame("/usr/lib/python3.11/fractions.py", 300, "__truediv__", in_project=False),
    ),
    when="call",
    reruns=("failed", "passed"),
    fingerprint="abc123",
)


def passed(name: str, duration: float = 0.01) -> TestResult:
    return TestResult(f"tests/test_calc.py::{name}", "passed", duration, file="tests/test_calc.py")


def test_a_run_starts_running_and_finishes_with_counts_from_its_results(history: History):
    run = history.start_run(
        "calc", "run", commit="deadbeef", branch="main", dirty=True, plan_digest="p1"
    )
    assert run.status == "running"
    assert (run.project, run.kind, run.commit, run.branch, run.dirty) == (
        "calc",
        "run",
        "deadbeef",
        "main",
        True,
    )
    assert (run.pid, run.host) == (os.getpid(), socket.gethostname())
    assert run.started.tzinfo == UTC and run.finished is None

    history.add_results(run.id, [passed("test_add"), passed("test_sub")])
    history.add_results(run.id, [FAILURE])
    finished = history.finish_run(run.id, "failed", exit_code=1, note="1 failure")

    assert finished.status == "failed"
    assert finished.exit_code == 1
    assert finished.note == "1 failure"
    assert finished.counts == {"passed": 2, "failed": 1}
    assert finished.finished is not None and finished.finished.tzinfo == UTC
    assert finished.duration is not None and finished.duration >= 0
    assert history.run(run.id) == finished


def test_given_counts_win_over_the_stored_results(history: History):
    run = history.start_run("calc", "shard")
    history.add_results(run.id, [passed("test_add")])
    assert history.finish_run(run.id, "passed", counts={"passed": 7}).counts == {"passed": 7}


def test_results_come_back_as_they_were_written(history: History):
    run = history.start_run("calc", "run")
    written = [passed("test_add", 0.5), FAILURE, TestResult("tests/test_b.py::test_x", "skipped")]
    history.add_results(run.id, written)

    read = history.results(run.id)

    assert read[0] == written[0]
    assert read[1] == FAILURE
    # The file defaults to the node id's file part, so reports can group by it.
    assert read[2] == TestResult("tests/test_b.py::test_x", "skipped", file="tests/test_b.py")


def test_reruns_and_fingerprints_are_set_after_the_fact(history: History):
    run = history.start_run("calc", "run")
    bad = TestResult("tests/test_calc.py::test_bad", "failed", exc_type="AssertionError")
    history.add_results(run.id, [bad, passed("test_ok")])

    history.set_reruns(run.id, bad.nodeid, ("passed", "failed"))
    history.set_fingerprints(run.id, {bad.nodeid: "fp-1", "tests/test_calc.py::test_ok": "fp-0"})

    by_id = {result.nodeid: result for result in history.results(run.id)}
    assert by_id[bad.nodeid].reruns == ("passed", "failed")
    assert by_id[bad.nodeid].outcome == "failed"  # the first outcome is never replaced
    assert by_id[bad.nodeid].fingerprint == "fp-1"
    assert by_id["tests/test_calc.py::test_ok"].fingerprint == "fp-0"
    with pytest.raises(HistoryError, match=r"has no result for tests/nowhere\.py::t"):
        history.set_reruns(run.id, "tests/nowhere.py::t", ("passed",))


def test_measurements_keep_their_samples(history: History):
    run = history.start_run("calc", "run")
    written = [
        Measurement("test_pass_rate", 97.5, "%"),
        Measurement("p95_response_time", 0.182, "s", "scenario:steady", (0.1, 0.2, 0.18)),
    ]
    history.add_measurements(run.id, written)
    history.add_measurements(run.id, [])
    assert history.measurements(run.id) == written


def test_last_measured_is_each_sources_newest_run_that_measured_it(history: History):
    # a scenario's generator as its last run measured it, whichever run that was: a
    # later run that did not run the scenario does not hide it
    first, second, third = (history.start_run("calc", "run") for _ in range(3))
    history.add_measurements(first.id, [
        Measurement("generator_cpu", 97.0, "%", "scenario:a"),
        Measurement("generator_bound", 1.0, "", "scenario:a"),
        Measurement("generator_cpu", 20.0, "%", "scenario:b"),
    ])  # fmt: skip
    history.add_measurements(second.id, [Measurement("generator_cpu", 30.0, "%", "scenario:b")])
    history.add_measurements(third.id, [Measurement("p95_response_time", 0.1, "s", "scenario:a")])
    other = history.start_run("elsewhere", "run")
    history.add_measurements(other.id, [Measurement("generator_cpu", 1.0, "%", "scenario:a")])
    names = ("generator_cpu", "generator_bound")
    found = history.last_measured("calc", ["scenario:a", "scenario:b", "scenario:c"], names)
    assert found == {
        "scenario:a": {"generator_cpu": 97.0, "generator_bound": 1.0},
        "scenario:b": {"generator_cpu": 30.0},
    }
    assert history.last_measured("calc", [], names) == {}


def test_coverage_is_stored_and_replaced_per_run(history: History):
    run = history.start_run("calc", "run")
    assert history.coverage(run.id) == (None, [])
    first = CoverageSummary(100, 80, 20, 10, 75.0, precision=1)
    files = [
        FileCoverage("src/calc/b.py", 40, 10, 8, 2, 70.0, "3-5, 9"),
        FileCoverage("src/calc/a.py", 60, 10, 12, 6, 80.0, "12"),
    ]
    history.add_coverage(run.id, first, files)
    assert history.coverage(run.id) == (first, sorted(files, key=lambda f: f.path))

    second = CoverageSummary(100, 90, 0, 0, 90.0)
    history.add_coverage(run.id, second, [FileCoverage("src/calc/a.py", 100, 10)])
    summary, stored = history.coverage(run.id)
    assert summary == second
    assert [file.path for file in stored] == ["src/calc/a.py"]


def test_artifacts_and_notes_can_be_set_later(history: History):
    run = history.start_run("calc", "run", artifacts="runs/1")
    assert run.artifacts == "runs/1"
    history.set_artifacts(run.id, "runs/one")
    history.set_note(run.id, "no tests collected")
    again = history.run(run.id)
    assert (again.artifacts, again.note) == ("runs/one", "no tests collected")
    with pytest.raises(UsageError, match="no run 999 in the history"):
        history.set_note(999, "x")


def test_runs_list_newest_first_filtered_by_project_and_kind(history: History):
    first = history.start_run("calc", "run")
    retest = history.start_run("calc", "retest", parent_id=first.id)
    other = history.start_run("other", "run")
    third = history.start_run("calc", "run")

    assert [run.id for run in history.runs()] == [third.id, other.id, retest.id, first.id]
    assert [run.id for run in history.runs("calc")] == [third.id, retest.id, first.id]
    assert [run.id for run in history.runs("calc", kind="run")] == [third.id, first.id]
    assert [run.id for run in history.runs("calc", limit=1)] == [third.id]
    assert history.run(retest.id).parent_id == first.id
    assert history.projects() == ["calc", "other"]


def test_get_run_reads_ids_latest_nth_newest_and_baseline(history: History):
    first = history.start_run("calc", "run")
    second = history.start_run("calc", "run")
    third = history.start_run("calc", "retest")
    history.start_run("other", "run")
    history.set_baseline("calc", first.id)
    history.set_baseline("calc", second.id, name="nightly")

    assert history.run(second.id).id == second.id
    assert resolve_run(history, str(second.id)).id == second.id
    assert resolve_run(history, f"#{second.id}").id == second.id
    assert resolve_run(history, "latest", project="calc").id == third.id
    assert resolve_run(history, "last", project="calc").id == third.id
    assert resolve_run(history, "-1", project="calc").id == third.id
    assert resolve_run(history, "-2", project="calc").id == second.id
    assert resolve_run(history, "-3", project="calc").id == first.id
    assert resolve_run(history, "baseline", project="calc").id == first.id
    assert resolve_run(history, "baseline:nightly", project="calc").id == second.id
    assert resolve_run(history, "baseline").id == first.id  # only one project has one
    assert resolve_run(history, "latest").project == "other"


@pytest.mark.parametrize("ref", [424242, "424242", "-4", "baseline:nope"])
def test_get_run_names_what_is_missing(history: History, ref):
    for _ in range(3):
        history.start_run("calc", "run")
    with pytest.raises(UsageError) as caught:
        resolve_run(history, ref, project="calc")
    assert caught.value.hint
    if ref != "baseline:nope":
        assert caught.value.message == f"no run {ref} in the history"
        assert caught.value.hint == "passcycle history lists the runs"


def test_get_run_refuses_what_it_cannot_read_and_other_projects_runs(history: History):
    run = history.start_run("other", "run")
    with pytest.raises(UsageError, match="cannot read the run 'yesterday'"):
        resolve_run(history, "yesterday")
    with pytest.raises(UsageError, match=f"no run {run.id} in the history"):
        history.run(run.id, project="calc")
    with pytest.raises(UsageError, match="no run 0 in the history"):
        resolve_run(history, "0")


def test_baseline_is_one_run_per_name_and_replaced_when_set_again(history: History):
    assert history.baseline("calc") is None
    first = history.start_run("calc", "run")
    second = history.start_run("calc", "run")
    history.set_baseline("calc", first.id)
    history.set_baseline("calc", second.id)
    assert history.baseline("calc") == history.run(second.id)
    assert history.baseline("calc", "nightly") is None
    foreign = history.start_run("other", "run")
    with pytest.raises(UsageError, match=f"no run {foreign.id} in the history"):
        history.set_baseline("calc", foreign.id)


def test_test_outcomes_are_newest_first_over_the_projects_last_runs(history: History):
    flaky, steady = "tests/test_calc.py::test_flaky", "tests/test_calc.py::test_steady"
    ids = []
    for outcome in ("passed", "failed", "passed", "failed"):
        run = history.start_run("calc", "run")
        history.add_results(run.id, [TestResult(flaky, outcome), TestResult(steady, "passed")])
        ids.append(run.id)
    foreign = history.start_run("other", "run")
    history.add_results(foreign.id, [TestResult(flaky, "error")])

    outcomes = history.test_outcomes([flaky, "tests/test_new.py::t"], "calc")
    assert outcomes[flaky] == [
        (ids[3], "failed"),
        (ids[2], "passed"),
        (ids[1], "failed"),
        (ids[0], "passed"),
    ]
    assert outcomes["tests/test_new.py::t"] == []
    assert steady not in outcomes

    everything = history.test_outcomes(None, "calc", limit_runs=2)
    assert everything == {
        flaky: [(ids[3], "failed"), (ids[2], "passed")],
        steady: [(ids[3], "passed"), (ids[2], "passed")],
    }
    assert history.test_outcomes([flaky], "nobody") == {flaky: []}


def test_failure_rates_count_bad_outcomes_over_the_last_runs_and_list_only_bad_tests(
    history: History,
):
    flaky, broken, steady = (f"tests/test_calc.py::test_{n}" for n in ("flaky", "broken", "ok"))
    for first, second in (("failed", "error"), ("passed", "error"), ("failed", "error")):
        run = history.start_run("calc", "run")
        history.add_results(
            run.id,
            [TestResult(flaky, first), TestResult(broken, second), TestResult(steady, "passed")],
        )
    foreign = history.start_run("other", "run")
    history.add_results(foreign.id, [TestResult(steady, "failed")])

    assert history.failure_rates("calc") == pytest.approx({flaky: 2 / 3, broken: 1.0})
    # the last two runs only: the flaky test failed in one of them
    assert history.failure_rates("calc", limit_runs=2) == pytest.approx({flaky: 0.5, broken: 1.0})
    assert history.failure_rates("other") == {steady: 1.0}
    assert history.failure_rates("nobody") == {}


def test_test_outcomes_take_thousands_of_node_ids(history: History):
    run = history.start_run("calc", "run")
    many = [passed(f"test_{i}") for i in range(2_500)]
    history.add_results(run.id, many)
    outcomes = history.test_outcomes([result.nodeid for result in many], "calc")
    assert len(outcomes) == 2_500
    assert all(found == [(run.id, "passed")] for found in outcomes.values())


def test_ten_thousand_results_land_in_one_call(history: History):
    # how fast is measured in bench/bench_history.py, not here: a timed test is a flaky test
    run = history.start_run("calc", "run")
    results = [
        FAILURE if i % 50 == 0 else passed(f"test_{i}", duration=i / 1000) for i in range(10_000)
    ]
    history.add_results(run.id, results)
    assert len(history.results(run.id)) == 10_000
    assert history.finish_run(run.id, "failed").counts == {"passed": 9_800, "failed": 200}


def test_a_kind_or_status_outside_the_records_vocabulary_is_a_bug(history: History):
    with pytest.raises(ValueError, match="run kind 'nightly'"):
        history.start_run("calc", "nightly")
    run = history.start_run("calc", "run")
    with pytest.raises(ValueError, match="run status 'ok'"):
        history.finish_run(run.id, "ok")
