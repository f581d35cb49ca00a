"""The board: what the dashboard shows, read from the history (never written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean

import sqlalchemy as sa

from passcycle.errors import UsageError
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, Issue, KpiVerdict, PhaseStatus, Run
from passcycle.store import History
from passcycle.store.schema import issue_runs, issues, runs, test_results
from passcycle.validate.flaky import classify, flip_rate, is_quarantined
from passcycle.validate.phases import evaluate

TREND_RUNS = 50  # judged runs a KPI chart spans
RECENT_RUNS = 10  # runs listed on the overview
ISSUE_HISTORY_RUNS = 30  # sightings shown per issue
JUDGED_LOOKBACK = 200  # newest runs searched for the latest judged one


@dataclass(frozen=True, slots=True)
class Overview:
    project: str
    run: Run | None  # the latest judged run: its gate, KPIs and phases are the project's state
    latest: Run | None  # the newest run of any kind, judged or not
    kpis: tuple[KpiVerdict, ...] = ()
    trends: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    phases: tuple[PhaseStatus, ...] = ()
    open_issues: tuple[Issue, ...] = ()
    recent: tuple[Run, ...] = ()

    @property
    def current_phase(self) -> PhaseStatus | None:
        return next((p for p in self.phases if not p.complete), None)


@dataclass(frozen=True, slots=True)
class Sighting:
    run_id: int
    state: str
    test_count: int


@dataclass(frozen=True, slots=True)
class TestTrend:
    """One test over the project's recent runs, newest first."""

    nodeid: str
    outcomes: tuple[str, ...]
    durations: tuple[float, ...]
    run_ids: tuple[int, ...]

    __test__ = False

    @property
    def last(self) -> str:
        return self.outcomes[0] if self.outcomes else ""

    @property
    def flip_rate(self) -> float:
        return flip_rate(list(reversed(self.outcomes)))

    @property
    def mean_duration(self) -> float:
        return fmean(self.durations) if self.durations else 0.0


@dataclass(frozen=True, slots=True)
class Version:
    """What changes when a run lands or is judged: pages reload when it does."""

    run_id: int | None
    status: str | None
    finished: datetime | None
    gate: bool | None

    @property
    def tag(self) -> str:
        finished = self.finished.isoformat() if self.finished else ""
        return f"{self.run_id}:{self.status}:{finished}:{self.gate}"


