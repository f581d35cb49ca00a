"""The /metrics endpoint: every series a plan judges, with the values the service lived."""

import math
from collections.abc import Callable

from conftest import LiveClient, metric
from prometheus_client.parser import text_string_to_metric_families

from organism.backend import BackendServer, Behaviour
from organism.metrics import Metrics

Start = Callable[..., BackendServer]
Make = Callable[..., LiveClient]

REQUIRED = {
    "organism_orchestration_total",
    "organism_orchestration_success_ratio",
    "organism_harmony_ratio",
    "organism_sessions_active",
    "organism_sessions_total",
    "organism_session_persistence_ratio",
    "organism_breaker_open",
    "organism_cache_hits_total",
}


def samples(client: LiveClient) -> set[str]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {sample.name for family in families for sample in family.samples}


def test_metrics_are_prometheus_text_with_every_series_a_plan_needs(
    start_backend: Start, make_client: Make
) -> None:
    client = make_client([start_backend().url])
    client.post("/orchestrate", json={"prompt": "x"})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert samples(client) >= REQUIRED
    assert not any(name.endswith("_created") for name in samples(client))


def test_ratios_with_nothing_to_count_are_nan_not_zero(client: LiveClient) -> None:
    for name in (
        "organism_orchestration_success_ratio",
        "organism_harmony_ratio",
        "organism_session_persistence_ratio",
    ):
        assert math.isnan(metric(client, name)), name


def test_success_ratio_counts_answered_orchestrations(
    start_backend: Start, make_client: Make
) -> None:
    server = start_backend()
    client = make_client([server.url], failure_threshold=10)
    client.post("/orchestrate", json={"prompt": "ok"})
    server.behaviour = Behaviour(fail_rate=1.0)
    assert client.post("/orchestrate", json={"prompt": "down"}).status_code == 503
    assert client.post("/orchestrate", json={"prompt": "ok"}).status_code == 200, "cached"
    assert metric(client, "organism_orchestration_total", result="success") == 2
    assert metric(client, "organism_orchestration_total", result="failure") == 1
    assert metric(client, "organism_orchestration_success_ratio") == 2 / 3


def test_harmony_is_the_mean_over_fan_outs_not_cache_hits(
    start_backend: Start, make_client: Make
) -> None:
    urls = [start_backend("a").url, start_backend("b").url, start_backend("c", disagree=True).url]
    client = make_client(urls)
    client.post("/orchestrate", json={"prompt": "one"})  # 2 of 3 agree
    for _ in range(5):
        client.post("/orchestrate", json={"prompt": "one"})  # cached: no new evidence
    assert metric(client, "organism_harmony_ratio") == 2 / 3
    assert metric(client, "organism_cache_hits_total") == 5


def test_session_gauges_follow_creation_and_ending(client: LiveClient) -> None:
    ids = [client.post("/sessions", json={"user": f"u{i}"}).json()["id"] for i in range(3)]
    client.delete(f"/sessions/{ids[0]}")
    client.delete(f"/sessions/{ids[0]}")  # a conflict does not count twice
    assert metric(client, "organism_sessions_total") == 3
    assert metric(client, "organism_sessions_active") == 2


def test_request_latency_is_recorded_per_route_template(client: LiveClient) -> None:
    session = client.post("/sessions", json={"user": "ana"}).json()
    client.get(f"/sessions/{session['id']}")
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert session["id"] not in text
    count = "organism_http_request_duration_seconds_count"
    assert metric(client, count, method="GET", route="/sessions/{session_id}", status="200") == 1
    assert metric(client, count, method="POST", route="/sessions", status="201") == 1
    assert metric(client, count, method="GET", route="unmatched", status="404") == 1


def test_the_harmony_window_forgets_old_fan_outs() -> None:
    metrics = Metrics(harmony_window=2)
    for harmony in (0.0, 1.0, 1.0):
        metrics.orchestrated(True, harmony)
    assert metrics.harmony._value.get() == 1.0


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.cache_hit()
    assert b"organism_cache_hits_total 1.0" in first.render()
    assert b"organism_cache_hits_total 0.0" in second.render()
