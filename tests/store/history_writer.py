"""A separate process that writes to a history, for the crash and concurrency tests.

python history_writer.py crash URL ROOT      3 committed batches, then SIGKILL mid-batch
python history_writer.py write URL ROOT TAG GO_FILE   a whole run of 2,000 results
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from passcycle.records import TestResult
from passcycle.store import History
from passcycle.store import rows as store_rows
from passcycle.store.schema import test_results


def batch(tag: str, start: int, size: int) -> list[TestResult]:
    return [
        TestResult(f"tests/test_{tag}.py::test_{i}", "passed", 0.001)
        for i in range(start, start + size)
    ]


def crash(history: History) -> None:
    run = history.start_run("proj", "run")
    for number in range(3):
        history.add_results(run.id, batch("crash", number * 100, 100))
    print(run.id, flush=True)
    # Die inside an open write transaction: the worst moment for the next reader.
    with history._tx(write=True) as conn:
        conn.execute(
            sa.insert(test_results),
            [store_rows.result_row(run.id, result) for result in batch("crash", 300, 100)],
        )
        os.kill(os.getpid(), signal.SIGKILL)


def write(history: History, tag: str, go: Path) -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    run = history.start_run("proj", "run", branch=tag)
    for number in range(20):
        history.add_results(run.id, batch(tag, number * 100, 100))
    history.finish_run(run.id, "passed", exit_code=0)
    print(run.id, flush=True)


def main() -> None:
    mode, url, root = sys.argv[1:4]
    history = History.open(url, root=Path(root))
    if mode == "crash":
        crash(history)
    else:
        write(history, sys.argv[4], Path(sys.argv[5]))
    history.close()


if __name__ == "__main__":
    main()
