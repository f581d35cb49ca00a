"""A run's audit judged: the vulnerability KPIs and one issue per finding; technical
debt's count; why a command KPI measured nothing.

Critical, for `critical_vulnerabilities`: a code finding at the plan's
`critical_severity` and `critical_confidence` or more (bandit's high and medium by
default), a package whose advisories rate it critical. A KPI that sums over the parts is
measured only when every part the plan asked for measured: a part that could not look
found nothing, and "0" would be a number passcycle did not measure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from passcycle.plan import Plan, SecuritySection
from passcycle.records import Audit, Finding, Issue, KpiVerdict, Measurement, Severity
from passcycle.validate.triage import carry_over

_LEVEL = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_PART_KPI = {"code": "code_vulnerabilities", "dependencies": "dependency_vulnerabilities"}


def is_critical(finding: Finding, rules: SecuritySection) -> bool:
    if finding.part == "dependencies":
        return finding.severity == "critical"
    return (
        _LEVEL.get(finding.severity, 0) >= _LEVEL[rules.critical_severity]
        and _LEVEL.get(finding.confidence, 0) >= _LEVEL[rules.critical_confidence]
    )


def rules_of(plan: Plan) -> SecuritySection:
    return plan.model.security or SecuritySection()


def audit_measurements(
    plan: Plan, audits: Sequence[Audit]
) -> tuple[dict[str, Measurement], dict[str, str]]:
    """The KPIs the run's audit measured (vulnerabilities, technical debt), and for each
    it could not, why; a command KPI that failed says why too."""
    values: dict[str, Measurement] = {}
    missing: dict[str, str] = {}
    for audit in audits:
        if audit.part == "debt":
            if audit.measured:
                count = float(len(audit.findings))
                values["technical_debt"] = Measurement("technical_debt", count, "", "audit:ruff")
            else:
                missing["technical_debt"] = audit.reason
        elif audit.part.startswith("kpi:"):
            missing[audit.part.removeprefix("kpi:")] = f"its command {audit.reason}"
    security = [a for a in audits if a.part in _PART_KPI]
    if security:
        found, why = _vulnerabilities(rules_of(plan), security)
        values.update(found)
        missing.update(why)
    return values, missing


def _vulnerabilities(
    rules: SecuritySection, audits: Sequence[Audit]
) -> tuple[dict[str, Measurement], dict[str, str]]:
    values: dict[str, Measurement] = {}
    missing: dict[str, str] = {}
    for audit in audits:
        name = _PART_KPI[audit.part]
        if audit.measured:
            values[name] = Measurement(name, float(len(audit.findings)), "", f"audit:{audit.tool}")
        else:
            missing[name] = f"{audit.part}: {audit.reason}"
    unmeasured = [a for a in audits if not a.measured]
    tools = "+".join(a.tool for a in audits if a.measured)
    findings = [f for a in audits for f in a.findings]
    critical = sum(1 for f in findings if is_critical(f, rules))
    for name, count in (("vulnerabilities", len(findings)), ("critical_vulnerabilities", critical)):
        values[name] = Measurement(name, float(count), "", f"audit:{tools}")
    if unmeasured:
        # what the measured parts found is only the least there is
        why = "; ".join(f"{a.part}: {a.reason}" for a in unmeasured)
        for name in ("vulnerabilities", "critical_vulnerabilities"):
            missing[name] = why
            values[name] = Measurement(name, values[name].value, "", f"audit:{tools}:least")
    return values, missing


def at_least(
    plan: Plan,
    verdicts: Sequence[KpiVerdict],
    measured: Mapping[str, Measurement],
    unmeasured: Mapping[str, str],
) -> list[KpiVerdict]:
    """A sum over parts of which one could not look is known only from below: it fails
    when that least already misses the target (1 critical finding against "== 0"), and is
    otherwise not measured."""
    judged = []
    for verdict in verdicts:
        least = measured.get(verdict.name)
        spec = plan.kpis.get(verdict.name)
        if (
            verdict.status == "not measured"
            and least is not None
            and least.source.endswith(":least")
            and spec is not None
            and spec.target is not None
            # only a ceiling can be missed from below: "== 0", "< 3", "<= 2"
            and spec.target.op in ("<", "<=", "==")
            and least.value >= spec.target.value
            and not spec.target.check(least.value)
        ):
            verdict = replace(
                verdict,
                value=least.value,
                status="fail",
                source=least.source.removesuffix(":least"),
                detail=f"at least {least.value:g}; {unmeasured.get(verdict.name, '')}",
            )
        judged.append(verdict)
    return judged


def vulnerability_issues(
    plan: Plan, audits: Sequence[Audit], previous: Mapping[str, Issue], run_id: int
) -> list[Issue]:
    """One issue per finding: a flagged line, or a vulnerable package."""
    rules = rules_of(plan)
    issues = []
    for audit in audits:
        if audit.part not in _PART_KPI:
            continue  # technical debt is a count to bring down, not an issue per finding
        for finding in audit.findings:
            issue = _issue(finding, is_critical(finding, rules))
            issues.append(carry_over(issue, previous.get(issue.fingerprint), run_id))
    return issues


def _issue(finding: Finding, critical: bool) -> Issue:
    """The issue of one finding; its message is what to do about it (fix/suggest.py)."""
    severity: Severity = "critical" if critical else _severity(finding)
    see = f"; see {finding.link}" if finding.link else ""
    if finding.part == "code":
        where = f"{finding.path}:{finding.line}"
        # the line's text, not its number, so that an edit above it keeps the issue
        key = f"vulnerability\ncode\n{finding.path}\n{finding.rule}\n{finding.code}"
        text = finding.title.rstrip(".")
        first = text.split(". ")[0]  # bandit's first sentence names the problem
        rated = f"bandit {finding.rule}, severity {finding.severity or '?'}, confidence"
        rated += f" {finding.confidence or '?'}"
        advice = (
            f"{text} ({rated}): change the code, or where it is safe, end the line with"
            f" `# nosec {finding.rule}` and say why{see}"
        )
        return Issue(
            fingerprint=_digest(key),
            title=f"{finding.rule} {first} at {where}",
            kind="vulnerability",
            severity=severity,
            root_cause=where,
            exc_type=finding.rule,
            message=advice,
            location=where,
        )
    package = f"{finding.package}=={finding.version}"
    rated = f"severity {finding.severity}" if finding.severity else "severity not given"
    if finding.fixed:
        advice = f"upgrade: pip install '{finding.package}>={finding.fixed}'"
        fixed = f"fixed in {finding.fixed}"
    else:
        advice = f"no fixed version yet: replace {finding.package} or keep it from untrusted input"
        fixed = "no fixed version yet"
    summary = finding.title.split(": ", 1)[1] if ": " in finding.title else ""
    return Issue(
        fingerprint=_digest(f"vulnerability\ndependencies\n{finding.package}"),
        title=f"{package} is vulnerable: {finding.rule} ({rated}, {fixed})",
        kind="vulnerability",
        severity=severity,
        root_cause=package,
        exc_type=finding.rule.split(", ")[0] or None,
        message=f"{summary + '; ' if summary else ''}{advice}{see}",
    )


# a finding's own severity as an issue's, when it is not critical by the plan's rules
_ISSUE_SEVERITY: dict[str, Severity] = {"critical": "high", "high": "high", "medium": "medium"}


def _severity(finding: Finding) -> Severity:
    # an advisory that rates nothing is still a known vulnerability: high, not low
    word = finding.severity or ("high" if finding.part == "dependencies" else "low")
    return _ISSUE_SEVERITY.get(word, "low")


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16]
