"""Serve fixtures: a real history made by real runs, and a real uvicorn server in a thread."""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from passcycle.cycle import Cycle
from passcycle.plan import Plan, load_plan
from passcycle.records import Measurement, Verdict
from passcycle.serve.app import create_app
from passcycle.store import History

HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_MESSAGE = "<img src=x onerror=alert(1)>"

PLAN = """\
[project]
name = "demo"

[kpis]
test_pass_rate = ">= 90%"
coverage = ">= 50%"

[validate]
reruns = 0

[phases.1]
title = "Stabilize"
exit = ["test_pass_rate >= 50%", "baseline"]

[phases.2]
title = "Harden"
exit = ["all kpis", "no regressions"]
"""

GOOD_TESTS = """\
import pytest
from demo import add, mul

def test_add():
    assert add(1, 2) == 3

def test_mul():
    assert mul(2, 3) == 6

@pytest.mark.parametrize("v", [HOSTILE])
def test_x(v):
    assert v
"""

# The second run breaks `mul` and the hostile test: two regressions against run 1.
BAD_TESTS = """\
import pytest
from demo import add, mul

def test_add():
    assert add(1, 2) == 3

def test_mul():
    assert mul(2, 3) == 7, MESSAGE

@pytest.mark.parametrize("v", [HOSTILE])
def test_x(v):
    assert not v, MESSAGE
"""


@dataclass
class Built:
    """A project and its history after a passing run (the baseline) and a failing one."""

    root: Path
    url: str
    plan: Plan
    verdicts: list[Verdict]


def write_project(root: Path) -> None:
    files = {
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
        "passcycle.toml": PLAN,
        "src/demo/__init__.py": "def add(a, b):\n    return a + b\n\n\n"
        "def mul(a, b):\n    return a * b\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    write_tests(root, GOOD_TESTS)


def write_tests(root: Path, text: str) -> None:
    header = f"HOSTILE = {HOSTILE_ID!r}\nMESSAGE = {HOSTILE_MESSAGE!r}\n"
    path = root / "tests" / "test_demo.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + text, encoding="utf-8")


def build_history(root: Path, url: str) -> Built:
    """Two real runs of the real cycle: run 1 passes and is the baseline, run 2 fails."""
    write_project(root)
    plan = load_plan(root)
    verdicts = []
    with History.open(url, root=root) as history:
        cycle = Cycle(plan, history)
        verdicts.append(cycle.run().verdict)
        cycle.set_baseline(verdicts[0].run.id, force=True)
        write_tests(root, BAD_TESTS)
        verdicts.append(cycle.run().verdict)
        # what a fault scenario records with run 2 (the scenario tests run real ones)
        history.add_measurements(verdicts[1].run.id, fault_scenario(HOSTILE_ID))
    return Built(root, url, plan, verdicts)


def fault_scenario(name: str) -> list[Measurement]:
    source = f"scenario:{name}"
    quoted = name.replace('"', '\\"')
    return [
        Measurement("requests", 900, "", source),
        Measurement("p95_response_time", 0.042, "s", source),
        Measurement("error_rate", 3.0, "%", source),
        Measurement(f'requests{{scenario="{quoted}",phase="during"}}', 300, "", source),
        Measurement(f'error_rate{{scenario="{quoted}",phase="during"}}', 9.0, "%", source),
        Measurement(
            f'fault_hits{{scenario="{quoted}",upstream="db",kind="reset",fault="1"}}',
            27,
            "",
            source,
        ),
    ]


@pytest.fixture(autouse=True)
def _no_history_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSCYCLE_DB", raising=False)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("serve") / "demo"
    return build_history(root, f"sqlite:///{root / '.passcycle' / 'history.db'}")


@pytest.fixture
def built_copy(built: Built, tmp_path: Path) -> Built:
    """The built history in a file of its own, for tests that add runs to it."""
    target = tmp_path / "history.db"
    shutil.copyfile(built.root / ".passcycle" / "history.db", target)
    return Built(built.root, f"sqlite:///{target}", built.plan, built.verdicts)


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a thread (as starlette tests do)."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve_app() -> Iterator[Callable[..., httpx.Client]]:
    """`serve_app(url, project, plan=...)` -> an httpx client on a live server of the app."""
    stack: list[tuple[LiveServer, httpx.Client]] = []

    def start(url: str, project: str | None = None, **kwargs: Any) -> httpx.Client:
        server = LiveServer(create_app(url, project, **kwargs)).__enter__()
        client = httpx.Client(base_url=server.url, timeout=10)
        stack.append((server, client))
        return client

    yield start
    for server, client in reversed(stack):
        client.close()
        server.__exit__()


@pytest.fixture(scope="session")
def dashboard(built: Built) -> Iterator[httpx.Client]:
    """One live dashboard over the built history, shared: nothing can write through it."""
    app = create_app(built.url, "demo", plan=built.plan)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
