"""Flakiness: broken or flaky, from isolated re-runs on one commit and flips over history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from itertools import pairwise

# An expected failure that fails is a pass for the suite; a strict xpass is reported by
# pytest as "failed" already, so a plain xpass is a pass too.
GOOD: frozenset[str] = frozenset({"passed", "xfailed", "xpassed"})
BAD: frozenset[str] = frozenset({"failed", "error"})


def _verdicts(outcomes: Iterable[str]) -> list[bool]:
    """True for a pass, False for a failure; skips and unknown outcomes say nothing."""
    return [outcome in GOOD for outcome in outcomes if outcome in GOOD or outcome in BAD]


def classify(first: str, reruns: Sequence[str]) -> str:
    """ "broken" (failed first and on every re-run), "flaky" (passed and failed on one
    commit), or "passed" (no failure seen). Skipped re-runs are no evidence either way, so a
    failure whose re-runs were all skipped stays "broken"."""
    seen = _verdicts([first, *reruns])
    if False not in seen:
        return "passed"
    if True in seen:
        return "flaky"
    return "broken"


def flip_count(outcomes: Iterable[str]) -> int:
    """How many times the verdict changed between pass and fail (skips say nothing)."""
    return sum(a != b for a, b in pairwise(_verdicts(outcomes)))


def flip_rate(outcomes: Sequence[str], window: int | None = None) -> float:
    """Share of consecutive runs whose verdict changed between pass and fail, oldest first.

    Skips are dropped before pairing, so pass, skip, fail is one flip in one pair. `window`
    keeps only the most recent outcomes that carry a verdict. Fewer than two: 0.0.
    """
    verdicts = _verdicts(outcomes)
    if window is not None:
        verdicts = verdicts[-window:] if window > 0 else []
    if len(verdicts) < 2:
        return 0.0
    flips = sum(a != b for a, b in pairwise(verdicts))
    return flips / (len(verdicts) - 1)


def is_quarantined(nodeid: str, patterns: Iterable[str]) -> bool:
    """True when a pattern (fnmatch, case-sensitive) matches the node id.

    A pattern also matches the node id without its parameters ("*::test_x" quarantines
    "test_x[1]") and every test under a file or class it names ("tests/net/*.py").
    """
    parts = nodeid.split("[", 1)[0].split("::")
    candidates = [nodeid, *("::".join(parts[: i + 1]) for i in range(len(parts)))]
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in candidates)


def fails_together(
    outcomes: Mapping[str, Sequence[tuple[int, str]]],
    tests: Iterable[str],
    *,
    least: int = 3,
    share: float = 0.8,
) -> list[tuple[str, int, int]]:
    """Other tests that fail in the same runs as `tests` most of the time: (node id, runs
    both failed in, runs either failed in), most shared first. `outcomes`: each test's
    (run id, outcome) over recent runs. Two bugs that always break together are often
    one, or one's symptom: worth naming beside each other."""
    mine = set(tests)
    failing = {
        nodeid: {run for run, outcome in seen if outcome in ("failed", "error")}
        for nodeid, seen in outcomes.items()
    }
    ours = set().union(*(failing.get(t, set()) for t in mine)) if mine else set()
    found = []
    for nodeid, runs in failing.items():
        if nodeid in mine or not runs:
            continue
        both, either = len(ours & runs), len(ours | runs)
        if both >= least and both / either >= share:
            found.append((nodeid, both, either))
    return sorted(found, key=lambda f: (-f[1], f[0]))
