"""The Test phase's security audit: the project's code (bandit) and its installed packages
(an OSV database or pip-audit), each part a record of what it found or why it could not
look. Judging them (validate/security.py) turns findings into issues and KPIs."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

from passcycle.plan import Plan
from passcycle.records import Audit
from passcycle.security.tools import not_measured

# the KPIs the audit measures: a plan that judges one of them is audited on every run
AUDIT_KPIS = frozenset(
    {"critical_vulnerabilities", "vulnerabilities", "code_vulnerabilities",
     "dependency_vulnerabilities"}
)  # fmt: skip


def wanted(plan: Plan) -> bool:
    """A plan is audited when it has a [security] table or judges a KPI the audit measures
    (one of its own source, `command:…`, is the project's business)."""
    if plan.model.security is not None:
        return True
    return any(name in AUDIT_KPIS and not spec.source for name, spec in plan.kpis.items())


def audit(plan: Plan) -> list[Audit]:
    """Both parts the plan asks for, side by side: each is a program waiting on files or on
    the network, so together they take as long as the longer one."""
    security = plan.model.security
    jobs = []
    if security is None or security.code:
        jobs.append(_code)
    if security is None or security.dependencies:
        jobs.append(_dependencies)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: job(plan), jobs))


def _code(plan: Plan) -> Audit:
    if importlib.util.find_spec("bandit") is None:
        return not_measured(
            "code", "bandit", "bandit is not installed: pip install 'passcycle[security]'"
        )
    from passcycle.security.code import audit_code

    return audit_code(plan)


def _dependencies(plan: Plan) -> Audit:
    from passcycle.security.dependencies import audit_dependencies

    return audit_dependencies(plan)