class Board:
    """Reads for one project (or the newest run's project when none is named)."""

    def __init__(self, history: History, project: str | None, plan: Plan | None = None) -> None:
        self.history = history
        self._project = project
        self.plan = plan

    @property
    def project(self) -> str:
        if self._project is not None:
            return self._project
        newest = self.history.runs(limit=1)
        return newest[0].project if newest else ""

    def version(self) -> Version:
        newest = self.history.runs(self.project, limit=1)
        if not newest:
            return Version(None, None, None, None)
        run = newest[0]
        return Version(run.id, run.status, run.finished, run.gate)

    def overview(self) -> Overview:
        project = self.project
        recent = self.history.runs(project, limit=RECENT_RUNS)
        judged = self.latest_judged(recent)
        if judged is None:
            return Overview(project, None, recent[0] if recent else None, recent=tuple(recent))
        kpis = self.history.kpi_values(judged.id)
        open_issues = self.history.open_issues(project)
        return Overview(
            project,
            judged,
            recent[0],
            kpis=tuple(kpis),
            trends=self.history.kpi_trend(project, limit_runs=TREND_RUNS),
            phases=tuple(self.phases(judged, kpis)),
            open_issues=tuple(open_issues),
            recent=tuple(recent),
        )

    def latest_judged(self, recent: Sequence[Run] = ()) -> Run | None:
        found = next((r for r in recent if r.gate is not None), None)
        if found is None:
            candidates = self.history.runs(self.project, limit=JUDGED_LOOKBACK)
            found = next((r for r in candidates if r.gate is not None), None)
        return found

    def phases(self, run: Run, kpis: Sequence[KpiVerdict]) -> list[PhaseStatus]:
        """The plan's phases judged on the stored KPIs of `run`; no test is run again."""
        plan = self.plan
        if plan is None or not plan.phases:
            return []
        issues_then = [
            i for i in self.history.issues(self.project, run_id=run.id) if i.state != "fixed"
        ]
        baseline = self.history.baseline(self.project)
        baseline_id = baseline.id if baseline is not None and baseline.id != run.id else None
        # A run whose gate passed has no regression (regressions fail the gate): skip the read.
        regressions = [] if run.gate or baseline_id is None else self.regressions(run, baseline_id)
        return evaluate(
            plan,
            run_id=run.id,
            kpis=kpis,
            issues=issues_then,
            baseline_id=baseline_id,
            regressions=regressions,
            gate=bool(run.gate),
        )

    def regressions(self, run: Run, baseline_id: int) -> list[str]:
        """Tests that passed in the baseline and fail in `run`, as the verdict counts them."""
        quarantine = self.plan.validate.quarantine if self.plan else []
        t = test_results
        with self.history._tx() as conn:
            bad = conn.execute(
                sa.select(t.c.nodeid, t.c.outcome, t.c.reruns).where(
                    t.c.run_id == run.id, t.c.outcome.in_(sorted(BAD_OUTCOMES))
                )
            ).all()
            failing = [
                r.nodeid
                for r in bad
                if classify(r.outcome, tuple(r.reruns or ())) != "flaky"
                and not is_quarantined(r.nodeid, quarantine)
            ]
            passed: set[str] = set()
            for start in range(0, len(failing), 500):
                passed.update(
                    conn.scalars(
                        sa.select(t.c.nodeid).where(
                            t.c.run_id == baseline_id,
                            t.c.nodeid.in_(failing[start : start + 500]),
                            t.c.outcome == "passed",
                        )
                    )
                )
        return sorted(n for n in failing if n in passed)

    def run_detail(self, run_id: int) -> Run:
        return self.history.get_run(run_id, project=self.project)

    def issue_history(self) -> dict[str, list[Sighting]]:
        """Each issue's sightings over the project's recent runs, newest first."""
        project = self.project
        recent = self.history.runs(project, limit=ISSUE_HISTORY_RUNS)
        if not recent:
            return {}
        oldest = recent[-1].id
        query = (
            sa.select(
                issues.c.fingerprint,
                issue_runs.c.run_id,
                issue_runs.c.state,
                issue_runs.c.test_count,
            )
            .join(issue_runs, issue_runs.c.issue_id == issues.c.id)
            .where(issues.c.project == project, issue_runs.c.run_id >= oldest)
            .order_by(issue_runs.c.run_id.desc())
        )
        found: dict[str, list[Sighting]] = {}
        with self.history._tx() as conn:
            for row in conn.execute(query):
                found.setdefault(row.fingerprint, []).append(
                    Sighting(row.run_id, row.state, row.test_count)
                )
        return found

    def test_trends(self, limit_runs: int = 20) -> list[TestTrend]:
        """Every test of the project's last runs with its outcomes and durations."""
        ids = [r.id for r in self.history.runs(self.project, limit=limit_runs)]
        if not ids:
            return []
        t = test_results
        query = (
            sa.select(t.c.nodeid, t.c.run_id, t.c.outcome, t.c.duration)
            .where(t.c.run_id.in_(ids))
            .order_by(t.c.run_id.desc())
        )
        rows: dict[str, list[tuple[int, str, float]]] = {}
        with self.history._tx() as conn:
            for nodeid, run_id, outcome, duration in conn.execute(query):
                rows.setdefault(nodeid, []).append((run_id, outcome, duration))
        return [
            TestTrend(
                nodeid,
                tuple(o for _, o, _ in seen),
                tuple(d for _, _, d in seen),
                tuple(r for r, _, _ in seen),
            )
            for nodeid, seen in rows.items()
        ]

    def status_counts(self) -> dict[tuple[str, str], int]:
        """Runs per (project, status), every project when the board names none."""
        query = sa.select(runs.c.project, runs.c.status, sa.func.count()).group_by(
            runs.c.project, runs.c.status
        )
        if self._project is not None:
            query = query.where(runs.c.project == self._project)
        with self.history._tx() as conn:
            return {(p, s): n for p, s, n in conn.execute(query)}

    def projects(self) -> list[str]:
        return [self._project] if self._project is not None else self.history.projects()


def not_found(what: str) -> UsageError:
    return UsageError(f"no {what} in the history", hint="the runs page lists what there is")
