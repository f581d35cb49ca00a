"""The coverage map: a kept coverage data file read as totals and as per-test impact.

Numbers come from coverage.py's own reporting (json_report), so they equal what
`coverage report` prints for the same data and rcfile. The per-test map comes from the
tables the plugin keeps inside the same data file (lines per test, see plugin.py), or from
dynamic contexts (one per test node id) where the plugin had to fall back on them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import coverage
from coverage.results import format_lines

from passcycle.errors import RunError
from passcycle.records import CoverageSummary, FileCoverage
from passcycle.suite.plugin.imports import IMPORT_KEY
from passcycle.suite.plugin.mapdb import (
    SETUP_PREFIX,
    MapRows,
    append_map,
    combine_data,
    merge_maps,
    read_map,
)

# coverage's own search order for its settings (coverage/config.py, config_files_to_try).
_RCFILES = (
    (".coveragerc", None),
    ("setup.cfg", "[coverage:"),
    ("tox.ini", "[coverage:"),
    ("pyproject.toml", "[tool.coverage"),
)


def find_rcfile(root: Path) -> Path | None:
    """The file coverage would read its settings from when run in `root`."""
    for name, marker in _RCFILES:
        path = root / name
        if path.is_file() and (
            marker is None or marker in path.read_text(encoding="utf-8", errors="replace")
        ):
            return path
    return None


def _coverage(data_file: Path, root: Path) -> coverage.Coverage:
    rcfile = find_rcfile(root)
    return coverage.Coverage(data_file=str(data_file), config_file=str(rcfile) if rcfile else False)


def _relative(path: str, root: Path) -> str:
    absolute = os.path.abspath(path)
    try:
        return Path(absolute).relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(absolute).as_posix()


def combine(data_file: Path, root: Path) -> None:
    """Fold the suffixed data files beside `data_file` (`coverage.db.*`) into it, maps too."""

    rcfile = find_rcfile(root)
    combine_data(data_file, str(rcfile) if rcfile else None)


def summarize(data_file: Path, root: Path) -> tuple[CoverageSummary, list[FileCoverage]]:
    """Totals and per-file numbers, computed and rounded by coverage itself."""
    cov = _coverage(data_file, root)
    out = Path(tempfile.mkstemp(prefix="passcycle-coverage-", suffix=".json")[1])
    cwd = os.getcwd()
    report: dict[str, Any]
    try:
        # coverage resolves the rcfile's relative omit/include patterns and names the files
        # in its report against the current directory, as `coverage report` run in the
        # project would. (A process-wide change: do not call this from several threads.)
        os.chdir(root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov.load()
            try:
                cov.json_report(outfile=str(out))
            except coverage.exceptions.NoDataError:
                # Nothing of the source was measured (a wrong `source`?): that is 0%, not
                # coverage's 100% of nothing, so a coverage target cannot pass on it.
                report = {"totals": {"percent_covered_display": "0"}, "files": {}}
            else:
                report = json.loads(out.read_text(encoding="utf-8"))
    except coverage.exceptions.CoverageException as exc:
        raise RunError(
            f"cannot read the coverage data {data_file}: {exc}",
            hint="the file may come from another coverage version; re-run the suite",
        ) from None
    finally:
        os.chdir(cwd)
        out.unlink(missing_ok=True)
    precision = int(cov.config.precision)
    files = [
        _file_coverage(_relative(os.path.join(root, name), root), entry)
        for name, entry in sorted(report["files"].items())
    ]
    totals = report["totals"]
    summary = CoverageSummary(
        statements=int(totals.get("num_statements", 0)),
        covered_lines=int(totals.get("covered_lines", 0)),
        branches=int(totals.get("num_branches", 0)),
        covered_branches=int(totals.get("covered_branches", 0)),
        percent=float(totals["percent_covered_display"]),
        precision=precision,
    )
    return summary, files


def _file_coverage(path: str, entry: dict[str, Any]) -> FileCoverage:
    numbers = entry["summary"]
    statements = sorted(entry.get("executed_lines", []) + entry.get("missing_lines", []))
    arcs: dict[int, list[int]] = defaultdict(list)
    for start, end in entry.get("missing_branches", []):
        arcs[start].append(end)
    missing_lines = format_lines(statements, entry.get("missing_lines", []), sorted(arcs.items()))
    return FileCoverage(
        path=path,
        statements=int(numbers["num_statements"]),
        missing=int(numbers["missing_lines"]),
        branches=int(numbers.get("num_branches", 0)),
        partial_branches=int(numbers.get("missing_branches", 0)),
        percent=float(numbers["percent_covered_display"]),
        missing_lines=missing_lines,
    )


# node id (or setup scope) -> file -> lines; a test's files are read-only
Impact = dict[str, Mapping[str, AbstractSet[int]]]


def tests_by_file(data_file: Path, root: Path) -> Impact:
    """For each test (node id), the files (relative to root) and lines it executed.

    Code run outside tests (imports, collection, wider fixtures) is left out: see
    impact_maps.
    """
    return impact_maps(data_file, root)[0]


def impact_maps(data_file: Path, root: Path) -> tuple[Impact, Impact]:
    """The map read once: (per test node id, per setup scope) the files and lines run.

    A setup scope is what code outside any test belonged to (plugin/mapdb.py): a test
    module's path (its import and collection, its module- and class-scoped fixtures), a
    folder (its conftest files' import), "import:" and a source module's path (its import,
    wherever it happened), or "" (the session).
    """
    impact: Impact = {}
    setup: Impact = {}
    linesets, tests = _read_map(data_file)
    if tests:
        # Line sets are decoded when first read, once each (many tests share one): a
        # re-test reads the lines of the few files that changed, of every test.
        decoder = _Decoder(linesets, root)
        for nodeid, listed in tests:
            if nodeid.startswith(SETUP_PREFIX):
                owners, nodeid = setup, _scope(nodeid.removeprefix(SETUP_PREFIX), root)
            else:
                owners = impact
            files = owners.get(nodeid)
            if files is None:
                files = owners[nodeid] = _Lines(decoder)
            files.add(listed.split())  # type: ignore[attr-defined]
    data = coverage.CoverageData(basename=str(data_file))
    try:
        data.read()
        if any(data.measured_contexts()):  # the plugin's fallback: one context per test
            for measured in data.measured_files():
                relative = _relative(measured, root)
                # One query per file (not per test): fast for thousands of contexts.
                for line, contexts in data.contexts_by_lineno(measured).items():
                    for context in contexts:
                        if context.startswith(SETUP_PREFIX):
                            scope = _scope(context.removeprefix(SETUP_PREFIX), root)
                            owner = setup.setdefault(scope, {})
                        elif context:
                            owner = impact.setdefault(context, {})
                        else:
                            continue
                        owner.setdefault(relative, set()).add(line)  # type: ignore[attr-defined]
    except coverage.exceptions.CoverageException as exc:
        raise RunError(
            f"cannot read the coverage data {data_file}: {exc}",
            hint="the file may come from another coverage version; re-run the suite",
        ) from None
    return impact, setup


def _scope(scope: str, root: Path) -> str:
    """A setup scope as the selection reads it: an import's module relative to root."""
    if scope.startswith(IMPORT_KEY):
        return IMPORT_KEY + _relative(scope.removeprefix(IMPORT_KEY), root)
    return scope


# The line numbers each byte value of a numbits string holds, by bit: coverage's own
# numbits_to_nums tests every bit in Python, 0.2 s for one changed module of 2,300 lines run
# by 700 tests (pyflakes' checker.py), most of a re-test's selection; by byte, a fifth.
_BITS = tuple(tuple(bit for bit in range(8) if value & (1 << bit)) for value in range(256))


def _nums(numbits: bytes) -> frozenset[int]:
    """coverage.numbits.numbits_to_nums, as a set, a byte at a time."""
    bits = _BITS
    return frozenset(
        base + bit
        for base, byte in zip(range(0, 8 * len(numbits), 8), numbits, strict=True)
        if byte
        for bit in bits[byte]
    )


class _Decoder:
    """The map's line sets by id: each one's file (relative to the root) at once, its lines
    (coverage's numbits, slow to decode) when first asked for."""

    def __init__(self, linesets: list[tuple[int, str, bytes]], root: Path) -> None:
        relative: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        self.numbits: dict[str, bytes] = {}
        for i, path, numbits in linesets:
            if path not in relative:
                relative[path] = _relative(path, root)
            self.paths[str(i)] = relative[path]
            self.numbits[str(i)] = numbits
        self.decoded: dict[str, frozenset[int]] = {}

    def lines(self, i: str) -> frozenset[int]:
        found = self.decoded.get(i)
        if found is None:
            found = self.decoded[i] = _nums(self.numbits[i])
        return found


class _Lines(Mapping[str, frozenset[int]]):
    """One test's (or setup scope's) files and the lines it ran in each, read lazily."""

    __slots__ = ("_decoder", "_ids", "_lines")

    def __init__(self, decoder: _Decoder) -> None:
        self._decoder = decoder
        self._ids: dict[str, list[str]] = {}
        self._lines: dict[str, frozenset[int]] = {}

    def add(self, ids: list[str]) -> None:
        for i in ids:
            self._ids.setdefault(self._decoder.paths[i], []).append(i)
            self._lines.pop(self._decoder.paths[i], None)

    def __getitem__(self, path: str) -> frozenset[int]:
        found = self._lines.get(path)
        if found is None:
            ids = self._ids[path]
            lines = self._decoder.lines
            found = lines(ids[0]) if len(ids) == 1 else frozenset().union(*map(lines, ids))
            self._lines[path] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, path: object) -> bool:
        return path in self._ids

    def __repr__(self) -> str:
        return repr(dict(self.items()))


