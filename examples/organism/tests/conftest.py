"""Fixtures: the app on a real uvicorn server and SQLite file, real backends on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from organism.app import create_app
from organism.backend import BackendServer, Behaviour, make_server


class FakeClock:
    """A clock that moves only when told, for breakers and caches."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    return thread


@pytest.fixture
def start_backend() -> Iterator[Callable[..., BackendServer]]:
    """start_backend(name, delay_ms=0, fail_rate=0, disagree=False) -> a serving backend."""
    running: list[tuple[BackendServer, threading.Thread]] = []

    def start(
        name: str = "model",
        delay_ms: float = 0.0,
        fail_rate: float = 0.0,
        disagree: bool = False,
    ) -> BackendServer:
        server = make_server(Behaviour(name, delay_ms, fail_rate, disagree), seed=0)
        running.append((server, _serve(server)))
        return server

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def payload_server() -> Iterator[Callable[[int, bytes], str]]:
    """payload_server(status, body) -> URL of a server answering every POST with exactly that."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(status: int, body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        running.append((server, _serve(server)))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "organism.db"


class _Server(uvicorn.Server):
    """uvicorn.Server that stops as soon as it is told, not at its next 0.1 s tick:
    that tick was most of the time of this suite."""

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self._stop.wait()

    def stop(self) -> None:
        self.should_exit = True
        self._loop.call_soon_threadsafe(self._stop.set)


class LiveClient(httpx.Client):
    """An HTTP client bound to the app served by uvicorn in a thread; closing it stops both.

    A real server rather than starlette's TestClient: the app runs as it does in production
    (its own event loop, lifespan, sockets), and the tests do not depend on TestClient's
    choice of HTTP library.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        # IPPROTO_TCP spelled out: asyncio only disables Nagle on sockets whose proto says
        # TCP, and with Nagle on every reused connection waits 40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the app did not start")
            time.sleep(0.005)
        super().__init__(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def close(self) -> None:
        super().close()
        if self._thread.is_alive():
            self._server.stop()
            self._thread.join()
            self._socket.close()


@pytest.fixture
def make_client(db_path: Path) -> Iterator[Callable[..., LiveClient]]:
    """make_client(backends=[...], **create_app_options) -> a client of the running app."""
    clients: list[LiveClient] = []

    def make(backends: list[str] | None = None, **options: Any) -> LiveClient:
        app = create_app(options.pop("db_path", db_path), backends or [], **options)
        clients.append(LiveClient(app))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., LiveClient]) -> LiveClient:
    return make_client()


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The value of one series on /metrics; KeyError when it is not there."""
    text = client.get("/metrics").text
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if _normalise(series) == wanted:
            return float(value)
    raise KeyError(wanted)


def _normalise(series: str) -> str:
    if "{" not in series:
        return series
    name, _, rest = series.partition("{")
    pairs = sorted(p for p in rest.rstrip("}").split(",") if p)
    return name + "{" + ",".join(pairs) + "}"
