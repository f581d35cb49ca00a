"""The building blocks of the plan's sections: strict tables and the value types they read."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from passcycle.targets import Target, TargetSyntaxError, parse_quantity, parse_target


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


def _seconds(value: Any) -> float:
    try:
        return parse_quantity(value, "time")
    except TargetSyntaxError as exc:
        raise ValueError(str(exc)) from None


def _fraction(value: Any) -> float:
    """ "10%" -> 0.10; a bare number is a fraction already (0.1)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return parse_quantity(value, "percent") / 100.0
        except TargetSyntaxError as exc:
            raise ValueError(str(exc)) from None
    try:
        return parse_quantity(value)
    except TargetSyntaxError as exc:
        raise ValueError(str(exc)) from None


TargetField = Annotated[Target, BeforeValidator(parse_target_value)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Fraction = Annotated[float, BeforeValidator(_fraction)]
