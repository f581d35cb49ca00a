"""The plan's circuit-breaker assertion of a scenario: where the service shows its breaker's
state, which values mean open, half-open and closed, and how soon it must open and close."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from passcycle.sections import JSON_PATH, PositiveSeconds, Section, TargetField

BREAKER_HINT = (
    'e.g. breaker = { get = "/metrics", metric = \'breaker_open{backend="model"}\','
    ' opens = "< 5s", closes = "< 10s" }; see docs/scenarios.md'
)
# `name` or `name{label="value",...}`: a Prometheus series, as a selector of the exposition
_METRIC = re.compile(r"^\s*([A-Za-z_:][\w:]*)\s*(?:\{(.*)\})?\s*$", re.S)
_LABEL = re.compile(r'\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def metric_selector(text: str) -> tuple[str, dict[str, str]]:
    """`organism_breaker_open{backend="model"}` -> ("organism_breaker_open", {"backend":
    "model"}); ValueError saying what to write when it is not one series."""
    match = _METRIC.match(text)
    inner = (match[2] or "").strip() if match else ""
    labels: dict[str, str] = {}
    at = 0
    while match and at < len(inner):
        label = _LABEL.match(inner, at)
        if label is None or label.end() == at:
            match = None
            break
        labels[label[1]] = label[2].replace('\\"', '"').replace("\\\\", "\\")
        at = label.end()
    if match is None:
        raise ValueError(
            f"metric {text!r}: write a series as the metrics page shows it, e.g."
            ' breaker_open{backend="model"}'
        )
    return match[1], labels


def json_path(text: str) -> str:
    """`breaker.state` (or `$.breaker.state`, `$.breakers[0].state`) as a `$` path."""
    path = text if text.startswith("$") else f"$.{text}"
    if path == "$" or not JSON_PATH.match(path):
        raise ValueError(
            f'json {text!r}: write a path into the answer, e.g. "breaker.state" or'
            ' "$.breakers[0].state"'
        )
    return path


class BreakerSection(Section):
    """A circuit breaker the service exposes: passcycle reads its state every `interval`
    from the scenario's start through its faults and after them, and judges how soon it
    opened once the faults began (`opens`) and closed once they ended (`closes`)."""

    get: str  # the path that shows the state: a metrics page, a JSON status, any answer
    metric: str = ""  # a Prometheus series on that page: name{label="value"}
    json_: str = Field(default="", alias="json")  # or a path into its JSON: "breaker.state"
    header: str = ""  # or a header of its answer: "X-Breaker-State"
    open: str = ""  # the value that means open; default "1" for a metric, else "open"
    closed: str = ""  # the value that means closed; default "0" for a metric, else "closed"
    half_open: str = ""  # the value that means half-open, when the service shows one
    opens: TargetField | None = None  # e.g. "< 5s" from the faults' start
    closes: TargetField | None = None  # e.g. "< 10s" from the faults' end
    interval: PositiveSeconds = 0.1  # between reads

    @field_validator("get")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"get: write a path starting with '/', not {path!r}")
        return path

    @field_validator("metric")
    @classmethod
    def _series(cls, metric: str) -> str:
        if metric:
            metric_selector(metric)
        return metric.strip()

    @field_validator("json_")
    @classmethod
    def _json(cls, path: str) -> str:
        return json_path(path) if path else path

    @field_validator("opens", "closes")
    @classmethod
    def _a_ceiling_on_time(cls, target: Any) -> Any:
        if target is not None and (target.dimension != "time" or target.op not in ("<", "<=")):
            raise ValueError(f'{target.text!r}: write a ceiling on time, e.g. "< 5s"')
        return target

    @model_validator(mode="before")
    @classmethod
    def _default_values(cls, data: Any) -> Any:
        # a gauge reads 1 and 0; a JSON status or a header says "open" and "closed"
        if isinstance(data, dict):
            numeric = bool(data.get("metric"))
            data = {"open": "1" if numeric else "open", **data}
            data = {"closed": "0" if numeric else "closed", **data}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> BreakerSection:
        given = [k for k, v in (("metric", self.metric), ("json", self.json_),
                                ("header", self.header)) if v]  # fmt: skip
        if len(given) != 1:
            found = f"found {' and '.join(given)}" if given else "found none"
            raise ValueError(f"give exactly one of metric, json or header ({found})")
        values = [v for v in (self.open, self.closed, self.half_open) if v]
        if len(set(values)) != len(values) or not self.open or not self.closed:
            raise ValueError(
                f"open ({self.open!r}), closed ({self.closed!r}) and half_open"
                f" ({self.half_open!r}) must be different values"
            )
        return self

    @property
    def source(self) -> str:
        """What is read, as the messages name it: the series, `breaker.state` or the header."""
        if self.metric:
            return self.metric
        if self.json_:
            return self.json_.removeprefix("$.")
        return f"header {self.header}"
