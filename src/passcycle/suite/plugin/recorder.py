"""The events the runner reads: one JSON line each, written by the controller alone (under
pytest-xdist it receives every worker's reports)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .text import bounded_head, bounded_tail, distributed

_BAD = frozenset({"failed", "error"})


class Recorder:
    """The controller's events for the runner (PASSCYCLE_EVENTS): what was collected, each test
    as it starts and its result, collection errors, and the session's end. Every report of
    a test (setup, call, its subtests, teardown) folds into one result, so that a test is
    bad whenever pytest counted any of its reports as bad (#9)."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the session
        self.pending: dict[str, dict[str, Any]] = {}
        self.collected_sent = False
        self.stopped: str | None = None  # why pytest stopped early (pytest.exit, Ctrl-C)
        self.exitstatus = 0

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def collected(self, nodeids: list[str]) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.emit({"e": "collected", "count": len(nodeids), "nodeids": nodeids})

    def report(self, report: pytest.TestReport) -> None:
        if report.outcome == "rerun":
            # pytest-rerunfailures: this attempt is discarded and the test runs again (its
            # teardown is not reported); the last attempt decides, as pytest counts it.
            self.pending.pop(report.nodeid, None)
            return
        state = self.pending.setdefault(
            report.nodeid, {"duration": 0.0, "outcome": None, "subfailures": []}
        )
        if not _is_subtest(report):  # a subtest's duration is inside its test's call
            state["duration"] += getattr(report, "duration", 0.0) or 0.0
        if report.when not in {"setup", "call", "teardown"}:
            # pytest-xdist's report for a worker that died mid-test (when="???"). pytest
            # counts it as failed; we record it as a crash error, like the runner does when
            # a single process dies, so both modes agree.
            del self.pending[report.nodeid]
            self.emit(self._crash(report))
            return
        self._fold(state, report)
        if report.when == "teardown":
            del self.pending[report.nodeid]
            self.emit(self._result(report.nodeid, state))

    # -- pytest's hooks ---------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not distributed(session.config):
            self.collected([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # Every worker collects the same (selected) items; the first list is the suite.
        self.collected(list(ids))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        text = report.longreprtext
        exc_type, message = "CollectError", text.strip().splitlines()[-1] if text.strip() else ""
        for line in reversed(text.splitlines()):
            # pytest writes the cause as "E   ValueError: boom" (import errors, raises at
            # import)
            if line.startswith("E   "):
                head, sep, rest = line[4:].partition(": ")
                if sep and head.replace(".", "").replace("_", "").isalnum():
                    exc_type, message = head.rsplit(".", 1)[-1], rest
                break
        self.emit(
            {
                "e": "collect_error",
                "nodeid": report.nodeid,
                "exc_type": exc_type,
                "message": bounded_head(message),
                "traceback": bounded_tail(text),
            }
        )

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest.exit() and Ctrl-C both end the session here; the reason goes to the runner.
        reason = str(getattr(excinfo.value, "msg", "") or excinfo.value or excinfo.typename)
        self.stopped = bounded_head(f"{excinfo.typename}: {reason}", 300)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.emit({"e": "start", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.report(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        finish: dict[str, Any] = {"e": "finish", "exitstatus": self.exitstatus}
        bad = bad_nodeids(config)
        if bad is not None:
            finish["bad"] = bad
        if self.stopped:
            finish["stopped"] = self.stopped
        self.emit(finish)
        self.out.close()

    # -- folding reports into results --------------------------------------------------

    @staticmethod
    def _fold(state: dict[str, Any], report: pytest.TestReport) -> None:
        xfail = hasattr(report, "wasxfail")
        if report.when == "teardown":
            state["cpu"] = getattr(report, "passcycle_cpu", None)
            state["solo"] = getattr(report, "passcycle_solo", None)
            state["probe"] = getattr(report, "passcycle_probe", None)
        if _is_subtest(report):
            # unittest's self.subTest and pytest's `subtests`: one report per subtest, before
            # the test's own call report. A failed subtest fails its test, as pytest's exit
            # status says; a passing one decides nothing (#9: the first passing subtest
            # used to decide, and a build pytest failed passed).
            if report.failed:
                state["subfailures"].append(report)
                if state["outcome"] not in _BAD:
                    state.update(outcome="failed", when="call", report=report)
            return
        if report.when == "call":
            if report.passed:
                outcome = "xpassed" if xfail else "passed"
            elif report.skipped:
                outcome = "xfailed" if xfail else "skipped"
            else:  # a strict xpass arrives here as failed, as pytest counts it
                outcome = "failed"
        elif report.failed:  # setup or teardown
            outcome = "error"
        elif report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        else:
            return
        # The first bad outcome decides. A teardown error after a good outcome turns the
        # result into an error: pytest counts that test twice (e.g. passed and error), we
        # keep one result per test.
        if state["outcome"] in _BAD:
            return
        state.update(outcome=outcome, when=report.when, report=report)

    @staticmethod
    def _crash(report: pytest.TestReport) -> dict[str, Any]:
        text = report.longreprtext.strip()
        # the last line reads "worker 'gw1' crashed while running 'tests/test_x.py::test_y'"
        cause = text.splitlines()[-1].split(" while running")[0] if text else "crashed"
        return {
            "e": "result",
            "nodeid": report.nodeid,
            "file": report.nodeid.split("::", 1)[0],
            "outcome": "error",
            "duration": 0.0,
            "exc_type": "Crash",
            "message": bounded_head(f"the interpreter died while running this test ({cause})"),
            "traceback": bounded_tail(text),
            "frames": [],
            "when": "call",
        }

    @staticmethod
    def _result(nodeid: str, state: dict[str, Any]) -> dict[str, Any]:
        outcome = state["outcome"] or "passed"
        report = state.get("report")
        event: dict[str, Any] = {
            "e": "result",
            "nodeid": nodeid,
            "file": nodeid.split("::", 1)[0],
            "outcome": outcome,
            "duration": round(state["duration"], 6),
            "exc_type": None,
            "message": None,
            "traceback": None,
            "frames": [],
            "when": state.get("when") if outcome in _BAD else None,
        }
        for clock in ("cpu", "solo", "probe"):
            if state.get(clock) is not None:
                event[clock] = state[clock]
        if report is None:
            return event
        if state["subfailures"]:
            event.update(_subtest_details(state["subfailures"]))
            return event
        details = getattr(report, "passcycle", None)
        if outcome in _BAD:
            text = report.longreprtext
            event["traceback"] = bounded_tail(text)
            if details:
                event.update(details)
            elif text.startswith("[XPASS(strict)]"):
                event["message"] = bounded_head(text)
            else:
                event["message"] = bounded_head(text.strip().splitlines()[-1] if text else "")
        elif outcome in {"skipped", "xfailed"}:
            if hasattr(report, "wasxfail"):
                event["message"] = bounded_head(str(report.wasxfail)) or None
            elif isinstance(report.longrepr, tuple):
                event["message"] = bounded_head(str(report.longrepr[2]).removeprefix("Skipped: "))
        return event


def _is_subtest(report: Any) -> bool:
    # pytest >= 9 (SubtestReport) and the pytest-subtests plugin (SubTestReport): both carry
    # the subtest's `context`, also after pytest-xdist has sent them to the controller.
    return report.when == "call" and hasattr(report, "context") and "Sub" in type(report).__name__


def _subtest_label(report: Any) -> str:
    context = report.context
    parts = []
    if getattr(context, "msg", None) is not None:
        parts.append(f"[{context.msg}]")
    kwargs = getattr(context, "kwargs", None) or {}
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    return " ".join(parts) or "(<subtest>)"


def _subtest_details(failures: list[Any]) -> dict[str, Any]:
    """A test failed by its subtests: the first failure's type and frames (what the issue
    groups by), and every failing subtest's message."""
    first = getattr(failures[0], "passcycle", None) or {}
    messages = []
    tracebacks = []
    for report in failures:
        label = _subtest_label(report)
        details = getattr(report, "passcycle", None) or {}
        text = report.longreprtext
        message = details.get("message") or (text.strip().splitlines() or [""])[-1]
        messages.append(f"{label} {message}")
        tracebacks.append(f"--- subtest {label} ---\n{text}")
    plural = "s" if len(failures) > 1 else ""
    return {
        "exc_type": first.get("exc_type"),
        "frames": first.get("frames", []),
        "message": bounded_head(f"{len(failures)} subtest{plural} failed: " + "; ".join(messages)),
        "traceback": bounded_tail("\n".join(tracebacks)),
        "subtests_failed": len(failures),
    }


def bad_nodeids(config: pytest.Config) -> list[str] | None:
    """The tests pytest's own summary counts as failed or errored: what the runner checks
    its folded results against (#9). None when pytest's terminal reporter is off."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    stats = getattr(reporter, "stats", None)
    if not isinstance(stats, dict):
        return None
    bad = {
        str(report.nodeid)
        for key in ("failed", "error")
        for report in stats.get(key, [])
        if getattr(report, "nodeid", None) is not None
    }
    return sorted(bad)
