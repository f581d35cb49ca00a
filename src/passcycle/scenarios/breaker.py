"""Circuit-breaker reads: a scenario's breaker state, read every `interval` from what the
service exposes (a Prometheus series, a path into a JSON answer, or a header) from the
scenario's start through its faults and after them, and what the reads show: how soon the
breaker opened once the faults began and closed once they ended.

A read that finds no value (the series is absent, the JSON path or the header missing, the
page answers 404 or not at all) is kept as `unreadable` with one line saying what was asked
and what came back; it never stops the scenario. Judging the reads against the plan's
`opens` and `closes` is validate/breaker.py's."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from passcycle.breaker_section import BreakerSection, metric_selector
from passcycle.records import Measurement
from passcycle.scenario_sections import ScenarioSection
from passcycle.scenarios.hypothesis import phase_at
from passcycle.scenarios.polling import Poller
from passcycle.scenarios.probes import series_name
from passcycle.scenarios.steps import MISSING, extract

OPEN, HALF_OPEN, CLOSED, OTHER, UNREADABLE = "open", "half-open", "closed", "other", "unreadable"
READ_TIMEOUT = 2.0  # a state page slower than this under load is a read that failed
MAX_VALUES = 6  # distinct values kept per phase; a page reading a new value each time is odd
_CLIP = 160  # characters of an answer quoted in a message


@dataclass(frozen=True, slots=True)
class Reading:
    at: float  # seconds since the scenario started
    state: str  # OPEN, HALF_OPEN, CLOSED, OTHER (a value the plan does not name), UNREADABLE
    value: str  # what was read ("1", "open"), or for UNREADABLE what came back instead


class Unreadable(Exception):
    """The answer holds no breaker value; the message says what it holds instead."""


class BreakerWatch(Poller[tuple[str, str]]):
    """Reads the breaker every `breaker.interval` in a thread until stopped. `fill` writes
    `{upstream.NAME}` as the proxy's address, which services often label their breakers by."""

    def __init__(
        self,
        breaker: BreakerSection,
        base_url: str,
        clock: Callable[[], float | None],
        fill: Callable[[str], str] = str,
    ) -> None:
        super().__init__(base_url, clock, breaker.interval, READ_TIMEOUT, "passcycle-breaker")
        self.breaker = breaker
        self.path = fill(breaker.get)
        self.series = metric_selector(fill(breaker.metric)) if breaker.metric else None
        self.readings: list[Reading] = []

    def ask(self, client: httpx.Client) -> tuple[str, str]:
        try:
            response = client.get(self.path)
        except httpx.HTTPError as exc:
            return UNREADABLE, f"GET {self.path} got no answer ({_why(exc)})"
        try:
            value = read_value(self.breaker, self.series, response)
        except Unreadable as exc:
            return UNREADABLE, f"GET {self.path} answered {response.status_code}: {exc}"
        return state_of(self.breaker, value), value

    def keep(self, at: float, answer: tuple[str, str], took: float) -> None:
        self.readings.append(Reading(at, *answer))


def read_value(
    breaker: BreakerSection, series: tuple[str, dict[str, str]] | None, response: httpx.Response
) -> str:
    """The breaker's value in one answer, as text; Unreadable when it holds none."""
    if breaker.header:
        value = response.headers.get(breaker.header)
        if value is None:
            has = ", ".join(sorted(response.headers.keys())) or "none"
            raise Unreadable(f"no {breaker.header} header (its headers: {has})")
        return value.strip()
    if breaker.json_:
        try:
            document = response.json()
        except ValueError:
            raise Unreadable(f"not JSON: {_clip(response.text)}") from None
        found = extract(document, breaker.json_)
        if found is MISSING:
            raise Unreadable(f"no {breaker.source} in {_clip(response.text)}")
        return found if isinstance(found, str) else _number(found)
    assert series is not None  # a section without header or json has a metric
    return _number(_sample(series, response.text))


