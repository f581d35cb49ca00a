"""Shards: one suite split across machines, balanced by recorded durations, and merged
back into one run that is judged as a whole.

    passcycle test --shard 2/8 --group $CI_RUN     # on each of 8 machines, one history
    passcycle merge --group $CI_RUN                # once all 8 have landed

The split itself happens inside pytest (plugin.py, PASSCYCLE_SHARD): each shard collects
the whole suite and keeps its part, so shards need no coordination, only the same code,
the same arguments and the same durations file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from passcycle.errors import RunError, UsageError
from passcycle.records import Run, TestResult

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$", re.ASCII)
FINISHED = ("passed", "failed")  # a shard run that reached its end
# More shards than machines anyone splits a suite across is a typo; and the split keeps a
# load per shard, so an unbounded N (1/99999999999999999999) ran until killed.
MAX_SHARDS = 1000
_HINT = "write K/N with 1 <= K <= N, e.g. --shard 2/8 for the second of 8 shards"


def parse_shard(text: str) -> tuple[int, int]:
    """ "2/8" -> (2, 8); a usage error, one line saying which part is wrong, for anything else."""
    match = _SPEC.match(text or "")
    if match is None:
        raise UsageError(f"--shard: cannot read {text!r}", hint=_HINT)
    number, total = int(match[1]), int(match[2])
    if total < 1 or total > MAX_SHARDS:
        raise UsageError(
            f"--shard: cannot read {text!r}: N must be from 1 to {MAX_SHARDS}", hint=_HINT
        )
    if number < 1 or number > total:
        raise UsageError(
            f"--shard: cannot read {text!r}: K must be from 1 to N ({total})", hint=_HINT
        )
    return number, total


def complete_group(group: str, found: Sequence[tuple[Run, int, int]]) -> list[Run]:
    """The newest finished run of each shard of the group, in shard order; a RunError
    naming what is missing otherwise."""
    totals = {total for _, _, total in found}
    if len(totals) > 1:
        raise RunError(
            f"group {group!r} mixes shard counts ({', '.join(map(str, sorted(totals)))})",
            hint="give every shard of one split the same N, or a group name per split",
        )
    total = totals.pop()
    newest: dict[int, Run] = {}
    for run, number, _ in found:
        if run.status in FINISHED:
            newest[number] = run  # `found` is oldest first: the last one wins
    missing = [n for n in range(1, total + 1) if n not in newest]
    if missing:
        shown = ", ".join(f"{n}/{total}" for n in missing)
        raise RunError(
            f"group {group!r}: shard {shown} has not finished",
            hint=f"run passcycle test --shard {missing[0]}/{total} --group {group}, then merge",
        )
    return [newest[n] for n in range(1, total + 1)]


def merge_results(parts: Iterable[list[TestResult]]) -> list[TestResult]:
    """Every shard's results as one suite's. A file that fails to collect is reported by
    every shard (none could take its tests): it counts once."""
    seen: set[str] = set()
    merged: list[TestResult] = []
    for results in parts:
        for result in results:
            if result.nodeid not in seen:
                seen.add(result.nodeid)
                merged.append(result)
    return merged