def _read_map(data_file: Path) -> MapRows:
    """The map's rows in a data file (plugin/mapdb.py's tables); none: empty."""
    try:
        return read_map(data_file, strict=True)
    except sqlite3.DatabaseError as exc:
        raise RunError(
            f"cannot read the coverage map in {data_file}: {exc}",
            hint="the file is damaged or not a coverage data file; re-run the suite",
        ) from None


def tests_by_line(impact: Impact) -> dict[str, dict[int, set[str]]]:
    """The reverse map: file -> line -> the tests that executed it."""
    by_line: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for test, files in impact.items():
        for path, lines in files.items():
            for line in lines:
                by_line[path][line].add(test)
    return {path: dict(lines) for path, lines in by_line.items()}


def tests_touching(impact: Impact, path: str, lines: set[int] | None = None) -> set[str]:
    """The tests that executed any of `lines` of `path` (any line when `lines` is None)."""
    return {
        test
        for test, files in impact.items()
        if path in files and (lines is None or not files[path].isdisjoint(lines))
    }


# Their names start with "test": keep pytest from collecting them where they are imported.
tests_by_file.__test__ = False  # type: ignore[attr-defined]
tests_by_line.__test__ = False  # type: ignore[attr-defined]
tests_touching.__test__ = False  # type: ignore[attr-defined]


