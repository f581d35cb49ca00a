"""The plan's [service] and [[scenarios]] sections: the system under test and its load."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from passcycle.breaker_section import BreakerSection
from passcycle.sections import (
    JSON_PATH,
    Fraction,
    PositiveSeconds,
    Seconds,
    Section,
    TargetField,
    counts,
    numbers,
    shares,
    times,
)

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
BUILTIN_VALUES = ("user", "iteration", "uuid")  # usable as {user} etc. without `save`
DEFAULT_MAX_REQUESTS = 100_000
MAX_USERS = 100_000

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*$")


def _name(name: str) -> str:
    # names become folder and file names of the run's artifacts
    if not _NAME.match(name):
        raise ValueError(f"{name!r}: use letters, digits, '.', '_' or '-'")
    return name


Name = Annotated[str, AfterValidator(_name)]


def _think(value: Any) -> Any:
    """`1s`, 0.5 or `["1s", "3s"]`: a fixed or a uniform random wait between iterations."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError('write one time ("1s") or two (["1s", "3s"]) for a random range')
        return value
    return (value, value)


def _low_to_high(value: tuple[float, float]) -> tuple[float, float]:
    if value[1] < value[0]:
        low, high = (repr(f"{v:g}s") for v in value)
        raise ValueError(f"[{low}, {high}] is high to low; write [{high}, {low}]")
    return value


ThinkTime = Annotated[
    tuple[Annotated[float, times()], Annotated[float, times()]],
    BeforeValidator(_think),
    AfterValidator(_low_to_high),
]
StatusCode = Annotated[int, counts(100, 599)]


class ServiceSection(Section):
    """How to start the service under test, check it and read it."""

    command: str | list[str] = ""  # with {port}: a free loopback port chosen by passcycle
    url: str = ""  # a service already running (no command): load goes there
    # added to passcycle's environment; {port} works here too
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""  # relative to the project folder
    health: str = "/health"  # a path answered 2xx when ready; "" waits for the port only
    ready_timeout: PositiveSeconds = 30.0
    stop_timeout: Seconds = 10.0  # SIGTERM, then SIGKILL after this long
    metrics: str = ""  # path of a Prometheus text or flat JSON endpoint
    # hosts load may go to besides loopback: names, IPs, CIDRs
    allow_hosts: list[str] = Field(default_factory=list)
    sample_interval: PositiveSeconds = 0.5  # RSS and CPU of its processes
    probe_interval: PositiveSeconds = 1.0  # health probes for `uptime`

    @model_validator(mode="after")
    def _one_target(self) -> ServiceSection:
        if self.command and self.url:
            raise ValueError("give either command (passcycle starts it) or url (already running)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url: {self.url!r} is not an http(s) URL")
        for key, path in (("health", self.health), ("metrics", self.metrics)):
            if path and not path.startswith(("/", "http://", "https://")):
                raise ValueError(f"{key}: write a path starting with '/', not {path!r}")
        return self

    @property
    def argv(self) -> list[str]:
        import shlex

        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


class StepSection(Section):
    """One request of a declarative scenario: `{ post = "/sessions", json = {...} }`."""

    method: str
    path: str
    body: Any = Field(default=None, alias="json")
    data: str | dict[str, str] | None = None  # a form (table) or a raw body (string)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float] = Field(default_factory=dict)
    # accepted status codes; empty: any code below 400
    expect: list[StatusCode] = Field(default_factory=list)
    save: dict[str, str] = Field(default_factory=dict)  # variable -> JSON path of the response
    name: str = ""  # the name in the statistics; default "METHOD path"
    think_time: Seconds = 0.0  # wait after this step

    @model_validator(mode="before")
    @classmethod
    def _method_key(cls, data: Any) -> Any:
        # `post = "/sessions"` is short for `method = "POST", path = "/sessions"`
        if not isinstance(data, dict):
            return data
        found = [m for m in METHODS if m in data]
        if len(found) > 1:
            raise ValueError(f"one method per step, found {', '.join(found)}")
        if found:
            if "method" in data or "path" in data:
                raise ValueError(f"write either {found[0]} = PATH or method/path, not both")
            data = dict(data)
            data["path"] = data.pop(found[0])
            data["method"] = found[0]
        elif "method" not in data:
            raise ValueError(f"a step needs a method: one of {', '.join(METHODS)} = PATH")
        return data

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method.lower() not in METHODS:
            raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
        return method.upper()

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"write a path starting with '/', not {path!r} (hosts come from"
                             " the service or the scenario's host)")  # fmt: skip
        return path

    @field_validator("expect", mode="before")
    @classmethod
    def _codes(cls, expect: Any) -> Any:
        return [expect] if isinstance(expect, int) else expect

    @field_validator("save", mode="before")
    @classmethod
    def _save_text(cls, save: Any) -> Any:
        # `save = "id=$.id, token=$.auth.token"` is short for a table
        if isinstance(save, str):
            pairs = [p.strip() for p in save.split(",") if p.strip()]
            if not all("=" in p for p in pairs):
                raise ValueError(f'cannot read {save!r}; write "name=$.path" or a table')
            return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}
        return save

    @field_validator("save")
    @classmethod
    def _paths(cls, save: dict[str, str]) -> dict[str, str]:
        for var, path in save.items():
            if not re.fullmatch(r"[A-Za-z_]\w*", var):
                raise ValueError(f"{var!r} is not a variable name (letters, digits, _)")
            if not JSON_PATH.match(path):
                raise ValueError(
                    f"{var}: cannot read the JSON path {path!r}; write $.key, $.a.b[0]"
                    ' or $["odd key"]'
                )
        return save

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


