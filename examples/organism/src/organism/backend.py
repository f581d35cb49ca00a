"""A tiny model backend: answers a prompt with one word, after a delay, sometimes failing.

    python -m organism.backend --port 0 --name m1 --delay-ms 20 [--fail-rate 0.1] [--disagree]

It prints one line, `listening on http://HOST:PORT`, once it accepts connections.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heron")


def answer_for(prompt: str, disagree: bool = False) -> str:
    """The same prompt always gets the same word; a disagreeing backend says the next one."""
    index = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big") % len(WORDS)
    return WORDS[(index + disagree) % len(WORDS)]


@dataclass(frozen=True, slots=True)
class Behaviour:
    name: str = "model"
    delay_ms: float = 0.0
    fail_rate: float = 0.0
    disagree: bool = False


class BackendServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when hundreds arrive at once, and a
    # dropped SYN costs a one-second retransmit: longer than the orchestrator's deadline.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], behaviour: Behaviour, seed: int | None) -> None:
        super().__init__(address, _Handler)
        self.behaviour = behaviour
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def should_fail(self) -> bool:
        with self._rng_lock:
            return self._rng.random() < self.behaviour.fail_rate


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the orchestrator reuses connections
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (40 ms on Linux) on every reused connection.
    disable_nagle_algorithm = True
    server: BackendServer

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok", "backend": self.server.behaviour.name})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            # The caller gave up mid-request (its deadline passed): nobody to answer.
            self.close_connection = True
            return
        if self.path != "/answer":
            self._reply(404, {"error": "not found"})
            return
        try:
            prompt = json.loads(body)["prompt"]
            if not isinstance(prompt, str):
                raise TypeError("prompt must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            self._reply(400, {"error": f"bad request: {exc}"})
            return
        behaviour = self.server.behaviour
        if behaviour.delay_ms:
            time.sleep(behaviour.delay_ms / 1000)
        if self.server.should_fail():
            self._reply(500, {"error": "injected failure", "backend": behaviour.name})
            return
        answer = answer_for(prompt, behaviour.disagree)
        self._reply(200, {"answer": answer, "backend": behaviour.name})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller stopped waiting; not our error

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would cost more than the answer under load


def make_server(
    behaviour: Behaviour, host: str = "127.0.0.1", port: int = 0, seed: int | None = None
) -> BackendServer:
    """A bound, listening server; call serve_forever() (in a thread, for tests)."""
    return BackendServer((host, port), behaviour, seed)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m organism.backend", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--name", default="model")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--disagree", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this process is no longer parent"
    )
    return parser.parse_args(argv)


def _exit_with_parent(server: BackendServer, parent_pid: int) -> None:
    # If the parent is killed with SIGKILL it cannot stop us; being re-parented tells us.
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    behaviour = Behaviour(args.name, args.delay_ms, args.fail_rate, args.disagree)
    server = make_server(behaviour, args.host, args.port, args.seed)
    if threading.current_thread() is threading.main_thread():
        # shutdown() waits for serve_forever() to return, so it cannot run in the handler
        # that interrupted serve_forever() itself.
        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    if args.parent_pid is not None:
        watchdog = threading.Thread(
            target=_exit_with_parent, args=(server, args.parent_pid), daemon=True
        )
        watchdog.start()
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
