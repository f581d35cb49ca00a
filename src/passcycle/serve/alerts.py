"""Webhook alerts: a JSON post (Slack-compatible `text`) when a run breaches, regresses or
opens a critical issue; bounded in time so a dead receiver never holds up a run.

Webhook URLs are secrets (a Slack URL is its own credential): they are kept as SecretStr,
and every message names a webhook by its position only ("webhook #1").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from passcycle import __version__
from passcycle.records import KpiVerdict, Verdict
from passcycle.sanitize import visible
from passcycle.sections import AlertsSection
from passcycle.targets import format_value

if TYPE_CHECKING:
    import httpx

FIRST_BACKOFF = 0.25  # seconds before the second attempt; doubles after each failure
MAX_ATTEMPTS = 5
MAX_TEXT = 3000  # Slack cuts a message's text at 40k; keep alerts short enough to read
LISTED = 10  # tests, KPIs or issues named in one alert


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook: str  # "webhook #N", never the URL
    delivered: bool
    attempts: int
    error: str | None = None  # the last failure: "HTTP 500", "timed out", ...

    def line(self) -> str:
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.delivered:
            return f"{self.webhook}: alert delivered ({tries})"
        return f"{self.webhook}: alert not delivered after {tries}: {self.error}"


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    events: tuple[str, ...]  # why the run alerted; empty: nothing to alert about
    deliveries: tuple[Delivery, ...] = ()
    elapsed: float = 0.0

    @property
    def sent(self) -> int:
        return sum(d.delivered for d in self.deliveries)

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if not d.delivered)

    def lines(self) -> list[str]:
        return [d.line() for d in self.deliveries]


def events_of(verdict: Verdict, previous_gate: bool | None, wanted: Sequence[str]) -> list[str]:
    """The reasons this verdict alerts for, among those the plan asks for."""
    found = []
    if verdict.gate:
        if previous_gate is False:
            found.append("recovery")
    else:
        if any(k.status == "fail" for k in verdict.kpis):
            found.append("breach")
        if verdict.regressions or any(k.regressed for k in verdict.kpis):
            found.append("regression")
        if new_critical(verdict):
            found.append("critical")
    if new_forecasts(verdict):
        found.append("forecast")  # a breach ahead, whatever the gate says now
    return [event for event in found if event in wanted]


def new_forecasts(verdict: Verdict) -> list[Any]:
    """Breach forecasts first made (or made again) by this run."""
    return [i for i in verdict.issues if i.kind == "forecast" and i.state in ("new", "reopened")]


def new_critical(verdict: Verdict) -> list[Any]:
    return [
        i for i in verdict.issues if i.severity == "critical" and i.state in ("new", "reopened")
    ]


def payload(verdict: Verdict, previous_gate: bool | None, events: Sequence[str]) -> dict[str, Any]:
    """The JSON posted: Slack's `text`, plus the same facts as fields for other receivers."""
    run = verdict.run
    breaches = [k for k in verdict.kpis if k.status == "fail"]
    critical = new_critical(verdict)
    return {
        "text": _text(verdict, previous_gate, breaches, critical),
        "project": run.project,
        "run": run.id,
        "gate": verdict.gate,
        "previous_gate": previous_gate,
        "events": list(events),
        "reasons": list(verdict.reasons),
        "breaches": [_breach(k) for k in breaches],
        "regressions": {
            "tests": list(verdict.regressions),
            "kpis": [k.name for k in verdict.kpis if k.regressed],
            "baseline": verdict.baseline_id,
        },
        "forecasts": [i.title for i in new_forecasts(verdict)],
        "critical_issues": [
            {
                "fingerprint": i.fingerprint,
                "title": i.title,
                "kind": i.kind,
                "state": i.state,
                "tests": len(i.tests),
            }
            for i in critical
        ],
        "commit": run.commit,
        "branch": run.branch,
    }


def _breach(kpi: KpiVerdict) -> dict[str, Any]:
    return {
        "kpi": kpi.name,
        "value": kpi.value,
        "shown": format_value(kpi.value, kpi.unit),
        "unit": kpi.unit,
        "target": kpi.target,
        "regressed": kpi.regressed,
        "detail": kpi.detail,
    }


