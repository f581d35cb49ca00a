"""Faults in a dependency: the real proxy between a real client and a real upstream, and
whole scenarios where the tiny service calls an upstream through it."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from scenario_kit import port_open, scenario

from passcycle.errors import ExitCode, PlanError, RunError
from passcycle.plan import parse_plan
from passcycle.records import Measurement
from passcycle.scenario_sections import FaultSection, UpstreamSection
from passcycle.scenarios import run_scenarios
from passcycle.scenarios.faults import FaultProxy


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the proxy reset it on purpose
            super().handle()


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def fault(**fields: object) -> FaultSection:
    return FaultSection.model_validate({"upstream": "model", **fields})


def outcome(client: httpx.Client, url: str) -> tuple[str, float]:
    started = time.monotonic()
    try:
        answer: str = str(client.get(url).status_code)
    except httpx.HTTPError as exc:
        answer = type(exc).__name__
    return answer, time.monotonic() - started


def timeline(
    port: int, faults: list[FaultSection], seconds: float
) -> tuple[list[tuple[float, str, float]], list[int], int]:
    """Ask through the proxy every 50 ms while `faults` run: (when, answer, took)."""
    proxy = FaultProxy("model", "127.0.0.1", port).start()
    try:
        seen = []
        with httpx.Client(timeout=0.4) as client:
            # one request before the schedule starts: on a busy machine the first connection
            # can take longer than the first window of the schedule
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"http://{proxy.address}/", timeout=5.0)
            start = time.time()
            proxy.arm(faults, lambda: start)
            while (now := time.time() - start) < seconds:
                answer, took = outcome(client, f"http://{proxy.address}/")
                seen.append((now, answer, took))
                time.sleep(0.05)
        hits = [h.hits for h in proxy.disarm()]
        forwarded = proxy.forwarded  # since arm(): the warm-up is not counted
        with httpx.Client(timeout=1.0) as client:  # disarmed: it passes traffic on again
            assert client.get(f"http://{proxy.address}/").status_code == 200
    finally:
        proxy.stop()
    assert not port_open(proxy.port)
    return seen, hits, forwarded


def within(
    seen: list[tuple[float, str, float]], low: float, high: float
) -> list[tuple[str, float]]:
    # a margin on each side: the schedule is checked as requests come
    return [(a, t) for when, a, t in seen if low + 0.1 <= when <= high - 0.15]


def test_each_kind_of_fault_breaks_requests_as_it_says(upstream: int) -> None:
    faults = [
        fault(kind="latency", delay="250ms", after="0.5s", **{"for": "1s"}),
        fault(kind="error", status=503, after="1.5s", **{"for": "0.6s"}),
        fault(kind="reset", after="2.1s", **{"for": "0.6s"}),
        fault(kind="down", after="2.7s", **{"for": "0.6s"}),
        fault(kind="blackhole", after="3.3s", **{"for": "1s"}),
    ]
    seen, hits, forwarded = timeline(upstream, faults, 4.8)
    assert {a for a, _ in within(seen, 0.0, 0.5)} == {"200"}
    slow = within(seen, 0.5, 1.5)
    assert slow and all(a == "200" and t >= 0.25 for a, t in slow)
    assert {a for a, _ in within(seen, 1.5, 2.1)} == {"503"}
    assert {a for a, _ in within(seen, 2.1, 2.7)} <= {"ReadError", "RemoteProtocolError"}
    assert {a for a, _ in within(seen, 2.7, 3.3)} == {"ConnectError"}
    assert {a for a, _ in within(seen, 3.3, 4.3)} == {"ReadTimeout"}
    assert {a for a, _ in within(seen, 4.3, 4.8)} == {"200"}  # all over: traffic flows
    # hits count what each fault broke; down's refused connections never reach the proxy
    assert hits[0] >= len(slow)
    assert hits[1] >= len(within(seen, 1.5, 2.1)) and hits[2] >= 1 and hits[4] >= 1
    assert forwarded >= len(within(seen, 0.0, 0.5)) + len(slow)


def test_share_breaks_only_part_of_the_requests(upstream: int) -> None:
    seen, hits, forwarded = timeline(upstream, [fault(kind="error", share="50%")], 2.5)
    answers = [a for _, a, _ in seen]
    assert answers.count("503") == hits[0]
    assert 0.2 < hits[0] / len(answers) < 0.8
    assert answers.count("200") == forwarded


def test_faults_wait_for_the_scenario_to_start(upstream: int) -> None:
    proxy = FaultProxy("model", "127.0.0.1", upstream).start()
    try:
        proxy.arm([fault(kind="error")], lambda: None)  # Locust has not started yet
        with httpx.Client(timeout=1.0) as client:
            assert client.get(f"http://{proxy.address}/").status_code == 200
        assert [h.hits for h in proxy.disarm()] == [0]
    finally:
        proxy.stop()


# --- whole scenarios: the service calls its upstream through the proxy -------------------


def by_name(measurements: list[Measurement]) -> dict[str, Measurement]:
    return {m.name: m for m in measurements}


def upstream_section(tmp_path: Path) -> UpstreamSection:
    # the tiny app itself answers GET / with {"ok": true}: it is the upstream here
    return UpstreamSection.model_validate(
        {"command": [sys.executable, str(tmp_path / "app.py"), "{port}"]}
    )


def outage(**extra: object):  # type: ignore[no-untyped-def]
    return scenario(
        name="outage",
        users=4,
        duration="6s",  # 3 s after the fault: requests after it even on a busy machine
        steps=[{"get": "/call", "name": "call"}],
        faults=[{"upstream": "model", "kind": "error", "after": "1.2s", "for": "1.6s"}],
        **extra,
    )


def test_an_outage_shows_in_the_phase_it_happened(app, tmp_path: Path) -> None:
    found = run_scenarios(
        app(APP_UPSTREAM="{upstream.model}"),
        [outage()],
        tmp_path,
        tmp_path / "run",
        upstreams={"model": upstream_section(tmp_path)},
    )
    m = by_name(found.measurements)
    before, during, after = (
        m[f'{kind}{{scenario="outage",phase="{phase}"}}']
        for kind, phase in (
            ("error_rate", "before"),
            ("error_rate", "during"),
            ("error_rate", "after"),
        )
    )
    # requests fall in a phase by when they began: the few in flight (or solo in the
    # service, on a busy machine) as the fault started or ended may land across the line
    assert before.value < 5.0 and after.value < 5.0
    assert during.value > 95.0  # no fallback: the calls in the outage failed
    assert m["fault_error_rate"].value == during.value and m["fault_error_rate"].unit == "%"
    assert m["fault_p95_response_time"].value > 0 and m["fault_p95_response_time"].samples
    hits = m['fault_hits{scenario="outage",upstream="model",kind="error",fault="1"}'].value
    during_requests = m['requests{scenario="outage",phase="during"}'].value
    # the same requests, give or take those in flight at the edges
    assert abs(hits - during_requests) <= max(8, 0.05 * during_requests)
    total = sum(
        m[f'requests{{scenario="outage",phase="{p}"}}'].value for p in ("before", "during", "after")
    )
    assert total == m["requests"].value
    assert 0 < m["error_rate"].value < 100  # the scenario as a whole
    assert (tmp_path / "run" / "upstream-model.log").exists()


def test_a_fallback_holds_through_the_outage(app, tmp_path: Path) -> None:
    found = run_scenarios(
        app(APP_UPSTREAM="{upstream.model}", APP_FALLBACK="1"),
        [outage()],
        tmp_path,
        tmp_path / "run",
        upstreams={"model": upstream_section(tmp_path)},
    )
    m = by_name(found.measurements)
    assert m["fault_error_rate"].value == 0.0
    assert m['fault_hits{scenario="outage",upstream="model",kind="error",fault="1"}'].value > 0
    # (a busy machine may add a note about the load generator; none is about the faults)
    assert not [n for n in found.notes if "fault" in n or "no request" in n]


def test_a_fault_the_service_never_meets_is_said(app, tmp_path: Path) -> None:
    quiet = scenario(
        name="quiet",
        duration="2s",
        steps=[{"get": "/"}],  # never calls the upstream
        faults=[{"upstream": "model", "kind": "reset"}],
    )
    found = run_scenarios(
        app(APP_UPSTREAM="{upstream.model}"),
        [quiet],
        tmp_path,
        tmp_path / "run",
        upstreams={"model": upstream_section(tmp_path)},
    )
    assert any("met no request" in note and "'model'" in note for note in found.notes)
    m = by_name(found.measurements)
    assert m['fault_hits{scenario="quiet",upstream="model",kind="reset",fault="1"}'].value == 0


def test_an_upstream_that_never_listens_stops_the_run(app, tmp_path: Path) -> None:
    broken = UpstreamSection.model_validate(
        {
            "command": [sys.executable, "-c", "import sys; print('no model file'); sys.exit(4)"],
            "ready_timeout": "5s",
        }
    )
    with pytest.raises(RunError) as caught:
        run_scenarios(
            app(APP_UPSTREAM="{upstream.model}"),
            [outage()],
            tmp_path,
            tmp_path / "run",
            upstreams={"model": broken},
        )
    assert caught.value.exit_code == ExitCode.RUN_ERROR
    assert "upstream 'model' exited with code 4" in caught.value.message
    assert "no model file" in caught.value.message


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            {
                "scenarios": [
                    {
                        "name": "s",
                        "steps": [{"get": "/"}],
                        "faults": [{"upstream": "db", "kind": "down"}],
                    }
                ]
            },
            "no upstream 'db' (upstreams: none declared)",
        ),
        (
            {
                "service": {"command": "app --model {upstream.modle}"},
                "upstreams": {"model": {"address": "127.0.0.1:9"}},
            },
            "{upstream.modle} names no upstream (upstreams: model)",
        ),
        ({"upstreams": {"model": {}}}, "give either address"),
        ({"upstreams": {"model": {"address": "localhost"}}}, "is not host:port"),
        (
            {
                "scenarios": [
                    {
                        "name": "s",
                        "steps": [{"get": "/"}],
                        "faults": [{"upstream": "m", "kind": "latency"}],
                    }
                ]
            },
            "a latency fault needs a delay",
        ),
        (
            {
                "scenarios": [
                    {
                        "name": "s",
                        "steps": [{"get": "/"}],
                        "duration": "5s",
                        "faults": [{"upstream": "m", "kind": "down", "after": "9s"}],
                    }
                ]
            },
            "past the scenario's duration",
        ),
        (
            {
                "scenarios": [
                    {
                        "name": "s",
                        "steps": [{"get": "/"}],
                        "faults": [{"upstream": "m", "kind": "flood"}],
                    }
                ]
            },
            "kind",
        ),
    ],
)
def test_plan_mistakes_about_faults_are_one_line(plan: dict, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(json.loads(json.dumps(plan)))
    assert expected in caught.value.message
    assert "\n" not in caught.value.message


def test_a_remote_upstream_needs_allow_hosts(app, tmp_path: Path) -> None:
    remote = UpstreamSection.model_validate({"address": "10.1.2.3:5432"})
    with pytest.raises(PlanError) as caught:
        run_scenarios(app(), [outage()], tmp_path, tmp_path / "run", upstreams={"model": remote})
    assert "upstreams.model" in caught.value.message and "10.1.2.3" in caught.value.message


def test_http_client_sees_a_real_status_line(upstream: int) -> None:
    # the error fault's answer is a well-formed HTTP response, not bytes a client rejects
    proxy = FaultProxy("model", "127.0.0.1", upstream).start()
    try:
        start = time.time()
        proxy.arm([fault(kind="error", status=500)], lambda: start)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
        conn.request("GET", "/")
        answer = conn.getresponse()
        assert (answer.status, answer.reason) == (500, "Internal Server Error")
        assert answer.read() == b"passcycle fault: 500\n"
        conn.close()
    finally:
        proxy.stop()


def test_a_service_that_runs_already_reaches_a_fixed_proxy_port(app, tmp_path: Path) -> None:
    # no {upstream.model} to fill in: the service was told the port in advance
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        fixed = sock.getsockname()[1]
    section = upstream_section(tmp_path).model_copy(update={"proxy_port": fixed})
    found = run_scenarios(
        app(APP_UPSTREAM=f"127.0.0.1:{fixed}"),
        [outage()],
        tmp_path,
        tmp_path / "run",
        upstreams={"model": section},
    )
    m = by_name(found.measurements)
    assert m["fault_error_rate"].value > 95.0
    assert not port_open(fixed)  # the proxy stopped with the run


def test_a_proxy_port_in_use_is_one_clear_error(app, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        section = upstream_section(tmp_path).model_copy(update={"proxy_port": port})
        with pytest.raises(RunError) as caught:
            run_scenarios(
                app(), [outage()], tmp_path, tmp_path / "run", upstreams={"model": section}
            )
    assert f"cannot listen on 127.0.0.1:{port}" in caught.value.message
    assert "proxy_port = 0" in (caught.value.hint or "")
