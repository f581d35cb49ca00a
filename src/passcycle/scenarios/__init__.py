"""Real-world scenarios: the service under test, load on Locust, sampling and probes.

The entry point is `run_scenarios` (runner.py); the plan's sections are `ServiceSection`
and `ScenarioSection` (config.py). Nothing here imports Locust: it runs in processes of
its own (load.py), from a generated locustfile (locustgen.py, harness.py).

The plan reads config.py on every command; the runner (httpx, psutil, the fault proxy) is
imported only when scenarios run, so `passcycle test` does not pay for it.
"""

from typing import TYPE_CHECKING, Any

from passcycle.scenario_sections import ScenarioSection, ServiceSection, StepSection

if TYPE_CHECKING:
    from passcycle.scenarios.runner import (
        ScenarioError,
        ScenarioOutcome,
        preflight,
        run_scenarios,
    )

_RUNNER = ("ScenarioError", "ScenarioOutcome", "preflight", "run_scenarios")

__all__ = [
    "ScenarioError",
    "ScenarioOutcome",
    "ScenarioSection",
    "ServiceSection",
    "StepSection",
    "preflight",
    "run_scenarios",
]


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from passcycle.scenarios import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
