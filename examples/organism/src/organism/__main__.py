"""The service launcher: model backends as child processes, then the app on uvicorn.

    python -m organism --port 8765 [--backends 3] [--backend-delay-ms 20]
                       [--slow-backend-delay-ms 1500] [--db organism.db]

The backends stop with the service: on SIGTERM/SIGINT the launcher stops them before it
exits, they share its process group (so killing the group kills them too), and each one
exits by itself when its parent dies, even from SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from organism.app import create_app

# The directory holding the `organism` package, so children import the same code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True, slots=True)
class Backend:
    url: str
    process: subprocess.Popen[str]


class BackendStartError(RuntimeError):
    """A backend process did not report that it listens."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m organism", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", default=os.environ.get("ORGANISM_DB", "organism.db"))
    parser.add_argument("--backends", type=int, default=3, help="model backends to start")
    parser.add_argument("--backend-delay-ms", type=float, default=20.0)
    parser.add_argument(
        "--slow-backend-delay-ms",
        type=float,
        default=None,
        help="make the last backend this slow (past --backend-timeout it always times out)",
    )
    parser.add_argument("--disagreeing", type=int, default=0, help="backends that disagree")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="of every backend")
    parser.add_argument(
        "--backend-ports",
        default="",
        help="comma-separated fixed ports for the started backends (default: free ports)",
    )
    parser.add_argument(
        "--backend-url",
        action="append",
        default=[],
        help="an extra backend not started here, e.g. behind a fault proxy (repeatable)",
    )
    parser.add_argument(
        "--breaker-threshold",
        type=int,
        default=3,
        help="consecutive failures that open a backend's breaker (a huge number: no breaker)",
    )
    parser.add_argument(
        "--backend-timeout",
        type=float,
        default=float(os.environ.get("ORGANISM_BACKEND_TIMEOUT", "1.0")),
    )
    args = parser.parse_args(argv)
    args.backend_ports = [int(p) for p in args.backend_ports.split(",") if p.strip()]
    if args.backend_ports and len(args.backend_ports) != args.backends:
        parser.error("--backend-ports needs one port per backend")
    return args


def start_backends(args: argparse.Namespace, ready_timeout: float = 10.0) -> list[Backend]:
    """Start the backends and wait until each one listens; on failure stop those started."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    started: list[Backend] = []
    try:
        for i in range(args.backends):
            delay = args.backend_delay_ms
            if args.slow_backend_delay_ms is not None and i == args.backends - 1:
                delay = args.slow_backend_delay_ms
            command = [
                sys.executable, "-m", "organism.backend",
                "--host", "127.0.0.1",
                "--port", str(args.backend_ports[i] if args.backend_ports else 0),
                "--name", f"model-{i + 1}",
                "--delay-ms", str(delay),
                "--fail-rate", str(args.fail_rate),
                "--parent-pid", str(os.getpid()),
            ]  # fmt: skip
            if i < args.disagreeing:
                command.append("--disagree")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
            started.append(Backend(_wait_listening(process, ready_timeout), process))
    except BaseException:
        stop_backends(started)
        raise
    return started


def _wait_listening(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
    finally:
        process.stdout.close()  # the backend prints nothing after this line
    if not line.startswith("listening on "):
        process.kill()
        process.wait()
        raise BackendStartError(f"backend did not start (exit code {process.returncode})")
    return line.removeprefix("listening on ").strip()


def stop_backends(backends: list[Backend], timeout: float = 5.0) -> None:
    for backend in backends:
        if backend.process.poll() is None:
            backend.process.terminate()
    deadline = time.monotonic() + timeout
    for backend in backends:
        try:
            backend.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            backend.process.kill()
            backend.process.wait()


def _exit_gracefully(signum: int, frame: object) -> None:
    # uvicorn re-raises the signal it stopped for once it has shut down; exiting through
    # SystemExit (not the default handler) lets the `finally` below stop the backends.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_gracefully)
    signal.signal(signal.SIGINT, _exit_gracefully)
    backends: list[Backend] = []
    try:
        backends = start_backends(args)
        app = create_app(
            args.db,
            [b.url for b in backends] + args.backend_url,
            backend_timeout=args.backend_timeout,
            failure_threshold=args.breaker_threshold,
        )
        config = uvicorn.Config(
            app, host=args.host, port=args.port, log_level="warning", access_log=False
        )
        uvicorn.Server(config).run()
    finally:
        stop_backends(backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
