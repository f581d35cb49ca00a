"""Advice for the top issues: the rule-based suggestion, and a model's when the plan asks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from passcycle.fix.llm import LlmConfig, advise
from passcycle.fix.locating import SPECTRUM_KINDS, Locator, suspect_diffs
from passcycle.fix.retest import flip_rates
from passcycle.fix.suggest import HistoryInfo, Suggestion, suggest
from passcycle.plan import Plan
from passcycle.records import Issue, Run, TestResult, Verdict
from passcycle.store import History
from passcycle.validate.flaky import fails_together
from passcycle.validate.localize import Suspect

TOGETHER_RUNS = 30  # recent runs in which tests that fail together are looked for


def suggestions(plan: Plan, history: History, verdict: Verdict) -> dict[str, Suggestion]:
    """For each top issue: where it fails, what changed since it passed, what to do, and
    the suspects the per-test map points at (fix/localize.py)."""
    adviser = Adviser(plan, history, verdict.run)
    return {i.fingerprint: adviser.advise(i) for i in verdict.issues[: verdict.top]}


class Adviser:
    """Suggestions for the issues of one run: its results, coverage and map read once."""

    def __init__(self, plan: Plan, history: History, run: Run) -> None:
        self.plan = plan
        self.history = history
        self.run = run
        results = history.results(run.id)
        self.by_id = {r.nodeid: r for r in results}
        self.files = tuple(history.coverage(run.id)[1])
        self.locator = Locator(plan, history, run, results)
        self.passes: dict[str, Run | None] = {}  # issue fingerprint -> the run its tests passed

    def last_pass(self, issue: Issue) -> Run | None:
        if issue.fingerprint not in self.passes:
            self.passes[issue.fingerprint] = _last_pass(
                self.plan, self.history, issue.tests, before=self.run.id
            )
        return self.passes[issue.fingerprint]

    def advise(self, issue: Issue) -> Suggestion:
        plan, history = self.plan, self.history
        mine = [self.by_id[t] for t in issue.tests if t in self.by_id]
        last_pass = self.last_pass(issue)
        rates = flip_rates(history, plan.name, issue.tests[:20]) if mine else {}
        info = HistoryInfo(
            last_pass_commit=last_pass.commit if last_pass else None,
            last_pass_run=last_pass.id if last_pass else None,
            flip_rate=max(rates.values()) if rates else None,
            slow_threshold=plan.validate.slow_test,
            coverage=self.files,
        )
        ranked: list[Suspect] = []
        if issue.kind in SPECTRUM_KINDS and mine:
            ranked = self.locator.suspects(mine, info.last_pass_commit)
        tip = suggest(
            issue, mine, root=plan.root, history_info=info, suspects=ranked, tests=plan.tests
        )
        return _advice(plan, issue, mine, tip)


def _advice(plan: Plan, issue: Issue, results: list[TestResult], tip: Suggestion) -> Suggestion:
    """With `[fix] llm_url` set, a model's advice is added to the rule-based next step."""
    fix = plan.model.fix
    if not fix.llm_url:
        return tip
    config = LlmConfig(fix.llm_url, fix.llm_model, fix.llm_key_env or None, fix.llm_timeout, True)
    advice = advise(config, issue, results, tip)
    if not advice.text:
        return tip
    return replace(tip, next_step=f"{tip.next_step}\nmodel: {advice.text.strip()}")


def _last_pass(plan: Plan, history: History, nodeids: Sequence[str], before: int) -> Run | None:
    if not nodeids:
        return None
    outcomes = history.test_outcomes(list(nodeids)[:50], plan.name, limit_runs=30)
    passed_runs = [
        {run_id for run_id, outcome in seen if outcome == "passed" and run_id < before}
        for seen in outcomes.values()
    ]
    if not passed_runs or len(passed_runs) < min(len(nodeids), 50):
        return None
    common = set.intersection(*passed_runs)
    return history.run(max(common)) if common else None


@dataclass(frozen=True, slots=True)
class IssueDetail:
    """One issue as it stood in the last run that saw it, with the evidence for where it
    is: what `passcycle show ISSUE` shows."""

    issue: Issue
    run: Run  # the last run that saw it
    suggestion: Suggestion
    diffs: dict[str, str]  # "path:line" of a changed suspect -> the hunk that changed it
    # other tests that failed in the same recent runs: (node id, both failed, either failed)
    together: tuple[tuple[str, int, int], ...] = ()


def issue_detail(plan: Plan, history: History, found: Issue) -> IssueDetail:
    """`found` (an issue of the history) as the last run that saw it left it: its tests, its
    suggestion with the suspects, the diff of each changed suspect since the tests passed."""
    run = history.run(found.last_seen or 0, plan.name)
    then = history.issues(plan.name, run_id=run.id)
    issue = next((i for i in then if i.fingerprint == found.fingerprint), found)
    adviser = Adviser(plan, history, run)
    tip = adviser.advise(issue)
    last_pass = adviser.last_pass(issue)
    commit = last_pass.commit if last_pass else None
    diffs = suspect_diffs(plan.root, commit, tip.suspects) if commit else {}
    recent = history.test_outcomes(None, plan.name, limit_runs=TOGETHER_RUNS)
    together = tuple(fails_together(recent, issue.tests)) if issue.tests else ()
    return IssueDetail(issue, run, tip, diffs, together)
