"""The history's each test's result in a run: outcome, re-runs, fingerprint, times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from passcycle.errors import HistoryError
from passcycle.records import BAD_OUTCOMES, TestResult
from passcycle.store import rows
from passcycle.store.access import (
    Access,
    _chunks,
)
from passcycle.store.schema import (
    runs,
    test_results,
)


class ResultStore(Access):
    def add_results(self, run_id: int, results: Iterable[TestResult]) -> None:
        """Append a batch of results in one transaction (one executemany)."""
        batch = [rows.result_row(run_id, result) for result in results]
        if batch:
            with self._tx(write=True) as conn:
                conn.execute(sa.insert(test_results), batch)

    def set_reruns(self, run_id: int, nodeid: str, reruns: tuple[str, ...]) -> None:
        """Record the outcomes of isolated re-runs; the first outcome stays as it was."""
        with self._tx(write=True) as conn:
            updated = conn.execute(
                sa.update(test_results)
                .where(test_results.c.run_id == run_id, test_results.c.nodeid == nodeid)
                .values(reruns=list(reruns))
            ).rowcount
        if not updated:
            raise HistoryError(f"run {run_id} has no result for {nodeid}")

    def set_times(
        self, run_id: int, times: dict[str, tuple[float | None, float | None, float | None]]
    ) -> None:
        """Replace tests' (cpu, solo, probe) seconds, e.g. with the faster of two timings."""
        if not times:
            return
        stmt = (
            sa.update(test_results)
            .where(
                test_results.c.run_id == sa.bindparam("r"),
                test_results.c.nodeid == sa.bindparam("n"),
            )
            .values(cpu=sa.bindparam("c"), solo=sa.bindparam("s"), probe=sa.bindparam("p"))
        )
        batch = [{"r": run_id, "n": n, "c": c, "s": s, "p": p} for n, (c, s, p) in times.items()]
        with self._tx(write=True) as conn:
            conn.execute(stmt, batch)

    def set_fingerprints(self, run_id: int, fingerprints: dict[str, str]) -> None:
        """Set the failure fingerprint of each named test of the run."""
        if not fingerprints:
            return
        statement = (
            sa.update(test_results)
            .where(
                test_results.c.run_id == sa.bindparam("b_run"),
                test_results.c.nodeid == sa.bindparam("b_nodeid"),
            )
            .values(fingerprint=sa.bindparam("b_fingerprint"))
        )
        params = [
            {"b_run": run_id, "b_nodeid": nodeid, "b_fingerprint": fingerprint}
            for nodeid, fingerprint in fingerprints.items()
        ]
        with self._tx(write=True) as conn:
            conn.execute(statement, params)

    def results(self, run_id: int) -> list[TestResult]:
        query = sa.select(test_results).where(test_results.c.run_id == run_id)
        with self._tx() as conn:
            found = conn.execute(query.order_by(test_results.c.id)).mappings()
            return [rows.result_from_row(row) for row in found]

    def test_outcomes(
        self, nodeids: Iterable[str] | None, project: str, limit_runs: int = 20
    ) -> dict[str, list[tuple[int, str]]]:
        """Each test's (run id, outcome) over the project's last runs, newest first."""
        with self._tx() as conn:
            run_ids = list(
                conn.scalars(
                    sa.select(runs.c.id)
                    .where(runs.c.project == project)
                    .order_by(runs.c.id.desc())
                    .limit(limit_runs)
                )
            )
            query = (
                sa.select(test_results.c.nodeid, test_results.c.run_id, test_results.c.outcome)
                .where(test_results.c.run_id.in_(run_ids))
                .order_by(test_results.c.run_id.desc(), test_results.c.id)
            )
            wanted = None if nodeids is None else list(dict.fromkeys(nodeids))
            if wanted is None:
                found = conn.execute(query).all()
            else:
                found = [
                    row
                    for chunk in _chunks(wanted)
                    for row in conn.execute(query.where(test_results.c.nodeid.in_(chunk)))
                ]
                found.sort(key=lambda row: -row.run_id)  # stable: keeps order within a run
        outcomes: dict[str, list[tuple[int, str]]] = {nodeid: [] for nodeid in wanted or ()}
        for nodeid, run_id, outcome in found:
            outcomes.setdefault(nodeid, []).append((run_id, outcome))
        return outcomes

    def failure_rates(self, project: str, limit_runs: int = 10) -> dict[str, float]:
        """The share of bad outcomes over the project's last runs of each test that had
        one: a test never bad there is not listed. Counted by the database: on a suite of
        10,000 tests the last 10 runs are 100,000 rows nobody needs in Python."""
        t = test_results
        last = (
            sa.select(runs.c.id)
            .where(runs.c.project == project)
            .order_by(runs.c.id.desc())
            .limit(limit_runs)
            .scalar_subquery()
        )
        bad = sa.func.sum(sa.case((t.c.outcome.in_(sorted(BAD_OUTCOMES)), 1), else_=0))
        query = (
            sa.select(t.c.nodeid, bad, sa.func.count())
            .where(t.c.run_id.in_(last))
            .group_by(t.c.nodeid)
            .having(bad > 0)
        )
        with self._tx() as conn:
            return {nodeid: n_bad / seen for nodeid, n_bad, seen in conn.execute(query)}

    def bad_results(self, run_id: int) -> list[tuple[str, str, tuple[str, ...]]]:
        """(node id, outcome, re-run outcomes) of the run's failed and errored tests."""
        t = test_results
        query = sa.select(t.c.nodeid, t.c.outcome, t.c.reruns).where(
            t.c.run_id == run_id, t.c.outcome.in_(("failed", "error"))
        )
        with self._tx() as conn:
            return [(n, o, tuple(r or ())) for n, o, r in conn.execute(query)]

    def passed_among(self, run_id: int, nodeids: Sequence[str]) -> set[str]:
        """Which of `nodeids` passed in the run."""
        t = test_results
        passed: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(list(nodeids)):
                query = sa.select(t.c.nodeid).where(
                    t.c.run_id == run_id, t.c.nodeid.in_(chunk), t.c.outcome == "passed"
                )
                passed.update(conn.scalars(query))
        return passed

    def test_series(self, run_ids: Sequence[int]) -> dict[str, list[tuple[int, str, float]]]:
        """Each test's (run id, outcome, duration) in those runs, newest run first."""
        t = test_results
        query = (
            sa.select(t.c.nodeid, t.c.run_id, t.c.outcome, t.c.duration)
            .where(t.c.run_id.in_(list(run_ids)))
            .order_by(t.c.run_id.desc())
        )
        rows: dict[str, list[tuple[int, str, float]]] = {}
        with self._tx() as conn:
            for nodeid, run_id, outcome, duration in conn.execute(query):
                rows.setdefault(nodeid, []).append((run_id, outcome, duration))
        return rows
