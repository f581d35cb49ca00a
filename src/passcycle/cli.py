"""The command line: parse, call the core, render, exit. Heavy imports stay inside commands
so that `passcycle --help` answers at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from passcycle.errors import ExitCode, PasscycleError, UsageError

if TYPE_CHECKING:
    from passcycle.cycle import Cycle

app = typer.Typer(
    name="passcycle",
    help="Test -> Validate -> Fix -> Test -> Pass: a project's quality cycle with one history.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
baseline_app = typer.Typer(
    help="Name the run that later runs are compared with.", no_args_is_help=True
)
import_app = typer.Typer(
    help="Bring results of other runners into the history.", no_args_is_help=True
)
app.add_typer(baseline_app, name="baseline")
app.add_typer(import_app, name="import")


class Options:
    """Global options, shared by every command."""

    project_dir: Path | None = None
    plan_file: Path | None = None
    db: str | None = None


options = Options()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (docs/json.md).")]
CiOpt = Annotated[
    bool,
    typer.Option("--ci", help="Also write JUnit XML and JSON; Markdown to $GITHUB_STEP_SUMMARY."),
]
# validate, phase and report judge the whole suite unless told otherwise (#9)
FULL_RUN_HELP = "Run id, 'full' (the newest full run), 'latest', 'baseline' or -N."
WorkersOpt = Annotated[
    int, typer.Option("--workers", help="Locust worker processes for the scenarios.", min=0)
]


def _version(value: bool) -> None:
    if value:
        from passcycle import __version__

        typer.echo(f"passcycle {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    project_dir: Annotated[
        Path | None, typer.Option("-C", "--project-dir", help="Run as if started in this folder.")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Plan file (default: passcycle.toml).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="History database URL (default: .passcycle/history.db).", envvar=None
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    options.project_dir = project_dir
    options.plan_file = plan
    options.db = db


def _cycle() -> Cycle:
    from passcycle.cycle import Cycle, open_history
    from passcycle.plan import load_plan

    root = options.project_dir
    if root is not None and not root.is_dir():
        raise UsageError(f"no such folder: {root}", hint="-C takes the project's folder")
    plan = load_plan(root, options.plan_file)
    return Cycle(plan, open_history(plan, options.db))


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing plan.")] = False,
) -> None:
    """Write passcycle.toml: the execution plan's KPIs, targets and four phases."""
    from passcycle import console
    from passcycle.plan import init_plan

    path = init_plan((options.project_dir or Path.cwd()).resolve(), force=force)
    console.out.print(f"wrote {path.name}: 14 KPIs and 4 phases from the execution plan")
    console.out.print("[dim]next: passcycle test[/]")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def test(
    ctx: typer.Context,
    json_: JsonOpt = False,
    no_cov: Annotated[bool, typer.Option("--no-cov", help="Skip coverage.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Run shard K of N (balanced by recorded durations); `passcycle merge` joins them.",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="The split a shard belongs to (default: the git commit)."),
    ] = None,
) -> None:
    """Run the test suite with coverage and record the run. Arguments after -- go to pytest."""
    from passcycle import console
    from passcycle.suite.shards import parse_shard

    # a bad K/N is refused before the plan is read or anything is printed
    number, total = parse_shard(shard) if shard is not None else (0, 0)
    cycle = _cycle()
    if not json_:
        console.show_detected(cycle.plan.detected)
    progress = console.Progress()
    if shard is not None:
        if no_cov:
            raise UsageError("--shard needs coverage: the merged run's coverage is theirs")
        with progress.live():
            outcome, grp = cycle.shard(
                number, total, list(ctx.args), group=group, on_progress=progress,
                on_stage=console.info,
            )  # fmt: skip
        if json_:
            data = console.test_json(outcome)
            data["shard"] = {"number": number, "total": total, "group": grp}
            console.print_json(data)
        else:
            console.show_test_summary(outcome)
            console.info(
                f"shard {number}/{total} of group {grp} recorded; once all {total} have run:"
                f" passcycle merge --group {grp}"
            )
        raise typer.Exit(outcome.exit_code)
    if group is not None:
        raise UsageError("--group names a split of shards: give --shard K/N with it")
    with progress.live():
        outcome = cycle.test(list(ctx.args), coverage=not no_cov, on_progress=progress)
    if json_:
        console.print_json(console.test_json(outcome))
    else:
        console.show_test_summary(outcome)
    raise typer.Exit(outcome.exit_code)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    ctx: typer.Context,
    json_: JsonOpt = False,
    ci: CiOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """The full cycle: Test, then Validate — KPIs, issues, phases and the gate. Exit 0 on pass."""
    from passcycle import console

    cycle = _cycle()
    if not json_:
        console.show_detected(cycle.plan.detected)
    progress = console.Progress()
    with progress.live():
        result = cycle.run(
            list(ctx.args),
            on_progress=progress,
            on_stage=console.info,
            on_load=progress.load,
            workers=workers,
            formats=_formats(ci),
        )
    _judged(cycle, result, json_=json_)


