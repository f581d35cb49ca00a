"""Webhook alerts against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from passcycle.errors import PlanError
from passcycle.records import Issue, KpiVerdict, Run, Verdict
from passcycle.sections import AlertsSection
from passcycle.serve.alerts import send_alerts

from .conftest import HOSTILE_ID, Built

SECRET = "T0001/B0002/SECRET-TOKEN-xyz"


class Receiver:
    """A webhook receiver: answers each post with the next planned behaviour."""

    def __init__(self, plan: list[Any]) -> None:
        self.plan = list(plan)  # status codes, "hang" or "trickle"; the last one repeats
        self.posts: list[tuple[float, dict[str, Any]]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.posts.append((time.monotonic(), body))
                action = receiver.plan.pop(0) if len(receiver.plan) > 1 else receiver.plan[0]
                if action == "hang":
                    receiver.release.wait(30)
                    return
                if action == "trickle":  # one byte at a time: no single read ever times out
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(300):
                        if receiver.release.wait(0.05):
                            return
                        self.wfile.write(b"X")
                        self.wfile.flush()
                    return
                self.send_response(action)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{SECRET}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(*plan: Any) -> Receiver:
        made.append(Receiver(list(plan) or [200]))
        made[-1].thread.start()
        return made[-1]

    yield make
    for one in made:
        one.close()


def section(*urls: str, **kwargs: Any) -> AlertsSection:
    return AlertsSection.model_validate({"webhooks": list(urls), **kwargs})


def verdict(
    *,
    gate: bool = False,
    kpis: tuple[KpiVerdict, ...] = (),
    issues: tuple[Issue, ...] = (),
    regressions: tuple[str, ...] = (),
) -> Verdict:
    run = Run(7, "demo", "run", "failed", datetime.now(UTC), branch="main")
    return Verdict(
        run,
        kpis,
        issues,
        regressions=regressions,
        gate=gate,
        baseline_id=3,
        reasons=() if gate else ("something failed",),
    )


BREACH = KpiVerdict("coverage", 71.5, "%", ">= 90%", "fail", source="coverage")
ON_TARGET = KpiVerdict("test_pass_rate", 100.0, "%", ">= 90%", "pass")
CRITICAL = Issue("f1", "ImportError in tests/test_a.py", "error", "critical", state="new")


def everything_printed(outcome: Any, capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    return "\n".join([out, err, repr(outcome), *outcome.lines()])


def test_one_post_per_breach_run_none_when_the_gate_passes(receiver, built: Built):
    hook = receiver(200)
    alerts = section(hook.url)
    failing, passing = built.verdicts[1], built.verdicts[0]
    assert passing.gate and not failing.gate
    assert send_alerts(alerts, passing, None).deliveries == ()
    outcome = send_alerts(alerts, failing, True)
    assert outcome.sent == 1 and outcome.events == ("breach", "regression")
    assert send_alerts(alerts, passing, False).deliveries == ()  # recovery is off by default
    assert len(hook.posts) == 1
    body = hook.posts[0][1]
    assert body["project"] == "demo" and body["run"] == failing.run.id and body["gate"] is False
    assert [b["kpi"] for b in body["breaches"]] == ["test_pass_rate"]
    assert body["regressions"]["tests"] == list(failing.regressions)
    assert body["critical_issues"] == []
    assert (
        "gate failed" in body["text"] and "test_pass_rate 33.33% misses &gt;= 90%" in body["text"]
    )
    # Slack would render a raw <...> as a link or a mention: test text is escaped.
    assert HOSTILE_ID not in body["text"] and "&lt;script&gt;" in body["text"]


def test_new_critical_issue_alerts_a_recurring_one_does_not(receiver):
    hook = receiver(200)
    alerts = section(hook.url)
    outcome = send_alerts(alerts, verdict(kpis=(ON_TARGET,), issues=(CRITICAL,)), True)
    assert outcome.events == ("critical",) and outcome.sent == 1
    assert hook.posts[0][1]["critical_issues"][0]["title"] == CRITICAL.title
    recurring = replace(CRITICAL, state="recurring")
    assert send_alerts(alerts, verdict(kpis=(ON_TARGET,), issues=(recurring,)), False).events == ()
    assert len(hook.posts) == 1


def test_a_new_breach_forecast_alerts_while_the_gate_still_passes(receiver):
    hook = receiver(200)
    ahead = Issue(
        "f9",
        "memory_rss 412.0MB, +6.0MB a day since run 30: reaches < 500MB in ~14 days"
        " (80% interval 9 days–26 days)",
        "forecast",
        "low",
        state="new",
    )
    outcome = send_alerts(section(hook.url), verdict(gate=True, issues=(ahead,)), True)
    assert outcome.events == ("forecast",) and outcome.sent == 1
    body = hook.posts[0][1]
    assert body["forecasts"] == [ahead.title]
    assert "a breach ahead" in body["text"] and "reaches &lt; 500MB in ~14 days" in body["text"]
    again = replace(ahead, state="recurring")  # said once, not on every run
    assert send_alerts(section(hook.url), verdict(gate=True, issues=(again,)), True).events == ()


def test_only_the_events_the_plan_asks_for(receiver):
    hook = receiver(200)
    breach_only = verdict(kpis=(BREACH,))
    assert send_alerts(section(hook.url, on=["critical"]), breach_only, None).deliveries == ()
    recovered = send_alerts(section(hook.url, on=["recovery"]), verdict(gate=True), False)
    assert recovered.events == ("recovery",) and recovered.sent == 1
    assert "gate passed again" in hook.posts[0][1]["text"]


def test_retries_with_backoff_until_the_receiver_recovers(receiver):
    hook = receiver(500, 500, 200)
    outcome = send_alerts(section(hook.url), verdict(kpis=(BREACH,)), None)
    assert outcome.sent == 1 and outcome.deliveries[0].attempts == 3
    assert outcome.lines() == ["webhook #1: alert delivered (3 attempts)"]
    times = [moment for moment, _ in hook.posts]
    first, second = times[1] - times[0], times[2] - times[1]
    assert first >= 0.2 and second >= 0.4 and second > first  # exponential, not a tight loop


def test_a_client_error_is_not_retried(receiver):
    hook = receiver(404)
    outcome = send_alerts(section(hook.url), verdict(kpis=(BREACH,)), None)
    assert outcome.sent == 0 and outcome.deliveries[0].attempts == 1
    assert outcome.deliveries[0].error == "HTTP 404"


@pytest.mark.parametrize("behaviour", ["hang", "trickle", 503])
def test_never_blocks_past_the_budget(receiver, behaviour, capfd):
    hook = receiver(behaviour)
    started = time.monotonic()
    outcome = send_alerts(section(hook.url), verdict(kpis=(BREACH,)), None, timeout_total=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed  # the budget is 1 s; the margin is for a loaded CI machine
    assert outcome.sent == 0 and "gave up" in outcome.deliveries[0].error
    assert SECRET not in everything_printed(outcome, capfd)


def test_the_plan_timeout_bounds_too(receiver):
    hook = receiver("hang")
    started = time.monotonic()
    send_alerts(section(hook.url, timeout="500ms"), verdict(kpis=(BREACH,)), None)
    assert time.monotonic() - started < 2.5  # 0.5 s, not the default 5 s


def test_webhooks_are_posted_at_once_and_named_by_number(receiver, capfd):
    hung, good = receiver("hang"), receiver(200)
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{sock.getsockname()[1]}/hook/{SECRET}"
    alerts = section(hung.url, good.url, refused)
    started = time.monotonic()
    outcome = send_alerts(alerts, verdict(kpis=(BREACH,)), None, timeout_total=1.0)
    assert time.monotonic() - started < 2.5
    by_name = {d.webhook: d for d in outcome.deliveries}
    assert by_name["webhook #2"].delivered  # the hung one did not hold it up
    assert not by_name["webhook #1"].delivered
    assert by_name["webhook #3"].error.startswith("cannot connect")
    assert by_name["webhook #3"].attempts >= 2  # connection errors are retried
    printed = everything_printed(outcome, capfd)
    for url in (hung.url, good.url, refused):
        assert url not in printed
    assert SECRET not in printed and "127.0.0.1" not in printed


def test_urls_are_secret_in_the_plan_section():
    alerts = section(f"https://hooks.example.com/services/{SECRET}")
    assert SECRET not in repr(alerts) and SECRET not in str(alerts.model_dump())
    with pytest.raises(PlanError) as raised:
        section("https://ok.example.com/a", f"ftp://hooks.example.com/{SECRET}")
    assert raised.value.message == "alerts.webhooks: webhook #2 is not an http(s) URL"
    assert SECRET not in str(raised.value) + (raised.value.hint or "")


def test_no_webhooks_no_posts():
    outcome = send_alerts(AlertsSection(), verdict(kpis=(BREACH,)), None)
    assert outcome.events == ("breach",) and outcome.deliveries == ()


def test_the_loops_full_pass_writes_the_reports_and_sends_the_alerts_run_does(
    make_project, passcycle, receiver
):
    hook = receiver(200)
    root = make_project(
        {
            "src/calc/__init__.py": "def add(a, b):\n    return a + b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n"
            "    assert add(1, 2) == 3\n",
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "passcycle.toml": f"""
                [project]
                source = ["src/calc"]
                [kpis]
                test_pass_rate = "== 100%"
                suite_duration = "< 1ms"
                [alerts]
                webhooks = ["{hook.url}"]
            """,
        }
    )
    reports = root / ".passcycle"

    def written() -> dict[str, float]:
        return {p.name: p.stat().st_mtime_ns for p in reports.glob("report.*")}

    passcycle(root, "run", expect=1)  # suite_duration breaches its target: an alert
    by_run = written()
    assert set(by_run) == {"report.html", "report.md"}
    assert len(hook.posts) == 1 and "breach" in json.dumps(hook.posts[0][1])

    passcycle(root, "cycle", expect=1)  # one full pass, not watching
    by_cycle = written()
    assert set(by_cycle) == set(by_run)
    assert all(by_cycle[name] > by_run[name] for name in by_run)  # written again, for it
    assert len(hook.posts) == 2 and "breach" in json.dumps(hook.posts[1][1])
    run_id = json.loads(passcycle(root, "show", "latest", "--json").stdout)["run"]["id"]
    assert f"run {run_id}" in (reports / "report.md").read_text(encoding="utf-8").lower()