class ProbeSection(StepSection):
    """A steady-state hypothesis (Chaos Toolkit's shape): one request passcycle sends every
    `interval` while the scenario runs, and the tolerance it must keep before the scenario's
    faults, during them (unless `during = false`) and again after them."""

    p95: TargetField | None = None  # e.g. "< 300ms": of the probe's answers in each phase
    errors: Fraction = 0.0  # share of answers allowed outside `expect` in each phase
    during: bool = True  # false: the service may fail while the faults are on
    # answers in the first seconds of the faults are not judged: the time a breaker or a
    # timeout takes to act ("the breaker opens within 1s")
    settle: Seconds = 0.0
    interval: PositiveSeconds = 0.25

    @property
    def timeout(self) -> float:
        """How long one probe waits for its answer: 4x its p95 ceiling, at least 1 s (10 s
        without one). No answer by then is an answer outside tolerance."""
        return 10.0 if self.p95 is None else max(1.0, 4 * self.p95.value)

    @field_validator("p95")
    @classmethod
    def _a_ceiling_on_time(cls, p95: Any) -> Any:
        if p95 is not None and (p95.dimension != "time" or p95.op not in ("<", "<=")):
            raise ValueError(f'p95 {p95.text!r}: write a ceiling on time, e.g. "< 300ms"')
        return p95


FAULT_KINDS = ("latency", "error", "reset", "blackhole", "down")
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


class UpstreamSection(Section):
    """A dependency of the service (a model backend, a database, another API) that faults
    can be injected into: passcycle puts a TCP proxy in front of it, and the service is
    told to reach it at `{upstream.NAME}` (host:port of the proxy)."""

    address: str = ""  # host:port where it listens already
    command: str | list[str] = ""  # or passcycle starts it, with {port}, and stops it
    env: dict[str, str] = Field(default_factory=dict)  # for the command; {port} works
    cwd: str = ""  # relative to the project folder
    ready_timeout: PositiveSeconds = 30.0  # until the command listens
    # the proxy's loopback port; 0 picks a free one. Fix it for a service that runs
    # already (service.url) and so cannot be told {upstream.NAME}
    proxy_port: Annotated[int, counts(0, 65535)] = 0

    @model_validator(mode="after")
    def _one_place(self) -> UpstreamSection:
        if bool(self.address) == bool(self.command):
            raise ValueError(
                "give either address (host:port, running already) or command (passcycle"
                " starts it on {port})"
            )
        if self.address:
            match = _ADDRESS.match(self.address)
            if not match or not 0 < int(match[1]) < 65536:
                raise ValueError(f"address: {self.address!r} is not host:port")
        return self

    @property
    def argv(self) -> list[str]:
        import shlex

        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


class FaultSection(Section):
    """A fault injected into an upstream while a scenario runs: from `after` seconds into
    the scenario, for `for` seconds (default: to its end)."""

    upstream: str
    kind: Literal["latency", "error", "reset", "blackhole", "down"]
    after: Seconds = 0.0
    for_: PositiveSeconds | None = Field(default=None, alias="for")
    delay: Seconds = 0.0  # latency: added before each request goes on
    status: StatusCode = 503  # error: the status answered instead
    share: Annotated[float, shares(above=True)] = 1.0  # of requests (connections for down)

    @model_validator(mode="after")
    def _needs(self) -> FaultSection:
        if self.kind == "latency" and not self.delay:
            raise ValueError('a latency fault needs a delay, e.g. delay = "800ms"')
        if self.delay and self.kind != "latency":
            raise ValueError(f"delay is for latency faults, not {self.kind!r}")
        return self

    @property
    def until(self) -> float | None:
        return None if self.for_ is None else self.after + self.for_

    def describe(self) -> str:
        what = f"latency +{self.delay * 1000:g}ms" if self.kind == "latency" else self.kind
        if self.kind == "error":
            what = f"error {self.status}"
        share = f" on {self.share:.0%}" if self.share < 1 else ""
        span = f"{self.after:g}s-{self.until:g}s" if self.until else f"from {self.after:g}s"
        return f"{self.upstream}: {what}{share}, {span}"


