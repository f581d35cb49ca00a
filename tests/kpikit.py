"""A committed project whose one custom KPI, `latency`, is the number a file holds: a KPI
history written run by run, as real `passcycle run`s record it."""

from __future__ import annotations

from pathlib import Path

from gitkit import committed_project

FILES = {
    "pkg/__init__.py": "def one():\n    return 1\n",
    "tests/test_one.py": "from pkg import one\n\n\ndef test_one():\n    assert one() == 1\n",
    "value.py": "print(open('v').read())\n",
}
PLAN = '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[kpis]\n'
LATENCY = 'latency = { source = "command:python value.py", target = "< 1000" }\n'


def kpi_project(root: Path, value: float = 100, kpis: str = LATENCY) -> Path:
    """The project at `root` with `latency` at `value`; `kpis`: the plan's [kpis] lines."""
    committed_project(root, {**FILES, "passcycle.toml": PLAN + kpis, "v": f"{value}"})
    return root


def set_latency(root: Path, value: float) -> None:
    (root / "v").write_text(f"{value:.2f}")
