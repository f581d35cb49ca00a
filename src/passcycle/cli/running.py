"""The commands that run the project: init, test, run, merge, retest and the cycle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from passcycle.cli.app import (
    CiOpt,
    JsonOpt,
    WorkersOpt,
    _cycle,
    _plan,
    app,
    options,
)
from passcycle.errors import UsageError

if TYPE_CHECKING:
    pass

OrderOpt = Annotated[
    str | None,
    typer.Option(
        "--order",
        metavar="risk|default",
        help="risk: the tests a change reaches first, then recent failures, then fastest.",
    ),
]
BudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--budget",
        metavar="20%|2min|90s",
        help="Run the riskiest tests that fit this share of the recorded time (a partial run).",
    ),
]


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing plan.")] = False,
) -> None:
    """Write passcycle.toml: the execution plan's KPIs, targets and four phases."""
    from rich.text import Text

    from passcycle import console
    from passcycle.plan import init_project, load_plan

    root = (options.project_dir or Path.cwd()).resolve()
    path, shape = init_project(root, force=force)
    plan = load_plan(root)
    fitted = (
        f"for the {shape.found}: [service], a first scenario and a crash drill drafted"
        if shape.kind == "service"
        else "for a library: the service KPIs are comments, for when it has a [service]"
    )
    console.out.print(
        f"wrote {path.name}: {len(plan.kpis)} KPIs and {len(plan.phases)} phases from the"
        " execution plan"
    )
    console.out.print(Text(fitted))
    console.out.print("[dim]next: passcycle run[/]")


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
    order: OrderOpt = None,
    budget: BudgetOpt = None,
) -> None:
    """Run the test suite with coverage and record the run. Arguments after -- go to pytest."""
    from passcycle import console
    from passcycle.fix.budget import parse_budget
    from passcycle.suite.shards import parse_shard

    # a bad K/N, budget or mix of them is refused before the plan is read or anything shown
    number, total = parse_shard(shard) if shard is not None else (0, 0)
    if budget is not None:
        parse_budget(budget)
    _check_split(shard, group, order, budget, no_cov=no_cov)
    plan = _plan()
    # in pytest's order the suite starts now, while the history is opened (suite/early.py)
    plain = shard is None and group is None and order is None and budget is None
    started = _start_ahead(plan, ctx.args, coverage=not no_cov) if plain else None
    try:
        cycle = _cycle(plan)
        if not json_:
            console.show_detected(cycle.plan.detected)
        if shard is not None:
            _shard(cycle, list(ctx.args), (number, total), group, json_=json_)
        progress = console.Progress()
        with progress.live():
            ordered = cycle.test_in_order(
                list(ctx.args),
                order=order or ("risk" if budget is not None else "default"),
                budget=budget,
                coverage=not no_cov,
                on_progress=progress,
                started=started,
            )
    finally:
        if started is not None:
            started.discard()  # the run never came (an error, Ctrl-C): no orphan pytest
    _show_ordered(ordered, [*cycle.plan.project.pytest_args, *ctx.args], json_=json_, cycle=cycle)


def _check_split(
    shard: str | None, group: str | None, order: str | None, budget: str | None, *, no_cov: bool
) -> None:
    """Options of `test` that cannot go together, refused with what to do instead."""
    if shard is None:
        if group is not None:
            raise UsageError(
                "--group names a split of shards: give --shard K/N with it",
                hint="passcycle test --shard 1/4 --group nightly (on each of the 4 machines)",
            )
        return
    if no_cov:
        raise UsageError(
            "--shard needs coverage: the merged run's coverage is theirs",
            hint="leave out --no-cov; passcycle merge joins the shards' coverage",
        )
    if budget is not None or order is not None:
        raise UsageError(
            "--shard splits the suite by durations: leave out --order and --budget",
            hint="a shard runs its share of every test; --order and --budget pick and rank"
            " tests for one machine",
        )


def _show_ordered(ordered: Any, pytest_args: list[str], *, json_: bool, cycle: Any) -> None:
    from passcycle import console

    if json_:
        data = console.test_json(ordered.outcome)
        data.update(console.order_json(ordered))
        console.print_json(data)
    else:
        console.show_test_summary(ordered.outcome)
        console.show_order(ordered, pytest_args)
    _answered(cycle)
    raise typer.Exit(ordered.exit_code)


def _answered(cycle: Any) -> None:
    """Once a command's answer is out, keep the brief the next re-test decides from
    (fix/brief.py): the user does not wait for it."""
    from passcycle import console

    console.out.file.flush()
    cycle.keep_brief()


def _start_ahead(plan: Any, args: list[str], *, coverage: bool) -> Any:
    """The suite's pytest started before the history is opened (suite/early.py); None
    where it cannot start, and the run itself then says why."""
    from passcycle.errors import PasscycleError
    from passcycle.suite.early import start_test

    try:
        return start_test(plan, args, coverage=coverage)
    except (PasscycleError, OSError):
        return None


