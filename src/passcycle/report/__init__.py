"""Reports: the run's verdict as HTML, Markdown, JUnit XML and JSON; the phase completion
report and the weekly review, all read from the history.

    paths = write_reports(plan, history, run)  # .passcycle/report.{html,md,json}, junit.xml
    text = phase_markdown(phase_report(plan, history, 1))
    text = weekly_markdown(weekly_review(plan, history, timedelta(days=7)))
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from passcycle.errors import UsageError
from passcycle.plan import Plan
from passcycle.records import Run, Verdict
from passcycle.report.base import ReportContext, Reporter, build_context
from passcycle.report.html import HtmlReporter, render_html
from passcycle.report.json import JsonReporter, report_json
from passcycle.report.junit import JunitReporter, render_junit
from passcycle.report.markdown import MarkdownReporter, render_markdown
from passcycle.report.phase import PhaseReport, phase_html, phase_markdown, phase_report
from passcycle.report.weekly import WeeklyReview, weekly_html, weekly_markdown, weekly_review
from passcycle.store import History
from passcycle.targets import TargetSyntaxError, parse_quantity
from passcycle.validate.localize import Suspect
from passcycle.workdir import make_folder

# format -> (file name, writer); the file names are what CI steps and the dashboard look for
FORMATS: dict[str, tuple[str, Callable[[], Reporter]]] = {
    "html": ("report.html", HtmlReporter),
    "md": ("report.md", MarkdownReporter),
    "junit": ("junit.xml", JunitReporter),
    "json": ("report.json", JsonReporter),
}


def default_dir(plan: Plan) -> Path:
    return plan.root / ".passcycle"


def write_reports(
    plan: Plan,
    history: History,
    run: Run | int | str = "latest",
    out_dir: Path | None = None,
    formats: Iterable[str] = tuple(FORMATS),
    *,
    suggestions: Mapping[str, str] | None = None,
    suspects: Mapping[str, Sequence[Suspect]] | None = None,
    verdict: Verdict | None = None,
) -> dict[str, Path]:
    """Write the run's reports into `out_dir` (default <project>/.passcycle/); format -> path.

    Each file is written beside itself and renamed into place, so a dashboard or a CI step
    reading it never sees half a report."""
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise UsageError(
            f"unknown report format {unknown[0]!r}", hint=f"choose from {', '.join(FORMATS)}"
        )
    ctx = build_context(
        plan, history, run, suggestions=suggestions, suspects=suspects, verdict=verdict
    )
    folder = out_dir if out_dir is not None else default_dir(plan)
    written = {}
    for name in wanted:
        filename, reporter = FORMATS[name]
        written[name] = write_text(folder / filename, lambda out, r=reporter: r().write(ctx, out))
    return written


def write_text(path: Path, fill: Callable[..., None]) -> Path:
    """Write a text file atomically: a temporary file in the same folder, then a rename."""
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            fill(out)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_review(
    plan: Plan,
    history: History,
    *,
    phase: int | None,
    since: str | None,
    out_dir: Path | None = None,
) -> dict[str, Path]:
    """The phase completion report (`phase`) or the review of a period (`since`)."""
    folder = out_dir or default_dir(plan)
    written: dict[str, Path] = {}
    if phase is not None:
        found = phase_report(plan, history, phase)
        for ext, render in (("md", phase_markdown), ("html", phase_html)):
            path = folder / f"phase-{phase}.{ext}"
            written[f"phase {ext}"] = write_text(path, lambda out, r=render: out.write(r(found)))
    if since is not None:
        text = since.strip()
        text = text[:-1] + "h" if text.endswith("d") else text
        try:
            seconds = parse_quantity(text, "time") * (24 if since.strip().endswith("d") else 1)
        except TargetSyntaxError:
            raise UsageError(
                f"--since {since!r}: write a period such as 7d, 24h or 90min"
            ) from None
        review = weekly_review(plan, history, timedelta(seconds=seconds))
        for ext, show in (("md", weekly_markdown), ("html", weekly_html)):
            path = folder / f"review.{ext}"
            written[f"review {ext}"] = write_text(path, lambda out, r=show: out.write(r(review)))
    return written


__all__ = [
    "FORMATS",
    "PhaseReport",
    "ReportContext",
    "Reporter",
    "WeeklyReview",
    "build_context",
    "default_dir",
    "phase_html",
    "phase_markdown",
    "phase_report",
    "render_html",
    "render_junit",
    "render_markdown",
    "report_json",
    "weekly_html",
    "weekly_markdown",
    "weekly_review",
    "write_reports",
    "write_text",
]
