"""Fix and re-test in the terminal and in JSON: suggestions, selections, re-tests, cycles."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from passcycle.console import (
    clean,
    counts_text,
    first_line,
    fmt_duration,
    out,
    room,
)
from passcycle.render.json import issue_json, results_json, run_json, suspect_json

BAD = ("failed", "error")

# --- Fix and re-test ---------------------------------------------------------------------------


def show_suggestion(tip: Any, indent: str = "    ", width: int = 0) -> None:
    """`width`: the characters of the next step shown (`show ISSUE` shows it whole; by
    default what the terminal's line holds)."""
    width = width or room(len(indent) + 6, 84)
    if tip.location:
        out.print(f"{indent}[cyan]at[/] {clean(tip.location, 80)}")
    if tip.changed_since_pass:
        shown = ", ".join(clean(c, 40) for c in tip.changed_since_pass[:3])
        more = len(tip.changed_since_pass) - 3
        out.print(
            f"{indent}[cyan]changed since it passed:[/] {shown}{f' (+{more})' if more > 0 else ''}"
        )
    if tip.next_step:
        out.print(f"{indent}[green]next:[/] {clean(tip.next_step, width)}", soft_wrap=width > 200)
    if tip.suspects:
        out.print(f"{indent}[cyan]suspects[/] [dim](ochiai · failing/passing tests that ran it)[/]")
        for s in tip.suspects:
            mark = " [yellow]changed[/]" if s.changed else ""
            out.print(
                f"{indent}  {s.score:.2f}  {clean(s.where, 70)} [dim]{s.failed}/{s.passed}[/]{mark}"
            )


def show_issue(detail: Any) -> None:
    """`passcycle show ISSUE`: the issue, its tests, the suggestion and the evidence."""
    issue, run = detail.issue, detail.run
    out.print(f"[bold]{clean(issue.title, 200)}[/]", soft_wrap=True)
    count = len(issue.tests)
    facts = [
        issue.severity,
        issue.kind,
        issue.state_text,
        f"{count} test{'s' if count != 1 else ''}",
    ]
    out.print(
        f"  {', '.join(facts)} · fingerprint {issue.fingerprint} · last seen in run {run.id}"
        + (f", first in run {issue.first_seen}" if issue.first_seen else "")
    )
    if issue.root_cause:
        out.print(f"  [cyan]root cause:[/] {clean(issue.root_cause, 200)}", soft_wrap=True)
    show_suggestion(detail.suggestion, indent="  ", width=2000)
    for where, hunk in detail.diffs.items():
        out.print(f"  [cyan]changed at {clean(where, 120)}[/] [dim]since it passed:[/]")
        for line in hunk.splitlines()[:30]:
            style = {"+": "green", "-": "red", "@": "dim"}.get(line[:1], "")
            text = Text("    " + line.expandtabs(4), style=style)
            out.print(text, soft_wrap=True)
    out.print(f"  [cyan]tests[/] ({count}):")
    for nodeid in issue.tests[:20]:
        out.print(f"    {clean(nodeid, 400)}", soft_wrap=True)
    if count > 20:
        out.print(f"    [dim]… and {count - 20} more (--json lists them all)[/]")
    if detail.together:
        out.print("  [cyan]fails together with[/] [dim](failed in the same recent runs)[/]:")
        for nodeid, both, either in detail.together[:10]:
            out.print(f"    {clean(nodeid, 400)} [dim]{both} of {either} runs[/]", soft_wrap=True)


def issue_detail_json(detail: Any) -> dict[str, Any]:
    return {
        "issue": issue_json(detail.issue),
        "run": run_json(detail.run),
        "suggestion": suggestion_json(detail.suggestion),
        "diffs": dict(detail.diffs),
        "together": [
            {"nodeid": nodeid, "both": both, "either": either}
            for nodeid, both, either in detail.together
        ],
    }


def show_selection(base: Any, selection: Any) -> None:
    from passcycle.fix.impact import explain

    if selection.everything:
        out.print(f"[bold]whole suite[/] against run {base.id}:")
    else:
        out.print(f"[bold]{len(selection.tests)} tests[/] selected against run {base.id}:")
    for reason in selection.reasons:
        out.print(f"  [yellow]widened:[/] {clean(reason, 88)}")
    for line in explain(selection):
        # one test a line, never wrapped: scripts read `--dry-run` line by line
        out.print(f"  {clean(line, 400)}", soft_wrap=True)
    if not selection.tests and not selection.everything:
        out.print("  nothing changed that a test can reach")
    for line in selection.ignored:  # changes that select nothing, and why that is safe
        out.print(f"  [dim]unaffected:[/] {clean(line, 400)}", soft_wrap=True)
    left = _left_out(base, selection)
    if left:
        out.print(f"[dim]{left}[/]")


def _left_out(base: Any, selection: Any) -> str | None:
    """How many tests of the run a selection leaves out, and why that is safe."""
    total = sum(base.counts.values()) if base.counts else 0
    if selection is None or selection.everything or total <= len(selection.tests):
        return None
    left = total - len(selection.tests)
    return f"{left} of {total} tests left out: no change since run {base.id} reaches them"


_PROGRESS = {"fixed": "green", "still failing": "red", "changed": "yellow", "not re-run": "dim"}


def show_retest(retest: Any) -> None:
    base = retest.base
    outcome = retest.outcome
    if outcome is None:
        out.print(f"nothing to re-test: no change since run {base.id} reaches a test")
    else:
        ran = len(outcome.results)
        total = sum(base.counts.values()) if base.counts else 0
        what = "every test" if retest.selection is None else f"{ran} of {total} tests"
        out.print(
            Text.assemble(
                (f"re-ran {what} ", "bold"),
                (f"(run {outcome.run.id}, re-testing run {base.id}) ", "dim"),
                counts_text(outcome.counts),
                (f" in {fmt_duration(outcome.run.duration)}", "dim"),
            )
        )
        left_out = _left_out(base, retest.selection)
        if left_out:
            out.print(f"  [dim]{left_out}[/]")
        bad = [r for r in outcome.results if r.outcome in BAD]
        for result in bad[:10]:
            out.print(f"  [red]{result.outcome.upper():<6}[/] {clean(result.nodeid, room(10, 90))}")
            out.print(f"         [dim]{first_line(result.message, 90)}[/]")
    if retest.scenarios is not None:
        from passcycle.console.scenarios import show_scenarios

        names = ", ".join(repr(s.name) for s in retest.scenarios.scenarios) or "none"
        out.print(
            Text.assemble(
                ("re-ran scenarios ", "bold"),
                (f"{names} ", ""),
                (f"(run {retest.scenarios.outcome.run.id}): their issues of run {base.id}", "dim"),
            )
        )
        show_scenarios(retest.scenarios.scenarios)
    if retest.issues:
        out.print(Text("issues of run " + str(base.id), style="bold"))
        for item in retest.issues:
            style = _PROGRESS.get(item.status, "")
            out.print(f"  [{style}]{item.status:<13}[/] {clean(item.issue.title, room(16, 84))}")
            if item.detail:
                out.print(f"                [dim]{clean(item.detail, room(16, 84))}[/]")
    left = [i for i in retest.issues if i.status != "fixed"]
    failing = [i for i in left if i.status == "still failing"]
    scenarios = retest.scenarios
    if scenarios is not None and not scenarios.verdict.gate:
        out.print(
            f"[red]scenarios failing[/]: {len(failing)} issues remain; fix them, then"
            " passcycle retest"
        )
    elif outcome is not None and not [r for r in outcome.results if r.outcome in BAD]:
        if left:
            out.print(
                f"[yellow]re-test green; {len(left)} issues were not re-run:[/]"
                " passcycle run for the full pass"
            )
        else:
            out.print("[green]re-test green[/]: passcycle run for the full pass")
    elif outcome is not None:
        out.print("[red]re-test failing[/]: fix the failures above, then passcycle retest")
    if retest.verified is not None:
        _show_verified(retest.verified, retest.missed)


def _show_verified(full: Any, missed: list[str]) -> None:
    """`retest --verify`: the full suite afterwards, and any failure the re-test missed."""
    out.print(
        Text.assemble(
            ("verify: the full suite ", "bold"),
            (f"(run {full.run.id}) ", "dim"),
            counts_text(full.counts),
            (f" in {fmt_duration(full.run.duration)}", "dim"),
        )
    )
    if not missed:
        out.print("  [green]the re-test missed no failure[/]")
        return
    out.print(f"  [red]the re-test missed {len(missed)} failing tests:[/]")
    for nodeid in missed[:10]:
        out.print(f"    {clean(nodeid, 400)}", soft_wrap=True)
    if len(missed) > 10:
        out.print(f"    [dim]… and {len(missed) - 10} more (--json lists them all)[/]")


def retest_json(retest: Any) -> dict[str, Any]:
    from passcycle.fix.impact import explain

    selection = retest.selection
    return {
        "base": run_json(retest.base),
        "selection": None
        if selection is None
        else {
            "everything": selection.everything,
            "tests": [{"nodeid": t.nodeid, "reason": t.reason} for t in selection.tests],
            "reasons": list(selection.reasons),
            "args": selection.args,
            "explain": explain(selection),
            "unaffected": list(selection.ignored),
        },
        "run": None if retest.outcome is None else run_json(retest.outcome.run),
        "counts": None if retest.outcome is None else retest.outcome.counts,
        "results": [] if retest.outcome is None else results_json(retest.outcome.results),
        "left_out": _left_out(retest.base, selection),
        "issues": [
            {
                "fingerprint": i.issue.fingerprint,
                "title": i.issue.title,
                "status": i.status,
                "detail": i.detail,
            }
            for i in retest.issues
        ],
        "scenarios": None if retest.scenarios is None else _scenarios_json(retest.scenarios),
        "gate": None if retest.verdict is None else retest.verdict.gate,
        "verify": None
        if retest.verified is None
        else {
            "run": run_json(retest.verified.run),
            "counts": retest.verified.counts,
            "missed": retest.missed,
        },
    }


def suggestion_json(tip: Any) -> dict[str, Any]:
    return {
        "location": tip.location,
        "changed_since_pass": list(tip.changed_since_pass),
        "next_step": tip.next_step,
        "suspects": [suspect_json(s) for s in tip.suspects],
    }


def show_cycle_summary(log: Any) -> None:
    elapsed = fmt_duration(time.monotonic() - log.started)
    verdict = "[green]PASS[/]" if log.passed else "[red]not passing yet[/]"
    noun = "iteration" if log.iterations == 1 else "iterations"
    out.print(f"\ncycle: {log.iterations} {noun} in {elapsed} — {verdict}")
    for iteration, seconds, title in log.fixed:
        out.print(
            f"  [green]fixed[/] in iteration {iteration} ({fmt_duration(seconds)}): "
            f"{clean(title, 70)}"
        )


def _scenarios_json(result: Any) -> dict[str, Any]:
    """The scenarios a re-test ran again: their own partial run, what they measured, and
    its gate (judged on their KPIs alone)."""
    from passcycle.console.scenarios import scenarios_json

    return {
        "run": run_json(result.outcome.run),
        "scenarios": scenarios_json(result.scenarios),
        "gate": result.verdict.gate,
    }
