"""End to end on the example service: organism started by its own command, driven by
declarative steps, sampled with its model backends, its Prometheus metrics read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scenario_kit import port_open, service_port

from passcycle.scenarios import ScenarioSection, ServiceSection, run_scenarios

ORGANISM = Path(__file__).resolve().parents[2] / "examples" / "organism"

pytestmark = pytest.mark.slow


def test_sessions_and_orchestration_under_load(tmp_path: Path) -> None:
    service = ServiceSection.model_validate(
        {
            "command": [sys.executable, "-m", "organism", "--port", "{port}", "--backends", "3",
                        "--db", str(tmp_path / "organism.db")],
            "env": {"PYTHONPATH": str(ORGANISM / "src")},
            "cwd": str(ORGANISM),
            "metrics": "/metrics",
            "ready_timeout": "30s",
        }
    )  # fmt: skip
    scenario = ScenarioSection.model_validate(
        {
            "name": "sessions",
            "users": 10,
            "duration": "4s",
            "steps": [
                {"post": "/sessions", "json": {"user": "u{user}"}, "expect": 201,
                 "save": {"id": "$.id"}, "name": "create"},
                {"get": "/sessions/{id}", "expect": 200, "name": "read"},
                {"post": "/orchestrate", "json": {"prompt": "p-{uuid}", "session_id": "{id}"},
                 "expect": 200, "save": {"harmony": "$.harmony"}, "name": "orchestrate"},
            ],
        }
    )  # fmt: skip
    artifacts = tmp_path / "run"
    outcome = run_scenarios(service, [scenario], tmp_path, artifacts)
    found = {m.name: m for m in outcome.measurements}
    assert found["requests"].value > 30
    assert found["error_rate"].value == 0.0
    assert found["concurrent_users"].value == 10
    assert 0 < found["p95_response_time"].value < 2.0
    # a new prompt each time (no cache hit): every orchestration waits for the 20 ms backends
    assert found['p50_response_time{scenario="sessions",step="orchestrate"}'].value >= 0.019
    # the app and its three backends are one tree: their memory adds up
    assert found["memory_rss"].value > 80 * 1024 * 1024
    assert found["uptime"].value == 100.0
    assert found["organism_harmony_ratio"].value == pytest.approx(1.0)
    # every session the load created is counted by the service itself
    created = found["increase(organism_sessions_total)"].value
    assert created == pytest.approx(
        found['requests{scenario="sessions",step="create"}'].value, abs=10
    )
    port = service_port(artifacts)
    assert port is not None and not port_open(port)  # the fixture checks no process is left
