"""The README's main job: `passcycle run` on examples/organism measures every KPI its plan
declares and leaves no process behind."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
import pytest

from passcycle.plan import load_plan

ORGANISM = Path(__file__).resolve().parents[2] / "examples" / "organism"

pytestmark = pytest.mark.slow


def _started_since(t0: float, marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time", "cwd"]):
        try:
            line = " ".join(proc.info["cmdline"] or [])
            where = proc.info["cwd"] or ""
        except (psutil.Error, TypeError):
            continue
        if (
            proc.info["create_time"]
            and proc.info["create_time"] >= t0
            and (marker in line or marker in where)
        ):
            found.append(line)
    return found


def test_the_example_plan_measures_every_kpi_and_stops_everything(tmp_path, passcycle):
    root = tmp_path / "organism"
    shutil.copytree(ORGANISM, root, ignore=shutil.ignore_patterns(".passcycle", "*.db*"))
    declared = set(load_plan(root).kpis)
    t0 = time.time() - 1
    data = passcycle(root, "run", "--json", timeout=600, autoload=False).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert set(kpis) == declared
    assert [k for k in kpis.values() if k["status"] == "not measured"] == []
    assert kpis["concurrent_users"]["value"] >= 100
    assert 0 < kpis["p95_response_time"]["value"] < 60
    assert kpis["memory_rss"]["value"] > 0
    assert data["counts"]["passed"] > 50
    # the fault scenarios: the third model backend slowed, then down, behind the proxy
    scenarios = {s["name"]: s for s in data["scenarios"]}
    outage = scenarios["model-outage"]
    assert [f["kind"] for f in outage["faults"]] == ["down"]
    assert [p["phase"] for p in outage["phases"]] == ["before", "during", "after"]
    assert all(p["requests"] > 0 for p in outage["phases"])
    assert scenarios["slow-backend"]["faults"][0]["hits"] > 0  # the service did call it
    assert kpis["fault_error_rate"]["status"] == "pass"  # its breakers held
    time.sleep(1)
    # the service, its backends and Locust all run in (or name) the copied project; a
    # bare "locust" would also catch another test's Locust running beside this one
    assert _started_since(t0, str(root)) == []
