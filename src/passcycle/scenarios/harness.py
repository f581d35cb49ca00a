"""The Locust side of every passcycle scenario: request cap, response-time sample, host guard
and the user that plays declarative steps (an open model's, which keeps a schedule, is in
arrivals.py).

NEVER imported by passcycle: `import locust` monkey-patches the standard library with
gevent. locustgen.py copies this file's text into the generated locustfile, after a
`PASSCYCLE = {...}` literal that configures it, and Locust runs it in its own process.
"""

import contextlib
import fnmatch
import ipaddress
import json
import os
import random
import time
import urllib.parse
import uuid
from typing import Any

import gevent
import locust.stats
from locust import FastHttpUser, between, constant, events, task
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

if "extract" not in globals():  # alone (tests, lint); a generated file has steps.py above
    from passcycle.scenarios.steps import MISSING, PLACEHOLDER, extract, render

PASSCYCLE: dict[str, Any] = globals().get("PASSCYCLE") or {}
_OUT = os.environ.get("PASSCYCLE_OUT") or PASSCYCLE.get("out") or "."
_CAP = int(PASSCYCLE.get("max_requests") or 100_000)
_SAMPLE_SIZE = int(PASSCYCLE.get("sample_size") or 2000)
_ALLOWED = {h.lower() for h in PASSCYCLE.get("allowed_hosts", [])}
# passcycle reads the stats history while it grows: flush it every second, not every 5.
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1

_STATE: dict[str, Any] = {"requests": 0, "stopping": False, "capped": False, "env": None}


