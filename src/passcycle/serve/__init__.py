"""The dashboard (pages, JSON API, Prometheus /metrics) and webhook alerts.

`alerts` needs only httpx; the dashboard needs the `serve` extra (FastAPI, uvicorn,
prometheus-client), so it is imported on first use, never by `passcycle run`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from passcycle.serve import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
