"""Suspects: where a failure's bug most likely is, from the lines each test ran.

A test that fails and the code it ran, set against the tests that pass and the code they ran,
point at the fault (spectrum-based fault localization). For the failing tests F of one
issue and the passing tests of the run, each line of the project's source gets

    ochiai = failed / sqrt(|F| * (failed + passed))

where `failed` counts the tests of F that ran the line and `passed` the passing tests that
ran it: 1.0 for a line every failing test ran and no passing test did. Among equal scores
a line changed since the tests last passed comes first, then the line more failing tests
ran, then the file and line order (deterministic: the same inputs give the same ranking).
Lines of the test files are left out: a test's own body is run by that test alone.

The map is per test and per line (suite/plugin), so this costs no extra run: it is read
from the run's coverage data, or from the last full run's for a re-test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from passcycle.pysource import function_spans
from passcycle.validate.fingerprint import is_test_file

MAP_FILE = "coverage.db"  # in a run's artifacts: coverage data and the per-test map

TestMap = Mapping[str, Mapping[str, Collection[int]]]
TOP = 5  # suspects shown per issue


@dataclass(frozen=True, slots=True)
class Suspect:
    path: str
    line: int
    function: str | None  # the enclosing function or method; None at module level
    score: float  # Ochiai, 0..1
    failed: int  # failing tests of the issue that ran the line
    passed: int  # passing tests that ran it
    changed: bool  # changed since the tests last passed

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" + (f" in {self.function}" if self.function else "")


def ochiai(failed: int, passed: int, total_failed: int) -> float:
    if not failed or not total_failed:
        return 0.0
    return failed / math.sqrt(total_failed * (failed + passed))


def spectrum(
    test_map: TestMap,
    failing: Collection[str],
    passing: Collection[str],
    keep: Callable[[str], bool],
) -> dict[str, dict[int, list[int]]]:
    """path -> line -> [failing tests that ran it, passing tests that ran it], for the
    lines of the files `keep` accepts that at least one failing test ran."""
    counts: dict[str, dict[int, list[int]]] = {}
    for nodeid in failing:
        for path, lines in test_map.get(nodeid, {}).items():
            if not keep(path):
                continue
            per = counts.setdefault(path, {})
            for line in lines:
                per.setdefault(line, [0, 0])[0] += 1
    for nodeid in passing:
        files = test_map.get(nodeid)
        if not files:
            continue
        for path, per in counts.items():
            ran = files.get(path)
            if ran:
                for line in per.keys() & ran:  # any iterable: no copy of the map's set
                    per[line][1] += 1
    return counts


def suspects(
    root: Path,
    test_map: TestMap,
    failing: Collection[str],
    passing: Collection[str],
    *,
    keep: Callable[[str], bool],
    changed: Mapping[str, Collection[int]] | None = None,
    top: int = TOP,
) -> list[Suspect]:
    """The `top` most suspicious lines for the failing tests, one per function (its best
    line): five lines of one function say less than five functions."""
    failing = [n for n in failing if n in test_map]
    if not failing:
        return []
    counts = spectrum(test_map, failing, passing, keep)
    rank = _Ranking(root, len(failing), changed)
    ranked = sorted(
        rank.key(path, line, f, p) for path, per in counts.items() for line, (f, p) in per.items()
    )
    found: list[Suspect] = []
    seen: set[tuple[str, str]] = set()
    for key in ranked:
        suspect = rank.suspect(key)
        where = (suspect.path, suspect.function or f":{suspect.line}")
        if where in seen:
            continue
        seen.add(where)
        found.append(suspect)
        if len(found) == top:
            break
    return found


_Key = tuple[float, bool, int, str, int, int]  # sorts most suspicious first


class _Ranking:
    """The order of suspects (module docstring) and the function around each line, each
    file parsed once."""

    def __init__(
        self, root: Path, failing: int, changed: Mapping[str, Collection[int]] | None
    ) -> None:
        self.root = root
        self.failing = failing
        self.changed = changed or {}
        self.spans: dict[str, dict[str, tuple[int, int]]] = {}

    def key(self, path: str, line: int, failed: int, passed: int) -> _Key:
        score = ochiai(failed, passed, self.failing)
        return (-score, line not in self.changed.get(path, ()), -failed, path, line, passed)

    def suspect(self, key: _Key) -> Suspect:
        minus_score, unchanged, minus_failed, path, line, passed = key
        function = self.function_at(path, line)
        score = round(-minus_score, 4)
        return Suspect(path, line, function, score, -minus_failed, passed, not unchanged)

    def function_at(self, path: str, line: int) -> str | None:
        if path not in self.spans:
            try:
                text = (self.root / path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            self.spans[path] = function_spans(text)
        return next((n for n, (a, b) in self.spans[path].items() if a <= line <= b), None)


def culprits(
    root: Path,
    test_map: TestMap,
    failing: Collection[str],
    passing: Collection[str],
    *,
    keep: Callable[[str], bool],
    changed: Mapping[str, Collection[int]] | None = None,
) -> dict[str, Suspect]:
    """Each failing test's culprit, for grouping failures into one issue per bug: among the
    lines it ran, the one the run's spectrum finds most suspicious (Ochiai over all the
    run's failing tests, a changed line first among equals, then the line more failing
    tests ran, then file and line order). A test that ran no line of the source has none.

    A bug seldom fails every test that runs its line (itsdangerous' `_CompactJSON.loads`,
    made to return strings for numbers, ran in 28 failing tests and 30 passing ones), so
    the culprit is the best line, not a line only failing tests ran."""
    counts = spectrum(test_map, failing, passing, keep)
    rank = _Ranking(root, len(failing), changed)
    found: dict[str, Suspect] = {}
    for nodeid in failing:
        keys = [
            rank.key(path, line, *per[line])
            for path, lines in test_map.get(nodeid, {}).items()
            if (per := counts.get(path)) is not None
            for line in lines
            if line in per
        ]
        if keys:
            found[nodeid] = rank.suspect(min(keys))
    return found


def source_filter(source: Sequence[str], tests: Sequence[str]) -> Callable[[str], bool]:
    """The project's source files, not its tests: where suspects may be."""

    def keep(path: str) -> bool:
        if is_test_file(path) or any(_under(path, t) for t in tests):
            return False
        return any(_under(path, s) for s in source)

    return keep


def _under(path: str, folder: str) -> bool:
    folder = folder.strip("/")
    return folder in ("", ".") or path == folder or path.startswith(folder + "/")
