"""`passcycle run` posts to the plan's webhooks on a breach, never when the gate passes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

FILES = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/calc/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


class Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict]] = []

    def do_POST(self):
        Receiver.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_one_post_per_breaching_run_and_none_when_the_gate_passes(make_project, passcycle):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook/s3cr3t"
        root = make_project({**FILES, "passcycle.toml": f'[alerts]\nwebhooks = ["{url}"]\n'})
        ok = passcycle(root, "run", expect=0)
        assert Receiver.posts == []
        (root / "src/calc/__init__.py").write_text("def add(a, b):\n    return a - b\n")
        failed = passcycle(root, "run", expect=1)
        assert len(Receiver.posts) == 1
        post = Receiver.posts[0]
        assert "test_pass_rate" in post["text"]
        assert post["gate"] is False
        for shown in (ok, failed):
            assert "s3cr3t" not in shown.stdout + shown.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_passcycle_serve_answers_on_loopback(make_project, passcycle):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    root = make_project(FILES)
    passcycle(root, "run", expect=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "passcycle", "-C", str(root), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert page.status_code == 200 and "test_pass_rate" in page.text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'passcycle_gate_passed{project="project"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
