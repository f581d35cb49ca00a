"""`python -m passcycle`."""

from passcycle.cli import run

run()
