"""Steady-state hypotheses: a scenario's probes, sent by passcycle itself while the load
runs, and what they saw before, during and after the scenario's faults.

Each probe is one request sent every `interval` from a thread of its own (not from Locust,
whose users queue behind each other: a probe's latency is the service's alone). Its
answers are timed from the scenario's start (the harness's start file) and put in the phase
the faults were in then (those of the first `settle` seconds of the faults in none: the
time a breaker is given to open). What is collected: per probe and phase the answers, the share
outside `expect`, their p95; and after the faults, how long the probe took to be back within
tolerance (every answer from then on expected, and under its p95 ceiling). Judging them
against the plan's tolerances is validate/hypothesis.py's."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from passcycle.records import Measurement
from passcycle.scenario_sections import ProbeSection, ScenarioSection
from passcycle.scenarios.polling import Poller
from passcycle.scenarios.probes import series_name

PHASES = ("before", "during", "after")


@dataclass(slots=True)
class Answer:
    at: float  # seconds since the scenario started
    ok: bool  # status in `expect` (any code below 400 when none is given)
    seconds: float
    timed_out: bool = False  # no answer within the probe's timeout


class HypothesisProbe(Poller[bool | None]):
    """Sends one probe every `probe.interval` in a thread until stopped."""

    def __init__(
        self, probe: ProbeSection, base_url: str, clock: Callable[[], float | None]
    ) -> None:
        super().__init__(base_url, clock, probe.interval, probe.timeout)
        self.probe = probe
        self.answers: list[Answer] = []
        self._asked = 0

    def keep(self, at: float, answer: bool | None, took: float) -> None:
        self.answers.append(Answer(at, bool(answer), took, answer is None))

    def ask(self, client: httpx.Client) -> bool | None:
        """Whether the answer was within `expect`; None when none came in time."""
        probe = self.probe
        self._asked += 1
        path, body = _render(probe.path, self._asked), _render(probe.body, self._asked)
        try:
            answer = client.request(
                probe.method, path, json=body, params=probe.params, headers=probe.headers,
                data=probe.data,  # type: ignore[arg-type]
            )  # fmt: skip
        except httpx.TimeoutException:
            return None
        except httpx.HTTPError:
            return False
        return answer.status_code in probe.expect if probe.expect else answer.status_code < 400


def _render(value: Any, asked: int) -> Any:
    """`{i}` (the probe's count) and `{uuid}` in the path and the JSON body's strings: a
    probe that asks the same every time may be answered from a cache, not by the service."""
    if isinstance(value, str):
        return value.replace("{i}", str(asked)).replace("{uuid}", uuid.uuid4().hex)
    if isinstance(value, dict):
        return {k: _render(v, asked) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, asked) for v in value]
    return value


def hypothesis_measurements(
    scenario: ScenarioSection, probes: Sequence[HypothesisProbe]
) -> list[Measurement]:
    """Per probe and phase: `hypothesis_answers`, `hypothesis_errors` (%, the unanswered
    included), `hypothesis_timeouts` (those unanswered within the probe's timeout),
    `hypothesis_p95` (s), and `hypothesis_judged` 0 for "during" with `during = false`
    (what the probe saw is kept, its tolerance not held against it); per probe:
    `hypothesis_recovery` (s from the faults' end to back within tolerance, absent when it
    never was)."""
    source = f"scenario:{scenario.name}"
    start, end = scenario.fault_window()
    found: list[Measurement] = []
    for index, watched in enumerate(probes):
        labels = {"scenario": scenario.name, "probe": watched.probe.label, "n": str(index)}
        phases: dict[str, list[Answer]] = {phase: [] for phase in PHASES}
        for answer in watched.answers:
            if not start <= answer.at < min(start + watched.probe.settle, end):
                phases[phase_at(answer.at, start, end)].append(answer)
        for phase, answers in phases.items():
            if phase == "after" and end >= scenario.duration:
                continue  # the faults lasted to the end: no after
            at = {**labels, "phase": phase}
            found.append(
                Measurement(series_name("hypothesis_answers", at), float(len(answers)), "", source)
            )
            if phase == "during" and not watched.probe.during:  # shown, said unjudged
                found.append(Measurement(series_name("hypothesis_judged", at), 0.0, "", source))
            if answers:
                bad = 100.0 * sum(not a.ok for a in answers) / len(answers)
                found.append(Measurement(series_name("hypothesis_errors", at), bad, "%", source))
                late = float(sum(a.timed_out for a in answers))
                found.append(Measurement(series_name("hypothesis_timeouts", at), late, "", source))
                p95 = _p95([a.seconds for a in answers])
                found.append(Measurement(series_name("hypothesis_p95", at), p95, "s", source))
        back = _recovery(watched.probe, phases["after"], end)
        if back is not None and scenario.faults:
            found.append(Measurement(series_name("hypothesis_recovery", labels), back, "s", source))
    return found


def phase_at(at: float, start: float, end: float) -> str:
    if at < start:
        return "before"
    return "during" if at < end else "after"


def _within(probe: ProbeSection, answer: Answer) -> bool:
    return answer.ok and (probe.p95 is None or probe.p95.check(answer.seconds))


def _recovery(probe: ProbeSection, after: list[Answer], end: float) -> float | None:
    """Seconds from the faults' end to the first answer from which every answer is within
    tolerance; None when the last answer is still outside it (or none came)."""
    if not after or not _within(probe, after[-1]):
        return None
    first = len(after) - 1
    while first > 0 and _within(probe, after[first - 1]):
        first -= 1
    return max(0.0, after[first].at - end)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
