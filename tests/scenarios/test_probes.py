"""Probes: the metrics endpoint (Prometheus text or JSON) and health, from outside."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from passcycle.errors import RunError
from passcycle.scenarios.probes import (
    HealthProbe,
    MetricsSnapshot,
    metric_measurements,
    parse_metrics,
    read_metrics,
)

PROMETHEUS = """\
# HELP organism_harmony_ratio mean harmony
# TYPE organism_harmony_ratio gauge
organism_harmony_ratio 0.997
# TYPE organism_orchestration_total counter
organism_orchestration_total{result="success"} 120.0
organism_orchestration_total{result="failure"} 3.0
# TYPE organism_orchestration_created gauge
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 5.0
latency_seconds_bucket{le="+Inf"} 7.0
latency_seconds_count 7.0
latency_seconds_sum 1.25
legacy_requests_total 40
odd{path="/a\\"b"} 1
not_a_number NaN
"""


def test_prometheus_series_become_named_values() -> None:
    snapshot = parse_metrics(PROMETHEUS, "text/plain; version=0.0.4")
    values = snapshot.values
    assert values["organism_harmony_ratio"] == 0.997
    assert values['organism_orchestration_total{result="success"}'] == 120.0
    assert values['latency_seconds_bucket{le="+Inf"}'] == 7.0
    assert values["latency_seconds_sum"] == 1.25
    assert values['odd{path="/a\\"b"}'] == 1.0
    assert "not_a_number" not in values  # NaN is no measurement
    assert 'organism_orchestration_total{result="failure"}' in snapshot.counters
    assert "legacy_requests_total" in snapshot.counters  # *_total: a counter by convention
    assert "organism_harmony_ratio" not in snapshot.counters


def test_flat_json_metrics() -> None:
    snapshot = parse_metrics('{"harmony": 0.99, "sessions": 12, "name": "x", "ok": true}')
    assert snapshot.values == {"harmony": 0.99, "sessions": 12.0}
    with pytest.raises(ValueError, match="object"):
        parse_metrics("[1, 2]", "application/json")


def test_after_values_and_counter_increases() -> None:
    before = MetricsSnapshot({"req_total": 10.0, "ratio": 0.5}, frozenset({"req_total"}))
    after = MetricsSnapshot(
        {"req_total": 25.0, "ratio": 0.9, "new_total": 3.0},
        frozenset({"req_total", "new_total"}),
    )
    found = {m.name: m for m in metric_measurements(before, after)}
    assert found["ratio"].value == 0.9 and found["ratio"].source == "metric:ratio"
    assert found["increase(req_total)"].value == 15.0
    assert "increase(new_total)" not in found  # no value before: no increase to tell


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    healthy = True
    flips = False

    def do_GET(self) -> None:
        if self.path == "/metrics":
            code, body, ctype = 200, PROMETHEUS.encode(), "text/plain"
        elif self.path == "/json":
            code, body, ctype = 200, b'{"harmony": 1}', "application/json"
        elif self.path == "/health":
            cls = type(self)
            ok = cls.healthy
            if cls.flips:
                cls.healthy = not cls.healthy
            code, body, ctype = (200 if ok else 503), b"{}", "application/json"
        else:
            code, body, ctype = 404, b"nope", "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.healthy, _Handler.flips = True, False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_read_metrics_over_http(server: str) -> None:
    assert read_metrics(server + "/metrics").values["organism_harmony_ratio"] == 0.997
    assert read_metrics(server + "/json").values == {"harmony": 1.0}
    with pytest.raises(RunError, match="cannot read the service's metrics"):
        read_metrics(server + "/nowhere")


def test_uptime_is_the_share_of_health_probes_answered(server: str) -> None:
    _Handler.flips = True  # ok, 503, ok, 503, ...
    with HealthProbe(server + "/health", interval=0.05) as probe:
        time.sleep(0.6)
    assert probe.asked >= 6
    assert 30.0 <= (probe.uptime or 0) <= 70.0


def test_uptime_of_a_service_that_is_down() -> None:
    with HealthProbe("http://127.0.0.1:9/health", interval=0.05, timeout=0.2) as probe:
        time.sleep(0.3)
    assert probe.asked >= 2 and probe.uptime == 0.0
