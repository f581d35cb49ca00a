"""passcycle's pytest plugin: streams each outcome to the runner as a JSON line.

It runs inside the user's interpreter, so it imports only the standard library and pytest
(coverage lazily, when measuring). The runner copies this file into a temporary folder as
`passcycle_pytest_plugin.py` and runs `pytest -p passcycle_pytest_plugin`, so it works
whatever environment passcycle itself is installed in.

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
    PASSCYCLE_SELECT    file of node ids, one a line: deselect every other item
    PASSCYCLE_SHARD     "K/N": keep the K-th of N shards, balanced by PASSCYCLE_DURATIONS
                        (a JSON file {nodeid: seconds}; unknown tests weigh the median)

Under pytest-xdist only the controller writes events (it receives every worker's reports);
each worker measures its own coverage and the controller combines the data files.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

MESSAGE_LIMIT = 2_000
TRACEBACK_LIMIT = 8_000
FRAME_LIMIT = 60
_BAD = frozenset({"failed", "error"})
# Frames in pytest's own machinery are not the user's traceback.
_INTERNAL_DIRS = tuple(
    os.path.dirname(str(m.__file__)) + os.sep
    for m in (pytest, sys.modules.get("_pytest"), sys.modules.get("pluggy"))
    if m is not None and getattr(m, "__file__", None)
)

_cov: Any = None  # the coverage.Coverage of this process, when measuring
_map: _TestMap | None = None  # its per-test map, when coverage's collector allows it
_config: pytest.Config | None = None  # this process's config, to tell its role at the end


class Timeout(BaseException):
    """Raised by SIGALRM in a test that ran past PASSCYCLE_TIMEOUT.

    A BaseException so that a test's own `except Exception` cannot swallow it.
    """


def _bounded_head(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded_tail(text: str, limit: int = TRACEBACK_LIMIT) -> str:
    return text if len(text) <= limit else "...\n" + text[-(limit - 4) :]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# -- coverage -------------------------------------------------------------------------------

# How much coverage data a crash may lose: the map and the arcs are written to the data file
# at most this often (and at the end). Writing at every test is what made per-test
# contexts slow; a crash is rare and loses only the last seconds.
WRITE_SECONDS = 1.0


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: Any, args: Any) -> None:
    # Started this early (like pytest-cov) so that imports done by conftest files count.
    global _cov, _map, _config
    raw = os.environ.get("PASSCYCLE_COVERAGE")
    if not raw or _cov is not None:
        return
    _config = early_config
    spec = json.loads(raw)
    try:
        import coverage
    except ImportError as exc:
        raise pytest.UsageError(
            f"passcycle: coverage is not installed in {sys.executable} ({exc}); "
            "install it there or run without coverage"
        ) from None
    # Every process (controller and xdist workers) writes a suffixed file; the controller
    # combines them at the end so that the run keeps one data file.
    _cov = coverage.Coverage(
        data_file=spec["data_file"],
        data_suffix=True,
        source=spec.get("source") or None,
        branch=bool(spec.get("branch", True)),
        config_file=spec.get("rcfile") or False,
    )
    # We mark tests ourselves; a dynamic_context from the rcfile would fight us.
    _cov.set_option("run:dynamic_context", None)
    contexts = os.environ.get("PASSCYCLE_COVERAGE_CONTEXTS") == "1"
    if not contexts and _map_supported(coverage) and sys.version_info >= (3, 12):
        # sys.monitoring (core=sysmon, the default on Python 3.14) stops reporting a line
        # once it has seen it, so a later test would not see the lines an earlier one ran:
        # the map needs a trace function. ("run:core" exists from coverage 7.9; before it
        # only COVERAGE_CORE=sysmon picks sysmon, and attach() then declines.)
        with contextlib.suppress(Exception):
            if _cov.get_option("run:core") in (None, "", "sysmon"):
                _cov.set_option("run:core", "ctrace")
    _cov.start()
    _map = None if contexts else _TestMap.attach(_cov)


def _map_supported(coverage: Any) -> bool:
    # The map reads coverage's collector (coverage/collector.py: Coverage._collector,
    # Collector.covdata/.data/.flush_data/.mapped_file_dict), internals, not API: read in the
    # 7.x sources and tested with 7.17. Outside 7.x, tests are marked with the public dynamic
    # contexts (switch_context): the same map, but 2x slower with branch data (click: 25 s
    # instead of 14 s, docs/benchmarks.md), for the arcs coverage then stores per test.
    return (7, 0) <= tuple(coverage.version_info[:2]) < (8, 0)


class _TestMap:
    """The per-test impact map, taken from coverage's collector at each test boundary.

    coverage measures branches with no dynamic context: one global arc set, its cheapest
    mode. At each boundary what the collector gathered since the previous one is taken out:
    its arcs join the global set (handed to coverage's data file every WRITE_SECONDS), and
    the lines they touch become the test's row of the map. Arcs per test are what made
    `--cov-context=test` with branches slow; lines are enough to select re-tests. Identical
    line sets (many tests run the same lines of a file) are stored once.

    Two ways to take the data out. The portable one: the collector's own flush_data(),
    pointed at this object instead of the data file (it has the CoverageData methods the
    collector calls). It unpacks every arc of every test in Python, a tenth of the run on
    a real suite, so once it has shown on real data that it decodes the C tracer's packed
    arcs exactly as flush_data does, the map reads the tracer's sets itself and unpacks
    each distinct arc once. Whatever it cannot verify takes the portable way.
    """

    def __init__(self, collector: Any) -> None:
        self.collector = collector
        self.data = collector.covdata  # coverage's CoverageData for this process
        self.layout: int | None = None  # bits per line number in a packed arc, once verified
        self.checked = False
        self.flushed: dict[str, Any] = {}  # what the last flush_data gave, to verify against
        self.arcs: dict[str, set[Any]] = {}  # taken since the last write
        self.lines: dict[str, set[int]] = {}  # the same, when measuring lines only
        self.packed: dict[str, set[int]] = {}  # the same, still packed
        self.stored: tuple[dict[str, set[Any]], ...] = ({}, {}, {})  # what coverage has of each
        self.unpacked: dict[str, dict[int, tuple[int, int]]] = {}  # path -> packed -> arc
        self.touched: dict[str, dict[int, tuple[int, ...]]] = {}  # packed -> its lines > 0
        self.tracers: dict[str, str] = {}
        self.taken: dict[str, set[int]] = {}  # lines since the last boundary
        self.linesets: dict[tuple[str, frozenset[int]], int] = {}
        self.new_linesets: list[tuple[int, str, bytes]] = []
        self.new_tests: list[tuple[str, str]] = []
        self.written = time.monotonic()
        self.every = float(os.environ.get("PASSCYCLE_COVERAGE_WRITE", WRITE_SECONDS))

    @classmethod
    def attach(cls, cov: Any) -> _TestMap | None:
        import coverage

        collector = getattr(cov, "_collector", None)
        if (
            not _map_supported(coverage)
            or collector is None
            or not callable(getattr(collector, "flush_data", None))
            or getattr(collector, "covdata", None) is None
            or "SysMonitor" in str(getattr(collector, "tracer_name", lambda: "")())
        ):
            return None
        return cls(collector)

    # -- the CoverageData methods that Collector.flush_data calls ---------------------------

    def add_arcs(self, arc_data: dict[str, Any]) -> None:
        self.flushed = arc_data
        for path, arcs in arc_data.items():
            self.arcs.setdefault(path, set()).update(arcs)
            self.taken.setdefault(path, set()).update(itertools.chain.from_iterable(arcs))

    def add_lines(self, line_data: dict[str, Any]) -> None:
        for path, lines in line_data.items():
            self.lines.setdefault(path, set()).update(lines)
            self.taken.setdefault(path, set()).update(lines)

    def add_file_tracers(self, file_tracers: dict[str, str]) -> None:
        self.tracers.update(file_tracers)

    # -- test boundaries --------------------------------------------------------------------

    def boundary(self, nodeid: str | None) -> None:
        """What ran since the last boundary belongs to `nodeid` (None: to no test)."""
        if self.layout is not None and not self.collector.file_tracers:
            self._take_packed()
        else:
            self._take_flushed()
        if nodeid is not None and self.taken:
            ids = [self._lineset(path, lines) for path, lines in self.taken.items()]
            listed = " ".join(str(i) for i in ids if i)
            if listed:
                self.new_tests.append((nodeid, listed))
        self.taken = {}
        if time.monotonic() - self.written >= self.every:
            self.write()

    def _take_flushed(self) -> None:
        raw = None
        if not self.checked:
            raw = {p: set(s) for p, s in list(self.collector.data.items()) if s}
        collector = self.collector
        collector.covdata = self
        self.flushed = {}
        try:
            collector.flush_data()
        finally:
            collector.covdata = self.data
        if raw:  # verified once, on the first data
            self.checked = True
            with contextlib.suppress(Exception):  # anything unexpected: stay portable
                self.layout = self._verified_layout(raw, self.flushed)

    def _verified_layout(self, raw: dict[str, set[Any]], flushed: dict[str, Any]) -> int | None:
        """The packed-arc layout that decodes `raw` exactly as flush_data did, if one does.

        The C tracer packs an arc into one int: two line numbers of N bits, then a sign bit
        for each (coverage/ctracer/tracer.c, CTracer_record_pair; N was 20, is 28).
        """
        raw = self.collector.mapped_file_dict(raw)
        if (
            not flushed
            or raw.keys() != flushed.keys()
            or not all(type(p) is int for packed in raw.values() for p in packed)
        ):
            return None
        matches = [
            bits
            for bits in (28, 20, 24, 30, 32)
            if all(
                {_unpack(p, bits) for p in packed} == set(flushed[path])
                for path, packed in raw.items()
            )
        ]
        return matches[0] if len(matches) == 1 else None

    def _take_packed(self) -> None:
        collector = self.collector
        taken = {}
        with getattr(collector, "data_lock", None) or contextlib.nullcontext():
            for path, packed in list(collector.data.items()):
                if packed:
                    # copy, then drop what was copied: an arc a thread adds meanwhile stays
                    snapshot = taken[path] = packed.copy()
                    packed.difference_update(snapshot)
        bits = self.layout
        assert bits is not None
        for path, packed in collector.mapped_file_dict(taken).items():
            touched = self.touched.setdefault(path, {})
            unpacked = self.unpacked.setdefault(path, {})
            for p in packed.difference(touched):  # arcs this run has not met before
                arc = unpacked[p] = _unpack(p, bits)
                touched[p] = tuple(n for n in arc if n > 0)
            self.packed.setdefault(path, set()).update(packed)
            self.taken.setdefault(path, set()).update(
                itertools.chain.from_iterable(map(touched.__getitem__, packed))
            )

    def _lineset(self, path: str, numbers: set[int]) -> int:
        if numbers and min(numbers) <= 0:  # arcs enter and leave code at -line
            numbers = {n for n in numbers if n > 0}
        if not numbers:
            return 0
        key = (path, frozenset(numbers))
        found = self.linesets.get(key)
        if found is None:
            from coverage.numbits import nums_to_numbits

            found = self.linesets[key] = len(self.linesets) + 1
            self.new_linesets.append((found, path, nums_to_numbits(numbers)))
        return found

    # -- writes -----------------------------------------------------------------------------

    def write(self) -> None:
        """Hand the global data to coverage and append the map's new rows to its file."""
        self.written = time.monotonic()
        stored_arcs, stored_lines, stored_packed = self.stored
        arcs = _fresh(self.arcs, stored_arcs)
        for path, packed in _fresh(self.packed, stored_packed).items():
            arcs.setdefault(path, set()).update(map(self.unpacked[path].__getitem__, packed))
        if arcs:
            self.data.add_arcs(arcs)
        if lines := _fresh(self.lines, stored_lines):
            self.data.add_lines(lines)
        if self.tracers:
            self.data.add_file_tracers(self.tracers)
        self.arcs, self.lines, self.packed, self.tracers = {}, {}, {}, {}
        if self.new_tests or self.new_linesets:
            append_map(Path(self.data.data_filename()), self.new_linesets, self.new_tests)
            self.new_linesets, self.new_tests = [], []


def _fresh(taken: dict[str, set[Any]], stored: dict[str, set[Any]]) -> dict[str, set[Any]]:
    """What of `taken` is not `stored` yet, now stored (re-adding costs SQL for nothing)."""
    fresh = {}
    for path, items in taken.items():
        have = stored.setdefault(path, set())
        if new := items - have:
            fresh[path] = new
            have |= new
    return fresh


def _unpack(packed: int, bits: int) -> tuple[int, int]:
    mask = (1 << bits) - 1
    first, second = packed & mask, (packed >> bits) & mask
    if packed & (1 << (2 * bits)):
        first = -first
    if packed & (1 << (2 * bits + 1)):
        second = -second
    return first, second


def _stop_coverage() -> None:
    global _cov, _map
    if _cov is None:
        return
    cov, _cov = _cov, None
    if _map is not None:
        _map.boundary(None)
        _map.write()
        _map = None
    cov.stop()
    # A warning here would reach the user's `filterwarnings = error` and fail their suite,
    # so coverage's warnings are caught and handed to the runner instead: those that say
    # nothing was measured are how a suite that imports another copy of the package shows.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cov.save()
    with contextlib.suppress(Exception):  # a note lost is better than a suite failed
        _write_warnings(caught)


# coverage's warnings (coverage/inorout.py, control.py) that say what it measured is not
# what the tests ran; each is issued by a process at save, so the runner agrees them.
UNMEASURED_SLUGS = ("module-not-imported", "module-not-measured", "no-data-collected")
# coverage formats a warning as "MESSAGE (SLUG); see URL#warning-SLUG" (Coverage._warn)
_SLUGGED = re.compile(r"^(?P<message>.*?) \((?P<slug>[a-z-]+)\)(?:; see .*)?$", re.S)


def _write_warnings(caught: list[warnings.WarningMessage]) -> None:
    """This process's unmeasured warnings, its role, and where the source's modules came
    from, in a small file per process: xdist workers write no events, but this they can."""
    spec = json.loads(os.environ.get("PASSCYCLE_COVERAGE") or "{}")
    prefix = spec.get("warnings")
    if not prefix:
        return
    found = []
    for item in caught:
        if type(item.message).__name__ != "CoverageWarning":
            continue
        match = _SLUGGED.match(str(item.message))
        if match and match["slug"] in UNMEASURED_SLUGS:
            found.append({"slug": match["slug"], "message": match["message"].strip()})
    config = _config
    if config is not None and _is_worker(config):
        role = "worker"
    elif config is not None and _distributed(config):
        role = "controller"  # runs no test: it measures nothing, by design
    else:
        role = "single"
    report = {"role": role, "warnings": found, "imported": _imported(spec.get("source") or [])}
    path = Path(f"{prefix}.{os.getpid()}.json")
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(report), encoding="utf-8")
    os.replace(partial, path)  # the runner never reads half a file


