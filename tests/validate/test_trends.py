"""Trend targets on a history the test builds: technical debt falling, flat within its
noise, rising; the mean time between failing runs; a KPI a command measures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from passcycle.records import KpiVerdict, Run
from passcycle.store import History
from passcycle.targets import parse_target
from passcycle.validate.trends import judge_trend, mean_time_between_failures
from tests.gitkit import committed_project, git

DEBTS = {
    ".gitignore": ".passcycle/\n",
    "passcycle.toml": (
        '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[kpis]\n'
        'test_pass_rate = "== 100%"\ntechnical_debt = "decreasing over 30d"\n'
        'mtbf = "increasing over 30d"\n'
    ),
    # the project's own ruff settings are the ones that count
    "pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n',
    "pkg/__init__.py": "",
    # two findings of those rules: an unused import (F401), an unused local (F841)
    "pkg/calc.py": "import os\n\n\ndef add(a, b):\n    unused = 0\n    return a + b\n",
    "tests/test_calc.py": (
        "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    ),
}


def _history(root: Path, values: list[float], statuses: list[str] | None = None) -> None:
    """One judged full run a day for the last len(values) days, on the project's branch,
    with these technical_debt values (and these run statuses)."""
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    now = datetime.now(UTC)
    with History.open(root=root) as history:
        for number, value in enumerate(values):
            started = now - timedelta(days=len(values) - number, hours=1)
            run = history.start_run("project", "run", branch=branch, started=started)
            status = statuses[number] if statuses else "passed"
            history.finish_run(run.id, status, 0 if status == "passed" else 1, None, {})
            kpi = KpiVerdict("technical_debt", value, "", "decreasing over 30d", "pass")
            history.save_verdict(run.id, status == "passed", [], [kpi])


def _kpi(data: dict, name: str) -> dict:
    return next(k for k in data["kpis"] if k["name"] == name)


def test_falling_debt_passes(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, DEBTS)
    _history(root, [60 - 2 * i for i in range(29)])  # 60, 58, ... 4, then this run's 2
    data = passcycle(root, "run", "--json", expect=0).json()
    debt = _kpi(data, "technical_debt")
    assert (debt["value"], debt["status"]) == (2, "pass")
    assert debt["detail"].startswith("decreasing: -2 a day (95% CI -")
    assert "30 runs over 29.0 days" in debt["detail"]
    text = passcycle(root, "validate", expect=0).stdout
    assert "technical_debt: decreasing: -2 a day" in text
    # the review of the month shows the slope beside the values
    passcycle(root, "report", "--since", "30d", expect=0)
    review = (root / ".passcycle" / "review.md").read_text()
    assert "- technical\\_debt: decreasing: -2 a day" in review
    assert "decreasing: -2 a day" in (root / ".passcycle" / "review.html").read_text()


def test_flat_noisy_debt_is_neither_met_nor_missed(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, DEBTS)
    noise = random.Random(7)
    _history(root, [2 + noise.choice([-2, -1, 0, 1, 2]) for _ in range(29)])
    data = passcycle(root, "run", "--json", expect=0).json()
    debt = _kpi(data, "technical_debt")
    assert debt["status"] == "flat" and debt["value"] == 2
    assert debt["detail"].startswith("flat: ") and "no steeper than the noise" in debt["detail"]
    # flat is not a failure of the gate, nor a pass of a phase's "all kpis"
    assert data["gate"]["passed"] is True


def test_rising_debt_fails(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, DEBTS)
    _history(root, [i / 14 for i in range(29)])  # 0 ... 2, then this run's 2 and more
    root.joinpath("pkg/more.py").write_text("import sys\nimport json\n")
    data = passcycle(root, "run", "--json", expect=1).json()
    debt = _kpi(data, "technical_debt")
    assert (debt["value"], debt["status"]) == (4, "fail")
    assert debt["detail"].startswith("increasing: +")
    assert "technical_debt misses its target decreasing over 30d" in data["gate"]["reasons"]


def test_with_too_little_history_a_trend_is_not_judged(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, DEBTS)
    data = passcycle(root, "run", "--json", expect=0).json()
    debt = _kpi(data, "technical_debt")
    assert (debt["value"], debt["status"]) == (2, "not measured")
    assert debt["detail"] == "n=1: a trend needs 3 runs or more in the last 30 days"
    mtbf = _kpi(data, "mtbf")
    assert mtbf["status"] == "not measured"
    assert mtbf["detail"] == "0 failing runs have no interval to measure yet"


def test_mean_time_between_failures_from_the_history(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, DEBTS)
    # failing runs 4, 3 and 2 days ago (among passing ones): 1 day apart on average, and
    # this run fails too, a day after the last
    statuses = ["passed", "failed", "failed", "failed", "passed"]
    _history(root, [60, 50, 40, 30, 20], statuses)
    root.joinpath("tests/test_calc.py").write_text(
        "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 6\n"
    )
    data = passcycle(root, "run", "--json", expect=1).json()
    mtbf = _kpi(data, "mtbf")
    # 3 gaps: 1 day, 1 day, and from 2 days ago (minus an hour) to now
    assert mtbf["unit"] == "s"
    assert mtbf["value"] == pytest.approx((86400 + 86400 + 2 * 86400 + 3600) / 3, rel=0.01)


def test_judge_trend_on_series() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    target = parse_target("increasing over 30d")
    rising = [(start + timedelta(days=d), 10.0 + d) for d in range(10)]
    assert judge_trend(rising, target, "").status == "pass"
    falling = [(start + timedelta(days=d), 10.0 - d) for d in range(10)]
    judged = judge_trend(falling, target, "")
    assert judged.status == "fail" and judged.slope == pytest.approx(-1.0)
    assert judged.high is not None and judged.high < 0
    still = [(start + timedelta(days=d), 5.0) for d in range(10)]
    assert judge_trend(still, target, "").status == "flat"
    assert judge_trend(rising[:2], target, "").status == "not measured"


def test_mtbf_needs_two_failures() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def run(day: int, status: str) -> Run:
        return Run(day, "p", "run", status, start + timedelta(days=day))  # type: ignore[arg-type]

    assert mean_time_between_failures([run(0, "failed"), run(1, "passed")])[0] is None
    value, _ = mean_time_between_failures([run(0, "failed"), run(2, "error"), run(6, "failed")])
    assert value == 3 * 86400


@pytest.mark.parametrize(
    ("printed", "value", "status", "detail"),
    [
        ("7 things\n42\n", 42.0, "pass", ""),
        ("97.5%\n", 97.5, "pass", ""),
        ("no number here\n", None, "not measured", "is not a number"),
    ],
)
def test_a_kpi_from_a_command(
    tmp_path: Path, passcycle, printed: str, value: float | None, status: str, detail: str
) -> None:
    files = {
        **DEBTS,
        "passcycle.toml": (
            '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[kpis]\n'
            'adaptation = { source = "command:python scripts/measure.py", target = "> 10" }\n'
        ),
        "scripts/measure.py": f"print({printed!r}, end='')\n",
    }
    root = tmp_path / "project"
    committed_project(root, files)
    data = passcycle(root, "run", "--json").json()
    kpi = _kpi(data, "adaptation")
    assert (kpi["value"], kpi["status"]) == (value, status)
    assert detail in kpi["detail"]


def test_a_command_that_fails_says_why(tmp_path: Path, passcycle) -> None:
    files = {
        **DEBTS,
        "passcycle.toml": (
            '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[kpis]\n'
            "adaptation = { source = \"command:python -c 'import sys; sys.exit(3)'\","
            ' target = "> 10" }\n'
        ),
    }
    root = tmp_path / "project"
    committed_project(root, files)
    data = passcycle(root, "run", "--json", expect=0).json()
    kpi = _kpi(data, "adaptation")
    assert kpi["status"] == "not measured"
    assert kpi["detail"] == "its command exited 3: no message"