def portable(data_file: Path, root: Path) -> bytes:
    """The lines and arcs of `data_file` and its per-test map, with paths relative to
    `root`, as the bytes of a coverage data file: what a shard keeps in the history, for a
    merge on another machine whose checkout may live elsewhere."""
    source = coverage.CoverageData(basename=str(data_file))
    source.read()
    linesets, tests = _read_map(data_file)
    with tempfile.TemporaryDirectory(prefix="passcycle-portable-") as tmp:
        out = Path(tmp) / "portable.db"
        data = coverage.CoverageData(basename=str(out))
        data.update(source, map_path=lambda path: _relative(path, root))
        data.write()
        if tests:
            moved = [(i, _relative(path, root), bits) for i, path, bits in linesets]
            append_map(out, moved, list(tests), replace=True)
        return out.read_bytes()


def merge_portable(parts: list[bytes], root: Path, out_file: Path) -> None:
    """One coverage data file at `out_file` from shards' portable data, with paths made
    absolute under this machine's `root` (coverage's own `update`, as `coverage combine`)."""
    out_file.unlink(missing_ok=True)
    merged = coverage.CoverageData(basename=str(out_file))

    def here(path: str) -> str:
        return path if os.path.isabs(path) else str(root.resolve() / path)

    maps = []
    with tempfile.TemporaryDirectory(prefix="passcycle-merge-") as tmp:
        for index, blob in enumerate(parts):
            part = Path(tmp) / f"part-{index}.db"
            part.write_bytes(blob)
            data = coverage.CoverageData(basename=str(part))
            data.read()
            merged.update(data, map_path=here)
            linesets, tests = _read_map(part)
            maps.append(([(i, here(path), bits) for i, path, bits in linesets], list(tests)))
    merged.write()
    # the shards' per-test maps as one: `retest` after a merge selects as after a full run
    linesets, tests = merge_maps(maps)
    if tests:
        append_map(out_file, linesets, tests, replace=True)
