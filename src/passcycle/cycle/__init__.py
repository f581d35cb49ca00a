"""The cycle: Test -> Validate -> Fix -> Test -> Pass, over one plan and one history."""

from passcycle.cycle.core import Cycle, open_history
from passcycle.cycle.results import Retest, RunResult

__all__ = ["Cycle", "Retest", "RunResult", "open_history"]
