"""The Markdown report: a pull-request comment or $GITHUB_STEP_SUMMARY, bounded in size.

Everything a test controls (names, messages, tracebacks) is either a code span / fenced
block sized past its own backticks, or escaped text: no HTML, links, emphasis, math or
mentions can come from a test. GitHub caps a comment at 65,536 characters, so the report
stays under MAX_BYTES however many tests fail: the top issues, the first failures, then a
count and a pointer to the HTML report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TextIO

from passcycle.records import Issue, TestResult, pass_rate
from passcycle.report.base import (
    ReportContext,
    clip_lines,
    first_line,
    fmt_delta,
    fmt_kpi,
    kpi_status,
    plain,
)
from passcycle.report.scenarios import summarize
from passcycle.targets import format_value

MAX_BYTES = 60_000
MAX_FAILURES = 20  # failures listed; the rest are counted
MAX_FLAKY = 10
TRACEBACK_LINES = 30
TRACEBACK_CHARS = 2_500
CELL_LIMIT = 160  # characters of a test's text in a table cell

STATUS = {"pass": "✅ pass", "fail": "❌ fail", "regressed": "❌ regressed", "flat": "〰️ flat"}
SEVERITY = {"critical": "🔴 **CRITICAL**", "high": "🟠 **HIGH**", "medium": "🟡 medium"}

# CommonMark punctuation that starts markup inline; `<`, `>` and `&` become entities, and
# `@` is kept from forming a mention by a zero-width joiner (a test name pings nobody).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$#!{}])")
_BACKTICKS = re.compile(r"`+")


def md_text(text: object, limit: int | None = CELL_LIMIT) -> str:
    """Escaped inline text, on one line: safe in a paragraph, a list item or a table cell."""
    value = plain(text, limit, oneline=True)
    value = _MD_SPECIAL.sub(r"\\\1", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("@", "@\u2060")


def md_code(text: object, limit: int | None = CELL_LIMIT, *, cell: bool = False) -> str:
    """A code span, fenced by more backticks than the text holds. In a table `cell`, pipes
    are escaped: GFM reads `\\|` inside a code span in a table cell as a plain pipe."""
    value = plain(text, limit, oneline=True)
    if not value:
        return ""
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or value[0] == " " else ""
    if cell:
        value = value.replace("|", "\\|")
    return f"{fence}{pad}{value}{pad}{fence}"


def md_block(text: str, lines: int = TRACEBACK_LINES, chars: int = TRACEBACK_CHARS) -> str:
    """A fenced code block whose fence no line of the text can close."""
    value = clip_lines(plain(text), lines, chars)
    longest = max((len(m) for m in _BACKTICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{value}\n{fence}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def gate_line(ctx: ReportContext) -> str:
    run = ctx.run
    mark = "✅ gate passed" if ctx.verdict.gate else "❌ gate failed"
    return f"## {mark} — {md_text(ctx.plan_name, 60)}, run {run.id}"


def _summary(ctx: ReportContext) -> str:
    run, counts = ctx.run, ctx.counts
    parts = [", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no tests"]
    rate = pass_rate(counts)
    if rate is not None:
        parts.append(f"pass rate {rate:.1f}%")
    if ctx.coverage is not None:
        parts.append(f"coverage {ctx.coverage.percent:.{ctx.coverage.precision}f}%")
    if run.duration is not None:
        parts.append(format_value(run.duration, "s"))
    if run.commit:
        where = f" ({md_text(run.branch, 40)})" if run.branch else ""
        parts.append(f"commit {md_code(run.commit[:10])}{where}{' + changes' if run.dirty else ''}")
    return " · ".join(parts)


def kpi_table(ctx: ReportContext) -> list[str]:
    rows = [
        (
            md_text(k.name, 40),
            md_code(k.target or "—", 30, cell=True),
            fmt_kpi(k.value, k.unit),
            fmt_kpi(k.baseline, k.unit),
            fmt_delta(k),
            STATUS.get(kpi_status(k), "· not measured"),
        )
        for k in ctx.verdict.kpis
    ]
    return _table(("KPI", "target", "value", "baseline", "delta", "status"), rows)


def _issue(rank: int, issue: Issue, ctx: ReportContext) -> list[str]:
    tests = len(issue.tests)
    meta = [
        issue.kind,
        f"{tests} test{'s' if tests != 1 else ''}" if tests else "",
        issue.state_text,
    ]
    head = SEVERITY.get(issue.severity, issue.severity)
    lines = [
        f"{rank}. {head} {md_text(issue.title, 200)}  ",
        f"   {', '.join(m for m in meta if m)}",
    ]
    if issue.root_cause:
        lines[-1] += f" · root cause {md_code(issue.root_cause, 120)}"
    advice = ctx.suggestions.get(issue.fingerprint)
    if advice:
        lines.append(f"   - suggestion: {md_text(advice, 400)}")
    suspects = ctx.suspects.get(issue.fingerprint)
    if suspects:
        shown = "; ".join(
            f"{md_code(s.where, 120)} {s.score:.2f}" + (" (changed)" if s.changed else "")
            for s in suspects[:3]
        )
        lines.append(f"   - suspects (Ochiai): {shown}")
    if issue.tests:
        shown = ", ".join(md_code(t, 120) for t in issue.tests[:3])
        more = f" and {tests - 3} more" if tests > 3 else ""
        lines.append(f"   - tests: {shown}{more}")
    first = next((r for r in map(ctx.result, issue.tests[:1]) if r is not None), None)
    if first is not None and (first.traceback or first.message):
        block = md_block(first.traceback or first.message or "")
        indented = "\n".join(f"   {line}" if line else "" for line in block.splitlines())
        lines += ["", "   <details><summary>traceback</summary>", "", indented, "", "   </details>"]
    return lines


def _scenarios(ctx: ReportContext) -> list[str]:
    """This run's scenarios: one row each, and what the service did under its faults."""
    measured = [
        m for t in ctx.scenarios if t.last and t.last.run_id == ctx.run.id for m in t.latest
    ]
    found = summarize(measured)
    if not found:
        return []

    rows = [
        (md_text(s.name, 60) + (" ⚠ generator-bound" if s.generator_bound else ""),
         *(format_value(v, u) for v, u in
           ((s.users, ""), (s.requests, ""), (s.p95, "s"), (s.error_rate, "%"))))
        for s in found
    ]  # fmt: skip
    lines = [
        "",
        "### Scenarios",
        "",
        *_table(("scenario", "users", "requests", "p95", "errors"), rows),
    ]
    if any(s.generator_bound for s in found):
        lines += ["", "⚠ generator-bound: the load generator's own queueing is in its times"]
    if any(s.faults for s in found):
        lines.append("")
    for s in found:
        if not s.faults:
            continue
        broke = ", ".join(f"{md_text(f.upstream, 40)} {f.kind} ×{f.hits:g}" for f in s.faults)
        phases = "; ".join(
            f"{p.phase}: errors {format_value(p.error_rate, '%')}, p95 {format_value(p.p95, 's')}"
            for p in s.phases
        )
        lines.append(f"- **{md_text(s.name, 60)}** — faults: {broke} — {phases}")
    return lines


