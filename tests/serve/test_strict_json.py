"""The dashboard over a history holding infinite durations (JUnit imports of time="1e400"
stored before they were checked): every page answers, and its JSON is strict JSON."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import httpx

from .conftest import Built


def strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_pages_and_api_over_infinite_durations(
    built_copy: Built, serve_app: Callable[..., httpx.Client]
) -> None:
    path = built_copy.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE test_results SET duration = ?", (math.inf,))
    client = serve_app(built_copy.url, "demo", plan=built_copy.plan)

    tests = client.get("/api/tests")
    assert tests.status_code == 200
    runs = [r for t in strict(tests.text)["tests"] for r in t["runs"]]
    assert runs and {r["duration"] for r in runs} == {None}
    detail = client.get("/api/runs/2")
    assert detail.status_code == 200 and strict(detail.text)["run"]["id"] == 2
    for page in ("/", "/runs/2", "/tests"):
        answer = client.get(page)
        assert answer.status_code == 200, page
        for block in re.findall(
            r'<script type="application/json"[^>]*>(.*?)</script>', answer.text, re.S
        ):
            strict(block)
    assert "test_mul" in client.get("/tests").text
