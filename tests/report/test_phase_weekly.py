"""The phase completion report and the weekly review, read from a real two-run history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from markdown_it import MarkdownIt
from report_projects import HOSTILE_ID

from passcycle.errors import UsageError
from passcycle.report import (
    phase_html,
    phase_markdown,
    phase_report,
    weekly_html,
    weekly_markdown,
    weekly_review,
)


def rendered(text: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


def test_phase_one_criteria_with_evidence_and_whats_missing(shop):
    first, second = shop.runs
    with shop.history() as history:
        report = phase_report(shop.plan, history, 1)
    assert report.run.id == second.id  # the latest judged full run is the evidence
    assert report.baseline is not None and report.baseline.id == first.id
    met = {c.criterion.text: c.criterion.met for c in report.criteria}
    assert met == {"test_pass_rate >= 50%": False, "baseline": True, "no critical issues": True}
    rate = next(c for c in report.criteria if c.criterion.text.startswith("test_pass_rate"))
    assert rate.criterion.evidence == f"test_pass_rate 42.86% in run {second.id}"
    assert rate.missing == f"test_pass_rate is 42.86% in run {second.id}; it needs >= 50%"
    assert [c.criterion.text for c in report.missing] == ["test_pass_rate >= 50%"]
    assert not report.complete and report.met == 2
    assert report.phases == ((1, "Immediate stabilization", False), (2, "Performance", False))


def test_phase_report_compares_kpis_with_the_baseline(shop):
    with shop.history() as history:
        report = phase_report(shop.plan, history, 2)
        first_kpis = {k.name: k.value for k in history.kpi_values(shop.runs[0].id)}
    changes = {k.name: k for k in report.changes}
    rate = changes["test_pass_rate"]
    assert rate.baseline == pytest.approx(first_kpis["test_pass_rate"])  # 2 of 7 passed
    assert rate.latest == pytest.approx(300 / 7)  # 3 of 7 after the fix
    assert rate.better is True and rate.trend == "improved"
    assert changes["coverage"].delta == pytest.approx(0)
    assert changes["coverage"].trend == "unchanged"
    assert {i.kind for i in report.blockers} == {"breach", "coverage_gap"}

    text = phase_markdown(report)
    assert "## Phase 2: Performance — 0 of 2 exit criteria met" in text
    assert "| test\\_pass\\_rate | `>= 85%` | 28.57% | 42.86% | +14.29% | 📈 improved |" in text
    html = rendered(text)
    assert "<script" not in html and "<table>" in html
    page = phase_html(report)
    assert 'data-kpi="test_pass_rate"' in page and "IN PROGRESS" in page
    assert page.count('data-met="false"') == 2


def test_an_unknown_phase_is_a_usage_error(shop):
    with shop.history() as history, pytest.raises(UsageError, match=r"no phase 7 \(phases: 1, 2\)"):
        phase_report(shop.plan, history, 7)


def test_weekly_review_of_the_two_runs(shop):
    first, second = shop.runs
    with shop.history() as history:
        review = weekly_review(shop.plan, history, timedelta(days=7))
    assert [r.id for r in review.runs] == [first.id, second.id]
    assert review.gates == (0, 2)
    assert [rid for rid, _ in review.pass_rates] == [first.id, second.id]
    assert review.baseline_pass_rate == pytest.approx(200 / 7)
    kpis = {k.name: k for k in review.kpis}
    assert kpis["test_pass_rate"].first == pytest.approx(200 / 7)
    assert kpis["test_pass_rate"].latest == pytest.approx(300 / 7)
    assert kpis["test_pass_rate"].better is True
    assert len(kpis["coverage"].values) == 2

    assert {i.kind for i in review.opened} >= {"failure", "flaky", "breach", "coverage_gap"}
    assert [i.title for i in review.fixed] == [
        i.title for i in review.opened if "test_mul" in i.title
    ]
    assert all(i.state != "fixed" for i in review.open_issues)
    assert review.slowest and review.slowest == tuple(
        sorted(review.slowest, key=lambda r: -r.duration)
    )
    assert [f.nodeid for f in review.flakiest] == ["tests/test_shop.py::test_flaky"]
    assert review.flakiest[0].reruns == ("passed",)

    priorities = "\n".join(review.priorities)
    assert "fix high issue: test_pass_rate" in priorities
    assert "bring coverage from 50.00% to >= 90%" in priorities
    assert "phase 1 exit: test_pass_rate >= 50%" in priorities


def test_weekly_renderings_escape_test_names(shop):
    with shop.history() as history:
        review = weekly_review(shop.plan, history, timedelta(days=7))
    text = weekly_markdown(review)
    assert text.startswith("## Weekly review — shop")
    assert "### Priorities for next week" in text
    html = rendered(text)
    assert "<script" not in html and "<img" not in html
    page = weekly_html(review)
    assert HOSTILE_ID not in page
    assert page.count("<script") == 0  # the review has no charts: sparklines are SVG
    assert 'data-kpi="coverage"' in page


def test_a_period_without_runs_says_so(shop):
    with shop.history() as history:
        review = weekly_review(
            shop.plan, history, timedelta(days=1), now=datetime.now(UTC) + timedelta(days=30)
        )
    assert review.runs == () and review.opened == () and review.fixed == ()
    assert review.priorities[0].startswith("no runs in the period")
    assert review.open_issues  # what is open stays open, with or without runs
    assert "no full runs in the period" in weekly_markdown(review)


def test_weekly_review_lists_what_came_back_after_a_fix(tmp_path):
    from passcycle.plan import Plan, parse_plan
    from passcycle.records import Issue
    from passcycle.store import History

    plan = Plan(parse_plan({}), tmp_path, None, {})
    back = Issue("a1b2c3d4e5f60718", "KeyError: 'session' — 3 tests", "failure", "high")
    once = Issue("0f1e2d3c4b5a6978", "TimeoutError in db.connect — 1 test", "error", "high")
    with History.open(root=tmp_path) as history:
        # back: new, fixed, reopened, fixed, reopened; once: new, fixed, reopened
        states = [
            [("new", back), ("new", once)],
            [("fixed", back), ("fixed", once)],
            [("reopened", back), ("reopened", once)],
            [("fixed", back), ("recurring", once)],
            [("reopened", back), ("recurring", once)],
        ]
        for seen in states:
            run = history.start_run(plan.name, "run")
            history.finish_run(run.id, "failed", 1, None, {"failed": 1})
            history.save_issues(
                plan.name,
                run.id,
                [replace(issue, state=state, last_seen=run.id) for state, issue in seen],
            )
        review = weekly_review(plan, history, timedelta(days=7))
    assert [(i.fingerprint, n) for i, n in review.recurring] == [
        (back.fingerprint, 2),
        (once.fingerprint, 1),
    ]
    text = weekly_markdown(review)
    assert "- high · KeyError: 'session' — 3 tests — reopened 2 times" in text
    assert "TimeoutError in db.connect — 1 test — reopened once" in text
    assert 'class="recurring"' in weekly_html(review)


def test_a_change_point_from_zero_reads_from_0_not_an_infinite_share():
    # a KPI at 0 (ruff's findings on a clean tree) that rose to 2: no percentage fits
    from passcycle.report.weekly import shift_text
    from passcycle.validate.changepoints import Shift

    text = shift_text(Shift(index=6, run_id=9, before=0.0, after=2.0, pvalue=0.0), "")
    assert text.startswith("rose from 0 at run 9 (0 → 2)"), text
    assert "inf" not in text
    assert shift_text(Shift(6, 9, 200.0, 236.0, 0.002), "").startswith("rose 18% at run 9")
