"""The plan's scenarios and drills against its running service, kept with the run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from passcycle.errors import (
    ExitCode,
    PasscycleError,
)
from passcycle.records import (
    Run,
)

if TYPE_CHECKING:
    from passcycle.report.scenarios import ScenarioSummary
    from passcycle.scenario_sections import DrillSection, ScenarioSection

from passcycle.cycle.constants import ProgressHook
from passcycle.cycle.testphase import TestPhase


def _default_service() -> Any:
    from passcycle.scenarios import ServiceSection

    return ServiceSection()


class Operations(TestPhase):
    """Cycle's operations (cycle/core.py)."""

    def run_scenarios(
        self,
        run: Run,
        *,
        workers: int | None = None,
        on_progress: ProgressHook | None = None,
        on_stage: Callable[[str], None] | None = None,
        only: Sequence[str] = (),
    ) -> list[str]:
        """Start the service, run every scenario, keep what was measured with the run; a
        scenario that fails leaves its partial measurements and an `error` run. `workers`:
        Locust workers for every scenario; None: the plan's, else chosen per scenario."""
        from passcycle.scenarios import ScenarioError, run_scenarios
        from passcycle.scenarios.drills import run_drills

        model = self.plan.model
        artifacts = self._artifacts(run.id)
        # `only`: the scenarios a `run --scenario` names, and no drill
        scenarios = [s for s in model.scenarios if s.name in only] if only else model.scenarios
        drills = [] if only else model.drills
        chosen = self._generator_workers(scenarios, workers, on_stage)
        try:
            found = run_scenarios(
                model.service,
                scenarios,
                self.plan.root,
                artifacts,
                workers=chosen,
                on_progress=on_progress,
                upstreams=model.upstreams,
            )
            if drills:
                if on_stage is not None:
                    for drill in drills:
                        on_stage(_drill_stage(drill))
                drilled = run_drills(
                    model.service or _default_service(),
                    drills,
                    self.plan.root,
                    artifacts / "drills",
                    upstreams=model.upstreams,
                )
                found.measurements.extend(drilled.measurements)
                found.notes.extend(drilled.notes)
        except ScenarioError as exc:
            self.history.add_measurements(run.id, exc.outcome.measurements)
            self.history.add_timelines(run.id, exc.outcome.timelines)
            self.history.finish_run(run.id, "error", exc.exit_code, exc.message)
            raise
        except PasscycleError as exc:
            self.history.finish_run(run.id, "error", exc.exit_code, exc.message)
            raise
        except KeyboardInterrupt:
            self.history.finish_run(
                run.id, "interrupted", ExitCode.INTERRUPTED, "stopped by Ctrl-C"
            )
            raise
        self.history.add_measurements(run.id, found.measurements)
        self.history.add_timelines(run.id, found.timelines)
        return list(found.notes)

    def _generator_workers(
        self,
        scenarios: Sequence[ScenarioSection],
        workers: int | None,
        on_stage: Callable[[str], None] | None,
    ) -> dict[str, int]:
        """Locust workers per scenario. Sources, later wins: 1) chosen from what the
        history measured of each scenario's generator (scenarios/generator.py) 2) the
        plan's [load] workers 3) --workers N. A changed choice is said, one line each."""
        from passcycle.scenarios.generator import LastGenerator, choose_workers, generator_cores

        load = self.plan.model.load
        fixed = load.workers if workers is None else workers
        if fixed != "auto":
            return {s.name: int(fixed) for s in scenarios}
        names = (
            "generator_cpu",
            "generator_demand",
            "generator_wait",
            "generator_bound",
            "generator_processes",
        )
        seen = self.history.last_measured(
            self.plan.name, [f"scenario:{s.name}" for s in scenarios], names
        )
        cores = generator_cores(load.cores)
        chosen: dict[str, int] = {}
        for scenario in scenarios:
            last = seen.get(f"scenario:{scenario.name}")
            before = None
            if last is not None:
                demand = max(last.get("generator_demand", 0.0), last.get("generator_cpu", 0.0))
                processes = int(last.get("generator_processes", 1))
                bound, waiting = bool(last.get("generator_bound")), last.get("generator_wait", 0.0)
                before = LastGenerator(demand, processes, bound, waiting / 100.0)
            choice = choose_workers(scenario.name, before, cores)
            if choice.note and on_stage is not None:
                on_stage(choice.note)
            chosen[scenario.name] = choice.workers
        return chosen

    def scenarios(self, run: Run) -> list[ScenarioSummary]:
        """The run's scenarios as the reports show them, faults included."""
        from passcycle.report.scenarios import summarize

        return summarize(self.history.measurements(run.id))

    def _refused(self, kind: str, exc: PasscycleError) -> None:
        """A run refused before it started is still recorded, with the reason."""
        run = self._start_run(kind)
        self.history.finish_run(run.id, "error", exc.exit_code, exc.message, counts={})


def _drill_stage(drill: DrillSection) -> str:
    """What a drill is about to do, for the progress line."""
    records = f"write {drill.records} records, " if drill.records else ""
    back = ", read them back" if drill.records and drill.after else ""
    return (
        f"drill {drill.name!r}: {records}crash the service ({drill.signal}),"
        f" time its recovery{back}"
    )
