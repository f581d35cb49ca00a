"""What every judged run ends with: suggestions, alerts, reports; and the reviews."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from passcycle.records import (
    Run,
    TestOutcome,
    Verdict,
)

if TYPE_CHECKING:
    from passcycle.fix.suggest import Suggestion

from passcycle.cycle.constants import REPORT_FORMATS
from passcycle.cycle.operations import Operations
from passcycle.cycle.results import RunResult


class Concluding(Operations):
    """Cycle's concluding (cycle/core.py)."""

    def conclude(
        self, outcome: TestOutcome, verdict: Verdict, formats: Sequence[str] = REPORT_FORMATS
    ) -> RunResult:
        """What every judged run ends with, whichever command ran it (`run`, `merge`, the
        loop's full pass): suggestions, the plan's alerts, the reports, its scenarios."""
        suggestions = self.suggestions(verdict)
        alerts = self.alert(verdict)
        reports = self.write_reports(verdict.run, formats, suggestions, verdict=verdict)
        from passcycle.report.scenarios import summarize, summarize_drills

        measured = self.history.measurements(verdict.run.id)
        audits = self.history.audits(verdict.run.id)
        return RunResult(
            outcome, verdict, suggestions, reports, alerts, summarize(measured), audits,
            summarize_drills(measured),
        )  # fmt: skip

    def suggestions(self, verdict: Verdict) -> dict[str, Suggestion]:
        """For each top issue: where it fails, what changed since it passed, what to do."""
        from passcycle.fix.advice import suggestions

        return suggestions(self.plan, self.history, verdict)

    def alert(self, verdict: Verdict) -> list[str]:
        """Post the plan's webhooks about a breach, a regression or a new critical issue;
        bounded in time, so a slow receiver never holds the run. Lines for failed posts."""
        alerts = self.plan.model.alerts
        if not alerts.webhooks:
            return []
        from passcycle.serve.alerts import send_alerts

        previous = [
            r
            for r in self.history.runs(project=self.plan.name, limit=10)
            if r.id < verdict.run.id and r.gate is not None
        ]
        outcome = send_alerts(alerts, verdict, previous[0].gate if previous else None)
        return list(outcome.lines())

    def write_reports(
        self,
        run: Run,
        formats: Sequence[str],
        suggestions: dict[str, Suggestion] | None,
        out_dir: Path | None = None,
        verdict: Verdict | None = None,
    ) -> dict[str, Path]:
        """The run's reports; with Markdown and $GITHUB_STEP_SUMMARY set, the summary too.
        `verdict`: the run's, just judged (its issues are grouped by the bugs behind them,
        which judging again from the records alone would not know); by default the stored
        one, and its suggestions when none are given."""
        from passcycle.report import write_reports
        from passcycle.validate.verdict import stored_verdict

        if verdict is None:
            verdict = stored_verdict(self.plan, self.history, run)
            if suggestions is None:
                suggestions = self.suggestions(verdict)

        tips = {
            fp: "\n".join(x for x in (t.location and f"at {t.location}", t.next_step) if x)
            for fp, t in (suggestions or {}).items()
        }
        suspects = {fp: t.suspects for fp, t in (suggestions or {}).items() if t.suspects}
        written = write_reports(
            self.plan,
            self.history,
            run,
            out_dir,
            formats,
            suggestions=tips,
            suspects=suspects,
            verdict=verdict,
        )
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and "md" in written:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(written["md"].read_text(encoding="utf-8") + "\n")
        return written

    def write_review(
        self, *, phase: int | None, since: str | None, out_dir: Path | None = None
    ) -> dict[str, Path]:
        """The phase completion report (`phase`) or the review of a period (`since`)."""
        from passcycle.report import write_review

        return write_review(self.plan, self.history, phase=phase, since=since, out_dir=out_dir)
