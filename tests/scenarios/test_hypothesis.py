"""Steady-state hypotheses against a real service and a real fault proxy: the example's
orchestrator, whose third model backend answers 1.5 s late for 3 s. With its circuit
breaker the fallback (the two other backends) keeps answering fast and the hypothesis holds;
with the breaker disabled every answer waits for the slow backend's deadline and the run
says which phase broke and by how much."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scenario_kit import APP, organism_project, write

PLAN = """\
[kpis]
hypothesis_met = "== 100%"

[[scenarios]]
name = "slow-model"
users = 10
duration = "10s"
think_time = ["0.1s", "0.3s"]
steps = [ { post = "/orchestrate", json = { prompt = "q {iteration} {uuid}" }, expect = 200 } ]
faults = [ { upstream = "model", kind = "latency", delay = "1500ms", after = "3s", for = "3s" } ]
# the breaker opens within 1 s of the model slowing down, then the fallback answers within
# 300 ms while the model is slow, and all is back at once after it; a probe every 0.1 s gives
# each phase some 20-30 answers, so one slow answer on a busy machine is not its p95
hypothesis = [ { post = "/orchestrate", json = { prompt = "probe {uuid}" }, expect = 200, p95 = "< 300ms", settle = "1s", interval = "0.1s" } ]
recover = "< 3s"
"""  # noqa: E501


def project(root: Path, threshold: int) -> Path:
    return organism_project(root, threshold, PLAN)


@pytest.mark.slow
def test_a_working_breaker_keeps_the_hypothesis(tmp_path: Path, passcycle):
    root = project(tmp_path / "with-breaker", threshold=3)
    data = passcycle(root, "run", "--scenario", "slow-model", "--json", expect=0).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["hypothesis_met"]["value"] == 100.0 and kpis["hypothesis_met"]["status"] == "pass"
    assert not [i for i in data["issues"] if i["title"].startswith("steady state broken")]
    # a hypothesis that held shows what it saw too, phase by phase, not only a broken one
    [scenario] = data["scenarios"]
    [probe] = scenario["hypothesis"]
    assert probe["probe"] == "POST /orchestrate"
    phases = {p["phase"]: p for p in probe["phases"]}
    assert list(phases) == ["before", "during", "after"]
    for seen in phases.values():
        assert seen["answers"] >= 5 and seen["errors"] == 0.0 and 0 < seen["p95"] < 0.3
    assert 0 <= probe["recovery"] < 3
    text = passcycle(root, "run", "--scenario", "slow-model", expect=0).stdout
    assert "slow-model steady state: POST /orchestrate" in text
    [during] = [
        w
        for w in (line.split() for line in text.splitlines())
        if w[:1] == ["during"] and "answers" in w
    ]
    assert during[2:5] == ["answers", "errors", "0.00%"]
    assert "back within tolerance" in text


@pytest.mark.slow
def test_without_the_breaker_the_run_says_which_phase_broke(tmp_path: Path, passcycle):
    root = project(tmp_path / "no-breaker", threshold=1_000_000)
    data = passcycle(root, "run", "--scenario", "slow-model", "--json", expect=1).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["hypothesis_met"]["status"] == "fail" and kpis["hypothesis_met"]["value"] < 100
    broken = [i for i in data["issues"] if i["title"].startswith("steady state broken")]
    [during] = [i for i in broken if "during slow-model" in i["title"]]
    # every answer waited for the slow backend's 0.5 s deadline
    assert "POST /orchestrate 0% errors (tolerance 0%), p95 5" in during["title"]
    assert "(< 300ms)" in during["title"] and during["severity"] == "high"
    assert not [i for i in broken if "before slow-model" in i["title"]]  # fine before


HANG = """\
[kpis]
hypothesis_met = "== 100%"

[[scenarios]]
name = "hang"
users = 1
duration = "4s"
think_time = "0.2s"
steps = [ { get = "/health" } ]
# the upstream takes requests and never answers; the service waits 5 s for it
faults = [ { upstream = "model", kind = "blackhole", after = "1s", for = "1.5s" } ]
hypothesis = [ { get = "/call", expect = 200, p95 = "< 200ms", interval = "0.2s" } ]
"""


def test_a_probe_never_answered_is_said_unanswered_not_an_error(tmp_path: Path, passcycle):
    # the tiny app's /call asks its upstream (the tiny app again) through the fault proxy
    root = tmp_path / "project"
    write(root / "app.py", APP)
    app = f'["{sys.executable}", "app.py", "{{port}}"]'
    write(
        root / "passcycle.toml",
        f'[service]\ncommand = {app}\nhealth = "/health"\n'
        'env = { APP_UPSTREAM = "{upstream.model}", APP_UPSTREAM_TIMEOUT = "5" }\n\n'
        f"[upstreams.model]\ncommand = {app}\n\n{HANG}",
    )
    data = passcycle(root, "run", "--scenario", "hang", "--json", expect=1).json()
    [during] = [i["title"] for i in data["issues"] if "broken during hang" in i["title"]]
    # each probe gave up after 1 s (4x its 200 ms ceiling): not an answer the service sent
    assert "of them unanswered within 1.00s, p95 over 1.00s (< 200ms)" in during
    [probe] = data["scenarios"][0]["hypothesis"]
    seen = {p["phase"]: p for p in probe["phases"]}
    assert seen["during"]["timeouts"] >= 1 and seen["before"]["timeouts"] == 0


def test_a_probe_not_judged_during_the_faults_says_so(tmp_path: Path, passcycle):
    # the same hang, with `during = false`: what the probe saw meanwhile is shown and said
    # unjudged, and no check of that phase is held against the service
    root = tmp_path / "project"
    write(root / "app.py", APP)
    app = f'["{sys.executable}", "app.py", "{{port}}"]'
    lenient = HANG.replace('interval = "0.2s" }', 'interval = "0.2s", during = false }')
    assert lenient != HANG
    write(
        root / "passcycle.toml",
        f'[service]\ncommand = {app}\nhealth = "/health"\n'
        'env = { APP_UPSTREAM = "{upstream.model}", APP_UPSTREAM_TIMEOUT = "5" }\n\n'
        f"[upstreams.model]\ncommand = {app}\n\n{lenient}",
    )
    data = passcycle(root, "run", "--scenario", "hang", "--json").json()
    assert not [i for i in data["issues"] if "broken during hang" in i["title"]]
    [probe] = data["scenarios"][0]["hypothesis"]
    seen = {p["phase"]: p for p in probe["phases"]}
    assert seen["during"]["answers"] >= 1 and seen["during"]["judged"] is False
    assert seen["before"]["judged"] is True and seen["after"]["judged"] is True
    text = passcycle(root, "run", "--scenario", "hang").stdout
    lines = text.splitlines()
    [at] = [n for n, ln in enumerate(lines) if ln.split()[:1] == ["during"] and "answers" in ln]
    # the line after the probe's "during" figures (not the load's by phase) says so
    assert lines[at + 1].split() == ["during", "not", "judged", "(during", "=", "false)"]
    assert text.count("not judged (during = false)") == 1  # not before, not after
