"""The project's own code, audited by bandit: one finding per flagged line.

bandit runs as a program (`python -m bandit -f json`), the way its users run it: its JSON
report is its stable interface, and its crashes stay out of passcycle's process. It reads
`# nosec` itself; the project's configuration is given to it as bandit would be told:
`[security] bandit_config`, else pyproject.toml when it has a [tool.bandit] table, else a
`.bandit` file at the root (bandit's INI of arguments).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from passcycle.plan import Plan
from passcycle.records import Audit, Finding
from passcycle.sanitize import last_line
from passcycle.security.tools import not_measured


def audit_code(plan: Plan) -> Audit:
    """bandit over the plan's source folders."""
    root = plan.root
    targets = [s for s in plan.source if (root / s).exists()]
    if not targets:
        return not_measured("code", "bandit", "the plan's source is not found: nothing to scan")
    security = plan.model.security
    timeout = security.timeout if security else 120.0
    command = [sys.executable, "-m", "bandit", "-r", *targets, "-f", "json", "-q"]
    command += _config_arguments(plan)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return not_measured("code", "bandit", f"bandit did not finish within {timeout:g} s")
    except OSError as exc:
        return not_measured("code", "bandit", f"cannot start bandit: {exc}")
    seconds = time.monotonic() - started
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        # exit 2 with no report: bandit refused its arguments or its configuration
        why = last_line(done.stderr, "no report")
        return not_measured("code", "bandit", f"bandit failed (exit {done.returncode}): {why}")
    findings = tuple(_finding(item, root) for item in report.get("results", []))
    errors = report.get("errors") or []
    reason = ""
    if errors:
        # a file bandit could not parse was not scanned: say so, the rest still counts
        first = errors[0]
        reason = f"bandit could not scan {len(errors)} files, e.g. {first.get('filename')}"
    files = len([k for k in report.get("metrics", {}) if k != "_totals"])
    return Audit("code", "bandit", True, reason, seconds, files, findings)


def _config_arguments(plan: Plan) -> list[str]:
    root = plan.root
    security = plan.model.security
    named = security.bandit_config if security else ""
    if named:
        return ["-c", str(root / named)]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            tables = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            tables = {}
        if "bandit" in tables.get("tool", {}):
            return ["-c", str(pyproject)]
    ini = root / ".bandit"
    return ["--ini", str(ini)] if ini.is_file() else []


def _finding(item: dict, root: Path) -> Finding:
    path = Path(str(item.get("filename", "")))
    try:
        relative = (root / path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = path.as_posix()
    line = int(item.get("line_number") or 0)
    return Finding(
        part="code",
        rule=str(item.get("test_id", "")),
        title=str(item.get("issue_text", "")).strip(),
        severity=str(item.get("issue_severity", "")).lower(),
        confidence=str(item.get("issue_confidence", "")).lower(),
        path=relative,
        line=line,
        code=_line(item.get("code") or "", line),
        link=str(item.get("more_info", "")),
    )


def _line(snippet: str, line: int) -> str:
    """The flagged line's text from bandit's numbered snippet ("6     subprocess.call(…)")."""
    for row in snippet.splitlines():
        number, _, text = row.partition(" ")
        if number == str(line):
            return text.strip()[:200]
    return ""
