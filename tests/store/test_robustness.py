"""The history survives killed writers and concurrent writers, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from passcycle.records import TestResult
from passcycle.store import History
from passcycle.store.schema import runs

WRITER = Path(__file__).with_name("history_writer.py")


def writer(*args: str) -> list[str]:
    return [sys.executable, str(WRITER), *args]


def test_a_run_killed_mid_write_is_reaped_as_interrupted(history_url: str, tmp_path: Path):
    killed = subprocess.run(
        writer("crash", history_url, str(tmp_path)), capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_id = int(killed.stdout.split()[0])

    with History.open(history_url, root=tmp_path) as history:
        assert history.run(run_id).status == "running"
        assert history.reap() == [run_id]
        run = history.run(run_id)
        assert run.status == "interrupted"
        assert run.finished is not None and run.note
        # The three committed batches survive; the batch in flight never half-lands.
        assert run.counts == {"passed": 300}
        assert len(history.results(run_id)) == 300
        assert history.reap() == []

        after = history.start_run("proj", "run")
        history.add_results(after.id, [TestResult("tests/test_a.py::test_a", "passed")])
        assert history.finish_run(after.id, "passed").counts == {"passed": 1}


def test_two_processes_writing_runs_at_once_both_land(history_url: str, tmp_path: Path):
    # Both writers open a history that does not exist yet: they also race to create it.
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            writer("write", history_url, str(tmp_path), tag, str(go)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("left", "right")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.touch()  # start both at the same moment
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
    run_ids = [int(stdout.split()[0]) for stdout, _ in outputs]

    with History.open(history_url, root=tmp_path) as history:
        for run_id, tag in zip(run_ids, ("left", "right"), strict=True):
            run = history.run(run_id)
            assert (run.status, run.branch, run.counts) == ("passed", tag, {"passed": 2000})
            nodeids = {result.nodeid for result in history.results(run_id)}
            assert len(nodeids) == 2000
            assert all(f"test_{tag}.py" in nodeid for nodeid in nodeids)


def test_a_live_run_is_not_reaped(history: History):
    run = history.start_run("calc", "run")
    assert history.reap() == []
    assert history.run(run.id).status == "running"


def test_a_recycled_pid_does_not_keep_a_dead_run_alive(history: History, raw: sa.Engine):
    # Our own pid is alive, but the run claims a writer created an hour before us.
    run = history.start_run("calc", "run")
    with raw.begin() as conn:
        conn.execute(
            sa.update(runs).where(runs.c.id == run.id).values(pid_created=runs.c.pid_created - 3600)
        )
    assert history.reap() == [run.id]
    assert history.run(run.id).status == "interrupted"


def test_another_hosts_run_is_reaped_only_after_a_day(history: History, raw: sa.Engine):
    fresh = history.start_run("calc", "ci")
    stale = history.start_run("calc", "ci")
    day_old = datetime.now(UTC) - timedelta(days=1, minutes=1)
    with raw.begin() as conn:
        conn.execute(
            sa.update(runs).where(runs.c.id.in_([fresh.id, stale.id])).values(host="ci-runner-7")
        )
        conn.execute(sa.update(runs).where(runs.c.id == stale.id).values(started=day_old))
    assert history.reap() == [stale.id]
    assert history.run(fresh.id).status == "running"


def test_a_run_whose_process_ended_is_reaped_with_its_partial_counts(history: History):
    # A real process that starts a run, writes, and exits without finishing it.
    run_id = int(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from passcycle.store import History; from passcycle.records import "
                "TestResult as T; h = History.open(sys.argv[1]); r = h.start_run('calc', 'run');"
                " h.add_results(r.id, [T('t::a', 'failed'), T('t::b', 'passed')]); print(r.id)",
                history.url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, "PASSCYCLE_DB": ""},
        ).stdout
    )
    assert history.reap() == [run_id]
    assert history.run(run_id).counts == {"failed": 1, "passed": 1}


def test_threads_sharing_one_history_write_and_read_safely(history: History):
    # The dashboard and the cycle's progress thread share one History across threads.
    def one_run(tag: int) -> int:
        run = history.start_run("calc", "run")
        for number in range(5):
            batch = [TestResult(f"tests/test_{tag}.py::t{number}_{i}", "passed") for i in range(50)]
            history.add_results(run.id, batch)
            history.runs("calc")
        return history.finish_run(run.id, "passed").id

    with ThreadPoolExecutor(max_workers=4) as pool:
        run_ids = list(pool.map(one_run, range(8)))

    assert len(set(run_ids)) == 8
    assert all(history.run(run_id).counts == {"passed": 250} for run_id in run_ids)
