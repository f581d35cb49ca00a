"""The application: sessions, orchestration, health and metrics in one FastAPI app."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from organism import __version__, orchestrator, sessions
from organism.metrics import Metrics, RequestTimer
from organism.orchestrator import Orchestrator
from organism.sessions import SessionStore


def create_app(
    db_path: str | Path,
    backends: Sequence[str],
    *,
    backend_timeout: float = 1.0,
    failure_threshold: int = 3,
    reset_timeout: float = 5.0,
    cache_ttl: float = 30.0,
    cache_size: int = 1024,
    max_in_flight: int = 32,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """Build the app. Nothing is opened until the app starts (its lifespan), so importing
    or building an app touches neither the database nor the network."""
    metrics = Metrics()
    orchestra = Orchestrator(
        backends,
        metrics,
        timeout=backend_timeout,
        failure_threshold=failure_threshold,
        reset_timeout=reset_timeout,
        cache_ttl=cache_ttl,
        cache_size=cache_size,
        max_in_flight=max_in_flight,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = SessionStore(db_path)
        app.state.store = store
        metrics.sessions_active.set(store.count_active())
        await orchestra.start()
        try:
            yield
        finally:
            await orchestra.close()
            store.close()

    app = FastAPI(title="organism", version=__version__, lifespan=lifespan)
    app.state.metrics = metrics
    app.state.orchestrator = orchestra
    app.include_router(sessions.router)
    app.include_router(orchestrator.router)
    app.add_api_route("/health", health, methods=["GET"], response_model=None)
    app.add_api_route("/metrics", metrics_text, methods=["GET"])
    app.add_middleware(RequestTimer, metrics=metrics)
    return app


async def health(request: Request) -> dict[str, Any] | JSONResponse:
    """ok only when the database answers; a service without its store is not healthy."""
    try:
        request.app.state.store.ping()
    except (sqlite3.Error, AttributeError) as exc:
        return JSONResponse(status_code=503, content={"status": "error", "detail": str(exc)})
    return {"status": "ok"}


async def metrics_text(request: Request) -> Response:
    state = request.app.state
    state.metrics.breakers(state.orchestrator.breaker_states())
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _backends_from_env(raw: str) -> list[str]:
    return [b.strip() for b in raw.split(",") if b.strip()]


# For `uvicorn organism.app:app`: configured from the environment.
app = create_app(
    os.environ.get("ORGANISM_DB", "organism.db"),
    _backends_from_env(os.environ.get("ORGANISM_BACKENDS", "")),
    backend_timeout=float(os.environ.get("ORGANISM_BACKEND_TIMEOUT", "1.0")),
)
