"""Safety: load goes to loopback and the hosts the plan allows, refused before any traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_kit import scenario, write

from passcycle.errors import ExitCode, PlanError, RunError
from passcycle.scenarios import ServiceSection, run_scenarios
from passcycle.scenarios.safety import check_allow_hosts, check_target, host_allowed


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.3.4.5", "localhost", "LOCALHOST", "::1", "[::1]", "a.localhost"]
)
def test_loopback_is_allowed_by_default(host: str) -> None:
    assert host_allowed(host)


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "192.0.2.7", "example.com", "localhost.example.com", "::2", ""]
)
def test_anything_else_is_refused_by_default(host: str) -> None:
    assert not host_allowed(host)


def test_allow_hosts_names_wildcards_and_networks() -> None:
    allow = ["staging.example.com", "*.internal.example.com", "10.1.0.0/16", "192.0.2.9"]
    assert host_allowed("staging.example.com", allow)
    assert host_allowed("api.internal.example.com", allow)
    assert not host_allowed("internal.example.com.evil.org", allow)
    assert host_allowed("10.1.200.3", allow)
    assert not host_allowed("10.2.0.1", allow)
    assert host_allowed("192.0.2.9", allow)
    assert not host_allowed("example.com", allow)


def test_the_refusal_names_the_host_and_the_fix() -> None:
    with pytest.raises(PlanError) as caught:
        check_target("http://192.0.2.7:8080/api", [], "scenarios[0] (steady).host")
    error = caught.value
    assert error.exit_code == ExitCode.USAGE_ERROR
    assert "refusing to send load to '192.0.2.7'" in error.message
    assert error.hint and 'allow_hosts = ["192.0.2.7"]' in error.hint
    with pytest.raises(PlanError, match="not an http"):
        check_target("ftp://127.0.0.1/", [], "x")


def test_unreadable_allow_hosts_entries_are_plan_errors() -> None:
    check_allow_hosts(["example.com", "10.0.0.0/8", "*.x.org"])
    for bad in ("http://example.com", "example.com/path", ""):
        with pytest.raises(PlanError, match="allow_hosts"):
            check_allow_hosts([bad])


def test_a_non_loopback_scenario_host_is_refused_before_anything_starts(
    app, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    service = ServiceSection(command=f"touch {marker}")
    with pytest.raises(PlanError) as caught:
        run_scenarios(service, [scenario(host="http://192.0.2.7:8080")], tmp_path, tmp_path / "run")
    assert caught.value.exit_code == ExitCode.USAGE_ERROR
    assert "192.0.2.7" in caught.value.message
    assert not marker.exists()  # the service was never started
    assert not (tmp_path / "run").exists()  # nor anything written


def test_a_non_loopback_service_url_is_refused(tmp_path: Path) -> None:
    service = ServiceSection(url="http://example.com")
    with pytest.raises(PlanError, match=r"example\.com"):
        run_scenarios(service, [scenario()], tmp_path, tmp_path / "run")


def test_a_scenario_without_a_target_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no target"):
        run_scenarios(None, [scenario()], tmp_path, tmp_path / "run")


def test_a_locustfile_reaching_for_another_host_is_stopped(app, tmp_path: Path) -> None:
    # Requests the user's own locustfile builds with absolute URLs are checked too.
    write(
        tmp_path / "load.py",
        """
        from locust import FastHttpUser, task

        class Stray(FastHttpUser):
            @task
            def away(self):
                self.client.get("http://192.0.2.7:8080/steal")
        """,
    )
    with pytest.raises(RunError) as caught:
        run_scenarios(app(), [scenario(locustfile="load.py")], tmp_path, tmp_path / "run")
    assert "refused a request to '192.0.2.7'" in caught.value.message
    stats = tmp_path / "run" / "scenarios" / "steady" / "stats.json"
    assert not stats.exists() or "192.0.2.7" not in stats.read_text()


def test_every_scenario_is_bounded() -> None:
    parsed = scenario()
    assert parsed.duration > 0 and parsed.max_requests == 100_000
    with pytest.raises(ValueError):
        scenario(duration="0s")
    with pytest.raises(ValueError):
        scenario(max_requests=0)
