"""Suspects: where a failure's bug most likely is, from the lines each test ran.

A test that fails and the code it ran, set against the tests that pass and the code they ran,
point at the fault (spectrum-based fault localization). For the failing tests F of one
issue and the passing tests of the run, each line of the project's source gets

    ochiai = failed / sqrt(|F| * (failed + passed))

where `failed` counts the tests of F that ran the line and `passed` the passing tests that
ran it: 1.0 for a line every failing test ran and no passing test did.

A line changed since the tests last passed ranks before every line that did not change: the
tests passed before the change and fail after it, so the change is the first place to look
(single-line mutations of the generated project and of pallets/click: the mutated line is
the top suspect in most of them with the change, far fewer without it; docs/benchmarks.md).
Then the higher score, then the line more failing tests ran, then the file and line order
(deterministic: the same inputs give the same ranking). Lines of the test files are left
out: a test's own body is run by that test alone.

A module's top-level lines (its constants, its `def` lines) run once, when it is imported,
and are in no test's map; a test that ran any line of the module counts as having run them
(`imports`, the lines each source file ran while it was imported). A changed constant is
then a suspect of the tests that read it; an unchanged one is no suspect at all (every
test of its module ran it: its spectrum is the module's, it says nothing of its own).

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
Imports = Mapping[str, Collection[int]]  # source file -> the lines it ran while imported
TOP = 5  # suspects shown per issue
_NO_CHANGE: Mapping[str, Collection[int]] = {}


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


class Spectrum:
    """One run's spectrum: the lines its failing tests ran, and how many passing tests ran
    each, counted once for all of the run's issues (each issue's suspects are ranked on
    its own failing tests, against the same passing side)."""

    def __init__(
        self,
        test_map: TestMap,
        failing: Collection[str],
        passing: Collection[str],
        keep: Callable[[str], bool],
        imports: Imports | None = None,
    ) -> None:
        self.test_map = test_map
        self.kept: dict[str, bool] = {}  # `keep` of each path, asked once
        self.keep = keep
        self.imports = imports or {}
        self.failing = frozenset(failing)
        lines: dict[str, set[int]] = {}
        for nodeid in self.failing:
            for path, ran in self.ran(nodeid):
                lines.setdefault(path, set()).update(ran)
        self.passed = self._passed(lines, passing)

    def ran(self, nodeid: str) -> list[tuple[str, Collection[int]]]:
        """The lines a test ran, by kept file, with each file's import-time lines."""
        found = []
        for path, lines in self.test_map.get(nodeid, {}).items():
            kept = self.kept.get(path)
            if kept is None:
                kept = self.kept[path] = self.keep(path)
            if kept:
                extra = self.imports.get(path)
                found.append((path, {*lines, *extra} if extra else lines))
        return found

    def _passed(
        self, lines: dict[str, set[int]], passing: Collection[str]
    ) -> dict[str, dict[int, int]]:
        passed: dict[str, dict[int, int]] = {
            path: dict.fromkeys(ls, 0) for path, ls in lines.items()
        }
        # the import-time lines among those counted, by file: every test of the file ran them
        at_import = {path: ls & set(self.imports.get(path, ())) for path, ls in lines.items()}
        for nodeid in passing:
            files = self.test_map.get(nodeid)
            if not files or nodeid in self.failing:
                continue
            # the fewer of the test's files and the counted ones: a test runs a few files
            shared = files.keys() & lines.keys() if len(files) < len(lines) else lines
            for path in shared:
                ran = files.get(path)
                if ran:
                    per = passed[path]
                    hit = per.keys() & ran  # any iterable: no copy of the map's set
                    if at_import[path]:
                        hit |= at_import[path]
                    for line in hit:
                        per[line] += 1
        return passed

    def counts(self, failing: Collection[str]) -> dict[str, dict[int, list[int]]]:
        """path -> line -> [tests of `failing` that ran it, passing tests that ran it];
        `failing`, some of the failing tests the spectrum was made with."""
        if not self.failing.issuperset(failing):
            raise ValueError("a spectrum counts the failing tests it was made with")
        counts: dict[str, dict[int, list[int]]] = {}
        for nodeid in failing:
            for path, lines in self.ran(nodeid):
                per = counts.setdefault(path, {})
                passed = self.passed[path]
                for line in lines:
                    if line in per:
                        per[line][0] += 1
                    else:
                        per[line] = [1, passed[line]]
        return counts