def _imported(source: list[str]) -> dict[str, str]:
    """For each source folder, the file its package was imported from when that is not in
    the folder: the copy the tests ran instead (an installed wheel, a vendored copy). A
    source given as a package name is measured wherever it is imported from."""
    # coverage read relative folders against the directory pytest started in
    base = Path(_config.invocation_params.dir) if _config is not None else Path.cwd()
    copies = {}
    for entry in source:
        folder = base / entry
        module = sys.modules.get(folder.name) if folder.is_dir() else None
        where = getattr(module, "__file__", None)
        if not where:
            continue
        where = os.path.realpath(where)
        if not where.startswith(os.path.realpath(folder) + os.sep):
            copies[entry] = where
    return copies


def _combine_coverage() -> None:
    raw = os.environ.get("PASSCYCLE_COVERAGE")
    if not raw:
        return
    spec = json.loads(raw)
    combine_data(Path(spec["data_file"]), spec.get("rcfile"))


# -- the map's tables, kept inside coverage's data file -------------------------------------
#
# Beside coverage's own tables, so the map lives and dies with its data file (the runner
# deletes stale ones, a copy carries it). coverage ignores tables it does not know.
#
#   passcycle_lineset(id, path, numbits)   one set of lines of one file (coverage's numbits)
#   passcycle_test(nodeid, linesets)       a test and its line sets' ids, space-separated;
#                                          a test seen twice (re-runs) has the union


