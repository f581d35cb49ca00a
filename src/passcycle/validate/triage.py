"""Triage: failed tests grouped into issues, each with a kind, a severity, a state and a rank.

One issue per fingerprint (see fingerprint.py). Its root cause is the deepest project frame
that every failure of the group passes through, preferring code outside the test files.
Failures raised in the tests' own code (a wrong value asserted) name no such frame: there the
per-test map's culprit decides (validate/localize.py `culprits`), and two or more tests whose
culprits lie in one function are one issue titled by it, whatever their assertions say. A
failure raised in project code joins them when its culprit is a line changed since it
passed: one change that makes some tests assert a wrong value and others raise on it is one
issue, `broken by the change at src/x.py:33 in f: BadPayload, AssertionError — 5 tests`.

Kind, first rule that applies:

1. flaky       every test of the group passed on an isolated re-run
2. regression  a test of the group passed in the baseline
3. error       setup/teardown/collection errors, import errors, crashes and timeouts
4. failure     an assertion or exception in the test call

Severity (`SeverityRules`; thresholds are the plan's [validate] keys), first rule that applies:

1. low       every test of the group is quarantined
2. critical  the interpreter crashed or timed out, a file failed to collect, an import failed
3. low       flaky
4. critical  the issue hits >= `critical_share` of the tests that ran (10%), and at least
             `critical_min_tests` of them (5)
5. high      a regression, or >= `high_min_tests` tests (3), or an error
6. medium    anything else: one or two failing tests

A crash stays critical even when it does not happen every time. docs/severity.md says the
same for users.

State across runs, given the previously stored issues by fingerprint: new (never seen),
recurring (open in the history and seen again), reopened (fixed in the history and seen
again), fixed (open in the history, not seen now although its tests ran).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from passcycle.records import (
    BAD_OUTCOMES,
    SEVERITIES,
    Frame,
    Issue,
    IssueKind,
    KpiVerdict,
    Severity,
    TestResult,
    sighting,
)
from passcycle.targets import format_value
from passcycle.validate.fingerprint import (
    defining_file,
    fingerprint,
    first_line,
    in_test_code,
    key_frame,
    normalise_message,
    same_file,
)
from passcycle.validate.flaky import classify, is_quarantined
from passcycle.validate.localize import Suspect

TITLE_MESSAGE = 100  # characters of the normalised message in a title
MESSAGE_LIMIT = 2000  # characters of the raw message kept on the issue

# kinds that triage opens and closes; the KPI engine owns the others (breach, slow, ...)
TRIAGE_KINDS: frozenset[str] = frozenset({"failure", "error", "regression", "flaky"})

CRASH_TYPES: frozenset[str] = frozenset({"Crash", "Timeout", "Segfault", "SegmentationFault"})
# what faulthandler and pytest-timeout print when the interpreter died or hung
CRASH_MARKERS: tuple[str, ...] = ("Fatal Python error", "Segmentation fault", "Timeout >")
IMPORT_TYPES: frozenset[str] = frozenset(
    {"ImportError", "ModuleNotFoundError", "SyntaxError", "IndentationError", "CollectionError"}
)
ERROR_PHASES: frozenset[str] = frozenset({"setup", "teardown", "collect"})


@dataclass(frozen=True, slots=True)
class SeverityRules:
    """The thresholds of the severity rules in the module docstring."""

    critical_share: float = 0.10  # of the tests that ran
    critical_min_tests: int = 5
    high_min_tests: int = 3
    crash_types: frozenset[str] = CRASH_TYPES
    crash_markers: tuple[str, ...] = CRASH_MARKERS
    import_types: frozenset[str] = IMPORT_TYPES


def is_crash(result: TestResult, rules: SeverityRules) -> bool:
    """The interpreter died or hung: a segfault, a fatal error, a per-test timeout."""
    if result.exc_type in rules.crash_types:
        return True
    message = first_line(result.message)
    return any(marker in message for marker in rules.crash_markers)


def is_collection_error(result: TestResult, rules: SeverityRules) -> bool:
    """A test file that could not be collected, or a module that could not be imported."""
    # a result without "::" is a whole file: pytest reports collection errors that way
    return (
        result.when == "collect"
        or "::" not in result.nodeid
        or (result.exc_type or "").rsplit(".", 1)[-1] in rules.import_types
    )


def is_error(result: TestResult, rules: SeverityRules) -> bool:
    """Not a failing check but a test that could not run: kind "error"."""
    return (
        result.outcome == "error"
        or result.when in ERROR_PHASES
        or is_crash(result, rules)
        or is_collection_error(result, rules)
    )


def carry_over(issue: Issue, previous: Issue | None, run_id: int) -> Issue:
    """The issue as seen in run `run_id`, continuing the history of `previous`."""
    same_run = previous is not None and previous.last_seen == run_id
    seen = sighting(previous, run_id, same_run=same_run)
    return replace(
        issue,
        state=seen.state,
        first_seen=seen.first_seen,
        last_seen=seen.last_seen,
        occurrences=seen.occurrences,
        reopened=seen.reopened,
    )


def _shared_frame(group: Sequence[TestResult]) -> Frame | None:
    """The deepest project frame that every result of the group passes through (by path
    and function: lines may differ), outside the group's test files when there is one."""
    common = {(f.path, f.function) for f in group[0].frames if f.in_project}
    for result in group[1:]:
        common &= {(f.path, f.function) for f in result.frames if f.in_project}
        if not common:
            return None
    candidates = [f for f in group[0].frames if f.in_project and (f.path, f.function) in common]
    if not candidates:
        return None
    test_files = {defining_file(result) for result in group}
    outside = [f for f in candidates if not any(same_file(f.path, t) for t in test_files)]
    return (outside or candidates)[-1]


