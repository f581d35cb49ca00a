"""Circuit-breaker assertions on the example's orchestrator, run by the real CLI: its third
model backend, behind passcycle's fault proxy, goes down for 3 s, and the breaker is read
from the orchestrator's own gauge `organism_breaker_open{backend=...}` on /metrics. With a
breaker (3 failures open it, 5 s of cool-down) it opens at once and closes after the outage;
started with `--breaker-threshold 1000000` it never opens, and the run says so with the
reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_kit import organism_project

PLAN = """\
[kpis]
hypothesis_met = "== 100%"
breaker_open_time = "< 5s"
breaker_recover_time = "< 10s"

[[scenarios]]
name = "model-outage"
users = 10
duration = "9s"
think_time = ["0.1s", "0.3s"]
steps = [ { post = "/orchestrate", json = { prompt = "q {iteration} {uuid}" }, expect = 200 } ]
faults = [ { upstream = "model", kind = "down", after = "2s", for = "3s" } ]
# the orchestrator labels each backend's breaker by its URL: the proxy's, for this one
breaker = { get = "/metrics", metric = 'organism_breaker_open{backend="http://{upstream.model}"}', opens = "< 5s", closes = "< 10s" }
"""  # noqa: E501
SERIES = 'organism_breaker_open{backend="http://{upstream.model}"}'


@pytest.mark.slow
def test_a_working_breaker_opens_within_and_closes_within(tmp_path: Path, passcycle):
    root = organism_project(tmp_path / "with-breaker", 3, PLAN)
    data = passcycle(root, "run", "--scenario", "model-outage", "--json", expect=0).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    # refused connections fail at once: three calls, well under a second
    opened = kpis["breaker_open_time"]
    assert 0 < opened["value"] < 1.0 and opened["status"] == "pass"
    # the gauge reads 0 again when the 5 s cool-down that began at the outage's start ends
    recovered = kpis["breaker_recover_time"]
    assert 0.5 < recovered["value"] < 5.0 and recovered["status"] == "pass"
    assert kpis["hypothesis_met"]["value"] == 100.0
    [outage] = data["scenarios"]
    assert outage["breaker_open_time"] == opened["value"]
    assert outage["breaker_recover_time"] == recovered["value"]
    assert not [i for i in data["issues"] if "breaker" in i["title"]]


@pytest.mark.slow
def test_without_the_breaker_the_run_says_it_did_not_open(tmp_path: Path, passcycle):
    root = organism_project(tmp_path / "no-breaker", 1_000_000, PLAN)
    data = passcycle(root, "run", "--scenario", "model-outage", "--json", expect=1).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["hypothesis_met"]["status"] == "fail" and kpis["hypothesis_met"]["value"] == 0
    assert kpis["breaker_open_time"]["status"] == "not measured"
    [issue] = [i for i in data["issues"] if "breaker" in i["title"]]
    head = f"during model-outage: the breaker did not open within 5s (read 0 on {SERIES} "
    assert issue["title"].startswith(head) and issue["title"].endswith(" times)")
    reads = int(issue["title"].removeprefix(head).split()[0])
    assert 15 < reads <= 31  # every 0.1 s of the 3 s outage
    assert issue["severity"] == "high"