def _slack(text: object, limit: int = 200) -> str:
    """Text from a test, safe in Slack's mrkdwn: no control codes, no <links|or> @mentions."""
    value = visible(text, limit, oneline=True)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(
    verdict: Verdict, previous_gate: bool | None, breaches: list[KpiVerdict], critical: list[Any]
) -> str:
    run = verdict.run
    where = f"{_slack(run.project, 80)} run {run.id}"
    if run.branch:
        where += f" on {_slack(run.branch, 60)}"
    forecasts = [f"• breach forecast: {_slack(i.title, 200)}" for i in new_forecasts(verdict)]
    if verdict.gate:
        head = (
            f":white_check_mark: passcycle: gate passed again — {where}"
            if previous_gate is False
            else f":crystal_ball: passcycle: a breach ahead — {where}"
        )
        return "\n".join([head, *forecasts[:LISTED]])
    was = " (it passed before)" if previous_gate else ""
    lines = [f":rotating_light: passcycle: *gate failed*{was} — {where}", *forecasts[:LISTED]]
    for k in breaches[:LISTED]:
        how = "regressed" if k.regressed else f"misses {_slack(k.target or '', 40)}"
        lines.append(f"• {_slack(k.name, 60)} {format_value(k.value, k.unit)} {how}")
    if verdict.regressions:
        named = ", ".join(_slack(n, 120) for n in verdict.regressions[:LISTED])
        more = len(verdict.regressions) - LISTED
        lines.append(
            f"• {len(verdict.regressions)} tests regressed against run {verdict.baseline_id}: "
            f"{named}{f' and {more} more' if more > 0 else ''}"
        )
    for issue in critical[:LISTED]:
        lines.append(f"• new critical issue: {_slack(issue.title, 160)}")
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def send_alerts(
    plan_alerts: AlertsSection,
    verdict: Verdict,
    previous_gate: bool | None,
    *,
    timeout_total: float = 5.0,
) -> AlertOutcome:
    """Post the run's alert to every webhook, at once, retrying failures with exponential
    backoff; returns within min(plan timeout, `timeout_total`) seconds whatever the
    receivers do."""
    started = time.monotonic()
    events = events_of(verdict, previous_gate, plan_alerts.on)
    if not events or not plan_alerts.webhooks:
        return AlertOutcome(tuple(events))
    budget = max(0.0, min(plan_alerts.timeout, timeout_total))
    deadline = started + budget
    body = payload(verdict, previous_gate, events)
    senders = [
        _Sender(f"webhook #{n}", secret.get_secret_value(), body, deadline)
        for n, secret in enumerate(plan_alerts.webhooks, 1)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        # A receiver that trickles bytes can outlast httpx's per-read timeouts; the join
        # is the hard bound, and the daemon thread is left to end on its own.
        sender.join(max(0.0, deadline - time.monotonic()) + 0.05)
    deliveries = tuple(s.result() for s in senders)
    return AlertOutcome(tuple(events), deliveries, time.monotonic() - started)


class _Sender(threading.Thread):
    """One webhook's attempts, within the deadline."""

    def __init__(self, name: str, url: str, body: dict[str, Any], deadline: float) -> None:
        super().__init__(name=f"passcycle-alert-{name}", daemon=True)
        self.label = name
        self._url = url
        self._body = body
        self._deadline = deadline
        self._lock = threading.Lock()
        self._attempts = 0
        self._delivered = False
        self._error: str | None = None

    def run(self) -> None:
        import httpx  # here, so that loading the plan does not import an HTTP client

        backoff = FIRST_BACKOFF
        headers = {"User-Agent": f"passcycle/{__version__}"}
        try:
            with httpx.Client(follow_redirects=False, headers=headers) as client:
                while self._attempts < MAX_ATTEMPTS:
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    retry = self._attempt(client, remaining)
                    if not retry:
                        return
                    if time.monotonic() + backoff >= self._deadline:
                        self._fail(f"{self._error}; gave up: the time budget is spent")
                        return
                    time.sleep(backoff)
                    backoff *= 2
        except Exception as exc:  # never a traceback: httpx errors carry the URL
            self._fail(type(exc).__name__)

    def _attempt(self, client: httpx.Client, remaining: float) -> bool:
        """One post; True when it failed in a way worth retrying."""
        import httpx

        with self._lock:
            self._attempts += 1
        try:
            response = client.post(self._url, json=self._body, timeout=httpx.Timeout(remaining))
        except httpx.TimeoutException:
            self._fail("timed out")
            return True
        except httpx.ConnectError:
            self._fail("cannot connect")
            return True
        except httpx.TransportError as exc:
            self._fail(f"connection failed ({type(exc).__name__})")
            return True
        if response.is_success:
            with self._lock:
                self._delivered, self._error = True, None
            return False
        self._fail(f"HTTP {response.status_code}")
        return response.status_code >= 500 or response.status_code == 429

    def _fail(self, error: str) -> None:
        with self._lock:
            self._error = error

    def result(self) -> Delivery:
        with self._lock:
            if self._delivered:
                return Delivery(self.label, True, self._attempts)
            error = self._error
            if self.is_alive():
                error = f"{error or 'no answer'}; gave up: the time budget is spent"
            return Delivery(self.label, False, self._attempts, error or "not sent")
