"""What the cycle's parts share."""

from __future__ import annotations

from collections.abc import Callable

REPORT_FORMATS = ("html", "md")  # `--ci` adds junit and json
MAX_RERUN = 100  # failed tests re-run for flakiness; past this, a suite is broken, not flaky
FLUSH_EVERY = 0.5  # seconds between batched writes of results to the history
ProgressHook = Callable[..., None]
