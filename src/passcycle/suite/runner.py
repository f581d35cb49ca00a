"""The suite runner: pytest in a subprocess, its outcomes streamed back as they happen.

pytest runs in the user's interpreter with passcycle's plugin (the plugin/ package, copied
beside the run as `passcycle_pytest_plugin`), in its own process group. The runner tails the
plugin's events, so a crash or a hang is pinned on the test that was running, and the
rest of the suite is resumed in a fresh process instead of lost.

That group is listed with the guardian (passcycle/guardian.py) while pytest runs: the
parent-death signal stops pytest alone, and a passcycle killed by SIGKILL would otherwise
leave pytest-xdist workers and the processes tests start running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from passcycle.errors import PytestUsageError, RunError
from passcycle.guardian import GUARDIAN
from passcycle.records import BAD_OUTCOMES, CoverageSummary, FileCoverage, TestResult
from passcycle.suite.covmap import find_rcfile
from passcycle.suite.covwarn import WARNINGS_PREFIX, read_unmeasured, warning_files
from passcycle.suite.covwarn import note as unmeasured_note
from passcycle.suite.machine import mark as cpu_mark
from passcycle.suite.machine import others_since
from passcycle.suite.process import (
    PYTEST_FAILED,
    PYTEST_INTERNAL_ERROR,
    PYTEST_INTERRUPTED,
    PYTEST_NO_TESTS,
    PYTEST_OK,
    PYTEST_USAGE_ERROR,
    Exit,
    death,
    disagreements,
    kill_group,
    result_from_event,
    set_parent_death_signal,
)
from passcycle.suite.refusal import first_error, refusal, start_hint
from passcycle.suite.spec import Progress, SuiteOutcome, SuiteSpec

if TYPE_CHECKING:
    from passcycle.suite.early import Started

PLUGIN_MODULE = "passcycle_pytest_plugin"
MAX_RESUMES = 10
POLL_SECONDS = 0.1
# After a hung test's deadline before its group is killed; and, when passcycle dies, from
# the guardian's SIGTERM to its SIGKILL.
KILL_GRACE_SECONDS = 5.0
LOG_TAIL_LINES = 15


# Inherited from an outer pytest-xdist worker they would mislead the suite's own plugins.
_OUTER_PYTEST_VARS = (
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "PYTEST_CURRENT_TEST",
    "PASSCYCLE_EVENTS",
    "PASSCYCLE_TIMEOUT",
    "PASSCYCLE_COVERAGE",
    "PASSCYCLE_SELECT",
    "PASSCYCLE_ORDER",
    "PASSCYCLE_SHARD",
    "PASSCYCLE_DURATIONS",
)


def run_suite(
    spec: SuiteSpec,
    on_progress: Callable[[Progress], None] | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    started: Started | None = None,
) -> SuiteOutcome:
    """Run the suite once (resuming after crashes) and return every outcome; `started`:
    follow the pytest that `start_suite(spec)` started instead of starting one."""
    if started is not None:
        return started.follow(on_progress, on_result)
    return SuiteRun(spec, on_progress, on_result).execute()


class SuiteRun:
    """One suite run: the first pytest process and its resumes."""

    def __init__(
        self,
        spec: SuiteSpec,
        on_progress: Callable[[Progress], None] | None,
        on_result: Callable[[TestResult], None] | None,
    ) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self.on_result = on_result
        self.artifacts = spec.artifacts.resolve()
        self.events_path = self.artifacts / "events.jsonl"
        self.log_path = self.artifacts / "pytest.log"
        self.data_file = self.artifacts / "coverage.db"
        self.results: list[TestResult] = []
        self.done: set[str] = set()
        self.failures = 0
        self.collected_ids: list[str] | None = None
        self.collect_errors = 0
        self.notes: list[str] = []
        self.started = time.monotonic()
        self.cpu_start = cpu_mark()
        self.plugin_dir: Path | None = None
        # per process
        self.running: dict[str, float] = {}  # node id -> when it started
        self.finish_status: int | None = None
        self.events_offset = 0  # every process appends to one events file
        self.log_start = 0  # where the current process's output starts in pytest.log
        self.process_bad: set[str] = set()  # what this process's events said failed
        self.pytest_bad: list[str] | None = None  # what pytest's own summary counts as failed
        self.stopped: str | None = None  # why pytest stopped early, from its finish event
        self.disagreements: list[str] = []

    # -- the whole run ----------------------------------------------------------------------

    def execute(self, first: subprocess.Popen | None = None) -> SuiteOutcome:
        """The run to its end; `first`: its first process, already started."""
        if first is None:
            self.prepare()
        try:
            exit_status = self._run_with_resumes(first)
        finally:
            self.cleanup()
        return self._outcome(exit_status)

    def prepare(self) -> None:
        """An empty artifacts folder and the plugin package copied beside the run."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for stale in (self.events_path, self.log_path, self.data_file):
            stale.unlink(missing_ok=True)
        for leftover in [*self.artifacts.glob("coverage.db.*"), *warning_files(self.artifacts)]:
            leftover.unlink()
        self.plugin_dir = Path(tempfile.mkdtemp(prefix="passcycle-plugin-"))
        shutil.copytree(
            Path(__file__).with_name("plugin"),
            self.plugin_dir / PLUGIN_MODULE,
            ignore=shutil.ignore_patterns("__pycache__"),
        )

    def cleanup(self) -> None:
        if self.plugin_dir is not None:
            shutil.rmtree(self.plugin_dir, ignore_errors=True)
            self.plugin_dir = None

    def _run_with_resumes(self, first: subprocess.Popen | None) -> int:
        select = self.spec.select
        crashed = False
        for attempt in range(MAX_RESUMES + 1):
            before = len(self.results)
            proc = first if attempt == 0 and first is not None else self.launch(select, attempt)
            returncode, killed = self._follow(proc)
            if self.finish_status is not None and not killed:
                status = self.finish_status
                self.disagreements.extend(
                    disagreements(status, self.process_bad, self.pytest_bad, self.stopped)
                )
                # A crash or hang recorded earlier is a failure the last process did not see.
                return PYTEST_FAILED if crashed and status == PYTEST_OK else status
            # The process died before the session finished: a crash, or our watchdog.
            self._check_started(returncode)
            crashed = True
            stuck = self._record_dead_tests(returncode, killed)
            remaining = [n for n in self.collected_ids or [] if n not in self.done]
            resumed = bool(remaining) and attempt < MAX_RESUMES and len(self.results) > before
            self._notedeath(returncode, killed, stuck, resumed, bool(remaining))
            if not resumed:
                return PYTEST_FAILED
            select = remaining
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_started(self, returncode: int) -> None:
        """No collection at all: pytest could not start, say why."""
        if self.collected_ids is not None:
            return
        if returncode == PYTEST_USAGE_ERROR:
            raise self._usage_error()
        why = "died" if returncode < 0 else "stopped"
        raise RunError(
            f"pytest {why} before collecting any test ({death(returncode)[0]}); "
            f"log {self.log_path}:\n{self._log_tail()}",
            hint=start_hint(self._log_tail(), self.spec.root, self.spec.python),
        )

    def _record_dead_tests(self, returncode: int, killed: bool) -> list[str]:
        stuck = list(self.running)
        if killed:  # only the tests past their deadline hung; the others are resumed
            stuck = [n for n, t in self.running.items() if self._overdue(t, time.monotonic())]
        cause = death(returncode)[0]
        for nodeid in stuck:
            if killed:
                exc_type = "Timeout"
                message = (
                    f"test exceeded the {float(self.spec.timeout or 0)}s timeout and did not stop; "
                    "its process was killed"
                )
            else:
                exc_type = "Crash"
                message = f"the interpreter died while running this test ({cause})"
            self._add(
                TestResult(
                    nodeid=nodeid,
                    outcome="error",
                    file=nodeid.split("::", 1)[0],
                    duration=time.monotonic() - self.running[nodeid],
                    exc_type=exc_type,
                    message=message,
                    traceback=self._log_tail(lines=40),
                    when="call",
                )
            )
        self.running.clear()
        return stuck

    def _notedeath(
        self, returncode: int, killed: bool, stuck: list[str], resumed: bool, remaining: bool
    ) -> None:
        where = ", ".join(stuck)
        if killed:
            what = f"{where} hung past the {float(self.spec.timeout or 0)}s timeout and was killed"
        elif stuck:
            what = f"the interpreter crashed in {where} ({death(returncode)[1]})"
        else:
            what = f"pytest died outside any test ({death(returncode)[1]})"
        if resumed:
            what += "; the remaining tests were resumed"
        elif remaining:
            what += "; the remaining tests were not run"
        self.notes.append(what)

    # -- one pytest process -----------------------------------------------------------------

    def _command(self) -> list[str]:
        # Locust (passcycle's load tool) installs a pytest plugin with fixtures of its own
        # (`session`, ...): it stays out of the project's tests unless they ask for it
        asked = any("locust" in arg for arg in self.spec.pytest_args)
        return [
            self.spec.python,
            "-m",
            "pytest",
            "-p",
            f"{PLUGIN_MODULE}.entry",
            *([] if asked else ["-p", "no:locust"]),
            *self.spec.tests,
            *self.spec.pytest_args,
        ]

    def _environment(self, plugin_dir: Path, select: list[str] | None, attempt: int) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _OUTER_PYTEST_VARS}
        env.update(self.spec.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), env.get("PYTHONPATH")]))
        env["PASSCYCLE_EVENTS"] = str(self.events_path)
        if self.spec.timeout:
            env["PASSCYCLE_TIMEOUT"] = repr(float(self.spec.timeout))
        if self.spec.source:
            env["PASSCYCLE_COVERAGE"] = json.dumps(
                {
                    "data_file": str(self.data_file),
                    "source": list(self.spec.source),
                    "branch": self.spec.branch,
                    "rcfile": str(find_rcfile(self.spec.root) or "") or None,
                    "warnings": str(self.artifacts / WARNINGS_PREFIX),
                }
            )
        if select is not None:
            select_file = self.artifacts / f"select-{attempt}.txt"
            select_file.write_text("".join(n + "\n" for n in select), encoding="utf-8")
            env["PASSCYCLE_SELECT"] = str(select_file)
        if self.spec.order:
            order_file = self.artifacts / "order.txt"
            order_file.write_text("".join(n + "\n" for n in self.spec.order), encoding="utf-8")
            env["PASSCYCLE_ORDER"] = str(order_file)
        return env

    def launch(
        self, select: list[str] | None, attempt: int, awaiting: Path | None = None
    ) -> subprocess.Popen:
        """Start one pytest process of the run (the first, or one resuming the rest);
        `awaiting`: the file it waits for before collecting (plugin/awaiting.py)."""
        self.running.clear()
        self.process_bad = set()
        self.pytest_bad = None
        self.stopped = None
        self.finish_status = None
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        assert self.plugin_dir is not None
        env = self._environment(self.plugin_dir, select, attempt)
        if awaiting is not None:
            env["PASSCYCLE_AWAIT"] = str(awaiting)
        with open(self.log_path, "ab") as log:
            if attempt:
                log.write(f"\n===== passcycle: resuming {len(select or [])} tests =====\n".encode())
                log.flush()
                self.log_start = log.tell()
            try:
                proc = subprocess.Popen(
                    self._command(),
                    cwd=self.spec.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed as one
                    preexec_fn=set_parent_death_signal,
                )
            except OSError as exc:
                raise RunError(
                    f"cannot start {self.spec.python}: {exc.strerror or exc}",
                    hint="check the interpreter path (plan: project.python)",
                ) from None
        try:
            GUARDIAN.watch(proc.pid, KILL_GRACE_SECONDS)
        except BaseException:
            kill_group(proc)
            raise
        return proc

    def _follow(self, proc: subprocess.Popen) -> tuple[int, bool]:
        try:
            return self._watch(proc)
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C) or an error in a callback
                kill_group(proc)
            GUARDIAN.release(proc.pid)

    def _watch(self, proc: subprocess.Popen) -> tuple[int, bool]:
        with open(self.events_path, "a+", encoding="utf-8") as events, Exit(proc) as exited:
            events.seek(self.events_offset)
            buffer = ""
            while True:
                returncode = proc.poll()
                buffer = self._read_events(events, buffer)
                if returncode is not None:
                    self._read_events(events, buffer)
                    self.events_offset = events.tell()
                    return returncode, False
                now = time.monotonic()
                if any(self._overdue(t, now) for t in self.running.values()):
                    kill_group(proc)
                    self._read_events(events, buffer)
                    self.events_offset = events.tell()
                    return proc.wait(), True
                self._progress()
                exited.wait(POLL_SECONDS)

    def _overdue(self, started: float, now: float) -> bool:
        # The plugin's SIGALRM stops a test at `timeout`; a test stuck in C code does not
        # see it, so past twice that (and a grace) its process group is killed.
        if not self.spec.timeout:
            return False
        return now - started > 2 * self.spec.timeout + KILL_GRACE_SECONDS

    def _read_events(self, events: TextIO, buffer: str) -> str:
        chunk = events.read()
        if not chunk:
            return buffer
        buffer += chunk
        *lines, buffer = buffer.split("\n")  # the last piece may be a half-written line
        for line in lines:
            if line.strip():
                self._handle(json.loads(line))
        return buffer

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event["e"]
        if kind == "collected":
            if self.collected_ids is None:
                self.collected_ids = list(event["nodeids"])
        elif kind == "start":
            self.running[event["nodeid"]] = time.monotonic()
        elif kind == "result":
            self.running.pop(event["nodeid"], None)
            result = result_from_event(event)
            if result.exc_type == "Crash":  # a pytest-xdist worker died; xdist replaced it
                self.notes.append(f"the interpreter crashed in {result.nodeid} (xdist worker)")
            if result.outcome in BAD_OUTCOMES:
                self.process_bad.add(result.nodeid)
            self._add(result)
        elif kind == "collect_error":
            self.collect_errors += 1
            self.process_bad.add(event["nodeid"])
            self._add(
                TestResult(
                    nodeid=event["nodeid"],
                    outcome="error",
                    file=event["nodeid"],
                    exc_type=event.get("exc_type"),
                    message=event.get("message"),
                    traceback=event.get("traceback"),
                    when="collect",
                )
            )
        elif kind == "finish":
            self.finish_status = int(event["exitstatus"])
            self.pytest_bad = event.get("bad")
            self.stopped = event.get("stopped")

    def _add(self, result: TestResult) -> None:
        self.results.append(result)
        self.done.add(result.nodeid)
        if result.outcome in BAD_OUTCOMES:
            self.failures += 1
        if self.on_result is not None:
            self.on_result(result)
        self._progress()

    def _progress(self) -> None:
        if self.on_progress is None:
            return
        total = len(self.collected_ids) if self.collected_ids is not None else None
        current = next(reversed(self.running), None) if self.running else None
        elapsed = time.monotonic() - self.started
        self.on_progress(Progress(len(self.done), total, self.failures, current, elapsed))

    # -- the outcome ------------------------------------------------------------------------

    def _log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_start)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def _usage_error(self) -> PytestUsageError | RunError:
        return refusal(self._log_tail(lines=200), self.spec.root, self.spec.python)

    def _outcome(self, exit_status: int) -> SuiteOutcome:
        ran_tests = len(self.results) > self.collect_errors
        # pytest also exits 4 ("found no collectors") when a node id's module fails to
        # import: that collection error is the news, not the command line
        usage = exit_status == PYTEST_USAGE_ERROR and not self.collect_errors
        if usage and not ran_tests:
            raise self._usage_error()
        notes = list(self.notes)
        if self.collect_errors:
            plural = "s" if self.collect_errors > 1 else ""
            notes.insert(0, f"{self.collect_errors} collection error{plural}")
            if not ran_tests and (self.collected_ids or exit_status == PYTEST_USAGE_ERROR):
                notes[0] += "; pytest ran no tests"
        elif exit_status == PYTEST_NO_TESTS or self.collected_ids == []:
            notes.append("no tests collected")
        if usage:
            notes.append(f"pytest usage error: {first_error(self._log_tail(lines=200))}")
        elif exit_status == PYTEST_INTERNAL_ERROR:
            notes.append("internal pytest error")
        elif exit_status == PYTEST_INTERRUPTED and not self.collect_errors and not self.notes:
            notes.append("pytest was interrupted")

        coverage_file = self._finish_coverage()
        summary: CoverageSummary | None = None
        files: list[FileCoverage] = []
        if coverage_file is not None:
            from passcycle.suite.covmap import summarize

            summary, files = summarize(coverage_file, self.spec.root)
        if self.spec.source:
            # coverage's own warning that it measured nothing says why better than a 0%
            measured = summary.covered_lines if summary is not None else 0
            unmeasured = read_unmeasured(self.artifacts, self.spec.root, measured)
            if unmeasured is not None:
                notes.append(unmeasured_note(unmeasured, list(self.spec.source)))
            elif coverage_file is not None and not files:
                notes.append(f"coverage measured no file of {', '.join(self.spec.source)}")
        return SuiteOutcome(
            results=list(self.results),
            collected=len(self.collected_ids or []),
            exit_status=exit_status,
            note="; ".join(notes) or None,
            coverage=summary,
            files=files,
            coverage_file=coverage_file,
            duration=time.monotonic() - self.started,
            log=self.log_path,
            disagreement="; ".join(self.disagreements) or None,
            others=others_since(self.cpu_start),
        )

    def _finish_coverage(self) -> Path | None:
        if not self.spec.source:
            return None
        # A process that crashed left its suffixed file (flushed at each test switch) behind;
        # the plugin combines at session end, so only a last crash leaves some here.
        if any(self.artifacts.glob("coverage.db.*")):
            from passcycle.suite.covmap import combine

            combine(self.data_file, self.spec.root)
        return self.data_file if self.data_file.exists() else None
