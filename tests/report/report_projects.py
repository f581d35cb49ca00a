"""The projects behind the report tests: their files, hostile names, and their histories
built with real runs of `Cycle` (a helper module, not a conftest, so tests can import it)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from passcycle.cycle import Cycle
from passcycle.plan import Plan, load_plan
from passcycle.records import Measurement, Run
from passcycle.store import History

HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(2)>"
HOSTILE_SCENARIO = "evil</script><script>alert(3)</script>"
ANSI_MESSAGE = "\x1b[31mred | `tick` <b>bold</b> [link](http://x) $x$ @team\x00\x07\x1b[0m"

PLAN = """\
[tool.pytest.ini_options]
pythonpath = ["src"]

[tool.passcycle.project]
name = "shop"

[tool.passcycle.kpis]
test_pass_rate = ">= 85%"
coverage = ">= 90%"
suite_duration = "< 10min"

[tool.passcycle.validate]
reruns = 1

[tool.passcycle.phases.1]
title = "Immediate stabilization"
exit = ["test_pass_rate >= 50%", "baseline", "no critical issues"]

[tool.passcycle.phases.2]
title = "Performance"
exit = ["test_pass_rate >= 85%", "coverage >= 90%"]
"""

CODE_BROKEN = """\
def add(a, b):
    return a + b


def mul(a, b):
    return a + b  # the bug run 2 no longer has


def never_called(x):
    if x:
        return 1
    return 2
"""

TESTS = f"""\
import os
import pytest
from pkg import add, mul

MARKER = os.path.join(os.path.dirname(__file__), ".flaky-marker")


def test_ok():
    assert add(1, 2) == 3


def test_ok_too():
    assert add(2, 2) == 4


def test_ansi_message():
    assert add(2, 2) == 5, {ANSI_MESSAGE!r}


def test_mul():
    assert mul(2, 3) == 6


@pytest.mark.parametrize("v", [1, 2], ids=[{HOSTILE_ID!r}, {HOSTILE_IMG!r}])
def test_x(v):
    assert v == 3


def test_flaky():
    # fails and passes in turn: fails first in each run, passes on its isolated re-run
    if os.path.exists(MARKER):
        os.remove(MARKER)
    else:
        open(MARKER, "w").close()
        assert False, "fails every other time"


def test_skipped():
    pytest.skip("not today")


@pytest.mark.xfail(reason="known")
def test_xfail():
    assert 0
"""


@dataclass(frozen=True)
class Project:
    plan: Plan
    url: str
    runs: tuple[Run, ...]

    def history(self) -> History:
        return History.open(self.url, root=self.plan.root)

    @property
    def latest(self) -> Run:
        return self.runs[-1]


@contextmanager
def quiet_children() -> Iterator[None]:
    """While building: child pytest runs skip the plugins installed beside passcycle
    (seconds per start, nothing these tests check), and PASSCYCLE_DB in a developer's
    shell does not redirect the history. The environment is restored after."""
    saved = {k: os.environ.get(k) for k in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PASSCYCLE_DB")}
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.pop("PASSCYCLE_DB", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def build_shop(root: Path) -> Project:
    """Two real runs: run 1 (the baseline) with a bug, a flaky test, hostile test names and
    an ANSI message; run 2 after fixing the bug. Scenario latency recorded for both."""
    write(
        root,
        {"pyproject.toml": PLAN, "src/pkg/__init__.py": CODE_BROKEN, "tests/test_shop.py": TESTS},
    )
    plan = load_plan(root)
    url = f"sqlite:///{root / 'history.db'}"
    with quiet_children(), History.open(url, root=root) as history:
        cycle = Cycle(plan, history)
        first = cycle.run().outcome
        cycle.set_baseline(first.run.id, force=True)
        fixed = CODE_BROKEN.replace("return a + b  #", "return a * b  #")
        write(root, {"src/pkg/__init__.py": fixed})
        second = cycle.run().outcome
        for run, p95 in ((first.run, 0.240), (second.run, 0.180)):
            history.add_measurements(run.id, scenario("steady-100", p95))
        # its load generator was the bottleneck: the reports mark its times as such
        bound = Measurement("generator_bound", 1.0, "", f"scenario:{HOSTILE_SCENARIO}")
        history.add_measurements(second.run.id, [*scenario(HOSTILE_SCENARIO, 0.5), bound])
        runs = tuple(history.run(r.run.id) for r in (first, second))
    return Project(plan, url, runs)


def scenario(name: str, p95: float) -> list[Measurement]:
    source = f"scenario:{name}"
    return [
        Measurement("p50_response_time", p95 / 3, "s", source),
        Measurement("p95_response_time", p95, "s", source, samples=(p95 * 0.9, p95, p95 * 1.1)),
        Measurement("p99_response_time", p95 * 1.6, "s", source),
        Measurement("requests", 6000, "", source),
        Measurement("error_rate", 0.5, "%", source),
        # a step's and a fault phase's figures: never the scenario's own in the trends
        Measurement(f'p95_response_time{{scenario="{name}",step="slow"}}', p95 * 9, "s", source),
        Measurement(f'requests{{scenario="{name}",phase="during"}}', 1200, "", source),
        Measurement(f'error_rate{{scenario="{name}",phase="during"}}', 12.5, "%", source),
        Measurement(f'p95_response_time{{scenario="{name}",phase="during"}}', p95 * 4, "s", source),
        Measurement("fault_p95_response_time", p95 * 4, "s", source),
        Measurement(
            f'fault_hits{{scenario="{name}",upstream="model",kind="down",fault="1"}}', 7, "", source
        ),
    ]


MANY = 1000


def build_many(root: Path) -> Project:
    """One run with 1,000 failing tests, each its own issue, with long hostile messages.

    Spread over 20 small files: pytest re-parses a test's whole file for each traceback."""
    noise = "| `x` <b>y</b> [z](http://e) " * 40
    files = {
        "pyproject.toml": PLAN.replace("reruns = 1", "reruns = 0").replace('"shop"', '"many"'),
        "src/pkg/__init__.py": "def one():\n    return 1\n",
        "tests/test_ok.py": "from pkg import one\n\n\ndef test_ok():\n    assert one() == 1\n",
    }
    per_file = MANY // 20
    for f in range(20):
        tests = "".join(
            f"\n\ndef test_fail_{n}():\n    raise ValueError('failure {n} ' + NOISE)\n"
            for n in range(f * per_file, (f + 1) * per_file)
        )
        files[f"tests/test_many_{f:02d}.py"] = f"NOISE = {noise!r}\n{tests}"
    write(root, files)
    plan = load_plan(root)
    url = f"sqlite:///{root / 'history.db'}"
    with quiet_children(), History.open(url, root=root) as history:
        outcome = Cycle(plan, history).run().outcome
        run = history.run(outcome.run.id)
    return Project(plan, url, (run,))
