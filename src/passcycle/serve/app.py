"""The dashboard application: pages, JSON API, /metrics and static files over one history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.middleware.trustedhost import TrustedHostMiddleware

from passcycle import strictjson
from passcycle.errors import HistoryError, UsageError
from passcycle.plan import Plan
from passcycle.serve import api, metrics, views
from passcycle.serve.board import Board
from passcycle.serve.hosts import LOOPBACK_NAMES, trusted_hosts
from passcycle.store import History

DEFAULT_HOST = "127.0.0.1"  # the dashboard is private unless --host shares it
DEFAULT_PORT = 8765
STATIC = Path(__file__).parent / "static"
VENDOR = Path(__file__).parent.parent / "report" / "vendor"
CHARTS = Path(__file__).parent.parent / "report" / "static"  # charts.js, shared with reports

# Pages run no inline script: even a test name that slipped past escaping could not execute.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StrictJSONResponse(JSONResponse):
    """JSON that JSON.parse reads: NaN and infinities as null (starlette would raise, and
    the page would get a 500 for one odd number in the history)."""

    def render(self, content: Any) -> bytes:
        return strictjson.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def create_app(
    history_url: str,
    project: str | None,
    *,
    plan: Plan | None = None,
    poll_seconds: float = views.POLL_SECONDS,
    hosts: Sequence[str] = LOOPBACK_NAMES,
) -> FastAPI:
    """The dashboard over `history_url`, for `project` (None: the newest run's project).

    With `plan`, the overview also shows the plan's phases judged on the stored KPIs.
    Pages ask every `poll_seconds` whether a run landed, and reload when one did.
    Requests whose `Host` is not one of `hosts` (see `hosts.trusted_hosts`) get 400.
    """
    history = History.open(history_url, root=plan.root if plan else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        history.close()

    app = FastAPI(
        title="passcycle",
        docs_url=None,  # the interactive docs load scripts from a CDN; we serve none
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        default_response_class=StrictJSONResponse,
    )
    app.state.history = history
    board = Board(history, project, plan)
    env: Environment = views.environment()

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(UsageError)
    async def not_found(request: Request, exc: UsageError) -> Response:
        return _error(request, env, 404, exc.message)

    @app.exception_handler(HistoryError)
    async def history_failed(request: Request, exc: HistoryError) -> Response:
        return _error(request, env, 503, exc.message)

    # Added last, so it runs first: a request for another host name reaches nothing,
    # /metrics and the JSON API included.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts), www_redirect=False)

    app.include_router(api.router(board))
    app.include_router(metrics.router(history, project))
    app.include_router(views.router(board, env, poll_seconds))
    app.mount("/static/vendor", StaticFiles(directory=VENDOR), name="vendor")
    app.mount("/static/report", StaticFiles(directory=CHARTS), name="charts")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error(request: Request, env: Environment, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return StrictJSONResponse({"error": message}, status_code=status)
    html = env.get_template("error.html").render(
        page="", project="", projects=[], version_tag="", poll_ms=0, status=status, message=message
    )
    return HTMLResponse(html, status_code=status)


def serve(
    history_url: str,
    project: str | None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    plan: Plan | None = None,
    hosts: Sequence[str] | None = None,
) -> None:
    """Run the dashboard until Ctrl-C; blocks. `hosts` defaults to the names `host` serves."""
    import uvicorn

    chosen = trusted_hosts(host) if hosts is None else hosts
    app = create_app(history_url, project, plan=plan, hosts=chosen)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
