"""Fixtures for scenario tests: a tiny real service written to tmp_path, and a check that
every test leaves no process behind."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from scenario_kit import APP

from passcycle.scenario_sections import ServiceSection


@pytest.fixture
def app(tmp_path: Path) -> Callable[..., ServiceSection]:
    """`app(APP_CHILD="1", ready_timeout="5s")` -> a ServiceSection starting the tiny app."""
    path = tmp_path / "app.py"
    path.write_text(APP, encoding="utf-8")

    def make(**options: Any) -> ServiceSection:
        env = {k: str(v) for k, v in options.items() if k.startswith("APP_")}
        rest = {k: v for k, v in options.items() if not k.startswith("APP_")}
        command = [sys.executable, str(path), "{port}"]
        return ServiceSection.model_validate({"command": command, "env": env, **rest})

    return make


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return str(proc.pid)


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail a test that leaves a child process of the test process running."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    deadline = time.monotonic() + 10.0
    left: list[psutil.Process] = []
    while time.monotonic() < deadline:
        left = [p for p in me.children(recursive=True) if p.pid not in before and _running(p)]
        if not left:
            break
        time.sleep(0.1)
    names = [_describe(p) for p in left]
    for proc in left:
        proc.kill()
    assert not left, f"processes left behind: {names}"
