"""The command line's app: its global options, the plan and history every command opens,
and the entry point that turns every error a user can fix into one line."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from passcycle.errors import ExitCode, PasscycleError, UsageError

if TYPE_CHECKING:
    from passcycle.cycle import Cycle
    from passcycle.plan import Plan

app = typer.Typer(
    name="passcycle",
    help="Test -> Validate -> Fix -> Test -> Pass: a project's quality cycle with one history.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion, as Typer gives them
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
    int | None,
    typer.Option(
        "--workers",
        help="Locust worker processes for every scenario (default: the plan's [load] workers;"
        " 'auto' adds processes to a scenario that was generator-bound last run).",
        min=0,
    ),
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
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    options.project_dir = project_dir
    options.plan_file = plan
    options.db = db


def _plan() -> Plan:
    from passcycle.plan import load_plan

    root = options.project_dir
    if root is not None and not root.is_dir():
        raise UsageError(f"no such folder: {root}", hint="-C takes the project's folder")
    return load_plan(root, options.plan_file)


def _cycle(plan: Plan | None = None) -> Cycle:
    from passcycle.cycle import Cycle, open_history

    plan = plan or _plan()
    return Cycle(plan, open_history(plan, options.db))


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns every error a user can fix into one line."""
    try:
        # with standalone_mode off, click returns the code of typer.Exit instead of exiting
        # one name however it was started (`python -m passcycle` too): usage and completion
        code = app(args=argv, standalone_mode=False, prog_name="passcycle")
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

        console.error_line(INTERRUPTED)
        return _exit(ExitCode.INTERRUPTED)
    code = code if isinstance(code, int) else 0
    if code == ExitCode.INTERRUPTED:
        # typer turns Ctrl-C into Exit(130), which click returns here as a plain code: say it
        from passcycle import console

        console.error_line(INTERRUPTED)
    return _exit(code)


INTERRUPTED = "interrupted (Ctrl-C); a run in progress is recorded as interrupted"


def run() -> NoReturn:
    """The `passcycle` command: `main`, then out without tearing the interpreter down.

    Once the answer is out and every exit handler has run, Python would still free each
    of the many objects SQLAlchemy, pydantic and rich made, one by one: 0.04–0.10 s of a
    re-test that answers in well under a second (docs/benchmarks.md). The operating
    system frees them at once. `main` stays for callers in the same process."""
    code = main()
    atexit._run_exitfuncs()  # what the interpreter would run (coverage's data, logging)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`)
            stream.flush()
    os._exit(code)


def _exit(code: int) -> int:
    sys.stdout.flush()
    return int(code)
