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
from pathlib import Path
from typing import Any

import coverage
from coverage.numbits import numbits_to_nums
from coverage.results import format_lines

from passcycle.errors import RunError
from passcycle.records import CoverageSummary, FileCoverage
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


Impact = dict[str, dict[str, set[int]]]


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
    folder (its conftest files' import), or "" (the session).
    """
    impact: Impact = defaultdict(dict)
    setup: Impact = defaultdict(dict)
    linesets, tests = _read_map(data_file)
    if tests:
        # Many tests share a line set: decode each once, copy it per test (callers own them).
        decoded = {
            str(i): (_relative(path, root), frozenset(numbits_to_nums(numbits)))
            for i, path, numbits in linesets
        }
        for nodeid, listed in tests:
            if nodeid.startswith(SETUP_PREFIX):
                files = setup[nodeid.removeprefix(SETUP_PREFIX)]
            else:
                files = impact[nodeid]
            for i in listed.split():
                path, lines = decoded[i]
                files.setdefault(path, set()).update(lines)
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
                            owner = setup[context.removeprefix(SETUP_PREFIX)]
                        elif context:
                            owner = impact[context]
                        else:
                            continue
                        owner.setdefault(relative, set()).add(line)
    except coverage.exceptions.CoverageException as exc:
        raise RunError(
            f"cannot read the coverage data {data_file}: {exc}",
            hint="the file may come from another coverage version; re-run the suite",
        ) from None
    return dict(impact), dict(setup)


def _read_map(data_file: Path) -> MapRows:
    """The map's rows in a data file (plugin/mapdb.py's tables); none: empty."""
    try:
        return read_map(data_file, strict=True)
    except sqlite3.DatabaseError as exc:
        raise RunError(
            f"cannot read the coverage map in {data_file}: {exc}",
            hint="the file is damaged or not a coverage data file; re-run the suite",
        ) from None


def tests_by_line(impact: dict[str, dict[str, set[int]]]) -> dict[str, dict[int, set[str]]]:
    """The reverse map: file -> line -> the tests that executed it."""
    by_line: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for test, files in impact.items():
        for path, lines in files.items():
            for line in lines:
                by_line[path][line].add(test)
    return {path: dict(lines) for path, lines in by_line.items()}


def tests_touching(
    impact: dict[str, dict[str, set[int]]], path: str, lines: set[int] | None = None
) -> set[str]:
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
