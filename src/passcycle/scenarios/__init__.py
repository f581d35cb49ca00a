"""Real-world scenarios: the service under test, load on Locust, sampling and probes.

The entry point is `run_scenarios` (runner.py); the plan's sections are `ServiceSection`
and `ScenarioSection` (config.py). Nothing here imports Locust: it runs in processes of
its own (load.py), from a generated locustfile (locustgen.py, harness.py).
"""

from passcycle.scenarios.config import ScenarioSection, ServiceSection, StepSection
from passcycle.scenarios.runner import ScenarioError, ScenarioOutcome, preflight, run_scenarios

__all__ = [
    "ScenarioError",
    "ScenarioOutcome",
    "ScenarioSection",
    "ServiceSection",
    "StepSection",
    "preflight",
    "run_scenarios",
]
