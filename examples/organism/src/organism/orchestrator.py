"""The orchestrator: ask every model backend at once and report what most of them said."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from organism.breaker import OPEN, CircuitBreaker
from organism.cache import TTLCache
from organism.metrics import Metrics
from organism.sessions import ENDED, SessionEnded, SessionNotFound, ended, not_found

_SHARD_SIZE = 8  # connections per httpx pool; see Orchestrator.start


class NoAnswer(Exception):
    """No backend answered: every one was skipped by its breaker or failed."""

    def __init__(self, skipped: list[str], failed: dict[str, str]) -> None:
        super().__init__("no backend answered")
        self.skipped = skipped
        self.failed = failed


class Orchestrator:
    """Fans a prompt out to the backends, each behind its own circuit breaker and deadline;
    answers are cached by prompt, and concurrent requests for one prompt share one fan-out."""

    def __init__(
        self,
        backends: Iterable[str],
        metrics: Metrics,
        *,
        timeout: float = 1.0,
        failure_threshold: int = 3,
        reset_timeout: float = 5.0,
        cache_ttl: float = 30.0,
        cache_size: int = 1024,
        max_in_flight: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends = [b.rstrip("/") for b in backends]
        self.metrics = metrics
        self.timeout = timeout
        self.breakers = {
            b: CircuitBreaker(failure_threshold, reset_timeout, clock) for b in self.backends
        }
        self.cache: TTLCache[dict[str, Any]] = TTLCache(cache_size, cache_ttl, clock)
        self.max_in_flight = max_in_flight
        self._inflight: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._slots: dict[str, asyncio.Queue[httpx.AsyncClient]] = {}

    async def start(self) -> None:
        # httpcore's pool costs CPU in proportion to its connections: through one pool of
        # 16 a call cost ~1 ms of CPU, of 32 ~3.5 ms, of 64 ~8 ms (2-core machine). So each
        # backend gets several small pools, handed out one connection slot at a time, and
        # callers queue for a slot here rather than inside httpx.
        shard = min(_SHARD_SIZE, self.max_in_flight)
        limits = httpx.Limits(max_connections=shard, max_keepalive_connections=shard)
        # Each client would load the CA bundle again (~30 ms each); one context serves all.
        tls = ssl.create_default_context()
        for backend in self.backends:
            slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
            for first in range(0, self.max_in_flight, shard):
                client = httpx.AsyncClient(limits=limits, timeout=self.timeout, verify=tls)
                self._clients.append(client)
                for _ in range(min(shard, self.max_in_flight - first)):
                    slots.put_nowait(client)
            self._slots[backend] = slots

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        self._slots.clear()

    def breaker_states(self) -> list[tuple[str, bool]]:
        return [(b, breaker.state == OPEN) for b, breaker in self.breakers.items()]

    async def orchestrate(self, prompt: str) -> dict[str, Any]:
        """The majority answer for `prompt`; raises NoAnswer when no backend answered."""
        cached = self.cache.get(prompt)
        if cached is not None:
            self.metrics.cache_hit()
            self.metrics.orchestrated(True)
            return {**cached, "cached": True}
        task = self._inflight.get(prompt)
        leader = task is None
        if task is None:
            task = asyncio.create_task(self._ask_all(prompt))
            self._inflight[prompt] = task
            task.add_done_callback(lambda done: self._forget(prompt, done))
        try:
            # shield: a client that disconnects must not cancel the fan-out others wait on.
            result = await asyncio.shield(task)
        except NoAnswer:
            self.metrics.orchestrated(False)
            raise
        # Harmony counts fan-outs, not the requests that shared one.
        self.metrics.orchestrated(True, result["harmony"] if leader else None)
        return {**result, "cached": not leader}

    def _forget(self, prompt: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self._inflight.pop(prompt, None)
        # Retrieve the outcome so that a fan-out whose callers all went away is not
        # logged as "exception never retrieved".
        if not task.cancelled():
            task.exception()

    async def _ask_all(self, prompt: str) -> dict[str, Any]:
        allowed = [b for b in self.backends if self.breakers[b].allow()]
        skipped = [b for b in self.backends if b not in allowed]
        for backend in skipped:
            self.metrics.backend_call(backend, "skipped")
        replies = await asyncio.gather(*(self._ask(b, prompt) for b in allowed))
        answers = {b: answer for b, (answer, _) in zip(allowed, replies, strict=True) if answer}
        failed = {b: reason for b, (_, reason) in zip(allowed, replies, strict=True) if reason}
        if not answers:
            raise NoAnswer(skipped, failed)
        # most_common keeps first-seen order among ties, so ties go to the earlier backend.
        answer, agreed = Counter(answers.values()).most_common(1)[0]
        result = {
            "prompt": prompt,
            "answer": answer,
            "agreed": agreed,
            "answered": len(answers),
            "asked": len(allowed),
            "harmony": agreed / len(answers),
            "answers": answers,
            "skipped": skipped,
            "failed": failed,
        }
        self.cache.put(prompt, result)
        return result

    async def _ask(self, backend: str, prompt: str) -> tuple[str | None, str | None]:
        """(answer, None) or (None, reason); either way the backend's breaker hears of it."""
        slots = self._slots[backend]  # KeyError: Orchestrator.start() was not called
        try:
            async with asyncio.timeout(self.timeout):
                client = await slots.get()
        except TimeoutError:
            # Our own queue was full: the backend was never asked, so its breaker must
            # not open for it.
            self.metrics.backend_call(backend, "busy")
            return None, f"busy: no free connection within {self.timeout:g}s"
        breaker = self.breakers[backend]
        try:
            # One deadline for the whole call: httpx's timeouts are per phase.
            async with asyncio.timeout(self.timeout):
                response = await client.post(f"{backend}/answer", json={"prompt": prompt})
            response.raise_for_status()
            answer = response.json()["answer"]
            if not isinstance(answer, str) or not answer:
                raise ValueError(f"answer is not a word: {answer!r}")
        except (TimeoutError, httpx.TimeoutException):
            breaker.record_failure()
            self.metrics.backend_call(backend, "timeout")
            return None, f"timeout after {self.timeout:g}s"
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            breaker.record_failure()
            self.metrics.backend_call(backend, "error")
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            slots.put_nowait(client)
        breaker.record_success()
        self.metrics.backend_call(backend, "ok")
        return answer, None


class OrchestrateIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)
    session_id: str | None = None


router = APIRouter(tags=["orchestration"])


@router.post("/orchestrate", response_model=None)
async def orchestrate(body: OrchestrateIn, request: Request) -> dict[str, Any] | JSONResponse:
    state = request.app.state
    if body.session_id is not None:
        try:
            session, _ = state.store.get(body.session_id)
        except SessionNotFound:
            raise not_found(body.session_id) from None
        if session["state"] == ENDED:
            raise ended(body.session_id)
    try:
        result = await state.orchestrator.orchestrate(body.prompt)
    except NoAnswer as exc:
        return JSONResponse(
            status_code=503,
            content={"error": str(exc), "skipped": exc.skipped, "failed": exc.failed},
        )
    if body.session_id is not None:
        remembered = {"last_prompt": body.prompt, "last_answer": result["answer"]}
        try:
            state.store.update(body.session_id, remembered)
        except SessionEnded:
            # Ended while the backends were thinking: the session can no longer record it.
            raise ended(body.session_id) from None
        result["session_id"] = body.session_id
    return result
