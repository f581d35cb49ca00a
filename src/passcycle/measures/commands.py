"""KPIs whose source is a command the project names (`source = "command:python x.py"`):
run in the project's folder after the tests, its output's last line is the value — a
number, or a quantity with a unit of the target grammar ("412ms", "97.5%"). A command that
fails, hangs or prints no number measures nothing, and says why."""

from __future__ import annotations

import shlex
import subprocess
import time

from passcycle.plan import Plan
from passcycle.records import Audit, Measurement
from passcycle.sanitize import last_line
from passcycle.targets import BASE_UNIT, UNITS, TargetSyntaxError, parse_quantity

COMMAND_TIMEOUT = 120.0


def command_kpis(plan: Plan) -> dict[str, str]:
    """KPI name -> command, for each KPI of the plan measured by a command."""
    return {
        name: spec.source.removeprefix("command:").strip()
        for name, spec in plan.kpis.items()
        if spec.source.startswith("command:")
    }


def run_command(plan: Plan, name: str, command: str) -> Measurement | Audit:
    """The KPI's measurement, or the audit record of why there is none."""
    part = f"kpi:{name}"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return Audit(part, "command", False, f"cannot read the command {command!r}: {exc}")
    if not argv:
        return Audit(part, "command", False, "the command is empty")
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, cwd=plan.root, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Audit(part, "command", False, f"{argv[0]} did not finish in {COMMAND_TIMEOUT:g} s")
    except OSError as exc:
        return Audit(part, "command", False, f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    seconds = time.monotonic() - started
    if done.returncode != 0:
        last = last_line(done.stderr, "no message", 160)
        return Audit(part, "command", False, f"exited {done.returncode}: {last}", seconds)
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        return Audit(part, "command", False, "printed nothing; print the value last", seconds)
    try:
        value = parse_quantity(lines[-1])
    except TargetSyntaxError:
        why = f"its last line {lines[-1][:60]!r} is not a number; print the value last"
        return Audit(part, "command", False, why, seconds)
    unit = lines[-1].lstrip("+-.0123456789eE ").strip()
    return Measurement(name, value, _base(unit), f"command:{command}"[:200])


def _base(unit: str) -> str:
    """The base unit of what the command printed: values are kept in it (targets.py)."""
    return BASE_UNIT[UNITS[unit][0]] if unit in UNITS else ""
