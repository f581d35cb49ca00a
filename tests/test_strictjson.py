"""Strict JSON: what passcycle writes reads in any JSON parser, even from a history holding
an infinite duration (as JUnit imports with time="1e400" stored before they were checked)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from passcycle.strictjson import dumps, finite

TESTS = {
    "src/calc/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\n"
    "def test_add():\n    assert add(1, 2) == 3\n\n\n"
    "def test_wrong():\n    assert add(2, 2) == 5\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "passcycle.toml": '[validate]\nreruns = 0\n[kpis]\ntest_pass_rate = ">= 50%"\n'
    'suite_duration = "< 10min"\n',
}


def strict(text: str) -> Any:
    """json.loads as JSON itself is: NaN, Infinity and -Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_strict_parser_refuses_what_python_writes_by_default() -> None:
    with pytest.raises(ValueError, match="not JSON: Infinity"):
        strict(json.dumps({"duration": math.inf}))
    assert strict(dumps({"a": [math.inf, -math.inf, math.nan, 1.5], "b": (2.0,)})) == {
        "a": [None, None, None, 1.5],
        "b": [2.0],
    }
    assert finite({"x": {"y": [math.nan]}}) == {"x": {"y": [None]}}


def test_json_of_a_real_run_reads_in_a_strict_parser(make_project, passcycle) -> None:
    root = make_project(TESTS)
    passcycle(root, "run", expect=0)  # the gate: test_pass_rate >= 50%
    shown = strict(passcycle(root, "show", "--json", "--results", expect=0).stdout)
    assert sorted(r["outcome"] for r in shown["results"]) == ["failed", "passed"]
    assert all(isinstance(r["duration"], float) for r in shown["results"])
    verdict = strict(passcycle(root, "validate", "--json", expect=0).stdout)
    assert {k["name"] for k in verdict["kpis"]} == {"test_pass_rate", "suite_duration"}
    strict(passcycle(root, "history", "--json", expect=0).stdout)


def with_infinite_durations(root: Path) -> None:
    """What a history holds after an import of time="1e400" by an earlier passcycle."""
    with sqlite3.connect(root / ".passcycle" / "history.db") as conn:
        conn.execute("UPDATE test_results SET duration = ?", (math.inf,))
        stored = {row[0] for row in conn.execute("SELECT duration FROM test_results")}
    assert stored == {math.inf}


def test_a_history_holding_infinity_still_gives_strict_json(make_project, passcycle) -> None:
    root = make_project(TESTS)
    passcycle(root, "run", expect=0)  # the gate: test_pass_rate >= 50%
    with_infinite_durations(root)
    shown = strict(passcycle(root, "show", "--json", "--results", expect=0).stdout)
    assert [r["duration"] for r in shown["results"]] == [None, None]
    # the terminal says "unknown" rather than crashing on round(inf)
    table = passcycle(root, "show", expect=0).stdout
    assert "—  tests/test_calc.py::test_add" in table
    passcycle(root, "report", "-f", "json,html", expect=0)
    report = strict((root / ".passcycle" / "report.json").read_text(encoding="utf-8"))
    assert [t["duration"] for t in report["tests"]["slowest"]] == [None, None]
    html = (root / ".passcycle" / "report.html").read_text(encoding="utf-8")
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert blocks and all(strict(block) is not None for block in blocks)
