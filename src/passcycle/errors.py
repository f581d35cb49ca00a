"""Exit codes and the errors a user can fix.

The exception tree::

    PasscycleError            message + hint + exit code; printed as one line, no traceback
     +-- PlanError            the plan is wrong (exit 2); the message names the file and key
     +-- UsageError           a command line that cannot work (exit 2)
     |    +-- PytestUsageError  pytest refused its arguments (exit 2); no run is recorded
     +-- HistoryError         the history database cannot be opened or written (exit 3)
     +-- RunError             the suite or the service could not be run (exit 3)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every test passed / the gate passed
    FAILED = 1  # test failures / the gate failed
    USAGE_ERROR = 2  # a usage or plan error
    RUN_ERROR = 3  # passcycle could not run the suite or the service
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class PasscycleError(Exception):
    """An error the user can fix; `cli.main` prints it as one line with its hint."""

    exit_code: ExitCode = ExitCode.RUN_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class PlanError(PasscycleError):
    """The plan is wrong; the message names the file and the key."""

    exit_code = ExitCode.USAGE_ERROR


class UsageError(PasscycleError):
    """The command line asks for something that cannot work."""

    exit_code = ExitCode.USAGE_ERROR


class PytestUsageError(UsageError):
    """pytest refused its command line (its exit code 4) before running anything."""


class HistoryError(PasscycleError):
    """The history database cannot be opened, migrated or written."""

    exit_code = ExitCode.RUN_ERROR


class RunError(PasscycleError):
    """The test suite or the service could not be run at all."""

    exit_code = ExitCode.RUN_ERROR
