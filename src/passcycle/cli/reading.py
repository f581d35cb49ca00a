"""The commands that read the history: validate, phase, report, serve, history, show,
baseline and import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passcycle.cli.app import (
    FULL_RUN_HELP,
    JsonOpt,
    _cycle,
    app,
    baseline_app,
    import_app,
)


@app.command()
def validate(
    run: Annotated[str, typer.Argument(help=FULL_RUN_HELP)] = "full",
    json_: JsonOpt = False,
) -> None:
    """Judge a recorded run again, without re-running it."""
    from passcycle import console

    verdict = _cycle().validate(run)
    if json_:
        console.print_json(console.verdict_json(verdict))
    else:
        console.show_verdict(verdict)
    raise typer.Exit(0 if verdict.gate else 1)


@app.command()
def phase(
    run: Annotated[str, typer.Argument(help=FULL_RUN_HELP)] = "full",
    json_: JsonOpt = False,
) -> None:
    """Show each phase's exit criteria, met or not, and the current phase."""
    from passcycle import console

    verdict = _cycle().validate(run)
    if json_:
        data = console.verdict_json(verdict)
        console.print_json({"phases": data["phases"], "current_phase": data["current_phase"]})
        return
    console.show_phases(verdict)


@app.command()
def report(
    run: Annotated[str, typer.Argument(help=FULL_RUN_HELP)] = "full",
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: html, md, junit, json.")
    ] = "html,md,junit,json",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder (default .passcycle/).")
    ] = None,
    phase: Annotated[
        int | None, typer.Option("--phase", help="The phase completion report of phase N.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="The review of a period, e.g. 7d, 24h.")
    ] = None,
) -> None:
    """Write reports: a run's HTML/Markdown/JUnit/JSON, a phase report, or the weekly review."""
    from passcycle import console

    cycle = _cycle()
    if phase is not None or since is not None:
        written = cycle.write_review(phase=phase, since=since, out_dir=out)
    else:
        from passcycle.refs import resolve_run

        chosen = resolve_run(cycle.history, run, cycle.plan.name)
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        written = cycle.write_reports(chosen, wanted, None, out_dir=out)
    console.show_reports(written, cycle.plan.root)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 shares it.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", "-p", help="Port.")] = 8765,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            envvar="PASSCYCLE_ALLOW_HOSTS",
            help="Also answer requests for this host name (repeatable; *.example.com, or *).",
        ),
    ] = None,
) -> None:
    """The dashboard over the history, with /metrics for Prometheus."""
    from passcycle import console
    from passcycle.serve import serve as serve_dashboard
    from passcycle.serve.hosts import trusted_hosts

    hosts = trusted_hosts(host, allow_host or ())  # a bad name stops before the history opens
    cycle = _cycle()
    where = console.clean(cycle.history.display_url)  # a path may hold [brackets], not markup
    console.info(f"dashboard on http://{console.clean(host)}:{port}/ — history {where}")
    names = console.clean(", ".join(hosts))
    console.info(f"answering requests for {names} (--allow-host NAME adds one)")
    serve_dashboard(cycle.history.url, cycle.plan.name, host, port, plan=cycle.plan, hosts=hosts)


@app.command()
def history(
    limit: Annotated[int, typer.Option("-n", "--limit", help="How many runs.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """List recent runs, newest first."""
    from passcycle import console

    cycle = _cycle()
    runs = cycle.runs(limit)
    baseline = cycle.baseline()
    if json_:
        console.print_json(
            {
                "baseline": baseline.id if baseline else None,
                "runs": [console.run_json(r) for r in runs],
            }
        )
        return
    console.show_runs(runs, baseline.id if baseline else None)


@app.command()
def show(
    run: Annotated[
        str,
        typer.Argument(
            help="Run id, 'latest', 'baseline' or -N; or an issue's fingerprint (4+ characters).",
            metavar="RUN|ISSUE",
        ),
    ] = "latest",
    json_: JsonOpt = False,
    results: Annotated[bool, typer.Option("--results", help="With --json: every result.")] = False,
) -> None:
    """Show one run (counts, coverage, slowest tests, failures) or one issue (its tests,
    suspects and the change behind them)."""
    from passcycle import console
    from passcycle.refs import is_issue_ref

    if is_issue_ref(run):
        detail = _cycle().issue(run)
        if json_:
            console.print_json(console.issue_detail_json(detail))
        else:
            console.show_issue(detail)
        return
    outcome = _cycle().show(run)
    if json_:
        console.print_json(console.test_json(outcome, all_results=results))
        return
    console.show_test_summary(outcome, failures=50)


@baseline_app.command("set")
def baseline_set(
    run: Annotated[str, typer.Argument(help=FULL_RUN_HELP)] = "full",
    force: Annotated[
        bool, typer.Option("--force", help="Accept a partial run or one that failed its gate.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Make a run the baseline that later runs are compared with."""
    from passcycle import console

    chosen = _cycle().set_baseline(run, force=force)
    if json_:
        console.print_json({"baseline": console.run_json(chosen)})
        return
    console.out.print(f"baseline is now run {chosen.id} ({chosen.status}, {chosen.kind})")


@app.command()
def calibrate(
    runs: Annotated[int, typer.Option("--runs", help="Judged full runs to rest on.", min=2)] = 20,
    margin: Annotated[
        str, typer.Option("--margin", help="Added to the worst value of those runs, e.g. 10%.")
    ] = "10%",
    write: Annotated[
        bool, typer.Option("--write", help="Put the proposed targets in passcycle.toml.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Propose each KPI's target from its recent history, and a regression threshold."""
    from passcycle import console
    from passcycle.console.calibration import calibration_json, show_calibration
    from passcycle.errors import UsageError
    from passcycle.targets import TargetSyntaxError, parse_quantity

    try:
        share = parse_quantity(margin, "percent") / 100
    except TargetSyntaxError as exc:
        raise UsageError(f"--margin {margin!r}: {exc}", hint="write e.g. --margin 10%") from None
    if share < 0:
        # below 0 the target would be tighter than the worst run: the history fails it
        raise UsageError(
            f"--margin {margin!r}: a margin below 0 sets targets the history does not meet",
            hint="write e.g. --margin 10%",
        )
    cycle = _cycle()
    proposals = cycle.calibrate(runs, share)
    written: list[str] = []
    if write:
        written = cycle.write_targets(proposals)
    if json_:
        console.print_json(calibration_json(proposals, written))
    else:
        show_calibration(proposals, written)


@baseline_app.command("show")
def baseline_show(json_: JsonOpt = False) -> None:
    """Show the baseline run."""
    from passcycle import console

    chosen = _cycle().baseline()
    if json_:
        console.print_json({"baseline": console.run_json(chosen) if chosen else None})
        return
    if chosen is None:
        console.out.print("no baseline yet: passcycle baseline set [RUN]")
        return
    console.out.print(
        f"baseline: run {chosen.id} ({chosen.status}, {chosen.kind}, "
        f"{chosen.started.astimezone():%Y-%m-%d %H:%M}, commit {(chosen.commit or '—')[:8]})"
    )


@import_app.command("junit")
def import_junit(
    files: Annotated[list[Path], typer.Argument(help="JUnit XML files.")],
    json_: JsonOpt = False,
) -> None:
    """Import JUnit XML results of any runner as a run."""
    from passcycle import console

    cycle = _cycle()
    cycle.import_junit(files)
    outcome = cycle.show("latest")
    if json_:
        console.print_json(console.test_json(outcome))
    else:
        console.show_test_summary(outcome)
    raise typer.Exit(outcome.exit_code)
