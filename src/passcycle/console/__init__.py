"""The console: the only place that prints — live progress, summaries, tables and --json.

This module holds the primitives (escaping, formats, the live line); the views of each
step live beside it (testrun, verdict, fixing) and are re-exported here."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from passcycle import strictjson
from passcycle.records import OUTCOMES
from passcycle.sanitize import visible
from passcycle.targets import format_duration as fmt_duration

PIPED_WIDTH = 160  # columns when output goes to a file or a pipe and COLUMNS is not set


def _width(stream: Any) -> int | None:
    """None (Rich decides) on a terminal or when COLUMNS says; wider when piped: Rich's 80
    columns would wrap a table's rows mid-cell in CI logs and `| less`."""
    if (os.environ.get("COLUMNS") or "").isdigit():
        return None
    try:
        return None if stream.isatty() else PIPED_WIDTH
    except (AttributeError, ValueError):
        return PIPED_WIDTH


out = Console(highlight=False, soft_wrap=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


OUTCOME_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "red bold",
    "skipped": "yellow",
    "xfailed": "yellow",
    "xpassed": "yellow",
}


def clean(text: object, limit: int | None = None) -> str:
    """Text from a test made safe for a terminal: no ANSI or control codes, Rich markup
    escaped, and bounded. Everything a test controls goes through here before printing."""
    return escape(visible(text, limit))


def room(reserved: int, least: int) -> int:
    """Characters left for one line's text on this terminal (COLUMNS when piped), beside
    `reserved` characters of frame; never fewer than `least`, what 80 columns show."""
    return max(least, out.width - reserved)


def first_line(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    return clean(text.strip().splitlines()[0] if text.strip() else "", limit)


def print_json(data: Any) -> None:
    # plain print: --json output must be exactly the document, never wrapped or styled;
    # strict, so that jq and JSON.parse read it (no NaN or Infinity)
    sys.stdout.write(strictjson.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def error_line(message: str, hint: str | None = None) -> None:
    err.print(f"[red bold]error:[/] {clean(message)}")
    if hint:
        err.print(f"[dim]Tip: {clean(hint)}[/]")


def info(message: str) -> None:
    err.print(f"[dim]{message}[/]")


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def counts_text(counts: dict[str, int]) -> Text:
    text = Text()
    parts = [(n, o) for o in OUTCOMES if (n := counts.get(o, 0))]
    if not parts:
        return Text("no tests", style="yellow")
    for i, (number, outcome) in enumerate(parts):
        if i:
            text.append(", ")
        text.append(f"{number} {outcome}", style=OUTCOME_STYLE[outcome])
    return text


class Progress:
    """A live line while tests run: done of total, failures so far, elapsed, current test."""

    def __init__(self, label: str = "tests") -> None:
        self.label = label
        self.started = time.monotonic()
        self._live: Any = None
        self._last = 0.0

    def __call__(self, progress: Any) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and progress.done != progress.total:
            return
        self._last = now
        self._live.update(self._render(progress))

    def load(self, tick: Any) -> None:
        """The live line of a load scenario: users, requests per second, failures, p95."""
        if self._live is None:
            return
        line = Text()
        line.append(f"{visible(tick.scenario)[:30]} ", style="bold")
        line.append(f"{tick.users} users · {tick.rps:.0f} req/s · ")
        line.append(f"{tick.failures} failures", style="red" if tick.failures else "")
        p95 = "—" if tick.p95 is None else fmt_duration(tick.p95)
        line.append(f" · p95 {p95} · {tick.elapsed:.0f}/{tick.duration:.0f}s", style="dim")
        self._live.update(line)

    def _render(self, progress: Any) -> Text:
        total = progress.total or 0
        done = progress.done
        width = 24
        filled = int(width * done / total) if total else 0
        line = Text()
        line.append(f"{self.label} ")
        line.append("━" * filled, style="green" if not progress.failures else "red")
        line.append("━" * (width - filled), style="grey35")
        line.append(f" {done}/{total or '?'}")
        if progress.failures:
            line.append(f" · {progress.failures} failed", style="red")
        line.append(f" · {fmt_duration(time.monotonic() - self.started)}", style="dim")
        current = getattr(progress, "current", None)
        if current:
            line.append(f" · {visible(current)[-60:]}", style="dim")
        return line

    @contextmanager
    def live(self) -> Iterator[Progress]:
        from rich.live import Live

        if not err.is_terminal:
            yield self
            return
        with Live(Text(""), console=err, refresh_per_second=8, transient=True) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None


def show_reports(written: dict[str, Any], root: Any) -> None:
    if not written:
        return
    shown = []
    for path in written.values():
        try:
            shown.append(str(path.relative_to(root)))
        except ValueError:
            shown.append(str(path))
    out.print(f"[dim]reports: {clean(', '.join(shown))}[/]")


# the views, re-exported: callers write console.show_verdict(...)
from passcycle.console.audit import audit_json, show_audit  # noqa: E402
from passcycle.console.fixing import (  # noqa: E402
    issue_detail_json,
    retest_json,
    show_cycle_summary,
    show_issue,
    show_retest,
    show_selection,
    show_suggestion,
    suggestion_json,
)
from passcycle.console.ordering import order_json, show_order  # noqa: E402
from passcycle.console.scenarios import (  # noqa: E402
    drills_json,
    scenarios_json,
    show_drills,
    show_scenario_note,
    show_scenarios,
)
from passcycle.console.testrun import (  # noqa: E402
    show_detected,
    show_runs,
    show_test_summary,
)
from passcycle.console.verdict import show_phases, show_verdict  # noqa: E402
from passcycle.render.json import issue_json, run_json, test_json, verdict_json  # noqa: E402

__all__ = [
    "OUTCOME_STYLE",
    "Progress",
    "audit_json",
    "clean",
    "counts_text",
    "drills_json",
    "err",
    "error_line",
    "first_line",
    "fmt_duration",
    "fmt_percent",
    "info",
    "issue_detail_json",
    "issue_json",
    "order_json",
    "out",
    "print_json",
    "retest_json",
    "room",
    "run_json",
    "scenarios_json",
    "show_audit",
    "show_cycle_summary",
    "show_detected",
    "show_drills",
    "show_issue",
    "show_order",
    "show_phases",
    "show_reports",
    "show_retest",
    "show_runs",
    "show_scenario_note",
    "show_scenarios",
    "show_selection",
    "show_suggestion",
    "show_test_summary",
    "show_verdict",
    "suggestion_json",
    "test_json",
    "verdict_json",
]
