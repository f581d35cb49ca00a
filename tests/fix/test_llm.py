"""Advice from an OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 speaks it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from passcycle.fix.llm import Advice, LlmConfig, advise
from passcycle.fix.suggest import Suggestion
from passcycle.records import Issue, TestResult

KEY = "sk-test-0123456789abcdef"
KEY_ENV = "PASSCYCLE_TEST_LLM_KEY"

ISSUE = Issue(
    "fp1",
    "AssertionError in src/pkg/calc.py:add: assert 5.0 == 6",
    "failure",
    "medium",
    tests=("tests/test_a.py::test_add",),
    message="assert 5.0 == 6",
)
RESULTS = [
    TestResult(
        "tests/test_a.py::test_add",
        "failed",
        traceback="tests/test_a.py:6: in test_add\n    assert add(2, 3) == 6",
    )
]
SUGGESTION = Suggestion("tests/test_a.py:6", ["abc1234 simplify calc"], "expected 6, got 5.0")


@dataclass
class Endpoint:
    url: str
    mode: str = "ok"  # ok, error, slow, echo, garbage
    requests: list[dict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            if state.mode == "slow":
                state.release.wait(10)
                return
            if state.mode == "error":
                self._send(500, {"error": {"message": "internal"}})
            elif state.mode == "garbage":
                self._send(200, {"unexpected": True})
            else:
                content = "Cast to int: add returns float(a + b)."
                if state.mode == "echo":
                    content = f"you sent {self.headers.get('Authorization')}"
                message = {"role": "assistant", "content": content}
                self._send(200, {"choices": [{"message": message}]})

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def config(url: str, **kw: object) -> LlmConfig:
    values: dict = {"url": url, "model": "tiny", "key_env": KEY_ENV, "enabled": True} | kw
    return LlmConfig(**values)


def test_advice_from_a_chat_completion(endpoint: Endpoint, key: str) -> None:
    advice = advise(config(endpoint.url), ISSUE, RESULTS, SUGGESTION)
    assert advice == Advice("Cast to int: add returns float(a + b).", None)
    [request] = endpoint.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "tiny"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    user = body["messages"][1]["content"]
    assert "Issue: AssertionError in src/pkg/calc.py:add" in user
    assert "abc1234 simplify calc" in user and "assert add(2, 3) == 6" in user
    assert KEY not in json.dumps(body)  # the key travels in the header only


def test_off_by_default(endpoint: Endpoint, key: str) -> None:
    advice = advise(LlmConfig(url=endpoint.url, model="tiny", key_env=KEY_ENV), ISSUE, RESULTS)
    assert advice.text is None and "off" in (advice.reason or "")
    assert endpoint.requests == []


def test_server_error_gives_no_advice(endpoint: Endpoint, key: str) -> None:
    endpoint.mode = "error"
    advice = advise(config(endpoint.url), ISSUE, RESULTS)
    assert advice == Advice(None, "the model endpoint answered HTTP 500")


def test_malformed_answer_gives_no_advice(endpoint: Endpoint, key: str) -> None:
    endpoint.mode = "garbage"
    advice = advise(config(endpoint.url), ISSUE, RESULTS)
    assert advice == Advice(None, "the model endpoint's answer is not a chat completion")


def test_timeout_returns_quickly(endpoint: Endpoint, key: str) -> None:
    endpoint.mode = "slow"
    started = time.monotonic()
    advice = advise(config(endpoint.url, timeout=0.5), ISSUE, RESULTS)
    assert time.monotonic() - started < 3
    assert advice == Advice(None, "the model endpoint did not answer within 0.5s")


def test_unreachable_endpoint_gives_no_advice(key: str) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    advice = advise(config(f"http://127.0.0.1:{port}"), ISSUE, RESULTS)
    assert advice.text is None
    assert advice.reason == "cannot reach the model endpoint (ConnectError)"


def test_missing_key_names_the_variable_not_a_value(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    advice = advise(config(endpoint.url), ISSUE, RESULTS)
    assert advice == Advice(None, f"no key: environment variable {KEY_ENV} is not set")
    assert endpoint.requests == []


@pytest.mark.parametrize("mode", ["ok", "error", "slow", "garbage", "echo"])
def test_the_key_never_appears_in_text(endpoint: Endpoint, key: str, mode: str) -> None:
    endpoint.mode = mode
    advice = advise(config(endpoint.url, timeout=0.5), ISSUE, RESULTS)
    assert KEY not in f"{advice.text} {advice.reason}"
    if mode == "echo":  # an endpoint that echoes the header gets the key masked
        assert advice.text == "you sent Bearer ***"