# "200/s", or "50/s..200/s" for a rate ramping evenly over the duration
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*/s\s*$")
MAX_RATE = 100_000.0  # per second; more is a typo, and past one process's reach anyway
RATE_HINT = 'write rate = "200/s" for a constant rate, or "50/s..200/s" to ramp'
# with a rate and no `users`: in flight at most this many seconds of the peak rate
IN_FLIGHT_SECONDS = 10


def _rate(value: Any) -> Any:
    """`rate = "200/s"` -> (200.0, 200.0); `"50/s..200/s"` -> (50.0, 200.0)."""
    if value is None or isinstance(value, tuple):
        return value
    parts = value.split("..") if isinstance(value, str) else []
    found = [float(m[1]) for m in map(_RATE.match, parts) if m]
    if not 1 <= len(parts) <= 2 or len(found) != len(parts):
        written = repr(value) if isinstance(value, str) else str(value).lower()
        raise ValueError(f'rate must look like "200/s" (or "50/s..200/s"), not {written}')
    if not all(0 < each <= MAX_RATE for each in found):
        raise ValueError(f"rate {value!r}: write a rate over 0/s and at most {MAX_RATE:g}/s")
    return (found[0], found[-1])


ArrivalRate = Annotated[tuple[float, float] | None, BeforeValidator(_rate)]


class ScenarioSection(Section):
    """One load scenario: users, how long, and what each user does.

    With `rate` it is an open model (k6's arrival-rate executors): iterations start on a
    fixed schedule whatever the service's latency, and `users` caps how many are in flight.
    """

    name: Name
    users: Annotated[int, counts(1, MAX_USERS)] = 10
    # iterations started per second on a schedule, whatever the latency (#16)
    rate: ArrivalRate = None
    # users started per second; default: all at once
    spawn_rate: Annotated[float, numbers(0, MAX_USERS, above=True)] | None = None
    duration: PositiveSeconds = 30.0  # a hard bound even with iterations
    iterations: Annotated[int, counts(1)] | None = None  # per user, then it stops
    max_requests: Annotated[int, counts(1)] = DEFAULT_MAX_REQUESTS  # the scenario stops here
    think_time: ThinkTime = (0.0, 0.0)  # between iterations
    steps: list[StepSection] = Field(default_factory=list)
    locustfile: str = ""  # the user's own, relative to the project folder
    host: str = ""  # default: the service; anything else must be allowed by allow_hosts
    stop_timeout: Seconds = 1.0  # for users to finish their task at the end
    faults: list[FaultSection] = Field(default_factory=list)  # injected into [upstreams]
    # steady-state hypotheses checked before, during and after the faults
    hypothesis: list[ProbeSection] = Field(default_factory=list)
    recover: TargetField | None = None  # e.g. "< 10s": back within tolerance after the faults
    # a circuit breaker the service shows: it must open during the faults, close after (#16)
    breaker: BreakerSection | None = None

    @model_validator(mode="after")
    def _what_users_do(self) -> ScenarioSection:
        if bool(self.steps) == bool(self.locustfile):
            raise ValueError(f"scenario {self.name!r}: give either steps or a locustfile")
        if self.iterations is not None and not self.steps:
            raise ValueError(f"scenario {self.name!r}: iterations count steps; a locustfile"
                             " scenario is bounded by duration and max_requests")  # fmt: skip
        if self.host and not self.host.startswith(("http://", "https://")):
            raise ValueError(f"host: {self.host!r} is not an http(s) URL")
        for index, fault in enumerate(self.faults):
            if fault.after >= self.duration:
                raise ValueError(
                    f"scenario {self.name!r}, faults[{index}]: after ({fault.after:g}s) is"
                    f" past the scenario's duration ({self.duration:g}s)"
                )
        if self.recover is not None:
            if not self.hypothesis or not self.faults:
                raise ValueError(f"scenario {self.name!r}: recover is judged on its hypothesis"
                                 " after its faults; give both")  # fmt: skip
            if self.fault_window()[1] >= self.duration:
                raise ValueError(f"scenario {self.name!r}: its faults last to its end; give"
                                 " each a `for` so that recovery can be seen")  # fmt: skip
        if self.breaker is not None:
            self._breaker_needs_faults()
        if self.rate is not None:
            self._open_model()
        known = set(BUILTIN_VALUES)
        for index, step in enumerate(self.steps):
            for var in _PLACEHOLDER.findall(step.path):
                if var not in known:
                    raise ValueError(
                        f"scenario {self.name!r}, step {index + 1} ({step.label}): {{{var}}}"
                        " is not saved by an earlier step; add save = { "
                        f'{var} = "$.{var}" }} to the step that returns it'
                    )
            known.update(step.save)
        return self

    def _breaker_needs_faults(self) -> None:
        # its times run from the faults' start and end: without them nothing opens it
        if not self.faults:
            raise ValueError(f"scenario {self.name!r}: a breaker is judged against the"
                             " scenario's faults; give it faults")  # fmt: skip
        if self.breaker and self.breaker.closes and self.fault_window()[1] >= self.duration:
            raise ValueError(f"scenario {self.name!r}: its faults last to its end; give"
                             " each a `for` so that the breaker can be seen closing")  # fmt: skip

    def _open_model(self) -> None:
        # the schedule paces an open model: what paces a closed one has no meaning here
        pacing = [
            ("a locustfile", bool(self.locustfile)),
            ("iterations", self.iterations is not None),
            ("spawn_rate", self.spawn_rate is not None),
            ("think_time", self.think_time != (0.0, 0.0)),
        ]
        for what, given in pacing:
            if given:
                raise ValueError(
                    f"scenario {self.name!r}: rate starts iterations on a schedule; {what}"
                    " paces users instead (remove one of them)"
                )

    @property
    def spawn_per_second(self) -> float:
        """Users started per second: spawn_rate, by default all at once."""
        return self.spawn_rate or float(self.users)

    @property
    def in_flight(self) -> int:
        """An open model's cap on iterations in flight at once: `users` when the plan gives
        it, else enough for IN_FLIGHT_SECONDS of the peak rate, so that a stall of the
        service is seen in full rather than hidden by the cap."""
        if self.rate is None or "users" in self.model_fields_set:
            return self.users
        return min(MAX_USERS, max(self.users, math.ceil(max(self.rate) * IN_FLIGHT_SECONDS)))

    def fault_window(self) -> tuple[float, float]:
        """Seconds from the scenario's start when its first fault begins and its last ends
        (its duration for a fault with no `for`); (duration, duration) without faults."""
        if not self.faults:
            return self.duration, self.duration
        start = min(f.after for f in self.faults)
        end = max(self.duration if f.for_ is None else f.after + f.for_ for f in self.faults)
        return start, min(end, self.duration)


