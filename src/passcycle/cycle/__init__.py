"""The cycle: Test -> Validate -> Fix -> Test -> Pass, over one plan and one history."""

from passcycle.cycle.core import Cycle, open_history
from passcycle.cycle.results import RunResult

__all__ = ["Cycle", "RunResult", "open_history"]
