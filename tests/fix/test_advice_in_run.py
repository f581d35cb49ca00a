"""`[fix] llm_url`: a model's advice joins the rule-based suggestion; without it, the same."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

PROJECT = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/calc/__init__.py": "def add(a, b):\n    return a - b\n",
    "tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


class Chat(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Chat.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        reply = {"choices": [{"message": {"role": "assistant", "content": "Use + in add()."}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_model_advice_is_added_only_when_the_plan_asks(make_project, passcycle):
    root = make_project(PROJECT)
    plain = passcycle(root, "run", "--json", expect=1).json()
    tip = next(i for i in plain["issues"] if i["kind"] == "failure")["suggestion"]
    # the test failed in its own assertion: where is the suspect the map points at
    assert tip["location"] == "src/calc/__init__.py:2"
    assert "expected 3, got -1" in tip["next_step"]
    assert "model:" not in tip["next_step"]

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        (root / "passcycle.toml").write_text(
            f'[fix]\nllm_url = "{url}"\nllm_model = "local"\nllm_key_env = "PC_TEST_KEY"\n'
        )
        advised = passcycle(root, "run", "--json", env={"PC_TEST_KEY": "sekrit"}, expect=1)
        issues = advised.json()["issues"]
        tip = next(i for i in issues if i["kind"] == "failure")["suggestion"]
        assert tip["next_step"].endswith("model: Use + in add().")
        assert Chat.seen[0]["path"] == "/v1/chat/completions"
        assert Chat.seen[0]["auth"] == "Bearer sekrit"
        assert Chat.seen[0]["model"] == "local"
        assert "sekrit" not in advised.stdout + advised.stderr
    finally:
        server.shutdown()
        server.server_close()
