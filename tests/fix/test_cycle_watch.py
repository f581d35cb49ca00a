"""`passcycle cycle --watch` and `passcycle retest`, driven as a developer would."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

from gitkit import git

PROJECT = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/calc/__init__.py": "",
    "src/calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    "src/calc/text.py": "def shout(s):\n    return s.upper() + '!'\n",
    "tests/test_ops.py": "from calc.ops import add, mul\n\n"
    + "".join(f"def test_add_{i}():\n    assert add({i}, 1) == {i + 1}\n\n" for i in range(5))
    + "".join(f"def test_mul_{i}():\n    assert mul({i}, 2) == {i * 2}\n\n" for i in range(5)),
    "tests/test_text.py": "from calc.text import shout\n\n"
    + "".join(f"def test_shout_{i}():\n    assert shout('a{i}') == 'A{i}!'\n\n" for i in range(10)),
}
BUG = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def _repo(make_project):
    root = make_project(PROJECT)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "working")
    return root


class Reader:
    """Lines of a child's stdout, waited for with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the end

    def rest(self, timeout: float = 30) -> str:
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return "".join(self.seen)

    def until(self, text: str, timeout: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            got.append(line)
            self.seen.append(line)
            if text in line:
                return got
        raise AssertionError(f"no {text!r} within {timeout}s; output:\n{''.join(self.seen)}")


def test_cycle_watch_fails_then_retests_the_fix_and_passes(make_project):
    root = _repo(make_project)
    (root / "src/calc/ops.py").write_text(BUG)  # introduce a bug
    env = {
        **os.environ,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "COLUMNS": "100",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "passcycle", "-C", str(root), "cycle", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out = Reader(proc)
        out.until("GATE FAILED")
        out.until("waiting for changes")
        time.sleep(0.5)
        (root / "src/calc/ops.py").write_text(PROJECT["src/calc/ops.py"])  # the fix
        retest = out.until("re-ran")
        line = next(x for x in retest if "re-ran" in x)
        # the 5 failing add tests are re-run; the 10 text tests the fix cannot reach are not
        assert "re-ran 5 of 20 tests" in line or "re-ran 10 of 20 tests" in line, line
        out.until("GATE PASSED")
        assert proc.wait(timeout=60) == 0
        summary = out.rest()
        assert "cycle: 2 iterations" in summary
        assert "fixed in iteration 2" in summary
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_retest_selects_only_what_the_change_reaches_and_explains_it(make_project, passcycle):
    root = _repo(make_project)
    long_name = "test_add_" + "with_a_name_long_enough_to_wrap_at_eighty_columns_" * 2
    with (root / "tests/test_ops.py").open("a") as tests:
        tests.write(f"def {long_name}():\n    assert add(2, 2) == 4\n")
    git(root, "commit", "-qam", "a long test name")
    (root / "src/calc/ops.py").write_text(BUG)
    passcycle(root, "run", expect=1)
    (root / "src/calc/ops.py").write_text(PROJECT["src/calc/ops.py"])
    dry = passcycle(root, "retest", "--dry-run", "--json", expect=0).json()
    selected = [t["nodeid"] for t in dry["selection"]["tests"]]
    assert all(n.startswith("tests/test_ops.py::") for n in selected)
    assert {f"tests/test_ops.py::test_add_{i}" for i in range(5)} <= set(selected)
    shown = passcycle(root, "retest", "--dry-run", expect=0).stdout
    explained = [line for line in shown.splitlines() if "::" in line]
    assert len(explained) == len(selected)
    assert all("—" in line for line in explained)  # one line each, never wrapped when piped
    assert any(long_name in line for line in explained)
    assert f"{21 - len(selected)} of 21 tests left out: no change since run" in shown

    done = passcycle(root, "retest", "--json", expect=0).json()
    assert done["run"]["kind"] == "retest"
    assert done["run"]["parent_id"] == dry["base"]["id"]
    # one issue for the bug in add(), whatever the six tests' assertions said
    assert [(i["status"], i["title"]) for i in done["issues"]] == [
        ("fixed", "wrong value from src/calc/ops.py:2 in add — 6 tests")
    ]
    assert sum(done["counts"].values()) == len(selected)
    assert sorted(r["nodeid"] for r in done["results"]) == sorted(selected)
    assert {r["outcome"] for r in done["results"]} == {"passed"}
    assert done["left_out"].startswith(f"{21 - len(selected)} of 21 tests left out")
    history = passcycle(root, "history", "--json").json()["runs"]
    assert [r["kind"] for r in history] == ["retest", "run"]
