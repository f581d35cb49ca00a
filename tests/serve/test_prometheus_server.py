"""A real Prometheus server scrapes `passcycle serve` and answers a query for a KPI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import Built


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], cwd: Path, ready: str, log: Path) -> Iterator[str]:
    """Start `command`, wait until `ready` answers 200, stop it (SIGTERM) at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{command[0]} exited:\n{log.read_text()[-2000:]}"
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{ready} never answered:\n{log.read_text()}"
            time.sleep(0.2)
        yield ready
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_prometheus_scrapes_passcycle_serve_and_answers_for_a_kpi(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    serve_port, prometheus_port = free_port(), free_port()
    serve = [sys.executable, "-m", "passcycle", "serve", "--port", str(serve_port)]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: passcycle\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n",
        encoding="utf-8",
    )
    prometheus = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    api = f"http://127.0.0.1:{prometheus_port}"
    with (
        running(
            serve, built.root, f"http://127.0.0.1:{serve_port}/metrics", tmp_path / "serve.log"
        ),
        running(prometheus, tmp_path, f"{api}/-/ready", tmp_path / "prometheus.log"),
    ):
        deadline = time.monotonic() + 60
        while True:
            answer = httpx.get(
                f"{api}/api/v1/query",
                params={"query": 'passcycle_kpi_test_pass_rate_ratio{project="demo"}'},
            ).json()
            assert answer["status"] == "success", answer
            if answer["data"]["result"]:
                break
            assert time.monotonic() < deadline, "Prometheus never stored the KPI"
            time.sleep(0.5)
        targets = httpx.get(f"{api}/api/v1/targets").json()["data"]["activeTargets"]
    [series] = answer["data"]["result"]
    latest = next(k for k in built.verdicts[-1].kpis if k.name == "test_pass_rate")
    assert float(series["value"][1]) == pytest.approx(latest.value / 100)
    assert series["metric"]["job"] == "passcycle"
    assert [t["health"] for t in targets] == ["up"]
