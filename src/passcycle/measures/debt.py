"""Technical debt: the number of ruff's findings on the plan's source, with the project's
own ruff settings (ruff finds pyproject.toml / ruff.toml from the files, as when the project
runs it). A count that falls month by month is what the plan's "Technical Debt: Monthly
reduction target" asks for: `technical_debt = "decreasing over 30d"`."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time

from passcycle.plan import Plan
from passcycle.records import Audit, Finding
from passcycle.sanitize import last_line


def wants_debt(plan: Plan) -> bool:
    spec = plan.kpis.get("technical_debt")
    return spec is not None and not spec.source


def count_debt(plan: Plan, timeout: float = 120.0) -> Audit:
    """ruff over the source: one finding per violation (path, line, rule)."""
    root = plan.root
    targets = [s for s in plan.source if (root / s).exists()]
    if importlib.util.find_spec("ruff") is not None:
        ruff = [sys.executable, "-m", "ruff"]
    elif shutil.which("ruff"):
        ruff = ["ruff"]
    else:
        return Audit("debt", "ruff", False, "ruff is not installed: pip install ruff")
    if not targets:
        return Audit("debt", "ruff", False, "the plan's source is not found: nothing to count")
    command = [*ruff, "check", "--output-format", "json", "--exit-zero", "--no-fix", *targets]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Audit("debt", "ruff", False, f"ruff did not finish within {timeout:g} s")
    except OSError as exc:
        return Audit("debt", "ruff", False, f"cannot start ruff: {exc}")
    try:
        found = json.loads(done.stdout)
    except json.JSONDecodeError:
        # exit 2: ruff refused the project's settings or its arguments
        last = last_line(done.stderr, "no report")
        return Audit("debt", "ruff", False, f"ruff failed (exit {done.returncode}): {last}")
    findings = tuple(
        Finding(
            part="debt",
            rule=str(item.get("code") or ""),
            title=str(item.get("message", ""))[:200],
            path=_relative(str(item.get("filename", "")), str(root)),
            line=int((item.get("location") or {}).get("row") or 0),
        )
        for item in found
    )
    return Audit("debt", "ruff", True, "", time.monotonic() - started, 0, findings)


def _relative(path: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path
