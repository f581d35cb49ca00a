"""The scenarios of a run in the terminal and in JSON: load, latency, errors, and what the
service did while its dependencies were broken."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table
from rich.text import Text

from passcycle.console import clean, out
from passcycle.records import SCENARIOS_ONLY
from passcycle.targets import format_value


def show_scenarios(summaries: list[Any]) -> None:
    if not summaries:
        return
    table = Table(title="scenarios", title_justify="left", box=None, pad_edge=False, padding=(0, 1))
    for name, justify in (
        ("scenario", "left"),
        ("users", "right"),
        ("requests", "right"),
        ("req/s", "right"),
        ("p95", "right"),
        ("errors", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for s in summaries:
        p95 = format_value(s.p95, "s")
        table.add_row(
            clean(s.name, 24),
            format_value(s.users, ""),
            format_value(s.requests, ""),
            "—" if s.throughput is None else f"{s.throughput:.1f}",
            Text(f"{p95} ⚠", style="yellow") if s.generator_bound else p95,
            format_value(s.error_rate, "%"),
        )
    out.print()
    out.print(table)
    if any(s.generator_bound for s in summaries):
        # why is in the run's note; the mark says which times are the generator's too
        out.print(" ⚠ generator-bound: its load generator's own queueing is in these times")
    for s in summaries:
        if not s.faults:
            continue
        broke = ", ".join(f"{clean(f.upstream, 20)} {f.kind} ×{f.hits:g}" for f in s.faults)
        out.print(f" [bold]{clean(s.name, 24)}[/] faults: {broke}")
        for p in s.phases:
            out.print(
                f"   {p.phase:<7} {format_value(p.requests, ''):>7} requests"
                f"  errors {format_value(p.error_rate, '%'):>7}  p95 {format_value(p.p95, 's'):>8}"
            )
        if s.breaker_open_time is not None:
            closed = (
                f", closed {format_value(s.breaker_recover_time, 's')} after they ended"
                if s.breaker_recover_time is not None
                else ""
            )
            out.print(f"   breaker opened {format_value(s.breaker_open_time, 's')} after the"
                      f" faults began{closed}")  # fmt: skip
        show_probes(s)


def show_probes(s: Any) -> None:
    """A scenario's steady-state probes: what each saw before, during and after the faults,
    held or not (the issues say which broke), and when it was back within tolerance."""
    for probe in s.hypothesis:
        out.print(f" [bold]{clean(s.name, 24)}[/] steady state: {clean(probe.probe, 60)}")
        for p in probe.phases:
            late = f"  {p.timeouts:g} unanswered in time" if p.timeouts else ""
            out.print(
                f"   {p.phase:<7} {format_value(p.answers, ''):>7} answers "
                f"  errors {format_value(p.errors, '%'):>7}  p95 {format_value(p.p95, 's'):>8}"
                f"{late}"
            )
            if not p.judged:  # its own line: the figures' line is full at 80 columns
                out.print(f"   {'':<7} {p.phase} not judged (during = false)")
        if probe.recovery is not None:
            back = format_value(probe.recovery, "s")
            out.print(f"   back within tolerance {back} after the faults ended")


def show_scenario_note(note: str | None, said: str | None) -> None:
    """What the scenarios said about themselves (a generator out of CPU or behind its
    schedule, iterations that waited for a slot): the part of the run's note not shown
    yet. The suite's summary shows the note as it was when the tests ended (`said`), before
    any scenario ran; a scenario-only run's note starts with the scenarios it ran."""
    rest = note or ""
    if said and rest.startswith(said):
        rest = rest[len(said) :]
    elif rest.startswith(SCENARIOS_ONLY):
        rest = rest.partition("; ")[2]
    rest = rest.removeprefix("; ")
    if rest:
        out.print(Text(f"note: {rest}", style="yellow"))


def scenarios_json(summaries: list[Any]) -> list[dict[str, Any]]:
    return [asdict(s) for s in summaries]


def show_drills(drills: list[Any]) -> None:
    """One line per crash drill: how long the service took to come back, what survived."""
    for d in drills:
        back = (
            f"back in {format_value(d.recovery_time, 's')}"
            if d.recovery_time is not None
            else "did not come back"
        )
        kept = (
            f", {format_value(d.data_survival, '%')} of its records read back"
            if d.data_survival is not None
            else ""
        )
        out.print(f" [bold]drill {clean(d.name, 40)}[/]: service crashed, {back}{kept}")


def drills_json(drills: list[Any]) -> list[dict[str, Any]]:
    return [asdict(d) for d in drills]