def _deepest_frame(result: TestResult) -> Frame | None:
    project = [f for f in result.frames if f.in_project]
    return project[-1] if project else None


def _title(exc_type: str, where: str, message: str, tests: int) -> str:
    text = message if len(message) <= TITLE_MESSAGE else message[: TITLE_MESSAGE - 1] + "…"
    title = f"{exc_type} in {where}" if where else exc_type
    if text:
        title += f": {text}"
    if tests > 1:
        title += f" — {tests} tests"
    return title


def _severity(
    group: Sequence[TestResult],
    *,
    kind: IssueKind,
    quarantined: bool,
    regression: bool,
    ran: int,
    rules: SeverityRules,
) -> Severity:
    if quarantined:
        return "low"
    if any(is_crash(r, rules) or is_collection_error(r, rules) for r in group):
        return "critical"
    if kind == "flaky":
        return "low"
    hit = len({r.nodeid for r in group})
    if hit >= rules.critical_min_tests and hit >= math.ceil(rules.critical_share * ran):
        return "critical"
    if regression or hit >= rules.high_min_tests or kind == "error":
        return "high"
    return "medium"


def _issue(
    fp: str,
    group: Sequence[TestResult],
    *,
    ran: int,
    rules: SeverityRules,
    baseline_passed: Collection[str],
    quarantine: Sequence[str],
    culprit: Suspect | None = None,
    tests_folders: Sequence[str] = (),
) -> Issue:
    first = group[0]
    tests = tuple(dict.fromkeys(r.nodeid for r in group))
    flaky = all(classify(r.outcome, r.reruns) == "flaky" for r in group)
    regression = any(nodeid in baseline_passed for nodeid in tests)
    kind: IssueKind
    if flaky:
        kind = "flaky"
    elif regression:
        kind = "regression"
    elif any(is_error(r, rules) for r in group):
        kind = "error"
    else:
        kind = "failure"
    quarantined = bool(quarantine) and all(is_quarantined(t, quarantine) for t in tests)
    severity = _severity(
        group,
        kind=kind,
        quarantined=quarantined,
        regression=regression and not flaky,
        ran=ran,
        rules=rules,
    )

    if culprit is not None:
        return _culprit_issue(
            fp, group, tests, culprit, kind=kind, severity=severity, tests_folders=tests_folders
        )
    root = _shared_frame(group)
    if root is None and len(group) == 1:
        root = _deepest_frame(first)
    where_frame = root or key_frame(first)
    if where_frame is not None:
        where = f"{where_frame.path}:{where_frame.function}"
    elif len({defining_file(r) for r in group}) == 1:
        where = defining_file(first)
    else:
        where = ""
    exc_type = first.exc_type or ("Error" if first.outcome == "error" else "Failure")
    message = normalise_message(first_line(first.message))
    location_frame = root or _deepest_frame(first)
    return Issue(
        fingerprint=fp,
        title=_title(exc_type, where, message, len(tests)),
        kind=kind,
        severity=severity,
        root_cause=f"{root.path}:{root.line} in {root.function}" if root else None,
        tests=tests,
        exc_type=first.exc_type,
        message=first.message[:MESSAGE_LIMIT] if first.message else None,
        location=f"{location_frame.path}:{location_frame.line}" if location_frame else None,
    )


