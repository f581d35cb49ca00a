"""Load on Locust: real Locust subprocesses against the tiny service, read back as
measurements; every scenario bounded, every process stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from scenario_kit import APP, gone, port_open, scenario, service_port, write

from passcycle.errors import ExitCode, RunError
from passcycle.records import Measurement
from passcycle.scenarios import ScenarioError, ScenarioSection, run_scenarios
from passcycle.scenarios.load import LoadProgress
from passcycle.scenarios.locustgen import write_locustfiles


def by_name(measurements: list[Measurement]) -> dict[str, Measurement]:
    return {m.name: m for m in measurements}


def test_steps_become_measurements(app, tmp_path: Path) -> None:
    steps = [
        {"post": "/sessions", "json": {"user": "u{user}"}, "expect": 201, "save": "id=$.id"},
        {"get": "/sessions/{id}", "name": "read"},
    ]
    ticks: list[LoadProgress] = []
    artifacts = tmp_path / "run"
    outcome = run_scenarios(
        app(metrics="/metrics"),
        [scenario(users=4, duration="3s", steps=steps)],
        tmp_path,
        artifacts,
        on_progress=ticks.append,
    )
    found = by_name(outcome.measurements)
    requests = found["requests"].value
    assert requests > 50
    assert found["error_rate"].value == 0.0
    assert found["concurrent_users"].value == 4
    p95 = found["p95_response_time"]
    assert p95.unit == "s" and p95.source == "scenario:steady"
    assert 0 < found["p50_response_time"].value <= p95.value <= found["p99_response_time"].value
    assert 0 < p95.value < 1.0
    assert len(p95.samples) == min(2000, requests)
    assert found["throughput"].value > 10
    for label in ('{scenario="steady",step="POST /sessions"}', '{scenario="steady",step="read"}'):
        assert found[f"error_rate{label}"].value == 0.0
        assert found[f"p95_response_time{label}"].value > 0
    # the service, sampled and probed while the scenario ran
    assert found["memory_rss"].value > 5_000_000 and found["memory_rss"].samples
    assert 0 <= found["cpu_utilization"].value <= found["cpu_utilization_peak"].value <= 100
    assert found["uptime"].value == 100.0
    # its metrics endpoint, read before and after
    assert found["harmony_ratio"].value == pytest.approx(0.998)
    assert found["harmony_ratio"].source == "metric:harmony_ratio"
    assert found["increase(app_requests_total)"].value >= requests
    # the live progress line saw users and requests while it ran
    assert any(t.users == 4 and t.requests > 0 for t in ticks)
    # artifacts: the service's log, the generated locustfile and Locust's report
    assert (artifacts / "service.log").exists()
    assert (artifacts / "scenarios" / "steady" / "locustfile_steady.py").exists()
    assert (artifacts / "scenarios" / "steady" / "report.html").exists()
    port = service_port(artifacts)
    assert port is not None and not port_open(port)


def test_request_cap_stops_the_scenario_early(app, tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = run_scenarios(
        app(), [scenario(duration="60s", max_requests=300)], tmp_path, tmp_path / "run"
    )
    assert time.monotonic() - started < 20
    requests = by_name(outcome.measurements)["requests"].value
    assert 300 <= requests <= 400
    assert any("max_requests (300)" in note for note in outcome.notes)


def test_iterations_run_each_user_through_the_steps_then_stop(app, tmp_path: Path) -> None:
    steps = [{"post": "/sessions", "save": {"id": "$.id"}}, {"get": "/sessions/{id}"}]
    started = time.monotonic()
    outcome = run_scenarios(
        app(),
        [scenario(users=2, iterations=3, duration="60s", steps=steps)],
        tmp_path,
        tmp_path / "run",
    )
    assert time.monotonic() - started < 20
    found = by_name(outcome.measurements)
    assert found["requests"].value == 2 * 3 * 2
    # over in well under a second, between two rows of Locust's stats history: the users
    # are still counted
    assert found["concurrent_users"].value == 2
    assert not [n for n in outcome.notes if "users" in n]  # no "reached 0 of 2 users"


def test_unexpected_status_counts_as_errors_not_as_a_crash(app, tmp_path: Path) -> None:
    steps = [{"get": "/missing", "expect": 200}, {"get": "/missing", "expect": 404, "name": "ok"}]
    outcome = run_scenarios(app(), [scenario(steps=steps)], tmp_path, tmp_path / "run")
    found = by_name(outcome.measurements)
    assert found['error_rate{scenario="steady",step="GET /missing"}'].value == 100.0
    # a failed step ends the iteration: the second step never ran
    assert 'error_rate{scenario="steady",step="ok"}' not in found
    assert found["error_rate"].value == 100.0


def test_a_json_path_never_found_is_one_clear_error(app, tmp_path: Path) -> None:
    steps = [{"post": "/sessions", "save": {"id": "$.nope"}, "name": "create"}, {"get": "/"}]
    artifacts = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(RunError) as caught:
        run_scenarios(app(), [scenario(duration="30s", steps=steps)], tmp_path, artifacts)
    assert time.monotonic() - started < 15
    error = caught.value
    assert error.exit_code == ExitCode.RUN_ERROR
    assert "\n" not in error.message
    assert error.message.startswith("scenario 'steady', step 'create': save id: $.nope")
    assert "is not in the response" in error.message and '"id": ' in error.message
    port = service_port(artifacts)
    assert port is not None and not port_open(port)


def test_a_json_path_reads_into_lists(app, tmp_path: Path) -> None:
    steps = [
        {"post": "/sessions", "save": {"item": "$.items[0].name", "last": "$.items[-1]['name']"}},
        {"get": "/sessions/{item}-{last}", "expect": 200},
    ]
    outcome = run_scenarios(app(), [scenario(steps=steps)], tmp_path, tmp_path / "run")
    assert by_name(outcome.measurements)["error_rate"].value == 0.0


def test_the_service_crashing_mid_scenario_is_reported(app, tmp_path: Path) -> None:
    artifacts = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(ScenarioError) as caught:
        run_scenarios(app(APP_CRASH_AFTER="200"), [scenario(duration="30s")], tmp_path, artifacts)
    assert time.monotonic() - started < 20  # stopped at once, not after 30s
    error = caught.value
    assert error.exit_code == ExitCode.RUN_ERROR
    assert "the service exited with code 7" in error.message
    assert "crashing on purpose" in error.message  # the log tail
    measured = by_name(error.outcome.measurements)
    assert measured["requests"].value >= 199  # what was measured is kept
    assert not port_open(service_port(artifacts) or 1)


def test_users_own_locustfile(app, tmp_path: Path) -> None:
    write(
        tmp_path / "load" / "locustfile.py",
        """
        from locust import FastHttpUser, task

        class Reader(FastHttpUser):
            @task
            def read(self):
                self.client.get("/sessions/7", name="session")
        """,
    )
    outcome = run_scenarios(
        app(), [scenario(locustfile="load/locustfile.py")], tmp_path, tmp_path / "run"
    )
    found = by_name(outcome.measurements)
    assert found["requests"].value > 20
    assert found['p95_response_time{scenario="steady",step="session"}'].value > 0
    assert found["p95_response_time"].samples  # the harness ran beside the user's file


@pytest.mark.slow
def test_local_workers(app, tmp_path: Path) -> None:
    outcome = run_scenarios(
        app(), [scenario(users=4, duration="3s")], tmp_path, tmp_path / "run", workers=2
    )
    found = by_name(outcome.measurements)
    assert found["requests"].value > 20
    assert found["concurrent_users"].value == 4
    assert len(found["p95_response_time"].samples) > 0
    out = tmp_path / "run" / "scenarios" / "steady"
    assert len(list(out.glob("samples-*.json"))) == 2  # one reservoir per worker
    assert "2 workers connected" in (out / "locust.log").read_text()
    assert (out / "worker-2.log").exists()


def test_locustfile_runs_without_passcycle(app, tmp_path: Path) -> None:
    # The generated file is plain Locust: the benchmark and remote workers rely on that.
    from passcycle.scenarios.service import Service

    files = write_locustfiles(
        scenario(steps=[{"get": "/"}]), tmp_path / "gen", root=tmp_path, allowed_hosts=[]
    )
    with Service(app(), tmp_path, tmp_path / "a") as service:
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "--headless", "-f", str(files[0]),
             "--host", service.url, "-u", "2", "-r", "2", "-t", "4s", "--json", "--skip-log"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**__import__("os").environ, "PASSCYCLE_OUT": str(tmp_path / "out")},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats[0]["num_requests"] > 10
    assert list((tmp_path / "out").glob("samples-*.json"))


def test_config_errors_name_the_scenario_and_step() -> None:
    with pytest.raises(ValueError, match=r"step 2 \(GET /s/\{sid\}\): \{sid\} is not saved"):
        ScenarioSection.model_validate(
            {"name": "a", "steps": [{"post": "/s", "save": "id=$.id"}, {"get": "/s/{sid}"}]}
        )
    with pytest.raises(ValueError, match="cannot read the JSON path"):
        ScenarioSection.model_validate({"name": "a", "steps": [{"get": "/", "save": "x=id"}]})
    with pytest.raises(ValueError, match="either steps or a locustfile"):
        ScenarioSection.model_validate({"name": "a"})
    with pytest.raises(ValueError, match="one method per step"):
        ScenarioSection.model_validate({"name": "a", "steps": [{"get": "/", "post": "/"}]})
    with pytest.raises(ValueError, match="extra"):
        ScenarioSection.model_validate({"name": "a", "steps": [{"get": "/"}], "userz": 3})
    parsed = ScenarioSection.model_validate(
        {"name": "a", "think_time": ["100ms", "1s"], "steps": [{"delete": "/x", "expect": 204}]}
    )
    assert parsed.think_time == (0.1, 1.0)
    assert parsed.steps[0].method == "DELETE" and parsed.steps[0].expect == [204]


DRIVER = """
import signal
import sys
from pathlib import Path
# Ctrl-C as it reaches a program run in a terminal's foreground: a suite started as a
# background job (`cmd &` in a script) passes SIGINT down ignored, and then nothing stops
signal.signal(signal.SIGINT, signal.default_int_handler)
from passcycle.scenarios import ScenarioSection, ServiceSection, run_scenarios

