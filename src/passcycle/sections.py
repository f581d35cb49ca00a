"""The building blocks of the plan's sections: strict tables and the value types they read.

Every number of the plan (a time, a share, a count) is read by one function, `_read`, so that
each refuses the same mistakes the same way: booleans (TOML's `true` is not a count),
NaN and infinities, and values outside the field's range, each with what to write instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from passcycle.errors import PlanError
from passcycle.targets import Target, TargetSyntaxError, parse_quantity, parse_target

# The longest time a plan may give. Longer is a typo, and huge values overflow where they
# go: Locust's run time and asyncio's timers raise OverflowError on "1e300s".
MAX_SECONDS = 7 * 24 * 3600.0
# The JSON path subset of steps' `save` (and a breaker's `json`): $ then .key, [0], [-1],
# ["key"] or ['key'].
JSON_PATH = re.compile(r"^\$(?:\.[A-Za-z_][\w-]*|\[-?\d+\]|\[\"[^\"]*\"\]|\['[^']*'\])*$")


class Section(BaseModel):
    """A table of the plan: unknown keys fail, values never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def parse_target_value(value: Any) -> Target:
    if isinstance(value, Target):
        return value
    try:
        return parse_target(value)
    except TargetSyntaxError as exc:
        raise ValueError(str(exc)) from None


Kind = Literal["time", "share", "count", "number"]


class NumberError(ValueError):
    """A number of the plan that is not one, or out of its range; says what to write."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What a number of the plan may be: its kind and its range (`above`: `least` excluded)."""

    kind: Kind
    least: float = 0.0
    most: float | None = None
    above: bool = False

    def validator(self) -> BeforeValidator:
        return BeforeValidator(lambda value: _read(value, self))

    def wanted(self) -> str:
        """What to write, for the message: 'a time from 0 to 168h (7 days), e.g. "30s"'."""
        least = self.show(self.least)
        low = f"over {least} and at most" if self.above else f"from {least} to"
        high = self.show(self.most)
        if self.kind == "time":
            return f'a time {low} {high}, e.g. "30s"'
        if self.kind == "share":
            return f'a share {low} {high}, e.g. "10%"'
        noun = "a whole number" if self.kind == "count" else "a number"
        if self.most is None:
            return f"{noun} {'>' if self.above else '>='} {self.least:g}"
        return f"{noun} {low} {high}"

    def show(self, value: float | None) -> str:
        if value is None or value == 0:
            return "0"
        if self.kind == "share":
            return f"{value * 100:g}%"
        if self.kind == "time":
            return "168h (7 days)" if value == MAX_SECONDS else f"{value:g}s"
        return f"{value:g}"


def _read(value: Any, limits: Limits) -> float | int:
    """The one reader of the plan's numbers; a NumberError says what is wrong and what to write."""
    written = _written(value)
    problem = ""
    if isinstance(value, bool):
        problem = "is not a number"
    else:
        try:
            number = _quantity(value, limits.kind)
        except TargetSyntaxError:
            raise NumberError(f"cannot read {written}; write {limits.wanted()}") from None
        if not math.isfinite(number):
            problem = "is not a finite number"
        elif limits.kind == "count" and not float(number).is_integer():
            problem = "is not a whole number"
        elif limits.most is not None and number > limits.most:
            problem = f"is more than {limits.show(limits.most)}"
        elif number < 0 <= limits.least:
            problem = "is negative"
        elif number < limits.least or (limits.above and number == limits.least):
            problem = "is too small"
    if problem:
        raise NumberError(f"{written} {problem}; write {limits.wanted()}")
    return int(number) if limits.kind == "count" else number


def _quantity(value: Any, kind: Kind) -> float:
    if kind == "time":
        return parse_quantity(value, "time")
    if kind == "share" and isinstance(value, str) and value.strip().endswith("%"):
        # "10%" -> 0.10; a bare number is a fraction already (0.1)
        return parse_quantity(value, "percent") / 100.0
    if kind == "count" and isinstance(value, str):
        raise TargetSyntaxError(value)  # TOML has integers: "5" in quotes is a string
    return parse_quantity(value, "number")


def _written(value: Any) -> str:
    """The value as TOML writes it: '-30s' quoted, true and nan bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value) if isinstance(value, int | float) else type(value).__name__


def counts(least: int = 0, most: int | None = None) -> BeforeValidator:
    """`Annotated[int, counts(1, 100)]`: a whole number in a range."""
    return Limits("count", least, most).validator()


def numbers(
    least: float = 0.0, most: float | None = None, *, above: bool = False
) -> BeforeValidator:
    return Limits("number", least, most, above).validator()


def times(*, above: bool = False) -> BeforeValidator:
    """A time up to MAX_SECONDS; `above=True`: 0 is not allowed either."""
    return Limits("time", 0.0, MAX_SECONDS, above).validator()


def shares(most: float = 1.0, *, above: bool = False) -> BeforeValidator:
    """A share: "10%" or 0.1, from 0 (or above 0) to `most` (1.0 = 100%)."""
    return Limits("share", 0.0, most, above).validator()


TargetField = Annotated[Target, BeforeValidator(parse_target_value)]
Seconds = Annotated[float, times()]  # from 0 to 7 days
PositiveSeconds = Annotated[float, times(above=True)]
Fraction = Annotated[float, shares()]  # 0% to 100%
Count = Annotated[int, counts()]  # 0 and up


Event = Literal["breach", "regression", "critical", "forecast", "recovery"]
DEFAULT_EVENTS: tuple[Event, ...] = ("breach", "regression", "critical", "forecast")


class AlertsSection(BaseModel):
    """[alerts] in the plan: where alerts go (serve/alerts.py sends them) and on what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: list[SecretStr] = Field(default_factory=list)
    on: list[Event] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    timeout: Seconds = 5.0  # the most a run waits for all its webhooks together

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, webhooks: list[SecretStr]) -> list[SecretStr]:
        for number, secret in enumerate(webhooks, 1):
            parts = urlsplit(secret.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Not a ValueError: pydantic would quote the input (the secret) in its
                # message; a PlanError passes through validation as it is.
                raise PlanError(
                    f"alerts.webhooks: webhook #{number} is not an http(s) URL",
                    hint="write the receiver's full URL, e.g. a Slack incoming webhook "
                    "(it is never printed)",
                )
        return webhooks
