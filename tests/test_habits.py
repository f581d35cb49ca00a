"""What users of pytest and friends expect without reading the docs: the tool's folder out
of `git status`, a typo's likely meaning, `-V`, shell completion, singular nouns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from passcycle import __version__
from passcycle.store import History
from tests.gitkit import committed_project, edit, git

FILES = {
    "pkg/__init__.py": "def half(x):\n    return x / 2\n",
    "tests/test_half.py": "from pkg import half\n\n\ndef test_half():\n    assert half(4) == 2\n",
}


def test_the_passcycle_folder_never_shows_in_git_status(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, FILES)  # no .gitignore: the folder ignores itself
    passcycle(root, "run", expect=0)
    assert (root / ".passcycle" / "history.db").exists()
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    # and an ignore file the project keeps is not touched
    (root / ".passcycle" / ".gitignore").write_text("*\n!keep.txt\n")
    passcycle(root, "run", expect=0)
    assert (root / ".passcycle" / ".gitignore").read_text() == "*\n!keep.txt\n"


def test_a_misspelt_kpi_says_what_was_meant(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, {**FILES, "passcycle.toml": '[kpis]\ncovrage = ">= 90%"\n'})
    result = passcycle(root, "run", expect=2)
    assert "kpis.covrage: no built-in KPI 'covrage': did you mean 'coverage'?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # the line and its tip
    # a name far from every built-in one is a custom KPI that needs a source
    (root / "passcycle.toml").write_text('[kpis]\nharmony = ">= 99%"\n')
    assert "a custom KPI needs a source" in passcycle(root, "run", expect=2).stderr


def test_version_and_shell_completion(tmp_path: Path, passcycle) -> None:
    assert passcycle(tmp_path, "-V", expect=0).stdout.strip() == f"passcycle {__version__}"
    # Typer's own switch for tests: the shell is named, not detected from the parent process
    named = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = passcycle(tmp_path, "--show-completion", "bash", expect=0, env=named).stdout
    assert "_passcycle_completion" in script
    assert "complete -o default -F _passcycle_completion passcycle" in script


def test_one_test_passes(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, FILES)
    edit(root, "pkg/__init__.py", "x / 2", "x / 3")
    passcycle(root, "run", expect=1)
    edit(root, "pkg/__init__.py", "x / 3", "x / 2")
    data = passcycle(root, "retest", "--json", expect=0).json()
    [fixed] = [i for i in data["issues"] if i["status"] == "fixed"]
    assert fixed["detail"] == "1 test passes"


def test_locusts_pytest_plugin_stays_out_of_the_projects_tests(tmp_path: Path, passcycle) -> None:
    files = {
        **FILES,
        "tests/test_plugins.py": (
            "def test_no_locust(request):\n"
            "    assert not request.config.pluginmanager.has_plugin('locust')\n"
        ),
    }
    root = tmp_path / "project"
    committed_project(root, files)
    # with the plugins installed beside passcycle loading as they do for the user
    data = passcycle(root, "test", "--json", autoload=True, expect=0).json()
    assert data["counts"]["passed"] == 2


def test_the_runs_own_report_shows_its_gate_in_recent_runs(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, FILES)
    passcycle(root, "run", expect=0)
    html = (root / ".passcycle" / "report.html").read_text()
    recent = html[html.index("Recent runs") :]
    row = recent[recent.index("<tbody>") : recent.index("</tbody>")]
    # the run's row: its status, then its gate as just judged (it read "—" before)
    assert '<span class="pill pass">passed</span>' in row.split("</td>", 3)[3]
    # and run --json's run carries the gate it was just given
    data = passcycle(root, "run", "--json", expect=0).json()
    assert data["run"]["gate"] is True and data["gate"]["passed"] is True


def test_imported_junit_ids_join_the_same_tests_run_natively(tmp_path: Path, passcycle) -> None:
    files = {
        **FILES,
        "tests/test_more.py": "class TestMore:\n    def test_one(self):\n        assert True\n",
    }
    root = tmp_path / "project"
    committed_project(root, files)
    native = passcycle(root, "test", "--json", expect=0).json()
    # pytest's own report, as another CI job writes it: xunit2 names no file, only
    # classname="tests.test_more.TestMore"
    xml = tmp_path / "pytest.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"],
        cwd=root, check=True, capture_output=True,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )  # fmt: skip
    assert 'classname="tests.test_more.TestMore"' in xml.read_text()
    imported = passcycle(root, "import", "junit", str(xml), "--json", expect=0).json()
    with History.open(root=root) as history:
        ids = {r.nodeid for r in history.results(imported["run"]["id"])}
        assert ids == {r.nodeid for r in history.results(native["run"]["id"])}
    assert ids == {"tests/test_half.py::test_half", "tests/test_more.py::TestMore::test_one"}


def test_a_wide_terminal_shows_whole_titles(tmp_path: Path, passcycle) -> None:
    why = "the configuration file names a profile that no longer exists in the store"
    files = {
        **FILES,
        "tests/test_long.py": f"def test_long():\n    raise LookupError({why!r})\n",
    }
    root = tmp_path / "project"
    committed_project(root, files)
    data = passcycle(root, "run", "--json", expect=1).json()
    [issue] = [i for i in data["issues"] if i["kind"] in ("failure", "error")]
    assert len(issue["title"]) > 90
    wide = passcycle(root, "validate", expect=1, env={"COLUMNS": "200"}).stdout
    assert issue["title"] in wide
    narrow = passcycle(root, "validate", expect=1, env={"COLUMNS": "80"}).stdout
    assert issue["title"] not in narrow and issue["title"][:60] in narrow
    # piped with no COLUMNS (a CI log, `| less`): wide enough for rows not to wrap mid-cell
    piped = passcycle(root, "validate", expect=1, env={"COLUMNS": ""}).stdout
    assert issue["title"] in piped
    [row] = [line for line in piped.splitlines() if line.startswith("test_pass_rate")]
    assert row.split()[-2:] == ["✘", "fail"]


def test_history_says_what_its_marks_mean(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, FILES)
    passcycle(root, "run", expect=0)
    passcycle(root, "baseline", "set", expect=0)
    edit(root, "pkg/__init__.py", "x / 2", "x / 2.0")  # uncommitted: the run is dirty
    passcycle(root, "run", expect=0)
    text = passcycle(root, "history", expect=0).stdout
    assert "★ baseline · * uncommitted changes beside the commit" in text
    assert "½" not in text  # full runs only
    passcycle(root, "test", "--", "-k", "nothing-matches-this", expect=None)  # a slice
    rows = passcycle(root, "history", expect=0).stdout.splitlines()
    assert rows[1].split()[:2] == ["3", "test"] and rows[1].split()[2] == "½", rows
    assert rows[-1].endswith(" · ½ part of the suite only"), rows


def test_one_line_per_thing_the_scenarios_say() -> None:
    from passcycle.cycle.core import merged_notes

    busy = "response times include the load generator waiting for a core"
    notes = [
        f"scenario 'steady' (this machine's CPU 99% busy): {busy}",
        "pytest ran no tests",
        f"scenario 'spike' (this machine's CPU 100% busy): {busy}",
        "scenario 'soak': reached 20 of 30 users (spawn_rate too low for the duration?)",
    ]
    assert merged_notes(notes) == [
        "scenarios 'steady' (this machine's CPU 99% busy), 'spike' (this machine's CPU 100%"
        f" busy): {busy}",
        "pytest ran no tests",
        "scenario 'soak': reached 20 of 30 users (spawn_rate too low for the duration?)",
    ]


def test_the_markdown_report_carries_the_runs_note(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, {**FILES, "tests/test_broken.py": "import not_a_module\n"})
    data = passcycle(root, "run", "--json", expect=1).json()
    assert "1 collection error" in data["note"]
    markdown = (root / ".passcycle" / "report.md").read_text()
    assert "> note: 1 collection error; pytest ran no tests" in markdown


def _recorded(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with History.open(f"sqlite:///{db}") as history:
            return bool(history.runs("project"))
    except Exception:  # passcycle may be creating its tables this moment
        return False


def test_ctrl_c_says_what_became_of_the_run(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the whole foreground group: passcycle and its pytest."""
    import signal
    import time

    root = tmp_path / "project"
    marker = tmp_path / "started"
    slow = (
        "import pathlib, time\n\n\ndef test_slow():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('x')\n    time.sleep(60)\n"
    )
    committed_project(root, {**FILES, "tests/test_slow.py": slow})
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "NO_COLOR": "1"}
    env.pop("PASSCYCLE_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "passcycle", "-C", str(root), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        db = root / ".passcycle" / "history.db"
        # pytest starts before the run is recorded (suite/early.py): wait for both, then
        # for passcycle to be following pytest (the writes that record the run are done)
        while not marker.exists() or not _recorded(db):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "interrupted (Ctrl-C); a run in progress is recorded as interrupted" in err
    assert "Traceback" not in err
    with History.open(f"sqlite:///{root / '.passcycle' / 'history.db'}") as history:
        [run] = history.runs("project")
    assert run.status == "interrupted"


def test_an_answer_of_any_size_reaches_a_pipe_whole(tmp_path: Path, passcycle) -> None:
    # passcycle leaves without tearing the interpreter down (cli.run): what it printed
    # must still all be there, far past a pipe's buffer
    many = (
        "import pytest\n\n\n@pytest.mark.parametrize('i', range(3000))\ndef test_n(i):\n    pass\n"
    )
    root = tmp_path / "project"
    committed_project(root, {**FILES, "tests/test_many.py": many})
    passcycle(root, "test", "--no-cov", expect=0)
    shown = passcycle(root, "show", "--json", "--results", expect=0)
    assert len(shown.stdout) > 300_000
    assert len(shown.json()["results"]) == 3001
