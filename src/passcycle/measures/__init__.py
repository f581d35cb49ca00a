"""The project's own measures, taken after the tests: its technical debt (ruff's findings
with the project's ruff settings) and the KPIs whose source is a command it names. Each is
a measurement, or an audit record saying why it could not be taken."""

from __future__ import annotations

from passcycle.measures.commands import command_kpis, run_command
from passcycle.measures.debt import count_debt, wants_debt

__all__ = ["command_kpis", "count_debt", "run_command", "wants_debt"]
