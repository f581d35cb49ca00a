"""What every part of the cycle stands on: the plan, the history, judging a run, and
ending a run's work whatever stops it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from passcycle.errors import ExitCode, PasscycleError, UsageError
from passcycle.plan import Plan
from passcycle.records import Verdict
from passcycle.refs import resolve_run
from passcycle.store import History


class CycleBase:
    """The plan and the history the cycle's parts share (cycle/core.py puts them together)."""

    def __init__(self, plan: Plan, history: History) -> None:
        self.plan = plan
        self.history = history
        self.history.reap()

    def validate(self, ref: str | int = "latest") -> Verdict:
        """Judge a recorded run: KPIs, issues, flaky tests, regressions, phases, gate."""
        from passcycle.fix.locating import run_culprits
        from passcycle.validate.verdict import judge_run

        run = resolve_run(self.history, ref, self.plan.name)
        if run.status in ("running",):
            raise UsageError(f"run {run.id} is still running", hint="wait for it, or pick another")
        culprits = run_culprits(self.plan, self.history, run)
        return judge_run(self.plan, self.history, run, culprits=culprits)

    def keep_brief(self) -> None:
        """Close the history and keep what the next re-test decides from (fix/brief.py):
        the last thing a command that wrote the history does."""
        from passcycle.fix.brief import keep_brief

        keep_brief(self.plan, self.history)

    @contextmanager
    def _until_finished(self, run_id: int) -> Iterator[None]:
        """Whatever stops the work of a run still `running` ends it `error` or `interrupted`
        with the reason: never left `running`, never `passed` (#9)."""
        try:
            yield
        except BaseException as exc:
            if self.history.run(run_id).status == "running":
                self._abort(run_id, exc)
            raise

    def _abort(self, run_id: int, exc: BaseException) -> None:
        """Close a run that an exception cut short, saying why."""
        if isinstance(exc, KeyboardInterrupt):
            self.history.finish_run(
                run_id, "interrupted", ExitCode.INTERRUPTED, "stopped by Ctrl-C"
            )
        elif isinstance(exc, PasscycleError):
            self.history.finish_run(run_id, "error", exc.exit_code, exc.message)
        else:
            self.history.finish_run(
                run_id, "error", ExitCode.RUN_ERROR, f"passcycle failed: {exc!r}"
            )
