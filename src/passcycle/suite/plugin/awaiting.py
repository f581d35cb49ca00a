"""A pytest started before it knows what to run: it waits, before collecting, for the
file that says which paths to collect and which items to keep.

A re-test knows its selection only after reading the change and the map; pytest's own
start (its imports, plugins and the first conftest files: most of a small selection's
run) does not need to wait for that. So the runner starts pytest with the plan's tests,
and every process (under pytest-xdist the controller and each worker, which collect on
their own) waits here until the runner writes the file named by PASSCYCLE_AWAIT, whole
(it is renamed into place): {"paths": [...] or null, "select": FILE or null}.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

# The runner either writes the file or kills this process group within a second; a
# process left waiting longer (its runner killed with SIGKILL) stops by itself.
GIVE_UP_SECONDS = 600.0
_POLL_SECONDS = 0.002


class Awaiting:
    def __init__(self, path: str, selection: Any) -> None:
        self.path = Path(path)
        self.selection = selection  # selection.Selection: told which items to keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        said = self._wait()
        if said.get("paths"):
            # what Session.perform_collect collects when it is given no arguments
            session.config.args = list(said["paths"])
        self.selection.select = said.get("select")

    def _wait(self) -> dict[str, Any]:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while True:
            try:
                return dict(json.loads(self.path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                if time.monotonic() > deadline:
                    pytest.exit("passcycle never said what to run", returncode=4)
                time.sleep(_POLL_SECONDS)
