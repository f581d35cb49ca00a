"""The Validate phase in the terminal and in JSON: KPIs, issues, phases and the gate."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from passcycle.console import (
    clean,
    out,
    room,
)
from passcycle.console.fixing import show_suggestion
from passcycle.records import SCENARIOS_ONLY
from passcycle.sanitize import visible

# --- the Validate phase: the verdict ---------------------------------------------------------

_STATUS = {
    "pass": ("✔ pass", "green"),
    "fail": ("✘ fail", "red"),
    "not measured": ("· not measured", "dim"),
    "flat": ("~ flat", "yellow"),  # a trend no steeper than its noise: neither met nor missed
}
_SEVERITY = {"critical": "red bold", "high": "red", "medium": "yellow", "low": "dim"}


def _delta(verdict: Any) -> str:
    from passcycle.targets import format_value

    if verdict.delta is None:
        return "—"
    sign = "+" if verdict.delta > 0 else ("-" if verdict.delta < 0 else "±")
    return sign + format_value(abs(verdict.delta), verdict.unit)


def show_verdict(verdict: Any, suggestions: dict[str, Any] | None = None) -> None:
    from passcycle.targets import format_value, is_trend

    table = Table(title="KPIs", title_justify="left", box=None, pad_edge=False, padding=(0, 1))
    table.add_column("KPI", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("baseline", justify="right", no_wrap=True)
    table.add_column("delta", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for kpi in verdict.kpis:
        label, style = _STATUS.get(kpi.status, (kpi.status, ""))
        if kpi.regressed:
            label = "✘ regressed"
        table.add_row(
            clean(kpi.name, 28),
            clean(kpi.target or "—", 20),
            format_value(kpi.value, kpi.unit),
            format_value(kpi.baseline, kpi.unit) if kpi.baseline is not None else "—",
            _delta(kpi),
            Text(label, style=style),
        )
    out.print()
    out.print(table)
    # why a KPI has no value, once per reason (the vulnerability KPIs share theirs)
    why: dict[str, list[str]] = {}
    for kpi in verdict.kpis:
        if kpi.status == "not measured" and kpi.detail:
            why.setdefault(kpi.detail, []).append(kpi.name)
    for detail, names in why.items():
        out.print(Text(f"  {', '.join(names)} not measured: {visible(detail, 200)}", style="dim"))
    for kpi in verdict.kpis:  # a trend's evidence is its slope; a sum's, its least
        trend = is_trend(kpi.target) and kpi.status in ("pass", "fail", "flat")
        if trend or kpi.detail.startswith("at least "):
            out.print(Text(f"  {kpi.name}: {visible(kpi.detail, 200)}", style="dim"))

    issues = list(verdict.issues)
    if issues:
        shown = issues[: verdict.top]
        out.print()
        out.print(Text(f"top issues ({len(shown)} of {len(issues)})", style="bold"))
        for rank, issue in enumerate(shown, 1):
            count = len(issue.tests)
            tests = f"{count} test{'s' if count != 1 else ''}" if count else ""
            meta = ", ".join(x for x in (issue.kind, tests, issue.state_text) if x)
            out.print(
                f" {rank}. [{_SEVERITY.get(issue.severity, '')}]{issue.severity.upper():<8}[/]"
                f" {clean(issue.title, room(14, 78))}"
            )
            detail = f"[dim]{meta} · {issue.fingerprint[:8]}[/]"  # `passcycle show` takes it
            if issue.root_cause:
                detail += f"  [cyan]root cause:[/] {clean(issue.root_cause, 60)}"
            out.print(f"    {detail}")
            tip = (suggestions or {}).get(issue.fingerprint)
            if tip is not None:
                show_suggestion(tip)
    if verdict.fixed:
        out.print(Text(f"fixed since last run: {len(verdict.fixed)}", style="green"))
        for issue in verdict.fixed[:5]:
            out.print(f"   [green]✔[/] {clean(issue.title, room(6, 88))}")
    if verdict.flaky:
        out.print(Text(f"flaky tests ({len(verdict.flaky)}):", style="yellow"))
        for nodeid in verdict.flaky[:5]:
            mark = " (quarantined)" if nodeid in verdict.quarantined else ""
            out.print(f"   {clean(nodeid, room(18, 86))}{mark}")
    if verdict.regressions:
        out.print(
            Text(
                f"regressions against run {verdict.baseline_id} ({len(verdict.regressions)}):",
                style="red",
            )
        )
        for nodeid in verdict.regressions[:5]:
            out.print(f"   {clean(nodeid, room(4, 90))}")

    phase = verdict.current_phase
    if verdict.phases:
        out.print()
        if phase is None:
            out.print(Text("phases: all complete", style="green bold"))
        else:
            missing = [c for c in phase.criteria if not c.met]
            out.print(
                f"[bold]phase {phase.number}: {clean(phase.title, 50)}[/] — "
                f"{len(phase.criteria) - len(missing)} of {len(phase.criteria)} exit criteria met"
            )
            for c in missing:
                out.print(f"   [red]✘[/] {clean(c.text, 40):<40} [dim]{clean(c.evidence, 50)}[/]")
    out.print()
    what = f"run {verdict.run.id}"
    note = verdict.run.note or ""
    if verdict.run.partial and note.startswith(SCENARIOS_ONLY):  # `run --scenario NAME`: no tests
        what += f" ({clean(note.partition('; ')[0], 60)}, no tests)"
    elif verdict.run.partial:  # a re-test or a slice: its gate is not the suite's
        parent = f" of run {verdict.run.parent_id}" if verdict.run.parent_id else ""
        what += f" ({verdict.run.kind}{parent}: part of the suite)"
    if verdict.gate:
        out.print(Text(f"GATE PASSED  {what}", style="bold green"))
    else:
        out.print(Text(f"GATE FAILED  {what}", style="bold red"))
        for reason in verdict.reasons[:8]:
            out.print(f"  · {clean(reason, 94)}")


def show_phases(verdict: Any) -> None:
    if not verdict.phases:
        out.print("the plan has no phases: passcycle init writes the execution plan's four")
        return
    current = verdict.current_phase
    for phase in verdict.phases:
        done = sum(c.met for c in phase.criteria)
        mark = "[green]✔[/]" if phase.complete else ("[yellow]▶[/]" if phase is current else " ")
        title = clean(phase.title, 60)
        out.print(f"{mark} [bold]phase {phase.number}: {title}[/]  {done}/{len(phase.criteria)}")
        for c in phase.criteria:
            sign = "[green]✔[/]" if c.met else "[red]✘[/]"
            out.print(f"    {sign} {clean(c.text, 40):<40} [dim]{clean(c.evidence, 50)}[/]")
    if current is not None:
        out.print(f"\ncurrent phase: {current.number} ({clean(current.title)})")
    else:
        out.print("\nall phases complete")