class _Reservoir:
    """A uniform sample of at most `size` values from a stream of unknown length."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen = 0
        self.items: list[float] = []

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(value)
        else:
            slot = random.randrange(self.seen)
            if slot < self.size:
                self.items[slot] = value


_RESERVOIR = _Reservoir(_SAMPLE_SIZE)
# One smaller sample per request name, for exact per-step percentiles; bounded in number
# because a locustfile may name every URL apart.
_STEP_SAMPLE_SIZE = max(100, _SAMPLE_SIZE // 4)
_MAX_NAMES = 200
_BY_NAME: dict[str, _Reservoir] = {}
# Fault windows (seconds from the start of the test): requests are told apart by whether
# a fault was on, so the service's behaviour during an outage is measured on its own.
_WINDOWS = [(float(a), float("inf") if b is None else float(b))
            for a, b in PASSCYCLE.get("windows") or []]  # fmt: skip
_FIRST_FAULT = min((a for a, _ in _WINDOWS), default=0.0)
_PHASES: dict[str, dict[str, Any]] = {}
# How late this process's event loop runs a timer, summed over the ticks in which requests
# finished: every response waits that long too before its time is taken, so it is the
# generator's own share of the response times it measures (busy, or waiting for a core).
_LAG_TICK = 0.01
_LAG = {"ticks": 0, "ms": 0.0}


def _write(name: str, data: dict[str, Any]) -> None:
    os.makedirs(_OUT, exist_ok=True)
    tmp = os.path.join(_OUT, f".{name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, os.path.join(_OUT, name))


def _quit() -> None:
    env = _STATE["env"]
    if env is not None and env.runner is not None and not isinstance(env.runner, WorkerRunner):
        env.runner.quit()


def _fatal(step: str, message: str) -> None:
    """A mistake in the scenario itself: record it once and stop the whole test."""
    if _STATE["stopping"]:
        return
    _STATE["stopping"] = True
    _write("fatal.json", {"scenario": PASSCYCLE.get("scenario", ""), "step": step,
                          "message": message})  # fmt: skip
    gevent.spawn(_quit)  # passcycle's monitor also sees fatal.json and stops workers


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    _STATE["env"] = environment


def _phase(began: float) -> str | None:
    """Where a request that began at `began` (epoch seconds) falls: before, during or after
    the faults. Requests in flight when a fault starts or ends fall by their start."""
    start = _STATE.get("t0")
    if not _WINDOWS or start is None:
        return None
    elapsed = began - start
    if any(a <= elapsed < b for a, b in _WINDOWS):
        return "during"
    return "before" if elapsed < _FIRST_FAULT else "after"


def _sample(key: str, ms: float, began: float, failed: bool) -> None:
    """Keep one response time (ms) of a request that began at `began` (epoch seconds)."""
    _RESERVOIR.add(ms)
    phase = _phase(began)
    if phase is not None:
        found = _PHASES.setdefault(
            phase, {"sample": _Reservoir(_SAMPLE_SIZE), "requests": 0, "failures": 0}
        )
        found["sample"].add(ms)
        found["requests"] += 1
        found["failures"] += failed
    step = _BY_NAME.get(key)
    if step is None and len(_BY_NAME) < _MAX_NAMES:
        step = _BY_NAME[key] = _Reservoir(_STEP_SAMPLE_SIZE)
    if step is not None:
        step.add(ms)


@events.request.add_listener
def _on_request(
    request_type: str, name: str, response_time: float, exception: Any = None, **_kw: Any
) -> None:
    if not PASSCYCLE.get("rate"):
        # an open model keeps times from each request's intended start instead (arrivals)
        began = time.time() - response_time / 1000.0
        _sample(f"{request_type} {name}", response_time, began, exception is not None)
    _STATE["requests"] += 1
    if _STATE["requests"] >= _CAP and not _STATE["stopping"]:
        _STATE["stopping"] = True
        _STATE["capped"] = True
        gevent.spawn(_quit)


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_kw: Any) -> None:
    # every user started: a scenario of a few iterations can end between two rows of
    # Locust's stats history, which then never shows its users
    _STATE["spawned"] = max(int(_STATE.get("spawned") or 0), int(user_count))


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    _STATE["t0"] = time.time()
    if not isinstance(environment.runner, WorkerRunner):
        # passcycle's fault proxies time their schedule from this moment
        _write("started.json", {"t": _STATE["t0"]})
        gevent.spawn(_watch, environment)
    if not isinstance(environment.runner, MasterRunner):  # a process that runs users
        gevent.spawn(_loop_lag)


def _loop_lag() -> None:
    seen = _STATE["requests"]
    while True:
        due = time.perf_counter() + _LAG_TICK
        gevent.sleep(_LAG_TICK)
        late = max(0.0, time.perf_counter() - due)
        if _STATE["requests"] != seen:  # idle ticks (start, ramp-down) would dilute it
            seen = _STATE["requests"]
            _LAG["ticks"] += 1
            _LAG["ms"] += 1000.0 * late


def _watch(environment: Any) -> None:
    """On the master (or the only process): the cap over all workers, and the end of
    iterations, when every user has stopped by itself."""
    runner = environment.runner
    started = time.monotonic()
    while runner.state not in ("stopped", "stopping", "quitting"):
        gevent.sleep(0.2)
        if isinstance(runner, MasterRunner) and runner.stats.total.num_requests >= _CAP:
            _STATE["capped"] = True
            _quit()
            return
        spawned = runner.state == "running" and time.monotonic() - started > 1.0
        ends = PASSCYCLE.get("iterations") or PASSCYCLE.get("rate")  # users stop by themselves
        if ends and spawned and runner.user_count == 0:
            _quit()
            return


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    if _RESERVOIR.seen or _STATE["capped"]:
        steps = {key: {"seen": r.seen, "ms": r.items} for key, r in _BY_NAME.items()}
        phases = {
            key: {"seen": p["sample"].seen, "ms": p["sample"].items,
                  "requests": p["requests"], "failures": p["failures"]}
            for key, p in _PHASES.items()
        }  # fmt: skip
        _write(f"samples-{os.getpid()}.json", {"seen": _RESERVOIR.seen, "capped":
               _STATE["capped"], "ms": _RESERVOIR.items, "steps": steps,
               "phases": phases, "spawned": _STATE.get("spawned", 0),
               "lag": _LAG})  # fmt: skip


# --- the host guard: load goes to the plan's service and allowed hosts only ----------


def _host_ok(host: str) -> bool:
    # The same rule as passcycle.scenarios.safety.host_allowed, for requests the
    # locustfile builds itself (absolute URLs).
    host = host.strip("[]").lower()
    if host in _ALLOWED or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return True
    for entry in _ALLOWED:
        if address is not None and "/" in entry:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
        elif fnmatch.fnmatchcase(host, entry):
            return True
    return False


def _check_url(base: str | None, url: str) -> None:
    host = urllib.parse.urlsplit(urllib.parse.urljoin(base or "", url)).hostname or ""
    if not _host_ok(host):
        _fatal("", f"refused a request to {host!r}: not loopback and not in allow_hosts")
        raise StopUser()


def _guard(cls: Any) -> None:
    original = cls.request

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        _check_url(getattr(self, "base_url", None), url)
        return original(self, method, url, *args, **kwargs)

    cls.request = request


_guard(FastHttpSession)
_guard(HttpSession)


# --- declarative steps -----------------------------------------------------------------

if PASSCYCLE.get("steps"):
    _STEPS: list[dict[str, Any]] = PASSCYCLE["steps"]
    for _step in _STEPS:
        # Work out once what each request needs, so a plain GET costs what it costs in a
        # hand-written locustfile: no templating, no catch_response when nothing is checked.
        _text = json.dumps([_step.get(k) for k in ("path", "json", "data", "headers", "params")])
        _step["templated"] = bool(PLACEHOLDER.search(_text))
        _step["uses_uuid"] = "{uuid}" in _text
        _step["checked"] = bool(_step.get("expect") or _step.get("save"))
    _THINK = PASSCYCLE.get("think_time") or [0.0, 0.0]
    _SAVED_ONCE: set[tuple[int, str]] = set()  # (step, variable) found at least once
    _USERS = iter(range(1, 1 << 30))

    class StepsUser(FastHttpUser):
        """Plays the scenario's steps in order: a closed model (PasscycleUser) or an open
        one (arrivals.py)."""

        abstract = True

        def on_start(self) -> None:
            self.number = next(_USERS)
            self.done = 0

        def _iterate(self, values: dict[str, Any], due: float | None = None) -> None:
            """One pass over the steps. `due`: when the first request was meant to start
            (perf_counter seconds), in an open model; it and every later request are timed."""
            for index, step in enumerate(_STEPS):
                if step["uses_uuid"]:
                    values["uuid"] = uuid.uuid4().hex
                began = time.perf_counter() if due is None or index else due
                if step["templated"] or step["checked"]:
                    ok = self._play(index, step, values)
                else:
                    ok = self._plain(step)
                self._timed(step, began, ok)
                if not ok:
                    break  # later steps may need what this one did not give
                if step.get("think_time"):
                    gevent.sleep(step["think_time"])

        def _timed(self, step: dict[str, Any], began: float, ok: bool) -> None:
            """A request has ended; a closed model leaves its time to Locust's event."""

        def _plain(self, step: dict[str, Any]) -> bool:
            path = step["path"]
            if step.get("params"):
                path += ("&" if "?" in path else "?") + urllib.parse.urlencode(step["params"])
            kwargs = {k: step[k] for k in ("json", "data") if step.get(k) is not None}
            if step.get("headers"):
                kwargs["headers"] = step["headers"]
            response = self.client.request(step["method"], path, name=step["label"], **kwargs)
            return bool(0 < response.status_code < 400)

        def _play(self, index: int, step: dict[str, Any], values: dict[str, Any]) -> bool:
            path = render(step["path"], values, quote=True)
            if step.get("params"):
                query = urllib.parse.urlencode(render(step["params"], values))
                path += ("&" if "?" in path else "?") + query
            kwargs: dict[str, Any] = {"name": step["label"], "catch_response": True}
            if step.get("json") is not None:
                kwargs["json"] = render(step["json"], values)
            if step.get("data") is not None:
                kwargs["data"] = render(step["data"], values)
            if step.get("headers"):
                kwargs["headers"] = render(step["headers"], values)
            with self.client.request(step["method"], path, **kwargs) as response:
                expect = step.get("expect") or []
                code = response.status_code
                if (code not in expect) if expect else not (0 < code < 400):
                    wanted = "/".join(map(str, expect)) if expect else "a code below 400"
                    got = f"no response ({response.error})" if code == 0 else code
                    response.failure(f"expected {wanted}, got {got}")
                    return False
                for var, json_path in (step.get("save") or {}).items():
                    try:
                        document = response.json()
                    except (ValueError, TypeError):
                        document = MISSING
                    found = MISSING if document is MISSING else extract(document, json_path)
                    if found is MISSING:
                        body = (response.text or "")[:200].replace("\n", " ")
                        message = f"save {var}: {json_path} is not in the response ({body!r})"
                        response.failure(message)
                        if (index, var) not in _SAVED_ONCE:
                            # never found: the plan is wrong, not the service under load
                            _fatal(step["label"], message)
                            raise StopUser()
                        return False
                    _SAVED_ONCE.add((index, var))
                    values[var] = found
                response.success()
            return True

    if not PASSCYCLE.get("rate"):

        class PasscycleUser(StepsUser):
            """A closed model: each user plays the steps, waits its think time, again."""

            wait_time = constant(_THINK[0]) if _THINK[0] == _THINK[1] else between(*_THINK)

            @task
            def steps(self) -> None:
                if _STATE["stopping"]:
                    raise StopUser()
                self._iterate({"user": self.number, "iteration": self.done + 1})
                self.done += 1
                limit = PASSCYCLE.get("iterations")
                if limit and self.done >= limit:
                    raise StopUser()
