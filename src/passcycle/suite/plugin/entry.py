"""passcycle's pytest plugin: streams each outcome to the runner as a JSON line.

It runs inside the user's interpreter, so it imports only the standard library and pytest
(coverage lazily, when measuring). The runner copies this folder into a temporary one as
the package `passcycle_pytest_plugin` and runs `pytest -p passcycle_pytest_plugin.entry`,
so it works whatever environment passcycle itself is installed in. This module registers
one plugin object for each thing it does, as pytest registers its own: coverage and the
impact map (measure.py), the selection of items (selection.py), the timeout and each
test's clocks (timing.py), failure details (failures.py) and the runner's events
(recorder.py); the map's tables are mapdb.py, which passcycle reads too.

Environment it reads:

    PASSCYCLE_EVENTS    file to append events to (one JSON object a line, flushed)
    PASSCYCLE_TIMEOUT   per-test timeout in seconds (SIGALRM, POSIX main thread)
    PASSCYCLE_COVERAGE  JSON {"data_file", "source", "branch", "rcfile", "warnings"}:
                        measure, and record the lines each test ran (the impact map for
                        re-tests); each process writes coverage's warnings that mean
                        nothing was measured to "<warnings>.<pid>.json"
    PASSCYCLE_COVERAGE_WRITE     seconds between writes of coverage data (default 1; 0:
                                 after every test, so that a crash loses nothing)
    PASSCYCLE_COVERAGE_CONTEXTS  "1": record the map as coverage's dynamic contexts, one
                                 per test (slower; the fallback, see _TestMap)
    PASSCYCLE_SELECT    file of node ids or paths, one a line: deselect every other item and
                        run the rest in the file's order
    PASSCYCLE_ORDER     file of node ids or paths, one a line: run every item, those listed
                        first and in the file's order, the others after them as collected
    PASSCYCLE_SHARD     "K/N": keep the K-th of N shards, balanced by PASSCYCLE_DURATIONS
                        (a JSON file {nodeid: seconds}; unknown tests weigh the median)
    PASSCYCLE_AWAIT     file to wait for before collecting, which names the paths to
                        collect and the PASSCYCLE_SELECT file (awaiting.py)

Under pytest-xdist only the controller writes events (it receives every worker's reports);
each worker measures its own coverage and the controller combines the data files.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from .awaiting import Awaiting
from .failures import Failures
from .measure import Measure
from .recorder import Recorder
from .selection import Selection
from .text import is_worker
from .timing import Clock, TimeoutGuard

MEASURE = "passcycle-measure"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: Any, args: Any) -> None:
    # Started this early (like pytest-cov) so that imports done by conftest files count.
    raw = os.environ.get("PASSCYCLE_COVERAGE")
    if not raw or early_config.pluginmanager.has_plugin(MEASURE):
        return
    measure = Measure(early_config, json.loads(raw))
    measure.start()
    early_config.pluginmanager.register(measure, MEASURE)


def pytest_configure(config: pytest.Config) -> None:
    env = os.environ
    plugins = config.pluginmanager
    selection = Selection(
        env.get("PASSCYCLE_SHARD"),
        env.get("PASSCYCLE_DURATIONS"),
        env.get("PASSCYCLE_SELECT"),
        env.get("PASSCYCLE_ORDER"),
    )
    plugins.register(selection, "passcycle-selection")
    if env.get("PASSCYCLE_AWAIT"):
        plugins.register(Awaiting(env["PASSCYCLE_AWAIT"], selection), "passcycle-awaiting")
    timeout = float(env.get("PASSCYCLE_TIMEOUT") or 0.0)
    if timeout > 0:
        plugins.register(TimeoutGuard(timeout), "passcycle-timeout")
    plugins.register(Clock(), "passcycle-clock")
    plugins.register(Failures(), "passcycle-failures")
    events = env.get("PASSCYCLE_EVENTS")
    if events and not is_worker(config) and not plugins.has_plugin("passcycle-recorder"):
        plugins.register(Recorder(events), "passcycle-recorder")