def _sample(series: tuple[str, dict[str, str]], text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    name, labels = series
    wanted = series_name(name, labels)
    same_name: list[str] = []
    matched: list[float] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name != name:
                    continue
                same_name.append(series_name(sample.name, dict(sample.labels)))
                if labels.items() <= dict(sample.labels).items():
                    matched.append(sample.value)
    except Exception:  # the parser raises several types on a page that is not Prometheus text
        raise Unreadable(f"not Prometheus text: {_clip(text)}") from None
    if len(matched) > 1:
        raise Unreadable(f"{wanted} matches {len(matched)} series; name more labels")
    if not matched:
        has = f"; it has {', '.join(same_name[:3])}" if same_name else f"; no {name} at all"
        raise Unreadable(f"no series {wanted}{has}")
    return matched[0]


def state_of(breaker: BreakerSection, value: str) -> str:
    for state, named in ((OPEN, breaker.open), (HALF_OPEN, breaker.half_open),
                         (CLOSED, breaker.closed)):  # fmt: skip
        if named and _same(value, named):
            return state
    return OTHER


def _same(read: str, named: str) -> bool:
    # a gauge's 1.0 is the plan's "1"; words compare without case ("OPEN" is "open")
    try:
        return math.isclose(float(read), float(named))
    except ValueError:
        return read.strip().casefold() == named.strip().casefold()


def _number(value: object) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _CLIP else flat[:_CLIP] + "…")


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"none within {READ_TIMEOUT:g}s"
    return str(exc) or type(exc).__name__


def breaker_measurements(scenario: ScenarioSection, watch: BreakerWatch) -> list[Measurement]:
    """`breaker_open_time` (s from the faults' start to the first read of open),
    `breaker_recover_time` (s from the faults' end to the first read of closed after it, once
    it opened), `breaker_half_open` (1 when a half-open read came between, if the plan names
    the value); `breaker_reads{phase,state,value}` counts the reads, and
    `breaker_unreadable{answer}` the reads that found no value, with the commonest answer."""
    source = f"scenario:{scenario.name}"
    labels = {"scenario": scenario.name}
    start, end = scenario.fault_window()
    readings = watch.readings
    found = _counts(scenario, readings)
    unreadable = Counter(r.value for r in readings if r.state == UNREADABLE)
    if unreadable:
        answer = unreadable.most_common(1)[0][0]
        name = series_name("breaker_unreadable", {**labels, "answer": answer})
        found.append(Measurement(name, float(unreadable.total()), "", source))
    opened = next((r for r in readings if r.state == OPEN and r.at >= start), None)
    if opened is None:
        return found
    found.append(Measurement("breaker_open_time", opened.at - start, "s", source))
    if end >= scenario.duration:
        return found  # the faults lasted to the end: no closing to see
    after = [r for r in readings if r.at >= max(end, opened.at)]
    closed = next((r for r in after if r.state == CLOSED), None)
    if closed is not None:
        found.append(Measurement("breaker_recover_time", max(0.0, closed.at - end), "s", source))
    if watch.breaker.half_open:
        until = closed.at if closed is not None else math.inf
        seen = any(r.state == HALF_OPEN and opened.at <= r.at <= until for r in readings)
        name = series_name("breaker_half_open", labels)
        found.append(Measurement(name, float(seen), "", source))
    return found


def _counts(scenario: ScenarioSection, readings: list[Reading]) -> list[Measurement]:
    start, end = scenario.fault_window()
    counted = Counter(
        (phase_at(r.at, start, end), r.state, r.value) for r in readings if r.state != UNREADABLE
    )
    source = f"scenario:{scenario.name}"
    found: list[Measurement] = []
    kept: Counter[str] = Counter()
    for (phase, state, value), reads in counted.most_common():
        kept[phase] += 1
        if kept[phase] > MAX_VALUES:
            continue
        at = {"scenario": scenario.name, "phase": phase, "state": state, "value": value}
        found.append(Measurement(series_name("breaker_reads", at), float(reads), "", source))
    return found
