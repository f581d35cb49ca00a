"""The per-test impact map, taken from coverage's collector at each test boundary."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path
from typing import Any

from .mapdb import append_map

# How much coverage data a crash may lose: the map and the arcs are written to the data file
# at most this often (and at the end). Writing at every test is what made per-test
# contexts slow; a crash is rare and loses only the last seconds.
WRITE_SECONDS = 1.0


def map_supported(coverage: Any) -> bool:
    # The map reads coverage's collector (coverage/collector.py: Coverage._collector,
    # Collector.covdata/.data/.flush_data/.mapped_file_dict), internals, not API: read in the
    # 7.x sources and tested with 7.17. Outside 7.x, tests are marked with the public dynamic
    # contexts (switch_context): the same map, but 2x slower with branch data (click: 25 s
    # instead of 14 s, docs/benchmarks.md), for the arcs coverage then stores per test.
    return (7, 0) <= tuple(coverage.version_info[:2]) < (8, 0)


class ImpactMap:
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
    def attach(cls, cov: Any) -> ImpactMap | None:
        import coverage

        collector = getattr(cov, "_collector", None)
        if (
            not map_supported(coverage)
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
                {unpack(p, bits) for p in packed} == set(flushed[path])
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
                arc = unpacked[p] = unpack(p, bits)
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
        arcs = fresh(self.arcs, stored_arcs)
        for path, packed in fresh(self.packed, stored_packed).items():
            arcs.setdefault(path, set()).update(map(self.unpacked[path].__getitem__, packed))
        if arcs:
            self.data.add_arcs(arcs)
        if lines := fresh(self.lines, stored_lines):
            self.data.add_lines(lines)
        if self.tracers:
            self.data.add_file_tracers(self.tracers)
        self.arcs, self.lines, self.packed, self.tracers = {}, {}, {}, {}
        if self.new_tests or self.new_linesets:
            append_map(Path(self.data.data_filename()), self.new_linesets, self.new_tests)
            self.new_linesets, self.new_tests = [], []


def fresh(taken: dict[str, set[Any]], stored: dict[str, set[Any]]) -> dict[str, set[Any]]:
    """What of `taken` is not `stored` yet, now stored (re-adding costs SQL for nothing)."""
    fresh = {}
    for path, items in taken.items():
        have = stored.setdefault(path, set())
        if new := items - have:
            fresh[path] = new
            have |= new
    return fresh


def unpack(packed: int, bits: int) -> tuple[int, int]:
    mask = (1 << bits) - 1
    first, second = packed & mask, (packed >> bits) & mask
    if packed & (1 << (2 * bits)):
        first = -first
    if packed & (1 << (2 * bits + 1)):
        second = -second
    return first, second