root = Path(sys.argv[2])
service = ServiceSection(command=[sys.executable, sys.argv[1], "{port}"], env={"APP_CHILD": "1"})
scenario = ScenarioSection(name="long", users=3, duration=600, steps=[{"get": "/"}])
def progress(tick):
    if tick.requests:
        print("running", flush=True)
try:
    run_scenarios(service, [scenario], root, root / "run", on_progress=progress)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "driver.py").write_text(DRIVER)
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "app.py"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    try:
        assert driver.stdout.readline().strip() == "running"
        tree = psutil.Process(driver.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in tree]
        assert any("locust" in c for c in commands) and any("app.py" in c for c in commands)
        assert len(tree) >= 3  # the app, its worker, Locust
        driver.send_signal(signal.SIGINT)
        assert driver.wait(30) == 130
        assert "interrupted" in driver.stdout.read()
    finally:
        driver.kill()
        driver.wait()
        driver.stdout.close()
    assert all(gone(p.pid) for p in tree), [p for p in tree if p.is_running()]
    port = service_port(tmp_path / "run")
    assert port is not None and not port_open(port)


def test_a_broken_locustfile_is_a_run_error_with_locusts_log(app, tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "from locust import FastHttpUser\nclass U(FastHttpUser:\n")
    with pytest.raises(RunError) as caught:
        run_scenarios(app(), [scenario(locustfile="broken.py")], tmp_path, tmp_path / "run")
    assert "Locust exited with code" in caught.value.message
    assert "SyntaxError" in caught.value.message
    assert caught.value.hint and "locust.log" in caught.value.hint


def test_a_leaking_service_shows_memory_growth(app, tmp_path: Path) -> None:
    # 64 KB kept for good per request, for a little over the 30 s a growth rate needs
    outcome = run_scenarios(
        app(APP_LEAK=str(64 * 1024)),
        [scenario(name="soak", users=2, duration="34s", think_time="0.05s")],
        tmp_path,
        tmp_path / "run",
    )
    found = by_name(outcome.measurements)
    requests = found["requests"].value
    growth = found["memory_growth"]
    assert growth.unit == "B/s" and growth.source == "scenario:soak"
    # what the service kept, spread over the run: the slope is of that order
    kept_per_second = requests * 64 * 1024 / 34
    assert 0.3 * kept_per_second < growth.value < 3 * kept_per_second