def _shard(
    cycle: Any, pytest_args: list[str], shard: tuple[int, int], group: str | None, *, json_: bool
) -> None:
    """Run and record shard K of N, then exit with its code."""
    from passcycle import console

    (number, total), progress = shard, console.Progress()
    with progress.live():
        outcome, grp = cycle.shard(
            number, total, pytest_args, group=group, on_progress=progress, on_stage=console.info
        )
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


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    ctx: typer.Context,
    json_: JsonOpt = False,
    ci: CiOpt = False,
    workers: WorkersOpt = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            help="Run only this scenario (repeatable), no tests: a partial run judged on it.",
        ),
    ] = None,
) -> None:
    """The full cycle: Test, then Validate — KPIs, issues, phases and the gate. Exit 0 on pass."""
    from passcycle import console

    plan = _plan()
    # the suite's pytest starts now, while the history is opened (suite/early.py)
    started = None if scenario else _start_ahead(plan, ctx.args, coverage=True)
    try:
        cycle = _cycle(plan)
        if not json_:
            console.show_detected(cycle.plan.detected)
        progress = console.Progress()
        shown: list[Any] = []

        def tested(outcome: Any) -> None:
            # the suite's summary as soon as it is known, not after minutes of scenarios
            if not json_:
                console.show_test_summary(outcome, slowest=3, failures=0)
                shown.append(outcome)

        with progress.live():
            result = cycle.run(
                list(ctx.args),
                on_progress=progress,
                on_stage=console.info,
                on_load=progress.load,
                on_tested=tested,
                workers=workers,
                formats=_formats(ci),
                scenarios_only=scenario or (),
                started=started,
            )
    finally:
        if started is not None:
            started.discard()  # not followed: an error before the Test phase, Ctrl-C
    _judged(cycle, result, json_=json_, summarized=(shown[0].note or "") if shown else None)


@app.command()
def merge(
    group: Annotated[
        str | None,
        typer.Option("--group", help="The split to merge (default: the newest shard's)."),
    ] = None,
    json_: JsonOpt = False,
    ci: CiOpt = False,
    workers: WorkersOpt = None,
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


def _judged(cycle: Any, result: Any, *, json_: bool, summarized: str | None = None) -> None:
    """A concluded run's summary: its tests, scenarios, verdict, reports and any alert that
    was not delivered; exit with its code."""
    from passcycle import console

    outcome, verdict, tips = result.outcome, result.verdict, result.suggestions
    if json_:
        data = console.verdict_json(verdict)
        data.update({k: v for k, v in console.test_json(outcome).items() if k != "run"})
        data["scenarios"] = console.scenarios_json(result.scenarios)
        data["audit"] = console.audit_json(result.audits)
        data["drills"] = console.drills_json(result.drills)
        for issue in data["issues"]:
            tip = tips.get(issue["fingerprint"])
            issue["suggestion"] = console.suggestion_json(tip) if tip else None
        console.print_json(data)
        for line in result.alerts:
            console.info(line)
    else:
        _show_result(result, cycle.plan.root, slowest=3, summarized=summarized)
    _answered(cycle)
    raise typer.Exit(result.exit_code)


def _show_result(result: Any, root: Path, *, slowest: int, summarized: str | None = None) -> None:
    """A concluded run in the terminal, as `run`, `merge` and the loop's full pass show it.
    `summarized`: the note the suite's summary showed, when it was shown as the tests ended
    ("" when it had none)."""
    from passcycle import console

    tested = result.outcome.results or not result.outcome.run.partial  # `--scenario` runs none
    said = summarized
    if summarized is None and tested:
        console.show_test_summary(result.outcome, slowest=slowest, failures=0)
        said = result.outcome.note
    console.show_scenarios(result.scenarios)
    console.show_scenario_note(result.outcome.note, said)
    console.show_drills(result.drills)
    console.show_audit(result.audits)
    console.show_verdict(result.verdict, result.suggestions)
    console.show_reports(result.reports, root)
    for line in result.alerts:
        console.info(line)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def retest(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Re-run every test.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the selection and why, run nothing.")
    ] = False,
    reruns: Annotated[
        int,
        typer.Option(
            "--reruns", min=0, max=10, help="Re-run each failure N times in isolation (flaky?)."
        ),
    ] = 0,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Then run the full suite and name any failure the re-test missed."
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Re-run the failed tests and the tests a change since the last run can affect."""
    from passcycle.fix.brief import retest_ahead

    plan = _plan()
    if dry_run:
        _show_selection(plan, json_=json_)
        return
    # decided from the brief, the selection's pytest starts before the history is opened
    ahead = None if all_ else retest_ahead(plan, list(ctx.args), options.db)
    from passcycle import console  # once that pytest has started

    try:
        answer = None if ahead is None or verify else ahead.answer(plan)
        if answer is not None:  # nothing to run: the history was not needed
            _show_retest(answer, json_=json_)
        cycle = _cycle(plan)
        progress = console.Progress("re-test")
        with progress.live():
            outcome = cycle.retest(
                list(ctx.args),
                everything=all_,
                reruns=reruns,
                verify=verify,
                on_progress=progress,
                on_stage=console.info,
                on_load=progress.load,
                ahead=ahead,
            )
    finally:
        if ahead is not None:
            ahead.discard()  # not followed: an error before the run, Ctrl-C
    _show_retest(outcome, json_=json_, cycle=cycle)


def _show_selection(plan: Any, *, json_: bool) -> None:
    """`retest --dry-run`: what a re-test would run and why."""
    from passcycle import console
    from passcycle.fix.brief import decide

    decided = decide(plan, options.db)  # from the brief when it is current (fix/brief.py)
    if decided is not None:
        base, selection = decided.brief.base, decided.selection
    else:
        base, selection = _cycle(plan).retest_selection()
    if json_:
        from passcycle.fix.retest import Retest

        console.print_json(console.retest_json(Retest(base, selection, None, None, [])))
    else:
        console.show_selection(base, selection)


def _show_retest(retest: Any, *, json_: bool, cycle: Any = None) -> None:
    """The re-test's answer, then (once it is out) the brief kept for the next one."""
    from passcycle import console

    if json_:
        console.print_json(console.retest_json(retest))
    else:
        console.show_retest(retest)
    if cycle is not None:
        _answered(cycle)
    raise typer.Exit(retest.exit_code)


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
                    _show_result(event.result, cycle.plan.root, slowest=0)
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
