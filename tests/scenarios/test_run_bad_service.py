"""`passcycle run` with a service that cannot be used: one clear line, the right exit code,
a recorded run, and no process left behind."""

from __future__ import annotations

import sys
import time

import psutil

TESTS = {
    "tests/test_ok.py": "def test_ok():\n    assert True\n",
}
STEPS = 'steps = [ { get = "/" } ]'


def _plan(service: str, scenario: str = "") -> str:
    return (
        f'[service]\n{service}\n\n[[scenarios]]\nname = "s"\nusers = 2\nduration = "3s"\n'
        + (scenario or STEPS)
        + "\n"
    )


def _leftovers(t0: float, marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        line = " ".join(proc.info["cmdline"] or [])
        if (proc.info["create_time"] or 0) >= t0 and marker in line:
            found.append(line)
    return found


def _one_error_line(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_service_that_never_becomes_healthy(make_project, passcycle):
    server = "import time\nprint('booting, never ready', flush=True)\ntime.sleep(600)\n"
    root = make_project(
        {
            **TESTS,
            "never_ready.py": server,
            "passcycle.toml": _plan(
                f'command = ["{sys.executable}", "never_ready.py", "{{port}}"]\n'
                'ready_timeout = "2s"'
            ),
        }
    )
    t0 = time.time() - 1
    result = passcycle(root, "run", expect=3)
    line = _one_error_line(result)
    assert "health" in line or "healthy" in line
    assert "booting, never ready" in result.stderr  # the last lines of its log
    runs = passcycle(root, "history", "--json").json()["runs"]
    assert runs[0]["status"] == "error"
    assert _leftovers(t0, "never_ready.py") == []


def test_a_non_loopback_target_is_refused_before_anything_runs(make_project, passcycle):
    root = make_project({**TESTS, "passcycle.toml": _plan('url = "http://192.0.2.10:8080"')})
    result = passcycle(root, "run", expect=2)
    line = _one_error_line(result)
    assert "192.0.2.10" in line and "allow_hosts" in result.stderr
    runs = passcycle(root, "history", "--json").json()["runs"]
    assert [r["status"] for r in runs] == ["error"]
    assert runs[0]["counts"]["passed"] == 0  # the tests did not run either


def test_a_step_with_a_bad_json_path(make_project, passcycle):
    server = (
        "import http.server, json, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = json.dumps({'ok': True}).encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    root = make_project(
        {
            **TESTS,
            "tiny_server.py": server,
            "passcycle.toml": _plan(
                f'command = ["{sys.executable}", "tiny_server.py", "{{port}}"]\nhealth = "/"',
                'steps = [ { get = "/", save = { id = "$.nope" } }, { get = "/{id}" } ]',
            ),
        }
    )
    t0 = time.time() - 1
    result = passcycle(root, "run", expect=3)
    line = _one_error_line(result)
    assert "$.nope" in line and "s" in line
    assert passcycle(root, "history", "--json").json()["runs"][0]["status"] == "error"
    assert _leftovers(t0, "tiny_server.py") == []
    # this project's Locust only: another test may be running its own beside this one
    assert [line for line in _leftovers(t0, "locust") if str(root) in line] == []
