"""What `run`, `merge` and the loop's full pass return: a judged run, concluded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from passcycle.errors import (
    ExitCode,
)
from passcycle.records import (
    Audit,
    TestOutcome,
    Verdict,
)

if TYPE_CHECKING:
    from passcycle.fix.suggest import Suggestion
    from passcycle.report.scenarios import DrillSummary, ScenarioSummary


@dataclass(frozen=True, slots=True)
class RunResult:
    """A judged run and what it ended with: all that `run`, `merge` and the loop's full
    pass show; the CLI renders it and exits with its code."""

    outcome: TestOutcome
    verdict: Verdict
    suggestions: dict[str, Suggestion]
    reports: dict[str, Path]
    alerts: list[str]  # a line for each alert that could not be delivered
    scenarios: list[ScenarioSummary]
    audits: list[Audit] = field(default_factory=list)  # the run's security audit, by part
    drills: list[DrillSummary] = field(default_factory=list)  # its crash drills

    @property
    def exit_code(self) -> ExitCode:
        if self.outcome.run.status == "error":
            return ExitCode.RUN_ERROR
        return ExitCode.OK if self.verdict.gate else ExitCode.FAILED
