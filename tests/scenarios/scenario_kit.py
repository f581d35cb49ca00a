"""Helpers for scenario tests: the tiny service's source and small checks."""

from __future__ import annotations

import re
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

from passcycle.scenario_sections import ScenarioSection

# A stdlib HTTP/1.1 service; behaviour is chosen by environment variables:
#   APP_HEALTH=never   /health answers 503 forever
#   APP_EXIT=CODE      print a reason and exit at once with CODE
#   APP_CRASH_AFTER=N  exit with code 7 after N non-health requests
#   APP_CHILD=1        start a sleeping child process (a worker the service owns)
#   APP_DELAY=S        GET / waits S seconds
#   APP_STALL=S/P      GET / stalls: every P seconds (of the clock), for S seconds, every
#                      request waits until the stall ends
#   APP_LEAK=N         GET / keeps N more bytes for good (a memory leak)
#   APP_UPSTREAM=H:P   GET /call asks http://H:P/ (timeout APP_UPSTREAM_TIMEOUT, 0.3 s) and
#                      answers 502 when that fails, or 200 {"fallback": true} if APP_FALLBACK
#   APP_BREAKER=N/C    /call asks through a circuit breaker: open after N failures in a row,
#                      half-open C seconds later, where one trial every 0.5 s is let through
#                      and two that succeed close it (a failed one re-opens it). GET /breaker
#                      shows its state as {"breaker": {"state": "open"}} and in a header
#                      X-Breaker-State; /metrics as app_breaker_open{upstream="model"} 0 or 1
APP = r"""
import itertools, json, os, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("APP_EXIT"):
    print("starting app", flush=True)
    print("config error: DATABASE_URL is not set", file=sys.stderr, flush=True)
    sys.exit(int(os.environ["APP_EXIT"]))
for i in range(15):
    print(f"boot line {i}", flush=True)
if os.environ.get("APP_CHILD"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"child {child.pid}", flush=True)
COUNTER = itertools.count(1)
SEEN = {"n": 0}
LOCK = threading.Lock()
CRASH_AFTER = int(os.environ.get("APP_CRASH_AFTER") or 0)
DELAY = float(os.environ.get("APP_DELAY") or 0)
STALL = [float(x) for x in (os.environ.get("APP_STALL") or "0/1").split("/")]
LEAK = int(os.environ.get("APP_LEAK") or 0)
KEPT = []
BREAKER = [float(x) for x in (os.environ.get("APP_BREAKER") or "0/0").split("/")]
BREAKER_LOCK = threading.Lock()
BREAKER_AT = {"failures": 0, "opened": None, "trial": 0.0, "wins": 0}


def breaker_state():
    if BREAKER_AT["opened"] is None:
        return "closed"
    return "half-open" if time.time() - BREAKER_AT["opened"] >= BREAKER[1] else "open"


def breaker_allows():
    with BREAKER_LOCK:
        state = breaker_state()
        if state != "half-open":
            return state == "closed"
        if time.time() - BREAKER_AT["trial"] < 0.5:
            return False
        BREAKER_AT["trial"] = time.time()
        return True


def breaker_heard(ok):
    with BREAKER_LOCK:
        if ok:
            BREAKER_AT["wins"] += BREAKER_AT["opened"] is not None
            if BREAKER_AT["opened"] is None or BREAKER_AT["wins"] >= 2:
                BREAKER_AT.update(failures=0, opened=None, wins=0)
            return
        BREAKER_AT["failures"] += 1
        BREAKER_AT["wins"] = 0
        if BREAKER_AT["opened"] is not None or BREAKER_AT["failures"] >= BREAKER[0]:
            BREAKER_AT["opened"] = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code, body, ctype="application/json", extra=""):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = f"HTTP/1.1 {code} X\r\nContent-Type: {ctype}\r\n"
        head += f"Content-Length: {len(data)}\r\n{extra}\r\n"
        self.wfile.write(head.encode() + data)  # one write: no Nagle stall on loopback

    def _count(self):
        with LOCK:
            SEEN["n"] += 1
            if CRASH_AFTER and SEEN["n"] >= CRASH_AFTER:
                print("crashing on purpose", flush=True)
                os._exit(7)

    def do_GET(self):
        if self.path == "/health":
            if os.environ.get("APP_HEALTH") == "never":
                return self._send(503, {"status": "starting"})
            return self._send(200, {"status": "ok"})
        if self.path == "/breaker":
            state = breaker_state()
            extra = f"X-Breaker-State: {state}\r\n"
            return self._send(200, {"breaker": {"state": state}}, extra=extra)
        self._count()
        if self.path == "/metrics":
            text = (
                "# TYPE app_requests_total counter\napp_requests_total %d\n"
                "# TYPE harmony_ratio gauge\nharmony_ratio 0.998\n" % SEEN["n"]
            )
            if BREAKER[0]:
                is_open = int(breaker_state() == "open")
                text += "# TYPE app_breaker_open gauge\n"
                text += f'app_breaker_open{{upstream="model"}} {is_open}\n'
            return self._send(200, text.encode(), "text/plain; version=0.0.4")
        if self.path.startswith("/sessions/"):
            # a few milliseconds of work: Locust's histogram rounds to whole
            # milliseconds, so a sub-millisecond reply would read as p95 = 0
            time.sleep(0.003)
            return self._send(200, {"id": self.path.rsplit("/", 1)[1]})
        if self.path == "/call":
            return self._call()
        if self.path == "/missing":
            return self._send(404, {"error": "missing"})
        if DELAY:
            time.sleep(DELAY)
        if STALL[0]:
            phase = time.time() % STALL[1]
            if phase < STALL[0]:
                time.sleep(STALL[0] - phase)
        if LEAK:
            KEPT.append(b"x" * LEAK)
        return self._send(200, {"ok": True})

    def _call(self):
        import urllib.request
        url = "http://" + os.environ["APP_UPSTREAM"] + "/"
        try:
            if BREAKER[0] and not breaker_allows():
                raise RuntimeError("breaker open")
            timeout = float(os.environ.get("APP_UPSTREAM_TIMEOUT") or 0.3)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as answer:
                    body = json.loads(answer.read())
            except Exception:
                breaker_heard(False)
                raise
            breaker_heard(True)
            return self._send(200, {"upstream": body})
        except Exception as exc:
            if os.environ.get("APP_FALLBACK"):
                return self._send(200, {"fallback": True})
            return self._send(502, {"error": type(exc).__name__})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._count()
        return self._send(201, {"id": next(COUNTER), "items": [{"name": "first"}]})

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("listening", flush=True)
server.serve_forever()
"""


