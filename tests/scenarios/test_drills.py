"""Crash-and-recovery drills against real services: killed, restarted on the same port,
timed back to healthy, their records read back."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
from scenario_kit import gone, port_open, write

from passcycle.errors import PlanError
from passcycle.scenario_sections import DrillSection, ServiceSection
from passcycle.scenarios.drills import DrillOutcome, run_drills
from passcycle.scenarios.service import Service

ORGANISM = Path(__file__).resolve().parents[2] / "examples" / "organism"

# A session service keeping its data in SQLite (DRILL_DB) or in memory. DRILL_ONCE=PATH:
# a second start exits with code 3; DRILL_SICK=PATH: a second start is never healthy.
# DRILL_CHILD=1 starts a worker child; DRILL_HALF=1 keeps only even users in DRILL_DB.
SESSIONS = r"""
import json, os, sqlite3, subprocess, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
SICK = False
for key in ("DRILL_ONCE", "DRILL_SICK"):
    marker = os.environ.get(key)
    if marker and os.path.exists(marker):
        if key == "DRILL_ONCE":
            print("refusing to start a second time", flush=True)
            sys.exit(3)
        SICK = True
    elif marker:
        open(marker, "w").close()
if os.environ.get("DRILL_CHILD"):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
LOCK = threading.Lock()
MEMORY = {}
DB = None
if os.environ.get("DRILL_DB"):
    DB = sqlite3.connect(os.environ["DRILL_DB"], check_same_thread=False, isolation_level=None)
    DB.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user TEXT)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        head = f"HTTP/1.1 {code} X\r\nContent-Length: {len(data)}\r\n\r\n"
        self.wfile.write(head.encode() + data)

    def do_GET(self):
        if self.path == "/health":
            return self._send(503 if SICK else 200, {"sick": SICK})
        sid = self.path.rsplit("/", 1)[1]
        with LOCK:
            user = MEMORY.get(sid)
            if DB is not None and user is None:
                row = DB.execute("SELECT user FROM sessions WHERE id = ?", (sid,)).fetchone()
                user = row[0] if row else None
        if user is None:
            return self._send(404, {"error": "not found"})
        return self._send(200, {"id": sid, "user": user})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        sid = uuid.uuid4().hex
        with LOCK:
            odd = os.environ.get("DRILL_HALF") and int(body["user"].rsplit("-", 1)[1]) % 2
            if DB is not None and not odd:
                DB.execute("INSERT INTO sessions VALUES (?, ?)", (sid, body["user"]))
            else:
                MEMORY[sid] = body["user"]
        return self._send(201, {"id": sid})

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"listening on {port}", flush=True)
server.serve_forever()
"""


def sessions_service(tmp_path: Path, **env: str) -> ServiceSection:
    app = write(tmp_path / "sessions_app.py", SESSIONS)
    return ServiceSection.model_validate(
        {"command": [sys.executable, str(app), "{port}"], "env": env, "ready_timeout": "10s"}
    )


def drill(**fields: Any) -> DrillSection:
    fields.setdefault("name", "crash")
    fields.setdefault("records", 20)
    fields.setdefault(
        "before",
        [{"post": "/sessions", "json": {"user": "drill-{i}"}, "expect": 201,
          "save": {"id": "$.id"}}],
    )  # fmt: skip
    fields.setdefault("after", [{"get": "/sessions/{id}", "expect": 200}])
    fields.setdefault("recover_timeout", "20s")
    return DrillSection.model_validate(fields)


def measured(outcome: DrillOutcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.measurements}


def ports_listened(artifacts: Path) -> list[int]:
    log = (artifacts / "service.log").read_text(errors="replace")
    return [int(p) for p in re.findall(r"^listening on (\d+)$", log, re.MULTILINE)]


def test_sqlite_service_survives_sigkill_on_the_same_port(tmp_path: Path) -> None:
    section = sessions_service(tmp_path, DRILL_DB=str(tmp_path / "s.db"), DRILL_CHILD="1")
    artifacts = tmp_path / "run"
    outcome = run_drills(section, [drill()], tmp_path, artifacts)
    assert outcome.notes == []
    found = measured(outcome)
    assert found["data_survival"] == 100.0
    assert 0 < found["recovery_time"] < 20
    assert {m.source for m in outcome.measurements} == {"drill:crash"}
    assert {m.unit for m in outcome.measurements} == {"s", "%"}
    first, second = ports_listened(artifacts)
    assert first == second  # restarted where clients reconnect
    assert not port_open(first)
    log = (artifacts / "service.log").read_text()
    assert "SIGKILL to the process group" in log and "restart on" in log


def test_memory_service_loses_everything(tmp_path: Path) -> None:
    outcome = run_drills(sessions_service(tmp_path), [drill()], tmp_path, tmp_path / "run")
    found = measured(outcome)
    assert found["data_survival"] == 0.0
    assert found["recovery_time"] > 0


def test_sigterm_and_half_the_records(tmp_path: Path) -> None:
    # Only even users are written to disk: records 0 and 2 of 4 survive.
    section = sessions_service(tmp_path, DRILL_DB=str(tmp_path / "s.db"), DRILL_HALF="1")
    outcome = run_drills(section, [drill(signal="term", records=4)], tmp_path, tmp_path / "run")
    assert measured(outcome)["data_survival"] == 50.0
    log = (tmp_path / "run" / "service.log").read_text()
    assert "SIGTERM to the process group" in log


def test_a_restart_that_fails_measures_no_recovery(tmp_path: Path) -> None:
    section = sessions_service(tmp_path, DRILL_ONCE=str(tmp_path / "started"))
    started = time.monotonic()
    outcome = run_drills(section, [drill(recover_timeout="60s")], tmp_path, tmp_path / "run")
    assert time.monotonic() - started < 30  # an exited restart is not waited on for 60s
    assert outcome.measurements == []
    (note,) = outcome.notes
    assert note.startswith("drill 'crash': the service did not come back within 60s")
    assert "exited with code 3" in note and "refusing to start a second time" in note


def test_a_restart_never_healthy_times_out(tmp_path: Path) -> None:
    section = sessions_service(tmp_path, DRILL_SICK=str(tmp_path / "started"))
    started = time.monotonic()
    outcome = run_drills(section, [drill(recover_timeout="1.5s")], tmp_path, tmp_path / "run")
    assert 1.5 <= time.monotonic() - started < 15
    assert outcome.measurements == []
    (note,) = outcome.notes
    assert "did not come back within 1.5s" in note and "/health" in note
    (port,) = set(ports_listened(tmp_path / "run"))
    assert not port_open(port)


def test_writes_that_fail_kill_nothing(tmp_path: Path) -> None:
    section = sessions_service(tmp_path, DRILL_ONCE=str(tmp_path / "started"))
    bad = [{"post": "/sessions", "json": {"user": "u"}, "expect": 200}]  # it answers 201
    outcome = run_drills(section, [drill(before=bad, after=[])], tmp_path, tmp_path / "run")
    assert outcome.measurements == []
    (note,) = outcome.notes
    assert "writes before the crash failed" in note and "expected 200, got 201" in note
    assert "SIGKILL" not in (tmp_path / "run" / "service.log").read_text()


def test_reuses_a_running_service_and_stops_it(tmp_path: Path) -> None:
    section = sessions_service(tmp_path, DRILL_DB=str(tmp_path / "s.db"))
    service = Service(section, tmp_path, tmp_path / "run")
    service.start()
    first_pid, port = service.pid, service.port
    assert first_pid is not None and port is not None
    outcome = run_drills(
        section, [drill(), drill(name="again", records=3)], tmp_path, tmp_path / "run",
        service=service,
    )  # fmt: skip
    assert [m.source for m in outcome.measurements] == [
        "drill:crash", "drill:crash", "drill:again", "drill:again",
    ]  # fmt: skip
    assert gone(first_pid) and service.pid != first_pid
    assert not port_open(port)
    # the second drill started its own service on a new port; the first reused ours
    listened = ports_listened(tmp_path / "run")
    assert listened[:2] == [port, port] and len(listened) == 4


def test_plan_errors() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown signal"):
        drill(signal="SIGNOPE")
    with pytest.raises(pydantic.ValidationError, match="does not end a process"):
        drill(signal="SIGSTOP")
    with pytest.raises(pydantic.ValidationError, match=r"\{token\} is not saved"):
        drill(after=[{"get": "/sessions/{token}"}])
    with pytest.raises(pydantic.ValidationError, match="records >= 1"):
        drill(records=0)
    assert drill(signal=15).signal == "SIGTERM"
    assert drill(signal="segv").signal == "SIGSEGV"
    with pytest.raises(PlanError, match="must start the service"):
        run_drills(ServiceSection(url="http://127.0.0.1:9"), [drill()], Path(), Path())
    section = ServiceSection(command="true")
    with pytest.raises(PlanError, match="two drills are named 'crash'"):
        run_drills(section, [drill(), drill()], Path(), Path())


@pytest.mark.slow
def test_organism_sessions_survive_sigkill(tmp_path: Path) -> None:
    section = ServiceSection.model_validate(
        {
            "command": [sys.executable, "-m", "organism", "--port", "{port}", "--backends", "1",
                        "--db", str(tmp_path / "organism.db")],
            "env": {"PYTHONPATH": str(ORGANISM / "src")},
            "cwd": str(ORGANISM),
            "ready_timeout": "30s",
        }
    )  # fmt: skip
    outcome = run_drills(section, [drill(records=10, recover_timeout="30s")], tmp_path,
                         tmp_path / "run")  # fmt: skip
    assert outcome.notes == []
    found = measured(outcome)
    assert found["data_survival"] == 100.0
    assert 0 < found["recovery_time"] < 30


def test_a_run_names_its_drill_in_the_terminal_json_and_reports(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    write(root / "sessions_app.py", SESSIONS)
    write(root / "pkg" / "__init__.py", "def one():\n    return 1\n")
    write(root / "tests" / "test_one.py", "from pkg import one\n\n\ndef test_one():\n"
          "    assert one() == 1\n")  # fmt: skip
    write(
        root / "passcycle.toml",
        '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[kpis]\nrecovery_time = "< 1min"\n\n'
        f'[service]\ncommand = ["{sys.executable}", "sessions_app.py", "{{port}}"]\n'
        'env = { DRILL_DB = "drill.db" }\nready_timeout = "10s"\n\n'
        '[[drills]]\nname = "crash-and-recover"\nrecords = 5\nrecover_timeout = "20s"\n'
        'before = [ { post = "/sessions", json = { user = "d-{i}" }, expect = 201,'
        ' save = { id = "$.id" } } ]\nafter = [ { get = "/sessions/{id}", expect = 200 } ]\n',
    )
    result = passcycle(root, "run", expect=0, timeout=120)
    # while it runs, what it is about to do; at the end, what it found
    assert "drill 'crash-and-recover': write 5 records, crash the service (SIGKILL)" in (
        result.stderr
    )
    assert re.search(
        r"drill crash-and-recover: service crashed, back in \d+ms, 100\.0% of its records",
        result.stdout,
    )
    # the test summary came before the drill's line
    assert result.stdout.index("1 passed") < result.stdout.index("drill crash-and-recover")
    data = passcycle(root, "run", "--json", expect=0, timeout=120).json()
    [drilled] = data["drills"]
    assert drilled["name"] == "crash-and-recover" and drilled["data_survival"] == 100.0
    assert 0 < drilled["recovery_time"] < 20
    markdown = (root / ".passcycle" / "report.md").read_text()
    assert "### Crash drills" in markdown and "| crash-and-recover |" in markdown
    assert 'data-drill="crash-and-recover"' in (root / ".passcycle" / "report.html").read_text()