def _drills(ctx: ReportContext) -> list[str]:
    """This run's crash drills: the service killed, how long until healthy, what survived."""
    if not ctx.drills:
        return []
    rows = [
        (
            md_text(d.name, 60),
            format_value(d.recovery_time, "s") if d.recovery_time is not None else "never",
            format_value(d.data_survival, "%"),
        )
        for d in ctx.drills
    ]
    return ["", "### Crash drills", "", *_table(("drill", "back in", "records read back"), rows)]


def _failure_rows(failures: Sequence[TestResult]) -> list[str]:
    rows = [
        (
            md_code(r.nodeid, 120, cell=True),
            r.outcome,
            md_code(r.exc_type or "", 40, cell=True),
            md_text(first_line(r.message, CELL_LIMIT)),
        )
        for r in failures
    ]
    return _table(("test", "outcome", "exception", "message"), rows)


def render_markdown(ctx: ReportContext, *, html_name: str = "report.html") -> str:
    verdict = ctx.verdict
    lines = [gate_line(ctx), "", _summary(ctx)]
    if ctx.run.note:  # what the run said of itself: a crash, a busy machine, coverage
        lines += ["", f"> note: {md_text(ctx.run.note, 600)}"]
    if not verdict.gate and verdict.reasons:
        lines += ["", *(f"- {md_text(reason, 200)}" for reason in verdict.reasons[:10])]
    if verdict.kpis:
        lines += ["", "### KPIs", "", *kpi_table(ctx)]
    lines += _scenarios(ctx)
    lines += _drills(ctx)

    issues = list(verdict.issues)
    if issues:
        shown = issues[: verdict.top]
        lines += ["", f"### Top issues ({len(shown)} of {len(issues)})", ""]
        for rank, issue in enumerate(shown, 1):
            lines += _issue(rank, issue, ctx)
    if verdict.fixed:
        titles = "; ".join(md_text(i.title, 100) for i in verdict.fixed[:5])
        more = f" and {len(verdict.fixed) - 5} more" if len(verdict.fixed) > 5 else ""
        lines += ["", f"**Fixed since the last run ({len(verdict.fixed)}):** {titles}{more}"]

    failures = ctx.failures
    if failures:
        lines += [
            "",
            f"### Failures ({len(failures)})",
            "",
            *_failure_rows(failures[:MAX_FAILURES]),
        ]
        if len(failures) > MAX_FAILURES:
            rest = len(failures) - MAX_FAILURES
            lines += ["", f"… and {rest} more — see the HTML report ({md_code(html_name)})."]
    if verdict.regressions:
        shown_ids = ", ".join(md_code(n, 100) for n in verdict.regressions[:MAX_FLAKY])
        hidden = len(verdict.regressions) - MAX_FLAKY
        extra = f" and {hidden} more" if hidden > 0 else ""
        lines += ["", f"**Regressions against run {verdict.baseline_id}:** {shown_ids}{extra}"]
    flaky = [f for f in ctx.flaky if f.flaky_now]
    if flaky:
        lines += ["", f"### Flaky tests ({len(flaky)})", ""]
        for f in flaky[:MAX_FLAKY]:
            reruns = ", ".join(f.reruns) or "—"
            mark = " (quarantined)" if f.nodeid in verdict.quarantined else ""
            lines.append(f"- {md_code(f.nodeid, 120)}{mark}: re-runs {reruns}")
    phase = verdict.current_phase
    if phase is not None:
        met = sum(c.met for c in phase.criteria)
        lines += [
            "",
            f"### Phase {phase.number}: {md_text(phase.title, 80)} — "
            f"{met} of {len(phase.criteria)} exit criteria met",
            "",
        ]
        for c in phase.criteria:
            lines.append(
                f"- {'✅' if c.met else '⬜'} {md_code(c.text, 80)} — {md_text(c.evidence)}"
            )
    elif verdict.phases:
        lines += ["", "### Phases: all complete ✅"]
    lines += ["", f"<sub>passcycle · run {ctx.run.id} · {ctx.generated:%Y-%m-%d %H:%M} UTC</sub>"]
    return _bounded("\n".join(lines) + "\n", html_name)


def _bounded(text: str, html_name: str) -> str:
    """The per-item limits keep a report far under MAX_BYTES; a plan with hundreds of KPIs
    could still pass it, so cut at a line and say where the rest is."""
    data = text.encode("utf-8")
    if len(data) <= MAX_BYTES:
        return text
    cut = data[: MAX_BYTES - 200].decode("utf-8", errors="ignore").rsplit("\n", 1)[0]
    return f"{cut}\n\n… cut to fit a comment — see the HTML report ({md_code(html_name)}).\n"


class MarkdownReporter:
    def __init__(self, html_name: str = "report.html") -> None:
        self.html_name = html_name

    def write(self, ctx: ReportContext, out: TextIO) -> None:
        out.write(render_markdown(ctx, html_name=self.html_name))
