"""Faults in a dependency: a TCP proxy in front of one upstream that passes traffic on, or
breaks it on a schedule, so a scenario shows whether the service's timeouts and circuit
breakers hold.

    proxy = FaultProxy("model", "127.0.0.1", 9101).start()   # the service dials proxy.address
    proxy.arm(faults, clock)    # clock() -> the scenario's start (epoch seconds) or None
    ...                         # load runs; faults switch on and off by themselves
    hits = proxy.disarm()       # per fault: the requests (connections for `down`) it broke
    proxy.stop()

Faults act on each chunk a client sends, which for HTTP/1.1 is one request: `latency`
waits before passing it on, `error` answers an HTTP status instead (and closes), `reset`
cuts the connection with a TCP reset, `blackhole` swallows it and never answers (the
caller's timeout is what is tested). `down` stops listening, so new connections are
refused, and cuts the open ones, as when the dependency's host goes away.

The proxy runs an asyncio loop in a thread of passcycle: the traffic it carries is the
service's calls to one dependency, not the load itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from passcycle.scenario_sections import FaultSection

CHUNK = 65536
TICK = 0.05  # seconds between checks of the schedule (down on/off, blackholes ended)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class FaultHits:
    """What one fault did while its scenario ran."""

    fault: FaultSection
    hits: int  # requests broken (connections cut, for down)


class _Pipe:
    """One client connection and its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.swallowed = False  # a blackhole took a request: the connection is spoiled

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)


class FaultProxy:
    """A loopback TCP proxy for one upstream, with faults on a schedule."""

    def __init__(self, name: str, host: str, port: int, *, listen: int = 0) -> None:
        self.name = name
        self.target = (host, port)
        self.port = listen  # 0: a free port, chosen when it starts
        self.forwarded = 0  # requests passed on since the last arm()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"passcycle-proxy-{name}", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._faults: list[FaultSection] = []
        self._hits: list[int] = []
        self._clock: Callable[[], float | None] = lambda: None
        self._ticker: asyncio.Task[None] | None = None
        self._rng = random.Random(0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        try:
            self._call(self._listen())
            self._ticker = self._call(self._start_ticker())
        except BaseException:
            self.stop()
            raise
        return self

    def arm(self, faults: Sequence[FaultSection], clock: Callable[[], float | None]) -> None:
        """Apply `faults`, timed from `clock()` (the scenario's start, once known)."""

        def set_state() -> None:
            self._faults = list(faults)
            self._hits = [0] * len(self._faults)
            self._clock = clock
            self.forwarded = 0

        self._loop.call_soon_threadsafe(set_state)

    def disarm(self) -> list[FaultHits]:
        """No more faults (listening again if down); what each fault of the last arm() hit."""

        async def clear() -> list[FaultHits]:
            found = [FaultHits(f, n) for f, n in zip(self._faults, self._hits, strict=True)]
            self._faults, self._hits = [], []
            await self._listen()
            return found

        return self._call(clear())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def close() -> None:
            if self._ticker is not None:
                self._ticker.cancel()
            if self._server is not None:
                self._server.close()
            for pipe in list(self._pipes):
                pipe.reset()

        with contextlib.suppress(Exception):
            self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    # --- the loop's side ------------------------------------------------------------------

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10.0)

    async def _start_ticker(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._tick())

    async def _listen(self) -> None:
        if self._server is not None and self._server.is_serving():
            return
        # The same port again after an outage: the service was told this address.
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _active(self, kind: str | None = None) -> list[int]:
        """Indexes of the faults on now (of one kind, if given)."""
        if not self._faults:
            return []
        start = self._clock()
        if start is None:
            return []
        elapsed = time.time() - start
        return [
            i
            for i, f in enumerate(self._faults)
            if (kind is None or f.kind == kind)
            and f.after <= elapsed
            and (f.until is None or elapsed < f.until)
        ]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            down = self._active("down")
            if down and self._server is not None and self._server.is_serving():
                self._server.close()
                for pipe in list(self._pipes):
                    if self._rng.random() < self._faults[down[0]].share:
                        self._hits[down[0]] += 1
                        pipe.reset()
            elif not down and self._faults and not self._server.is_serving():  # type: ignore[union-attr]
                with contextlib.suppress(OSError):  # the port taken meanwhile: next tick
                    await self._listen()
            if not self._active("blackhole"):
                for pipe in [p for p in self._pipes if p.swallowed]:
                    pipe.reset()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pipe = _Pipe(writer)
        self._pipes.add(pipe)
        try:
            down = self._active("down")
            if down:  # accepted just before the listener closed
                self._hits[down[0]] += 1
                pipe.reset()
                return
            try:
                up_reader, pipe.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                pipe.reset()  # the upstream itself is gone: the caller sees a reset
                return
            back = asyncio.ensure_future(self._pump_back(up_reader, pipe))
            try:
                await self._pump_forward(reader, pipe)
            finally:
                back.cancel()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._pipes.discard(pipe)
            for w in (pipe.client, pipe.upstream):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()

    async def _pump_forward(self, reader: asyncio.StreamReader, pipe: _Pipe) -> None:
        assert pipe.upstream is not None
        while data := await reader.read(CHUNK):
            fault = self._pick()
            if fault is None:
                self.forwarded += 1
            elif fault.kind == "latency":
                await asyncio.sleep(fault.delay)
                self.forwarded += 1
            elif fault.kind == "error":
                pipe.client.write(_status(fault.status))
                await pipe.client.drain()
                return
            elif fault.kind == "reset":
                pipe.reset()
                return
            elif fault.kind == "blackhole":
                pipe.swallowed = True
                continue
            if pipe.swallowed:  # an answer to a swallowed request would be out of order
                pipe.reset()
                return
            pipe.upstream.write(data)
            await pipe.upstream.drain()

    async def _pump_back(self, up_reader: asyncio.StreamReader, pipe: _Pipe) -> None:
        with contextlib.suppress(OSError):
            while data := await up_reader.read(CHUNK):
                pipe.client.write(data)
                await pipe.client.drain()
            pipe.client.close()

    def _pick(self) -> FaultSection | None:
        """The fault this request meets, if any (down is handled by the ticker)."""
        for index in self._active():
            fault = self._faults[index]
            if fault.kind != "down" and self._rng.random() < fault.share:
                self._hits[index] += 1
                return fault
        return None


def _status(code: int) -> bytes:
    reason = _REASONS.get(code, "Injected Fault")
    body = f"passcycle fault: {code}\n".encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (RST), not a polite FIN: what a crashed peer looks like."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