def suspects(
    root: Path,
    shared: Spectrum,
    failing: Collection[str],
    *,
    changed: Mapping[str, Collection[int]] | None = None,
    top: int = TOP,
) -> list[Suspect]:
    """The `top` most suspicious lines for the failing tests (some of the spectrum's), one
    per function (its best line): five lines of one function say less than five."""
    rank, ranked = _ranked(root, shared, failing, changed)
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


def ranked_lines(
    root: Path,
    shared: Spectrum,
    failing: Collection[str],
    *,
    changed: Mapping[str, Collection[int]] | None = None,
) -> list[tuple[str, int]]:
    """Every line the failing tests ran, most suspicious first: the order `suspects` draws
    its one line per function from (bench/bench_localize.py ranks the mutated line in it)."""
    _, ranked = _ranked(root, shared, failing, changed)
    return [(key[4], key[5]) for key in ranked]


def _ranked(
    root: Path,
    shared: Spectrum,
    failing: Collection[str],
    changed: Mapping[str, Collection[int]] | None,
) -> tuple[_Ranking, list[_Key]]:
    failing = [n for n in failing if n in shared.test_map]
    rank = _Ranking(root, len(failing), changed, shared.imports)
    if not failing:
        return rank, []
    counts = shared.counts(failing)
    keys = [
        key
        for path, per in counts.items()
        for line, (f, p) in per.items()
        if rank.telling(key := rank.key(path, line, f, p))
    ]
    return rank, sorted(keys)


_Key = tuple[bool, float, bool, int, str, int, int]  # sorts most suspicious first


class _Ranking:
    """The order of suspects (module docstring) and the function around each line, each
    file parsed once."""

    def __init__(
        self,
        root: Path,
        failing: int,
        changed: Mapping[str, Collection[int]] | None,
        imports: Imports | None = None,
    ) -> None:
        self.root = root
        self.failing = failing
        self.changed = changed or {}
        self.imports = imports or {}
        self.spans: dict[str, dict[str, tuple[int, int]]] = {}

    def key(self, path: str, line: int, failed: int, passed: int) -> _Key:
        score = ochiai(failed, passed, self.failing)
        unchanged = line not in self.changed.get(path, ())
        # an import-time line (a `def`, a constant) scores as high as the body it wraps:
        # the body, which the test itself ran, comes first
        at_import = line in self.imports.get(path, ())
        return (unchanged, -score, at_import, -failed, path, line, passed)

    @staticmethod
    def telling(key: _Key) -> bool:
        """An import-time line that did not change says nothing of its own: every test of
        its module ran it (its spectrum is the module's)."""
        unchanged, _, at_import = key[:3]
        return not (unchanged and at_import)

    def suspect(self, key: _Key) -> Suspect:
        unchanged, minus_score, _, minus_failed, path, line, passed = key
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
    shared: Spectrum,
    *,
    changed: Mapping[str, Mapping[str, Collection[int]]] | None = None,
) -> dict[str, Suspect]:
    """Each failing test's culprit, for grouping failures into one issue per bug: among the
    lines it ran, the one the run's spectrum finds most suspicious (a line changed since
    the test last passed first, then Ochiai over all the run's failing tests, then the line
    more failing tests ran, then file and line order). A test that ran no line of the
    source has none. `changed`: node id -> the lines changed since it last passed, by file
    (a test that has not passed lately has none: the change is not why it fails).

    A bug seldom fails every test that runs its line (itsdangerous' `_CompactJSON.loads`,
    made to return strings for numbers, ran in 28 failing tests and 30 passing ones), so
    the culprit is the best line, not a line only failing tests ran."""
    failing = sorted(shared.failing)
    counts = shared.counts(failing)
    changed = changed or {}
    ranks: dict[int, _Ranking] = {}  # one per distinct change, each file parsed once
    spans: dict[str, dict[str, tuple[int, int]]] = {}
    found: dict[str, Suspect] = {}
    for nodeid in failing:
        mine = changed.get(nodeid) or _NO_CHANGE
        rank = ranks.get(id(mine))  # the mappings live as long as `changed`: ids are stable
        if rank is None:
            rank = ranks[id(mine)] = _Ranking(root, len(failing), mine, shared.imports)
            rank.spans = spans
        keys = [
            key
            for path, lines in shared.ran(nodeid)
            if (per := counts.get(path)) is not None
            for line in lines
            if line in per and rank.telling(key := rank.key(path, line, *per[line]))
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
