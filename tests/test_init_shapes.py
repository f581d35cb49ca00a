"""`passcycle init` on four project shapes: a library, a FastAPI app, a Flask app and a
Dockerfile's command. The plan parses, and every KPI it declares uncommented is measured by
`passcycle run` on that shape (those that need a history or an advisory source aside)."""

from __future__ import annotations

import re
from pathlib import Path

from passcycle.plan import load_plan
from passcycle.seeding import SERVICE_KPIS
from tests.gitkit import committed_project

# what no first run can measure: a trend needs 3 runs, mtbf 2 failing ones, and the
# installed packages an advisory source this test machine may not reach
NEEDS_MORE = {"technical_debt", "mtbf", "critical_vulnerabilities"}

LIBRARY = {
    "src/esc/__init__.py": (
        "def escape(text):\n    if not text:\n        return ''\n"
        "    return text.replace('<', '&lt;')\n"
    ),
    "tests/test_escape.py": (
        "from esc import escape\n\n\ndef test_escape():\n    assert escape('<') == '&lt;'\n\n\n"
        "def test_empty():\n    assert escape('') == ''\n"
    ),
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
}

FASTAPI = {
    "src/shop/__init__.py": "",
    "src/shop/main.py": (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get('/health')\n"
        "def health(verbose: bool = False):\n    if verbose:\n        return {'ok': True, 'v': 1}\n"
        "    return {'ok': True}\n"
    ),
    "tests/test_health.py": (
        "from shop.main import health\n\n\ndef test_health():\n"
        "    assert health() == {'ok': True}\n\n\n"
        "def test_verbose():\n    assert health(True)['v'] == 1\n"
    ),
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
}

FLASK = {
    "app.py": (
        "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route('/ping')\n"
        "def ping(loud=False):\n    if loud:\n        return 'OK'\n    return 'ok'\n"
    ),
    "tests/test_ping.py": (
        "from app import ping\n\n\ndef test_ping():\n    assert ping() == 'ok'\n\n\n"
        "def test_loud():\n    assert ping(True) == 'OK'\n"
    ),
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
}


def _quick(root: Path) -> None:
    """The drafted scenario, shorter: what it measures is the same in 3 s as in 30."""
    plan = root / "passcycle.toml"
    text = plan.read_text()
    assert 'duration = "30s"' in text and "users = 100" in text
    plan.write_text(text.replace('duration = "30s"', 'duration = "3s"', 1))


def _measured_on_its_shape(root: Path, passcycle) -> dict[str, dict]:
    data = passcycle(root, "run", "--json", timeout=240).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    missing = {n for n, k in kpis.items() if k["status"] == "not measured"} - NEEDS_MORE
    assert missing == set(), {n: kpis[n]["detail"] for n in missing}
    return kpis


def test_a_library_gets_no_service_kpi(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "escaping"
    committed_project(root, LIBRARY)
    result = passcycle(root, "init", expect=0)
    assert "for a library" in result.stdout and "next: passcycle run" in result.stdout
    plan = load_plan(root)
    assert not set(plan.kpis) & set(SERVICE_KPIS)
    criteria = [c for phase in plan.phases.values() for c in phase.exit]
    assert not [c for c in criteria if c.split()[0] in SERVICE_KPIS]
    text = (root / "passcycle.toml").read_text()
    assert '# name = "escaping"' in text and "organism" not in text
    assert '# source = ["src/esc"]' in text
    for name in SERVICE_KPIS:  # each one still there, saying when it applies
        assert re.search(rf"^# {name} = .*\(with a \[service\]\)$", text, re.M), name
    _measured_on_its_shape(root, passcycle)


def test_a_fastapi_app_gets_its_service_drafted(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "shop"
    committed_project(root, FASTAPI)
    result = passcycle(root, "init", expect=0)
    assert "for the FastAPI app shop.main:app: [service]" in result.stdout
    plan = load_plan(root)
    service = plan.model.service
    assert service is not None and service.health == "/health"
    assert service.command == "python -m uvicorn shop.main:app --host 127.0.0.1 --port {port}"
    assert set(SERVICE_KPIS) <= set(plan.kpis)
    _quick(root)
    kpis = _measured_on_its_shape(root, passcycle)
    assert kpis["concurrent_users"]["value"] == 100 and kpis["error_rate"]["value"] == 0
    assert kpis["recovery_time"]["status"] == "pass"  # the drafted crash drill


def test_a_flask_app_gets_its_service_drafted(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "pinger"
    committed_project(root, FLASK)
    passcycle(root, "init", expect=0)
    service = load_plan(root).model.service
    assert service is not None and service.health == "/ping"
    assert service.command == "python -m flask --app app:app run --host 127.0.0.1 --port {port}"
    _quick(root)
    kpis = _measured_on_its_shape(root, passcycle)
    assert kpis["p95_response_time"]["status"] == "pass"


DOCKERISED = {
    "shop/__init__.py": "",
    "shop/main.py": FASTAPI["src/shop/main.py"],
    "tests/test_health.py": FASTAPI["tests/test_health.py"],
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
    "Dockerfile": (
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nEXPOSE 80\n"
        'CMD ["uvicorn", "shop.main:app", "--host", "0.0.0.0", \\\n     "--port", "80"]\n'
    ),
}


def test_a_dockerfiles_command_starts_the_service(tmp_path: Path, passcycle) -> None:
    """The command the project ships in production, on a loopback port passcycle picks."""
    root = tmp_path / "shop"
    committed_project(root, DOCKERISED)
    result = passcycle(root, "init", expect=0)
    assert "for the Dockerfile's command: [service]" in result.stdout
    service = load_plan(root).model.service
    assert service is not None and service.health == "/health"
    assert service.command == "uvicorn shop.main:app --host 127.0.0.1 --port {port}"
    _quick(root)
    kpis = _measured_on_its_shape(root, passcycle)
    assert kpis["concurrent_users"]["value"] == 100 and kpis["error_rate"]["value"] == 0