DRILL_VALUES = ("i", "uuid")  # usable in drill steps without `save`: the record index, a uuid
# Signals that do not end a process by default: a drill of them would crash nothing.
_NOT_FATAL = frozenset(
    {"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCONT", "SIGCHLD", "SIGWINCH", "SIGURG"}
)


class DrillSection(Section):
    """One crash-and-recovery drill: write records, kill the service, restart it on the
    same port, time it back to healthy, read the records back."""

    name: Name
    signal: str = "SIGKILL"  # how the service dies: its whole process group gets it
    before: list[StepSection] = Field(default_factory=list)  # writes, once per record
    records: Annotated[int, counts(0, 100_000)] = 10
    after: list[StepSection] = Field(default_factory=list)  # reads back, once per record
    recover_timeout: PositiveSeconds = 60.0  # from the kill to healthy again

    @field_validator("signal", mode="before")
    @classmethod
    def _signal(cls, value: Any) -> str:
        import signal as signals

        try:
            if isinstance(value, int):
                found = signals.Signals(value)
            else:
                text = str(value).strip().upper()
                found = signals.Signals[text if text.startswith("SIG") else f"SIG{text}"]
        except (KeyError, ValueError):
            raise ValueError(f"unknown signal {value!r}; e.g. SIGKILL, SIGTERM, SIGSEGV") from None
        if found.name in _NOT_FATAL:
            raise ValueError(f"{found.name} does not end a process; use SIGKILL, SIGTERM, ...")
        return found.name

    @model_validator(mode="after")
    def _steps(self) -> DrillSection:
        if self.after and not self.records:
            raise ValueError(f"drill {self.name!r}: `after` checks records; set records >= 1")
        known = set(DRILL_VALUES)
        for part, steps in (("before", self.before), ("after", self.after)):
            for index, step in enumerate(steps):
                for var in _PLACEHOLDER.findall(step.path):
                    if var not in known:
                        raise ValueError(
                            f"drill {self.name!r}, {part}[{index}] ({step.label}): {{{var}}}"
                            " is not saved by an earlier step; use {i} (the record index)"
                            f' or add save = {{ {var} = "$.{var}" }} to a `before` step'
                        )
                known.update(step.save)
        return self