def culprit_fingerprint(culprit: Suspect) -> str:
    """The fingerprint of failures one culprit explains: its function (or line outside
    any), whatever the tests' own code raised (an AssertionError, or a TypeError on the
    wrong value) and whatever the assertions' texts say."""
    where = f"{culprit.path}:{culprit.function or culprit.line}"
    text = "\n".join(("culprit", where))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _culprit_issue(
    fp: str,
    group: Sequence[TestResult],
    tests: tuple[str, ...],
    culprit: Suspect,
    *,
    kind: IssueKind,
    severity: Severity,
    tests_folders: Sequence[str] = (),
) -> Issue:
    """One bug behind failures: tests that failed in their own assertions (a wrong value),
    or on what a line changed since they passed made the code do."""
    first = group[0]
    where = f"{culprit.path}:{culprit.line}"
    named = where + (f" in {culprit.function}" if culprit.function else "")
    if all(in_test_code(r, tests_folders) for r in group):
        title = f"wrong value from {named}"
        if culprit.changed:
            title += " (changed since it passed)"
    else:
        raised = ", ".join(dict.fromkeys(r.exc_type or r.outcome for r in group))
        title = f"broken by the change at {named}: {raised}"
    if len(tests) > 1:
        title += f" — {len(tests)} tests"
    return Issue(
        fingerprint=fp,
        title=title,
        kind=kind,
        severity=severity,
        root_cause=culprit.where,
        tests=tests,
        exc_type=first.exc_type,
        message=first.message[:MESSAGE_LIMIT] if first.message else None,
        location=where,
    )


def _ran(result: TestResult) -> bool:
    return result.outcome != "skipped"


def fixed_issues(
    previous: Mapping[str, Issue],
    results: Iterable[TestResult],
    *,
    seen: Collection[str] | None = None,
    partial: bool = False,
) -> list[Issue]:
    """Open issues of `previous` (failure, error, regression, flaky) that this run no
    longer shows, returned with state "fixed" and `last_seen` unchanged.

    `seen` is the set of fingerprints of this run (computed from `results` when omitted).
    In a `partial` run (a re-test or one shard) an issue is fixed only if one of its tests
    ran (not skipped): an issue whose tests were not selected says nothing.
    """
    results = list(results)
    if seen is None:
        seen = {fp for r in results if (fp := r.fingerprint or fingerprint(r)) is not None}
    ran = {r.nodeid for r in results if _ran(r)}
    fixed = []
    for fp, issue in previous.items():
        if issue.state == "fixed" or issue.kind not in TRIAGE_KINDS or fp in seen:
            continue
        if partial and not any(t in ran for t in issue.tests):
            continue
        fixed.append(replace(issue, state="fixed"))
    return fixed


