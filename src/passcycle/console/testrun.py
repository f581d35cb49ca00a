"""The Test phase in the terminal and in JSON: a run's summary, the history's runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from passcycle.console import (
    clean,
    counts_text,
    first_line,
    fmt_duration,
    fmt_percent,
    info,
    out,
)
from passcycle.covnote import split_note
from passcycle.records import Run, TestResult

# --- the Test phase summary --------------------------------------------------------------


def show_detected(detected: dict[str, str]) -> None:
    if detected:
        found = "; ".join(f"{key}: {clean(value)}" for key, value in detected.items())
        info(f"no plan keys for these, detected — {found}")


def show_test_summary(outcome: Any, slowest: int = 5, failures: int = 10) -> None:
    from passcycle.records import pass_rate

    run: Run = outcome.run
    counts = outcome.counts
    out.print()
    header = Text(f"run {run.id} ", style="bold")
    header.append_text(counts_text(counts))
    took = getattr(outcome, "suite_time", None) or run.duration
    header.append(f" in {fmt_duration(took)}", style="dim")
    out.print(header)
    rate = pass_rate(counts)
    line = Text("pass rate ")
    line.append(fmt_percent(rate), style="bold")
    cov = outcome.coverage
    if cov is not None:
        line.append("   coverage ")
        line.append(f"{cov.percent:.{cov.precision}f}%", style="bold")
        line.append(f" (line {fmt_percent(cov.line)}, branch {fmt_percent(cov.branch)})")
    out.print(line)
    # coverage that measured nothing gets its own line: the coverage figure above is wrong
    # for a reason the user can fix, not for lack of tests
    rest, unmeasured = split_note(outcome.note)
    if unmeasured:
        out.print(Text(f"warning: {unmeasured}", style="bold yellow"))
    if rest:
        out.print(Text(f"note: {rest}", style="yellow"))

    results: Sequence[TestResult] = outcome.results
    timed = sorted((r for r in results if r.duration), key=lambda r: r.duration, reverse=True)
    if timed and slowest:
        table = Table(title="slowest tests", title_justify="left", box=None, pad_edge=False)
        table.add_column("duration", justify="right", style="cyan")
        table.add_column("test", overflow="fold")
        for result in timed[:slowest]:
            table.add_row(fmt_duration(result.duration), clean(result.nodeid, 90))
        out.print(table)

    bad = [r for r in results if r.outcome in ("failed", "error")]
    if bad and failures:
        out.print(Text(f"failures ({len(bad)})", style="bold red"))
        for result in bad[:failures]:
            what = result.exc_type or result.outcome
            message = first_line(result.message, 80)
            out.print(
                f"  [red]{result.outcome.upper():<6}[/] {clean(result.nodeid, 70)}"
                f"\n         [dim]{clean(what, 40)}[/]{': ' + message if message else ''}"
            )
        if len(bad) > failures:
            out.print(f"  [dim]… and {len(bad) - failures} more: passcycle show {run.id}[/]")


def _sliced(run: Run) -> bool:
    """A `test` or `run` that ran part of the suite (a re-test always does: not marked)."""
    return run.partial and run.kind != "retest"


def show_runs(runs: Sequence[Run], baseline_id: int | None) -> None:
    if not runs:
        out.print("no runs yet: passcycle test records the first one")
        return
    table = Table(box=None, pad_edge=False)
    for name, justify in (
        ("run", "right"),
        ("kind", "left"),
        ("status", "left"),
        ("started", "left"),
        ("duration", "right"),
        ("tests", "left"),
        ("commit", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for run in runs:
        status_style = {"passed": "green", "failed": "red", "error": "red", "interrupted": "yellow"}
        marker = " ★" if run.id == baseline_id else ""
        commit = (run.commit or "")[:8] + ("*" if run.dirty else "")
        table.add_row(
            f"{run.id}{marker}",
            f"{run.kind} ½" if _sliced(run) else run.kind,
            Text(run.status, style=status_style.get(run.status, "")),
            run.started.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            fmt_duration(run.duration),
            counts_text(run.counts) if run.counts else Text("—"),
            commit or "—",
        )
    out.print(table)
    legend = ["★ baseline"] if baseline_id is not None else []
    if any(run.dirty for run in runs):
        legend.append("* uncommitted changes beside the commit")
    if any(_sliced(run) for run in runs):
        legend.append("½ part of the suite only")
    if legend:
        out.print(Text(" · ".join(legend), style="dim"))
