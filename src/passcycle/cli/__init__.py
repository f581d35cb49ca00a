"""The command line: parse, call the core, render, exit. Heavy imports stay inside commands
so that `passcycle --help` answers at once."""

# isort: off
# The commands join the app as their modules load: those that run first in --help.
from passcycle.cli import running  # noqa: F401
from passcycle.cli import reading  # noqa: F401

# isort: on
from passcycle.cli.app import app, main, run

__all__ = ["app", "main", "run"]
