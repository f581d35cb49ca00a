"""Which items this process runs, and in what order: a shard of the suite, the node ids a
file lists, or the whole suite with the tests a file lists first."""

from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import Any

import pytest


class Selection:
    """PASSCYCLE_SHARD ("K/N", balanced by PASSCYCLE_DURATIONS), PASSCYCLE_SELECT and
    PASSCYCLE_ORDER."""

    def __init__(
        self,
        shard: str | None,
        durations: str | None,
        select: str | None,
        order: str | None = None,
    ) -> None:
        self.shard = shard
        self.durations = durations
        self.select = select
        self.order = order

    @pytest.hookimpl(trylast=True)  # after -k and -m: every shard splits the same items
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.shard:
            mine = shard_of(items, self.shard, self.durations)
            keep(config, items, lambda item: item.nodeid in mine)
        if self.select:
            entries = Path(self.select).read_text(encoding="utf-8").splitlines()
            ranks = selected(items, entries)
            keep(config, items, lambda item: item.nodeid in ranks)
            # in the file's order (a re-test runs what failed first), stable within a path
            items.sort(key=lambda item: ranks[item.nodeid])
        if self.order:
            # every item runs; those the file lists first, in its order (`test --order
            # risk`), the rest after them as collected. Under pytest-xdist every worker
            # sorts alike, and the controller hands out the items from the front (#14).
            entries = Path(self.order).read_text(encoding="utf-8").splitlines()
            ranks = selected(items, entries)
            items.sort(key=lambda item: ranks.get(item.nodeid, len(entries)))


def selected(items: list[pytest.Item], entries: list[str]) -> dict[str, int]:
    """The items the file selects, each with its entry's position: an entry is a node id or
    a path (a file or folder) whose every item runs."""
    exact = {entry: rank for rank, entry in reversed(list(enumerate(entries)))}
    paths = [(entry.rstrip("/"), rank) for rank, entry in enumerate(entries) if "::" not in entry]
    ranks: dict[str, int] = {}
    for item in items:
        rank = exact.get(item.nodeid)
        if rank is None:
            rank = next(
                (r for path, r in paths if item.nodeid.startswith((path + "::", path + "/"))),
                None,
            )
        if rank is not None:
            ranks[item.nodeid] = rank
    return ranks


def keep(config: pytest.Config, items: list[pytest.Item], keep: Any) -> None:
    kept = [item for item in items if keep(item)]
    dropped = [item for item in items if not keep(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def shard_of(items: list[pytest.Item], spec: str, durations_file: str | None) -> set[str]:
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
