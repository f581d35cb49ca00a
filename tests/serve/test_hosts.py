"""The dashboard answers only the host names it is served under (DNS rebinding), and shows
the history's URL without its password."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from passcycle.serve.hosts import LOOPBACK_NAMES, trusted_hosts

from .conftest import Built

PATHS = ["/", "/api/overview", "/metrics", "/static/dashboard.css"]


def port_of(client: httpx.Client) -> int:
    port = client.base_url.port
    assert port is not None
    return port


@pytest.mark.parametrize("path", PATHS)
def test_another_host_name_gets_400_on_every_path(dashboard: httpx.Client, path: str):
    # What a browser sends after a rebinding attack: the attacker's name, our address.
    for host in ("evil.example", f"evil.example:{port_of(dashboard)}", "127.0.0.1.evil.example"):
        response = dashboard.get(path, headers={"Host": host})
        assert response.status_code == 400, host
        assert "demo" not in response.text and "passcycle_" not in response.text


@pytest.mark.parametrize("path", PATHS)
def test_the_loopback_names_get_200(dashboard: httpx.Client, path: str):
    port = port_of(dashboard)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert dashboard.get(path, headers={"Host": host}).status_code == 200, host


def test_an_allowed_host_gets_200_and_no_other(
    built: Built, serve_app: Callable[..., httpx.Client]
):
    hosts = trusted_hosts("127.0.0.1", ["dash.example.com", "*.corp.example"])
    client = serve_app(built.url, "demo", plan=built.plan, hosts=hosts)
    port = port_of(client)
    for path in PATHS:
        for host in (f"dash.example.com:{port}", "team.corp.example", f"127.0.0.1:{port}"):
            assert client.get(path, headers={"Host": host}).status_code == 200, (path, host)
        for host in ("evil.example", "dash.example.com.evil.example", "corp.example.evil"):
            assert client.get(path, headers={"Host": host}).status_code == 400, (path, host)


def test_the_names_follow_the_bound_address():
    assert trusted_hosts("127.0.0.1") == LOOPBACK_NAMES
    assert trusted_hosts("localhost") == LOOPBACK_NAMES
    assert trusted_hosts("::1") == LOOPBACK_NAMES
    assert trusted_hosts("127.0.0.2") == (*LOOPBACK_NAMES, "127.0.0.2")
    assert trusted_hosts("192.0.2.7") == ("192.0.2.7",)
    assert trusted_hosts("2001:db8::7") == ("[2001:db8::7]",)
    assert trusted_hosts("Dash.LAN") == ("dash.lan",)
    # Every interface: this machine's own name, and loopback for a browser on it.
    assert trusted_hosts("0.0.0.0") == (*LOOPBACK_NAMES, socket.gethostname().lower())
    assert trusted_hosts("::") == trusted_hosts("0.0.0.0")
    extra = trusted_hosts("192.0.2.7", ["a.example, B.example.", "2001:db8::1 [2001:db8::2]", "*"])
    assert extra == (
        "192.0.2.7",
        "a.example",
        "b.example",
        "[2001:db8::1]",
        "[2001:db8::2]",
        "*",
    )


@pytest.mark.parametrize(
    "bad", ["dash.example:8765", "http://dash.example", "dash*.example", "a/b"]
)
def test_a_bad_allowed_host_is_one_line_and_exit_2(make_project, passcycle, bad: str):
    root = make_project({"tests/test_a.py": "def test_a():\n    pass\n"})
    result = passcycle(root, "serve", "--allow-host", "ok.example", "--allow-host", bad, expect=2)
    error, tip = result.stderr.splitlines()
    assert error == f"error: --allow-host (or PASSCYCLE_ALLOW_HOSTS) {bad!r}: not a host name"
    assert tip.startswith("Tip: write a host name or address without scheme or port")
    assert not (root / ".passcycle").exists()  # stopped before the history was opened


@contextmanager
def passcycle_serve(root: Path, *args: str, env: dict[str, str]) -> Iterator[int]:
    """The real `passcycle serve` on a free loopback port, until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    full_env = {**os.environ, "COLUMNS": "200", **env}
    full_env.pop("PASSCYCLE_ALLOW_HOSTS", None) if "PASSCYCLE_ALLOW_HOSTS" not in env else None
    command = [sys.executable, "-m", "passcycle", "-C", str(root), "serve", "-p", str(port)]
    proc = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr


def status(port: int, host: str, path: str = "/metrics") -> int:
    url = f"http://127.0.0.1:{port}{path}"
    return httpx.get(url, headers={"Host": host}, timeout=10).status_code


def test_passcycle_serve_allows_hosts_from_the_option_or_the_environment(make_project):
    root = make_project({"tests/test_a.py": "def test_a():\n    pass\n"})
    shared = {"PASSCYCLE_ALLOW_HOSTS": "env.example other.example"}
    with passcycle_serve(root, env=shared) as port:
        for host in ("env.example", "other.example", f"localhost:{port}"):
            assert status(port, host) == 200 and status(port, host, "/") == 200
        assert status(port, "evil.example") == 400
    # Later wins: the option replaces the environment's names.
    with passcycle_serve(root, "--allow-host", "opt.example", env=shared) as port:
        assert status(port, "opt.example") == 200 and status(port, "opt.example", "/") == 200
        assert status(port, "env.example") == 400 and status(port, "evil.example") == 400
        assert status(port, f"127.0.0.1:{port}") == 200


@pytest.mark.postgres
def test_the_dashboard_shows_a_failing_history_without_its_password(
    pg_url: str, tmp_path: Path, serve_app: Callable[..., httpx.Client]
):
    # The server trusts loopback: any password is accepted, and no real secret is used.
    url = f"{pg_url}&password=s3cret"
    client = serve_app(url, "demo")
    assert client.get("/api/overview").status_code == 200
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:  # the database goes wrong under the running dashboard
            conn.exec_driver_sql("ALTER TABLE runs RENAME TO runs_gone")
    finally:
        engine.dispose()
    api = client.get("/api/overview")
    page = client.get("/")
    assert api.status_code == page.status_code == 503
    message = api.json()["error"]
    assert message.startswith("the history postgresql+psycopg://postgres@127.0.0.1:5432/test?")
    assert "password=***" in message and "password=***" in page.text
    assert "s3cret" not in api.text + page.text