@app.command()
def merge(
    group: Annotated[
        str | None,
        typer.Option("--group", help="The split to merge (default: the newest shard's)."),
    ] = None,
    json_: JsonOpt = False,
    ci: CiOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """Join the shards of a split into one run (results, coverage), then Validate it."""
    from passcycle import console

    cycle = _cycle()
    progress = console.Progress()
    with progress.live():
        result = cycle.merge(
            group,
            on_stage=console.info,
            on_load=progress.load,
            workers=workers,
            formats=_formats(ci),
        )
    _judged(cycle, result, json_=json_)


def _formats(ci: bool) -> tuple[str, ...]:
    return ("html", "md", "junit", "json") if ci else ("html", "md")


def _judged(cycle: Any, result: Any, *, json_: bool) -> None:
    """A concluded run's summary: its tests, scenarios, verdict, reports and any alert that
    was not delivered; exit with its code."""
    from passcycle import console

    outcome, verdict, tips = result.outcome, result.verdict, result.suggestions
    reports, alerts, scenarios = result.reports, result.alerts, result.scenarios
    if json_:
        data = console.verdict_json(verdict)
        data.update({k: v for k, v in console.test_json(outcome).items() if k != "run"})
        data["scenarios"] = console.scenarios_json(scenarios)
        for issue in data["issues"]:
            tip = tips.get(issue["fingerprint"])
            issue["suggestion"] = console.suggestion_json(tip) if tip else None
        console.print_json(data)
    else:
        console.show_test_summary(outcome, slowest=3, failures=0)
        console.show_scenarios(scenarios)
        console.show_verdict(verdict, tips)
        console.show_reports(reports, cycle.plan.root)
    for line in alerts:
        console.info(line)
    raise typer.Exit(result.exit_code)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def retest(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Re-run every test.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the selection and why, run nothing.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Re-run the failed tests and the tests a change since the last run can affect."""
    from passcycle import console

    cycle = _cycle()
    if dry_run:
        base, selection = cycle.retest_selection()
        if json_:
            from passcycle.cycle import Retest

            console.print_json(console.retest_json(Retest(base, selection, None, None, [])))
        else:
            console.show_selection(base, selection)
        return
    progress = console.Progress("re-test")
    with progress.live():
        outcome = cycle.retest(list(ctx.args), everything=all_, on_progress=progress)
    if json_:
        console.print_json(console.retest_json(outcome))
    else:
        console.show_retest(outcome)
    raise typer.Exit(outcome.exit_code)


@app.command("cycle")
def cycle_(
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="On a failed gate, wait for fixes and re-test.")
    ] = False,
) -> None:
    """The whole loop: Test, Validate; then re-test on every save and run the full pass
    when the re-test is green. Stops at Pass (exit 0) or Ctrl-C (with a summary)."""
    from passcycle import console
    from passcycle.loop import Changed, CycleLog, FullPass, Retested, Waiting, run_cycle

    cycle = _cycle()
    log = CycleLog()
    progress = console.Progress()
    try:
        with progress.live():
            for event in run_cycle(cycle, watch=watch, log=log, on_progress=progress):
                if isinstance(event, FullPass):
                    result = event.result
                    console.show_test_summary(result.outcome, slowest=0, failures=0)
                    console.show_scenarios(result.scenarios)
                    console.show_verdict(result.verdict, result.suggestions)
                    console.show_reports(result.reports, cycle.plan.root)
                    for line in result.alerts:
                        console.info(line)
                elif isinstance(event, Waiting):
                    console.out.print("[dim]waiting for changes… (Ctrl-C to stop)[/]")
                elif isinstance(event, Changed):
                    shown = ", ".join(event.paths[:3]) + (" …" if len(event.paths) > 3 else "")
                    console.out.print(f"\n[bold]changed:[/] {console.clean(shown)}")
                elif isinstance(event, Retested):
                    console.show_retest(event.retest)
                console.out.file.flush()
    except KeyboardInterrupt:
        console.show_cycle_summary(log)
        raise typer.Exit(130) from None
    console.show_cycle_summary(log)
    raise typer.Exit(0 if log.passed else 1)


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
        chosen = cycle.history.get_run(run, project=cycle.plan.name)
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
    run: Annotated[str, typer.Argument(help="Run id, 'latest', 'baseline' or -N.")] = "latest",
    json_: JsonOpt = False,
    results: Annotated[bool, typer.Option("--results", help="With --json: every result.")] = False,
) -> None:
    """Show one run: counts, coverage, slowest tests and failures."""
    from passcycle import console

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


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns every error a user can fix into one line."""
    try:
        # with standalone_mode off, click returns the code of typer.Exit instead of exiting
        code = app(args=argv, standalone_mode=False)
    except PasscycleError as exc:
        from passcycle import console

        console.error_line(exc.message, exc.hint)
        return _exit(int(exc.exit_code))
    except typer.Exit as exc:
        return _exit(exc.exit_code)
    except typer.Abort:
        return _exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        from passcycle import console

        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        console.error_line(message, "passcycle --help lists the commands and options")
        return _exit(ExitCode.USAGE_ERROR)
    except KeyboardInterrupt:
        from passcycle import console

        console.error_line("interrupted; the run is recorded as interrupted")
        return _exit(ExitCode.INTERRUPTED)
    return _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> int:
    sys.stdout.flush()
    return int(code)