def scenario(**fields: Any) -> ScenarioSection:
    fields.setdefault("name", "steady")
    fields.setdefault("users", 3)
    fields.setdefault("duration", "2s")
    if "locustfile" not in fields:
        fields.setdefault("steps", [{"get": "/"}])
    return ScenarioSection.model_validate(fields)


def service_port(artifacts: Path) -> int | None:
    """The port passcycle chose, from the first line of service.log."""
    log = artifacts / "service.log"
    if not log.exists():
        return None
    match = re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
    return int(match[1]) if match else None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "organism"

# The example's orchestrator with two model backends of its own and a third, `model`,
# behind passcycle's fault proxy; a backend's breaker opens after `threshold` failures
ORGANISM = """\
[project]
name = "breaker"
source = ["src/organism"]
tests = ["tests"]

[service]
command = "{python} -m organism --port {{port}} --db .passcycle/load.db --backends 2 --backend-delay-ms 20 --backend-url http://{{upstream.model}} --backend-timeout 0.5 --breaker-threshold {threshold}"
env = {{ PYTHONPATH = "src" }}
health = "/health"

[upstreams.model]
command = "{python} -m organism.backend --host 127.0.0.1 --port {{port}} --name model-3 --delay-ms 20"
env = {{ PYTHONPATH = "src" }}

"""  # noqa: E501


def organism_project(root: Path, threshold: int, plan: str) -> Path:
    """A copy of the example's source under `root` with the orchestrator above and `plan`
    (its KPIs and scenarios) as its passcycle.toml."""
    shutil.copytree(EXAMPLE / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests").mkdir()
    head = ORGANISM.format(python=sys.executable, threshold=threshold)
    (root / "passcycle.toml").write_text(head + plan, encoding="utf-8")
    return root
