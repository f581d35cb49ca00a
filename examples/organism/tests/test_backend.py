"""The model backend: a deterministic word per prompt, with delay, failures and dissent."""

import os
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from organism.backend import WORDS, BackendServer, answer_for, main

Start = Callable[..., BackendServer]


def test_the_answer_is_a_word_that_depends_only_on_the_prompt() -> None:
    assert answer_for("a") == answer_for("a")
    assert answer_for("a") in WORDS
    assert len({answer_for(f"prompt {i}") for i in range(50)}) > 1


def test_a_disagreeing_backend_always_says_something_else() -> None:
    for i in range(20):
        assert answer_for(f"p{i}", disagree=True) != answer_for(f"p{i}")


def test_it_answers_with_its_name(start_backend: Start) -> None:
    server = start_backend("m7")
    response = httpx.post(f"{server.url}/answer", json={"prompt": "hi"})
    assert response.status_code == 200
    assert response.json() == {"answer": answer_for("hi"), "backend": "m7"}


def test_it_takes_its_time(start_backend: Start) -> None:
    server = start_backend(delay_ms=150)
    started = time.perf_counter()
    httpx.post(f"{server.url}/answer", json={"prompt": "slowly"})
    assert time.perf_counter() - started >= 0.15


def test_it_fails_as_often_as_told(start_backend: Start) -> None:
    server = start_backend("m", fail_rate=1.0)
    response = httpx.post(f"{server.url}/answer", json={"prompt": "hi"})
    assert response.status_code == 500
    assert response.json() == {"error": "injected failure", "backend": "m"}


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"prompt": 3}'])
def test_a_bad_request_is_400(start_backend: Start, body: bytes) -> None:
    server = start_backend()
    response = httpx.post(f"{server.url}/answer", content=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request")


def test_health_and_unknown_paths(start_backend: Start) -> None:
    server = start_backend("m2")
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok", "backend": "m2"}
    assert httpx.get(f"{server.url}/nope").status_code == 404
    assert httpx.post(f"{server.url}/nope", json={}).status_code == 404


def test_connections_are_kept_alive(start_backend: Start) -> None:
    server = start_backend()
    with httpx.Client() as client:
        first = client.post(f"{server.url}/answer", json={"prompt": "a"})
        second = client.post(f"{server.url}/answer", json={"prompt": "b"})
    assert first.http_version == second.http_version == "HTTP/1.1"
    assert "close" not in second.headers.get("connection", "")


def test_a_caller_that_gives_up_mid_request_is_no_error(
    start_backend: Start, capfd: pytest.CaptureFixture[str]
) -> None:
    server = start_backend()
    host, port = server.server_address[:2]
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b'POST /answer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pro')
    response = httpx.post(f"{server.url}/answer", json={"prompt": "still here?"})
    assert response.status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_backend_whose_parent_is_gone_shuts_itself_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # This process is not its own parent: to the watchdog, the parent has already gone.
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(main(["--port", "0", "--parent-pid", str(os.getpid())]))
    )
    thread.start()
    thread.join(5)
    assert outcome == [0]
    assert capsys.readouterr().out.startswith("listening on http://127.0.0.1:")
