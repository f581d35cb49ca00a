"""The security audit on real projects: bandit on the source, an OSV database against a
real virtual environment, and what is said when nothing could be looked up."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.gitkit import committed_project, edit

SOURCE = """\
import subprocess

import yaml


def shell(cmd):
    subprocess.call(cmd, shell=True)


def read(text):
    return yaml.load(text)


def add(a, b):
    return a + b
"""

FILES = {
    ".gitignore": ".passcycle/\n",
    "pkg/__init__.py": "",
    "pkg/tools.py": SOURCE,
    "pkg/calc.py": "def add(a, b):\n    return a + b\n",
    # the tests never import pkg.tools: bandit reads code, it does not run it
    "tests/test_calc.py": (
        "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    ),
}

PLAN = """\
[project]
source = ["pkg"]
tests = ["tests"]

[kpis]
test_pass_rate = "== 100%"
critical_vulnerabilities = "== 0"
vulnerabilities = "< 100"
code_vulnerabilities = "< 100"
"""


def kpis(data: dict) -> dict[str, dict]:
    return {k["name"]: k for k in data["kpis"]}


def vulnerabilities(data: dict) -> list[dict]:
    return [i for i in data["issues"] if i["kind"] == "vulnerability"]


def test_bandit_counts_the_shell_call_and_the_yaml_load(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(
        root, {**FILES, "passcycle.toml": PLAN + "\n[security]\ndependencies = false\n"}
    )
    data = passcycle(root, "run", "--json", expect=1).json()
    found = {i["exc_type"]: i for i in vulnerabilities(data)}
    # B404: the subprocess import (low); B602: shell=True (high); B506: yaml.load (medium)
    assert set(found) == {"B404", "B602", "B506"}
    assert found["B602"]["location"] == "pkg/tools.py:7" and found["B602"]["severity"] == "critical"
    assert found["B506"]["location"] == "pkg/tools.py:11" and found["B506"]["severity"] == "medium"
    assert found["B602"]["title"].startswith("B602 subprocess call with shell=True")
    assert "# nosec B602" in found["B602"]["suggestion"]["next_step"]
    values = kpis(data)
    # by default critical means bandit's high severity with at least medium confidence
    assert values["critical_vulnerabilities"]["value"] == 1
    assert values["critical_vulnerabilities"]["status"] == "fail"
    assert values["vulnerabilities"]["value"] == 3 and values["code_vulnerabilities"]["value"] == 3
    assert data["gate"] == {
        "passed": False,
        "reasons": ["critical_vulnerabilities misses its target == 0"],
    }

    # a plan that counts medium severity as critical counts the yaml.load too
    (root / "passcycle.toml").write_text(
        PLAN + '\n[security]\ndependencies = false\ncritical_severity = "medium"\n'
    )
    data = passcycle(root, "run", "--json", expect=1).json()
    assert kpis(data)["critical_vulnerabilities"]["value"] == 2

    # `# nosec` on the shell line takes it out; the issue is fixed, the count falls
    edit(root, "pkg/tools.py", "shell=True)", "shell=True)  # nosec B602")
    data = passcycle(root, "run", "--json", expect=1).json()
    assert {i["exc_type"] for i in vulnerabilities(data)} == {"B404", "B506"}
    assert kpis(data)["critical_vulnerabilities"]["value"] == 1  # the yaml.load
    edit(root, "pkg/tools.py", "yaml.load(text)", "yaml.safe_load(text)")
    data = passcycle(root, "run", "--json", expect=0).json()
    assert kpis(data)["critical_vulnerabilities"]["value"] == 0
    assert kpis(data)["critical_vulnerabilities"]["status"] == "pass"
    assert kpis(data)["vulnerabilities"]["value"] == 1  # the import of subprocess, low


def test_the_projects_bandit_configuration_is_honoured(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    files = {
        **FILES,
        "passcycle.toml": PLAN + "\n[security]\ndependencies = false\n",
        # the project's own choice, where bandit users keep it
        "pyproject.toml": '[tool.bandit]\nskips = ["B404", "B506"]\n',
    }
    committed_project(root, files)
    data = passcycle(root, "run", "--json", expect=1).json()
    assert {i["exc_type"] for i in vulnerabilities(data)} == {"B602"}


def _environment(tmp_path: Path, packages: dict[str, str]) -> Path:
    """A real virtual environment (with this interpreter's packages beside it, so pytest
    runs) holding `packages` as installed distributions: their metadata, as pip leaves it."""
    env = tmp_path / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env)],
        check=True,
    )
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for name, version in packages.items():
        info = Path(site) / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "RECORD").write_text("")
    return python


def _osv(folder: Path, records: list[dict]) -> None:
    """An OSV database as osv-scanner keeps it offline: PyPI/all.zip of records."""
    (folder / "PyPI").mkdir(parents=True)
    with zipfile.ZipFile(folder / "PyPI" / "all.zip", "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))


def _record(ident: str, package: str, events: list[dict], severity: str | None = None) -> dict:
    record: dict = {
        "id": ident,
        "summary": f"{ident} in {package}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    if severity:
        record["database_specific"] = {"severity": severity}
    return record


def test_an_installed_package_the_database_marks_vulnerable(tmp_path: Path, passcycle) -> None:
    python = _environment(tmp_path, {"Old_Lib": "1.0.2", "fine-lib": "2.0"})
    _osv(
        tmp_path / "osv",
        [
            # two advisories on old-lib (written as PyPI spells it): one issue, fixed by 1.4
            _record("GHSA-aaaa-0001", "old-lib", [{"introduced": "0"}, {"fixed": "1.4"}],
                    "CRITICAL"),
            _record("PYSEC-2099-7", "old_lib", [{"introduced": "1.0"}, {"fixed": "1.1.3"}]),
            # not this version: fixed before it, or affected only later
            _record("GHSA-bbbb-0002", "old-lib", [{"introduced": "0"}, {"fixed": "1.0.1"}], "HIGH"),
            _record("GHSA-cccc-0003", "fine-lib", [{"introduced": "2.1"}], "CRITICAL"),
            # withdrawn advisories do not count
            {**_record("GHSA-dddd-0004", "fine-lib", [{"introduced": "0"}], "HIGH"),
             "withdrawn": "2099-01-01T00:00:00Z"},
        ],
    )  # fmt: skip
    root = tmp_path / "project"
    plan = PLAN.replace('tests = ["tests"]', f'tests = ["tests"]\npython = "{python}"')
    plan += f'\n[security]\ncode = false\nosv = "{tmp_path / "osv"}"\n'
    committed_project(root, {**FILES, "passcycle.toml": plan})
    data = passcycle(root, "run", "--json", expect=1).json()
    [issue] = vulnerabilities(data)
    assert issue["title"] == (
        "old-lib==1.0.2 is vulnerable: GHSA-aaaa-0001, PYSEC-2099-7"
        " (severity critical, fixed in 1.4)"
    )
    assert issue["severity"] == "critical" and issue["root_cause"] == "old-lib==1.0.2"
    assert "pip install 'old-lib>=1.4'" in issue["suggestion"]["next_step"]
    values = kpis(data)
    assert values["critical_vulnerabilities"]["value"] == 1
    assert values["vulnerabilities"]["value"] == 1
    assert values["critical_vulnerabilities"]["source"] == "audit:osv"
    assert "code_vulnerabilities" in values and values["code_vulnerabilities"]["status"] == (
        "not measured"
    )


def test_with_no_advisory_source_the_kpi_is_not_measured(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    plan = PLAN + f'dependency_vulnerabilities = "== 0"\n[security]\nosv = "{tmp_path / "no-db"}"\n'
    plan += '[phases.3]\nexit = ["dependency_vulnerabilities"]\n'
    committed_project(root, {**FILES, "passcycle.toml": plan})
    data = passcycle(root, "run", "--json", expect=1).json()
    values = kpis(data)
    for name in ("vulnerabilities", "dependency_vulnerabilities"):
        assert values[name]["status"] == "not measured" and values[name]["value"] is None
        assert "cannot read the OSV database" in values[name]["detail"]
        assert "does not exist" in values[name]["detail"]
    # the code part measured: 3 findings, 1 critical. Whatever the packages hold, that
    # already misses "== 0"; "< 100" it cannot tell
    assert values["code_vulnerabilities"]["value"] == 3
    critical = values["critical_vulnerabilities"]
    assert (critical["status"], critical["value"]) == ("fail", 1)
    assert critical["detail"].startswith("at least 1; dependencies: cannot read the OSV database")
    text = passcycle(root, "validate", expect=1).stdout
    assert "vulnerabilities, dependency_vulnerabilities not measured: dependencies:" in text
    # the phase report says why, not "add what measures it to the plan"
    passcycle(root, "report", "--phase", "3", expect=0)
    phase = (root / ".passcycle" / "phase-3.md").read_text()
    assert "is not measured in run 1: dependencies: cannot read the OSV database" in phase


@pytest.mark.parametrize("how", ["no source allowed", "unreachable service"])
def test_an_unreachable_service_is_never_zero(tmp_path: Path, passcycle, how: str) -> None:
    root = tmp_path / "project"
    security = "\n[security]\ncode = false\n"
    env = {}
    if how == "no source allowed":
        security += "service = false\n"
    else:
        # every request of pip-audit goes to a port where nothing listens
        env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "https_proxy": "http://127.0.0.1:9", "NO_PROXY": ""}  # fmt: skip
        security += 'timeout = "60s"\n'
    committed_project(root, {**FILES, "passcycle.toml": PLAN + security})
    data = passcycle(root, "run", "--json", expect=0, env=env).json()
    values = kpis(data)
    assert values["critical_vulnerabilities"]["status"] == "not measured"
    detail = values["critical_vulnerabilities"]["detail"]
    if how == "no source allowed":
        assert "no advisory source" in detail
    else:
        assert "cannot reach the advisory service" in detail and "[security] osv" in detail
    assert vulnerabilities(data) == []