_MAP_SCHEMA = """
CREATE TABLE IF NOT EXISTS passcycle_lineset (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, numbits BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS passcycle_test (nodeid TEXT NOT NULL, linesets TEXT NOT NULL);
"""

MapRows = tuple[list[tuple[int, str, bytes]], list[tuple[str, str]]]


def append_map(
    data_file: Path,
    linesets: list[tuple[int, str, bytes]],
    tests: list[tuple[str, str]],
    replace: bool = False,
) -> None:
    """Add rows to the map in `data_file` (a coverage data file), or replace its map."""
    import sqlite3

    con = sqlite3.connect(str(data_file), timeout=30)
    try:
        with con:  # one transaction: a reader never sees half a map
            if replace:
                con.execute("DROP TABLE IF EXISTS passcycle_lineset")
                con.execute("DROP TABLE IF EXISTS passcycle_test")
            for statement in _MAP_SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.executemany("INSERT INTO passcycle_lineset VALUES (?, ?, ?)", linesets)
            con.executemany("INSERT INTO passcycle_test VALUES (?, ?)", tests)
    finally:
        con.close()


def read_map(data_file: Path) -> MapRows:
    """The map's rows in `data_file`; empty when it has none. (covmap reads them alike.)

    A damaged file has none: coverage's combine skips it with a warning, so do we.
    """
    import sqlite3

    if not data_file.is_file():
        return [], []
    con = sqlite3.connect(f"{data_file.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        if "passcycle_test" not in tables:
            return [], []
        linesets = con.execute("SELECT id, path, numbits FROM passcycle_lineset").fetchall()
        tests = con.execute("SELECT nodeid, linesets FROM passcycle_test").fetchall()
        return linesets, tests
    except sqlite3.DatabaseError:
        return [], []
    finally:
        con.close()


def _merge_maps(maps: list[MapRows]) -> MapRows:
    """One map of many (processes of one run): identical line sets stored once."""
    ids: dict[tuple[str, bytes], int] = {}
    linesets: list[tuple[int, str, bytes]] = []
    tests: list[tuple[str, str]] = []
    for rows, test_rows in maps:
        renumber: dict[int, int] = {}
        for old, path, numbits in rows:
            new = ids.get((path, numbits))
            if new is None:
                new = ids[(path, numbits)] = len(ids) + 1
                linesets.append((new, path, numbits))
            renumber[old] = new
        for nodeid, listed in test_rows:
            tests.append((nodeid, " ".join(str(renumber[int(i)]) for i in listed.split())))
    return linesets, tests


def combine_data(data_file: Path, rcfile: str | None) -> None:
    """Fold the suffixed data files beside `data_file` into it, and their maps too.

    coverage's combine deletes the suffixed files and knows nothing of our tables, so the
    maps are read first and written into the combined file after.
    """
    parts = sorted(data_file.parent.glob(data_file.name + ".*"))
    if not parts:
        return
    import coverage

    maps = [read_map(path) for path in [data_file, *parts]]
    cov = coverage.Coverage(data_file=str(data_file), config_file=rcfile or False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov.combine([str(data_file.parent)])
        cov.save()
    linesets, tests = _merge_maps(maps)
    if tests and data_file.is_file():
        append_map(data_file, linesets, tests, replace=True)


# -- selection ------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)  # after -k and -m: every shard splits the same items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = os.environ.get("PASSCYCLE_SHARD")
    if shard:
        mine = _shard(items, shard, os.environ.get("PASSCYCLE_DURATIONS"))
        _keep(config, items, lambda item: item.nodeid in mine)
    select_file = os.environ.get("PASSCYCLE_SELECT")
    if select_file:
        wanted = set(Path(select_file).read_text(encoding="utf-8").splitlines())
        _keep(config, items, lambda item: item.nodeid in wanted)


def _keep(config: pytest.Config, items: list[pytest.Item], keep: Any) -> None:
    kept = [item for item in items if keep(item)]
    dropped = [item for item in items if not keep(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _shard(items: list[pytest.Item], spec: str, durations_file: str | None) -> set[str]:
    """The node ids of shard K of N: longest first, each to the least loaded shard
    (ties to the lowest), so every shard computes the same split on its own."""
    number, total = (int(part) for part in spec.split("/"))
    durations: dict[str, float] = {}
    if durations_file:
        durations = json.loads(Path(durations_file).read_text(encoding="utf-8"))
    known = sorted(durations.values())
    default = known[len(known) // 2] if known else 1.0
    weight = {item.nodeid: float(durations.get(item.nodeid, default)) for item in items}
    loads = [(0.0, index) for index in range(total)]
    heapq.heapify(loads)
    mine: set[str] = set()
    for nodeid in sorted(weight, key=lambda n: (-weight[n], n)):
        load, index = heapq.heappop(loads)
        if index == number - 1:
            mine.add(nodeid)
        heapq.heappush(loads, (load + weight[nodeid], index))
    return mine


# -- timeout --------------------------------------------------------------------------------


def _timeout() -> float | None:
    raw = os.environ.get("PASSCYCLE_TIMEOUT")
    value = float(raw) if raw else 0.0
    return value if value > 0 else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    timeout = _timeout() or 0.0
    armed = (
        timeout > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    previous: Any = None
    if armed:

        def on_alarm(signum: int, frame: Any) -> None:
            raise Timeout(f"test exceeded the {timeout}s timeout")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    if _map is not None:
        _map.boundary(None)  # code run between tests (hooks, collection): no test's
    elif _cov is not None:
        _cov.switch_context(item.nodeid)
    # Wall time alone cannot judge a slower suite: other jobs on a shared runner stretch
    # every test at once. The CPU time and the time spent ready to run but waiting for a
    # CPU (the run-queue delay) let the judge take contention out (validate/noise.py, #9).
    probe = _probe()  # before the clock starts: the probe is not the test's time
    item._passcycle_clock = (time.perf_counter(), time.process_time(), _run_delay(), probe)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if _map is not None:
            _map.boundary(item.nodeid)
        elif _cov is not None:
            _cov.switch_context("")


_schedstat: int | None = None  # a descriptor of /proc/thread-self/schedstat, kept open


def _probe() -> float:
    """Seconds a fixed piece of work takes now (the best of 2, ~25 us each): the machine's
    speed as a test starts. A virtual CPU can run 1.5-2x slower for seconds at a time (an
    idle spell, a busy neighbour on the host) with no wait to see; each test's time over
    this is its time at equal speed (validate/noise.py)."""
    best = 1.0
    for _ in range(2):
        started = time.perf_counter()
        x = 0
        for i in range(200):
            x += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best


def _run_delay() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat's
    run_delay); None where the kernel does not tell. Read through a descriptor kept open:
    8 us a read, where opening the file each time cost 250 us on a loaded machine."""
    global _schedstat
    if _schedstat == -1:
        return None
    try:
        if _schedstat is None:
            _schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        return int(os.pread(_schedstat, 128, 0).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        _schedstat = -1
        return None


# -- failure details, taken where the exception is (worker or single process) ---------------


def _frames(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> list[list[Any]]:
    root = str(item.config.rootpath) + os.sep
    frames: list[list[Any]] = []
    for entry in excinfo.traceback:
        path = str(entry.path)
        if path.startswith(_INTERNAL_DIRS) or _hidden(entry, excinfo):
            continue
        inside = path.startswith(root)
        in_project = inside and "site-packages" not in path and "dist-packages" not in path
        shown = Path(path[len(root) :]).as_posix() if inside else path
        frames.append([shown, entry.lineno + 1, entry.name, in_project])
    return frames[-FRAME_LIMIT:]


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return _bounded_head(str(excinfo.value).strip())


def _hidden(entry: Any, excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    try:
        return bool(entry.ishidden(excinfo))  # pytest >= 8
    except TypeError:
        return bool(entry.ishidden())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    started = getattr(item, "_passcycle_clock", None)
    if call.when == "teardown" and started is not None:
        # plain attributes, so that they travel with the report through pytest-xdist
        wall, cpu, delay = time.perf_counter(), time.process_time(), _run_delay()
        report.passcycle_cpu = round(cpu - started[1], 6)
        if delay is not None and started[2] is not None:
            # the wall time it would have taken alone: less its wait for a CPU
            report.passcycle_solo = round(max(wall - started[0] - (delay - started[2]), 0.0), 6)
        report.passcycle_probe = round(started[3], 9)
    if report.failed and call.excinfo is not None:
        excinfo = call.excinfo
        # A plain attribute travels with the report through pytest-xdist's serialisation.
        report.passcycle = {
            "exc_type": excinfo.typename,
            "message": _message(excinfo),
            "frames": _frames(item, excinfo),
        }


# -- events (controller only) ---------------------------------------------------------------


class _Recorder:
    """Folds every report of a test (setup, call, its subtests, teardown) into one result
    event, so that a test is bad whenever pytest counted any of its reports as bad (#9)."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the session
        self.pending: dict[str, dict[str, Any]] = {}
        self.collected_sent = False
        self.stopped: str | None = None  # why pytest stopped early (pytest.exit, Ctrl-C)

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def collected(self, nodeids: list[str]) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.emit({"e": "collected", "count": len(nodeids), "nodeids": nodeids})

    def report(self, report: pytest.TestReport) -> None:
        if report.outcome == "rerun":
            # pytest-rerunfailures: this attempt is discarded and the test runs again (its
            # teardown is not reported); the last attempt decides, as pytest counts it.
            self.pending.pop(report.nodeid, None)
            return
        state = self.pending.setdefault(
            report.nodeid, {"duration": 0.0, "outcome": None, "subfailures": []}
        )
        if not _is_subtest(report):  # a subtest's duration is inside its test's call
            state["duration"] += getattr(report, "duration", 0.0) or 0.0
        if report.when not in {"setup", "call", "teardown"}:
            # pytest-xdist's report for a worker that died mid-test (when="???"). pytest
            # counts it as failed; we record it as a crash error, like the runner does when
            # a single process dies, so both modes agree.
            del self.pending[report.nodeid]
            self.emit(self._crash(report))
            return
        self._fold(state, report)
        if report.when == "teardown":
            del self.pending[report.nodeid]
            self.emit(self._result(report.nodeid, state))

    @staticmethod
    def _fold(state: dict[str, Any], report: pytest.TestReport) -> None:
        xfail = hasattr(report, "wasxfail")
        if report.when == "teardown":
            state["cpu"] = getattr(report, "passcycle_cpu", None)
            state["solo"] = getattr(report, "passcycle_solo", None)
            state["probe"] = getattr(report, "passcycle_probe", None)
        if _is_subtest(report):
            # unittest's self.subTest and pytest's `subtests`: one report per subtest, before
            # the test's own call report. A failed subtest fails its test, as pytest's exit
            # status says; a passing one decides nothing (#9: the first passing subtest
            # used to decide, and a build pytest failed passed).
            if report.failed:
                state["subfailures"].append(report)
                if state["outcome"] not in _BAD:
                    state.update(outcome="failed", when="call", report=report)
            return
        if report.when == "call":
            if report.passed:
                outcome = "xpassed" if xfail else "passed"
            elif report.skipped:
                outcome = "xfailed" if xfail else "skipped"
            else:  # a strict xpass arrives here as failed, as pytest counts it
                outcome = "failed"
        elif report.failed:  # setup or teardown
            outcome = "error"
        elif report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        else:
            return
        # The first bad outcome decides. A teardown error after a good outcome turns the
        # result into an error: pytest counts that test twice (e.g. passed and error), we
        # keep one result per test.
        if state["outcome"] in _BAD:
            return
        state.update(outcome=outcome, when=report.when, report=report)

    @staticmethod
    def _crash(report: pytest.TestReport) -> dict[str, Any]:
        text = report.longreprtext.strip()
        # the last line reads "worker 'gw1' crashed while running 'tests/test_x.py::test_y'"
        cause = text.splitlines()[-1].split(" while running")[0] if text else "crashed"
        return {
            "e": "result",
            "nodeid": report.nodeid,
            "file": report.nodeid.split("::", 1)[0],
            "outcome": "error",
            "duration": 0.0,
            "exc_type": "Crash",
            "message": _bounded_head(f"the interpreter died while running this test ({cause})"),
            "traceback": _bounded_tail(text),
            "frames": [],
            "when": "call",
        }

    @staticmethod
    def _result(nodeid: str, state: dict[str, Any]) -> dict[str, Any]:
        outcome = state["outcome"] or "passed"
        report = state.get("report")
        event: dict[str, Any] = {
            "e": "result",
            "nodeid": nodeid,
            "file": nodeid.split("::", 1)[0],
            "outcome": outcome,
            "duration": round(state["duration"], 6),
            "exc_type": None,
            "message": None,
            "traceback": None,
            "frames": [],
            "when": state.get("when") if outcome in _BAD else None,
        }
        for clock in ("cpu", "solo", "probe"):
            if state.get(clock) is not None:
                event[clock] = state[clock]
        if report is None:
            return event
        if state["subfailures"]:
            event.update(_subtest_details(state["subfailures"]))
            return event
        details = getattr(report, "passcycle", None)
        if outcome in _BAD:
            text = report.longreprtext
            event["traceback"] = _bounded_tail(text)
            if details:
                event.update(details)
            elif text.startswith("[XPASS(strict)]"):
                event["message"] = _bounded_head(text)
            else:
                event["message"] = _bounded_head(text.strip().splitlines()[-1] if text else "")
        elif outcome in {"skipped", "xfailed"}:
            if hasattr(report, "wasxfail"):
                event["message"] = _bounded_head(str(report.wasxfail)) or None
            elif isinstance(report.longrepr, tuple):
                event["message"] = _bounded_head(str(report.longrepr[2]).removeprefix("Skipped: "))
        return event


def _is_subtest(report: Any) -> bool:
    # pytest >= 9 (SubtestReport) and the pytest-subtests plugin (SubTestReport): both carry
    # the subtest's `context`, also after pytest-xdist has sent them to the controller.
    return report.when == "call" and hasattr(report, "context") and "Sub" in type(report).__name__


def _subtest_label(report: Any) -> str:
    context = report.context
    parts = []
    if getattr(context, "msg", None) is not None:
        parts.append(f"[{context.msg}]")
    kwargs = getattr(context, "kwargs", None) or {}
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    return " ".join(parts) or "(<subtest>)"


def _subtest_details(failures: list[Any]) -> dict[str, Any]:
    """A test failed by its subtests: the first failure's type and frames (what the issue
    groups by), and every failing subtest's message."""
    first = getattr(failures[0], "passcycle", None) or {}
    messages = []
    tracebacks = []
    for report in failures:
        label = _subtest_label(report)
        details = getattr(report, "passcycle", None) or {}
        text = report.longreprtext
        message = details.get("message") or (text.strip().splitlines() or [""])[-1]
        messages.append(f"{label} {message}")
        tracebacks.append(f"--- subtest {label} ---\n{text}")
    plural = "s" if len(failures) > 1 else ""
    return {
        "exc_type": first.get("exc_type"),
        "frames": first.get("frames", []),
        "message": _bounded_head(f"{len(failures)} subtest{plural} failed: " + "; ".join(messages)),
        "traceback": _bounded_tail("\n".join(tracebacks)),
        "subtests_failed": len(failures),
    }


_recorder: _Recorder | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    path = os.environ.get("PASSCYCLE_EVENTS")
    if path and not _is_worker(config) and _recorder is None:
        _recorder = _Recorder(path)


def _distributed(config: pytest.Config) -> bool:
    return config.pluginmanager.getplugin("dsession") is not None


def pytest_collection_finish(session: pytest.Session) -> None:
    if _recorder is not None and not _distributed(session.config):
        _recorder.collected([item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    # Every worker collects the same (selected) items; the first list is the suite.
    if _recorder is not None:
        _recorder.collected(list(ids))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if _recorder is None or not report.failed:
        return
    text = report.longreprtext
    exc_type, message = "CollectError", text.strip().splitlines()[-1] if text.strip() else ""
    for line in reversed(text.splitlines()):
        # pytest writes the cause as "E   ValueError: boom" (import errors, raises at import)
        if line.startswith("E   "):
            head, sep, rest = line[4:].partition(": ")
            if sep and head.replace(".", "").replace("_", "").isalnum():
                exc_type, message = head.rsplit(".", 1)[-1], rest
            break
    _recorder.emit(
        {
            "e": "collect_error",
            "nodeid": report.nodeid,
            "exc_type": exc_type,
            "message": _bounded_head(message),
            "traceback": _bounded_tail(text),
        }
    )


def _pytest_bad_nodeids(config: pytest.Config) -> list[str] | None:
    """The tests pytest's own summary counts as failed or errored: what the runner checks
    its folded results against (#9). None when pytest's terminal reporter is off."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    stats = getattr(reporter, "stats", None)
    if not isinstance(stats, dict):
        return None
    bad = {
        str(report.nodeid)
        for key in ("failed", "error")
        for report in stats.get(key, [])
        if getattr(report, "nodeid", None) is not None
    }
    return sorted(bad)


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    # pytest.exit() and Ctrl-C both end the session here; the reason goes to the runner.
    if _recorder is not None:
        reason = str(getattr(excinfo.value, "msg", "") or excinfo.value or excinfo.typename)
        _recorder.stopped = _bounded_head(f"{excinfo.typename}: {reason}", 300)


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if _recorder is not None:
        _recorder.emit({"e": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _recorder is not None:
        _recorder.report(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # tryfirst: a worker saves its data before pytest-xdist tells the controller it is done.
    _stop_coverage()
    session.config._passcycle_exitstatus = int(exitstatus)  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest-xdist has shut its workers down (their data files are saved by then).
    global _recorder
    _stop_coverage()
    if _is_worker(config):
        return
    _combine_coverage()
    if _recorder is not None:
        exitstatus = int(getattr(config, "_passcycle_exitstatus", 0))
        finish: dict[str, Any] = {"e": "finish", "exitstatus": exitstatus}
        bad = _pytest_bad_nodeids(config)
        if bad is not None:
            finish["bad"] = bad
        if _recorder.stopped:
            finish["stopped"] = _recorder.stopped
        _recorder.emit(finish)
        _recorder.out.close()
        _recorder = None
