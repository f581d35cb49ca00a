"""The board: what the dashboard shows, read from the history (never written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean

from passcycle.errors import UsageError
from passcycle.plan import Plan
from passcycle.records import Issue, KpiVerdict, PhaseStatus, Run
from passcycle.refs import resolve_run
from passcycle.store import History
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
        failing = [
            nodeid
            for nodeid, outcome, reruns in self.history.bad_results(run.id)
            if classify(outcome, reruns) != "flaky" and not is_quarantined(nodeid, quarantine)
        ]
        passed = self.history.passed_among(baseline_id, failing)
        return sorted(n for n in failing if n in passed)

    def run_detail(self, run_id: int) -> Run:
        return resolve_run(self.history, run_id, self.project)

    def issue_history(self) -> dict[str, list[Sighting]]:
        """Each issue's sightings over the project's recent runs, newest first."""
        recent = self.history.runs(self.project, limit=ISSUE_HISTORY_RUNS)
        if not recent:
            return {}
        found: dict[str, list[Sighting]] = {}
        for fingerprint, run_id, state, count in self.history.issue_sightings(
            self.project, recent[-1].id
        ):
            found.setdefault(fingerprint, []).append(Sighting(run_id, state, count))
        return found

    def test_trends(self, limit_runs: int = 20) -> list[TestTrend]:
        """Every test of the project's last runs with its outcomes and durations."""
        ids = [r.id for r in self.history.runs(self.project, limit=limit_runs)]
        if not ids:
            return []
        return [
            TestTrend(
                nodeid,
                tuple(o for _, o, _ in seen),
                tuple(d for _, _, d in seen),
                tuple(r for r, _, _ in seen),
            )
            for nodeid, seen in self.history.test_series(ids).items()
        ]

    def status_counts(self) -> dict[tuple[str, str], int]:
        """Runs per (project, status), every project when the board names none."""
        return self.history.status_counts(self._project)

    def projects(self) -> list[str]:
        return [self._project] if self._project is not None else self.history.projects()


def not_found(what: str) -> UsageError:
    return UsageError(f"no {what} in the history", hint="the runs page lists what there is")
