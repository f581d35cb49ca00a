"""The project's environment, audited: every package installed for the interpreter that
runs its tests (`[project] python`), against an OSV database the plan names (air-gapped
CI) or else pip-audit's advisory service. One finding per vulnerable package.

A source that cannot be reached measures nothing: the part is "not measured" with the
reason, never 0 vulnerabilities. pip-audit says "No known vulnerabilities found" even
when it could look up none of the packages, so its per-package skip reasons are read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from passcycle.plan import Plan
from passcycle.records import Audit, Finding
from passcycle.sanitize import last_line, visible
from passcycle.security import osv
from passcycle.security.tools import not_measured

# run by the project's interpreter: name and version of every installed distribution
_LIST = (
    "import importlib.metadata as m, json; print(json.dumps(sorted({(d.metadata['Name'] or '',"
    " d.version) for d in m.distributions()})))"
)
_UNREACHABLE = "cannot reach the advisory service"
_OFFLINE = '; offline, name an OSV database: [security] osv = "FOLDER" (holding PyPI/all.zip)'


def audit_dependencies(plan: Plan) -> Audit:
    security = plan.model.security
    timeout = security.timeout if security else 120.0
    started = time.monotonic()
    python = plan.project.python or sys.executable
    try:
        installed = installed_packages(python, plan.root, timeout)
    except RuntimeError as exc:
        return not_measured("dependencies", "environment", str(exc))
    if security is not None and security.osv:
        return _from_database(plan.root / security.osv, installed, started)
    if security is not None and not security.service:
        return not_measured(
            "dependencies",
            "osv",
            "no advisory source: name an OSV database ([security] osv) or allow the service",
        )
    return _from_pip_audit(installed, timeout, started)


def installed_packages(python: str, root: Path, timeout: float) -> dict[str, str]:
    """Canonical name -> version of what `python` has installed."""
    try:
        done = subprocess.run(
            [python, "-c", _LIST],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        pairs = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        raise RuntimeError(
            f"cannot list the packages of {python}: {visible(str(exc), 120, oneline=True)}"
        ) from None
    return {canonicalize_name(name): version for name, version in pairs if name}


def _from_database(path: Path, installed: dict[str, str], started: float) -> Audit:
    try:
        found = osv.advisories(installed, osv.records(osv.database_file(path)))
    except osv.DatabaseError as exc:
        return not_measured("dependencies", "osv", f"cannot read the OSV database: {exc}")
    findings = tuple(
        _package_finding(name, installed[name], listed) for name, listed in sorted(found.items())
    )
    seconds = time.monotonic() - started
    return Audit("dependencies", "osv", True, "", seconds, len(installed), findings)


def _package_finding(name: str, version: str, listed: list[osv.Advisory]) -> Finding:
    ids = sorted({a.id for a in listed})
    fixes = [a.fixed for a in listed]
    # the first version that fixes every advisory: the highest of their first fixes
    fixed = "" if "" in fixes else max(fixes, key=osv.Version)
    summary = next((a.summary for a in listed if a.summary), "")
    title = f"{name}=={version}: {summary}" if summary else f"{name}=={version}"
    return Finding(
        part="dependencies",
        rule=", ".join(ids),
        title=visible(title, 200, oneline=True),
        severity=osv.worst(a.severity for a in listed),
        package=name,
        version=version,
        fixed=fixed,
        link=f"https://osv.dev/vulnerability/{ids[0]}" if ids else "",
    )


def _from_pip_audit(installed: dict[str, str], timeout: float, started: float) -> Audit:
    with tempfile.TemporaryDirectory(prefix="passcycle-audit-") as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text(
            "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()))
        )
        command = [
            sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps",
            "--disable-pip", "--progress-spinner", "off", "-f", "json",
            "--timeout", str(max(1, int(min(timeout, 30)))),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            why = f"{_UNREACHABLE}: pip-audit had no answer in {timeout:g} s{_OFFLINE}"
            return not_measured("dependencies", "pip-audit", why)
        except OSError as exc:
            return not_measured("dependencies", "pip-audit", f"cannot start pip-audit: {exc}")
    seconds = time.monotonic() - started
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        if "No module named pip_audit" in done.stderr:
            why = "pip-audit is not installed: pip install 'passcycle[security]'"
        else:
            # requests' errors run to hundreds of characters
            error = last_line(done.stderr, "no report", 120)
            why = f"{_UNREACHABLE}: pip-audit failed (exit {done.returncode}): {error}{_OFFLINE}"
        return not_measured("dependencies", "pip-audit", why, seconds)
    listed = report.get("dependencies", []) if isinstance(report, dict) else []
    audited = [d for d in listed if "skip_reason" not in d]
    if listed and not audited:
        why = f"{_UNREACHABLE}: pip-audit could look up none of {len(listed)} packages"
        return not_measured("dependencies", "pip-audit", f"{why}{_OFFLINE}", seconds)
    findings = []
    for entry in audited:
        vulns = entry.get("vulns") or []
        if not vulns:
            continue
        advisories = [
            osv.Advisory(
                id=str(v.get("id", "")),
                aliases=tuple(v.get("aliases") or ()),
                summary=str(v.get("description", ""))[:200],
                severity="",  # pip-audit's JSON gives none
                fixed=min(v.get("fix_versions") or [""], key=lambda x: osv.Version(x or "0")),
            )
            for v in vulns
        ]
        name = canonicalize_name(str(entry.get("name", "")))
        findings.append(_package_finding(name, str(entry.get("version", "")), advisories))
    skipped = len(listed) - len(audited)
    reason = f"{skipped} packages not found by the service" if skipped else ""
    return Audit("dependencies", "pip-audit", True, reason, seconds, len(audited), tuple(findings))
