"""The README's main job: `passcycle run` on examples/organism measures every KPI its plan
declares and leaves no process behind."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
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


def _offline_advisories(root: Path) -> None:
    """The plan's advisory service is not reachable from every test machine: the copy
    names an OSV database instead, as offline CI would, holding two real advisories
    against old versions of the example's dependencies (which the environment has not)."""
    records = [
        {"id": "GHSA-8h2j-cgx8-6xv7", "aliases": ["CVE-2021-32677", "PYSEC-2021-48"],
         "summary": "Cross-Site Request Forgery (CSRF) in FastAPI",
         "affected": [{"package": {"ecosystem": "PyPI", "name": "fastapi"},
                       "ranges": [{"type": "ECOSYSTEM",
                                   "events": [{"introduced": "0"}, {"fixed": "0.65.2"}]}]}],
         "database_specific": {"severity": "HIGH"}},
        {"id": "GHSA-33c7-2mpw-hg34", "aliases": ["CVE-2020-7694"],
         "summary": "Log injection in uvicorn",
         "affected": [{"package": {"ecosystem": "PyPI", "name": "uvicorn"},
                       "ranges": [{"type": "ECOSYSTEM",
                                   "events": [{"introduced": "0"}, {"fixed": "0.11.7"}]}]}],
         "database_specific": {"severity": "HIGH"}},
    ]  # fmt: skip
    (root / "osv" / "PyPI").mkdir(parents=True)
    with zipfile.ZipFile(root / "osv" / "PyPI" / "all.zip", "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    plan = root / "passcycle.toml"
    text = plan.read_text()
    setting = '\ncritical_severity = "high"'
    assert setting in text
    plan.write_text(text.replace(setting, '\nosv = "osv"' + setting))


def test_the_example_plan_measures_every_kpi_and_stops_everything(tmp_path, passcycle):
    root = tmp_path / "organism"
    shutil.copytree(ORGANISM, root, ignore=shutil.ignore_patterns(".passcycle", "*.db*"))
    _offline_advisories(root)
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
    # its code and its packages audited: no critical finding, so Phase 3 has its evidence
    assert kpis["critical_vulnerabilities"]["value"] == 0
    assert {a["part"]: a["measured"] for a in data["audit"]} == {
        "code": True,
        "dependencies": True,
    }
    [phase3] = [p for p in data["phases"] if p["number"] == 3]
    [audited] = [c for c in phase3["criteria"] if c["text"] == "critical_vulnerabilities == 0"]
    assert audited["met"] and f"in run {data['run']['id']}" in audited["evidence"]
    time.sleep(1)
    # the service, its backends and Locust all run in (or name) the copied project; a
    # bare "locust" would also catch another test's Locust running beside this one
    assert _started_since(t0, str(root)) == []