def triage(
    results: list[TestResult],
    *,
    previous: Mapping[str, Issue] | None,
    run_id: int,
    rules: SeverityRules | None = None,
    baseline_passed: Collection[str] = frozenset(),
    quarantine: Sequence[str] = (),
    partial: bool = False,
    suite_size: int | None = None,
    culprits: Mapping[str, Suspect] | None = None,
    tests_folders: Sequence[str] = (),
) -> list[Issue]:
    """The issues of a run: open ones ranked (see `rank`), then those fixed by this run.

    `previous`: stored issues by fingerprint. `baseline_passed`: node ids that passed in the
    baseline run (their failures are regressions). `quarantine`: node id patterns.
    `partial`: the run ran a selection (see `fixed_issues`). `suite_size`: the number of
    tests the share in the critical rule is taken of; default, the tests that ran here.
    `culprits`: node id -> the line the per-test map blames for a failure raised in test
    code, or for one raised in project code on a line changed since it passed
    (fix/locating.py `run_culprits`). `tests_folders`: the plan's test folders, where a
    failure is a wrong value asserted (fingerprint.py `in_test_code`).
    """
    rules = rules or SeverityRules()
    previous = previous or {}
    found: dict[str, Suspect] = {}  # fingerprint -> the culprit its failures share
    blamed: dict[str, list[tuple[str, Suspect, TestResult]]] = {}  # by culprit
    if not isinstance(baseline_passed, set | frozenset | dict):
        baseline_passed = frozenset(baseline_passed)
    groups: dict[str, list[TestResult]] = {}
    ran = 0
    for result in results:
        if _ran(result):
            ran += 1
        if result.outcome not in BAD_OUTCOMES:
            continue
        fp = result.fingerprint or fingerprint(result)
        assert fp is not None  # a bad outcome always has one
        culprit = (culprits or {}).get(result.nodeid)
        if culprit is not None and not is_error(result, rules):
            blamed.setdefault(culprit_fingerprint(culprit), []).append((fp, culprit, result))
            continue
        groups.setdefault(fp, []).append(result)
    for fp_culprit, members in blamed.items():
        # One test alone blames whatever only it ran, the test's own mistake included;
        # two or more failing through one function point at the function.
        shared = len({result.nodeid for _, _, result in members}) > 1
        for fp, culprit, result in members:
            key = fp_culprit if shared else fp
            if shared:
                found[key] = culprit
            groups.setdefault(key, []).append(result)
    ran = max(suite_size if suite_size is not None else ran, 1)

    current = [
        carry_over(
            _issue(
                fp,
                group,
                ran=ran,
                rules=rules,
                baseline_passed=baseline_passed,
                quarantine=quarantine,
                culprit=found.get(fp),
                tests_folders=tests_folders,
            ),
            previous.get(fp),
            run_id,
        )
        for fp, group in groups.items()
    ]
    fixed = fixed_issues(previous, results, seen=groups.keys(), partial=partial)
    return rank(current, top=None) + fixed


_NOVELTY = {"new": 0, "reopened": 0, "recurring": 1}


def rank(issues: Iterable[Issue], top: int | None = 5) -> list[Issue]:
    """Open issues, most pressing first: severity, then spread (tests hit), then novelty
    (new and reopened before recurring). Fixed issues are left out. `top=None`: all."""
    ordered = sorted(
        (issue for issue in issues if issue.state != "fixed"),
        key=lambda issue: (
            SEVERITIES.index(issue.severity) if issue.severity in SEVERITIES else len(SEVERITIES),
            -len(issue.tests),
            _NOVELTY.get(issue.state, 2),
            issue.fingerprint,
        ),
    )
    return ordered if top is None else ordered[:top]


def breach_issue(
    verdict: KpiVerdict,
    *,
    kind: IssueKind | None = None,
    severity: Severity = "high",
    previous: Issue | None = None,
    run_id: int | None = None,
) -> Issue:
    """The issue for a KPI that misses its target or regressed against its baseline.

    Kind "breach" for a missed target, else "regression"; pass `kind` for "slow",
    "coverage_gap", "leak". One fingerprint per KPI name, whatever the kind, so that a KPI
    that regresses and then breaches stays one issue. With `run_id`, the state is carried
    over from `previous` (see `carry_over`).
    """
    breached = verdict.status == "fail"
    if not breached and not verdict.regressed:
        raise ValueError(f"KPI {verdict.name} neither misses its target nor regressed")
    value = format_value(verdict.value, verdict.unit)
    parts = []
    if breached:
        parts.append(f"{verdict.name} {value} misses target {verdict.target}")
    if verdict.regressed:
        was = format_value(verdict.baseline, verdict.unit)
        change = ""
        if verdict.baseline and verdict.value is not None:
            change = f" ({(verdict.value - verdict.baseline) / abs(verdict.baseline):+.0%})"
        if breached:
            parts.append(f"regressed from {was}{change}")
        else:
            parts.append(f"{verdict.name} regressed: {was} -> {value}{change}")
    digest = hashlib.sha1(f"kpi\n{verdict.name}".encode()).hexdigest()[:16]
    issue = Issue(
        fingerprint=digest,
        title=", ".join(parts),
        kind=kind or ("breach" if breached else "regression"),
        severity=severity,
        root_cause=verdict.source or None,
        message=verdict.detail or None,
    )
    return issue if run_id is None else carry_over(issue, previous, run_id)
