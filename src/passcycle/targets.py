"""Targets: the grammar `OP VALUE[UNIT]` that every KPI is judged by.

Values are converted to one base unit per dimension, so that `< 2s` and `< 2000ms`
are the same target: seconds for time, bytes for memory, a fraction (0..100) for
percentages, per second for rates.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}

# unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "": ("number", 1.0),
    "%": ("percent", 1.0),
    "ms": ("time", 0.001),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "B": ("bytes", 1.0),
    "KB": ("bytes", 1024.0),
    "MB": ("bytes", 1024.0**2),
    "GB": ("bytes", 1024.0**3),
    "/s": ("rate", 1.0),
    # growth of memory over time (leaks): bytes per second underneath
    "B/s": ("byte_rate", 1.0),
    "KB/s": ("byte_rate", 1024.0),
    "MB/s": ("byte_rate", 1024.0**2),
    "KB/min": ("byte_rate", 1024.0 / 60),
    "MB/min": ("byte_rate", 1024.0**2 / 60),
    "KB/h": ("byte_rate", 1024.0 / 3600),
    "MB/h": ("byte_rate", 1024.0**2 / 3600),
    "GB/h": ("byte_rate", 1024.0**3 / 3600),
}

BASE_UNIT: dict[str, str] = {
    "number": "",
    "percent": "%",
    "time": "s",
    "bytes": "B",
    "rate": "/s",
    "byte_rate": "B/s",
}

UNIT_LIST = "% ms s min h B KB MB GB /s MB/h (and B/s KB/s MB/s KB/min MB/min KB/h GB/h)"
ALLOWED = (
    f"OP VALUE[UNIT] with OP in < <= > >= == != and UNIT in {UNIT_LIST},"
    ' or a trend: "decreasing over 30d" / "increasing over 4w"'
)

_TARGET = re.compile(
    r"^\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S*)\s*$"
)


class TargetSyntaxError(ValueError):
    """A target or quantity that does not parse; the message says what is allowed."""


@dataclass(frozen=True, slots=True)
class Target:
    op: str  # "" for a trend
    value: float  # in the base unit of `dimension`
    unit: str  # the unit as written
    dimension: str
    text: str  # as written in the plan
    trend: str = ""  # "decreasing" or "increasing": judged on the slope over `window`
    window: float = 0.0  # seconds of history a trend is fitted on

    def check(self, value: float) -> bool:
        """True when `value` (in the base unit) meets the target; a trend is judged on a
        series (validate/trends.py), never on one value."""
        if self.trend:
            raise ValueError(f"{self.text!r} is a trend: judge it on the KPI's history")
        return OPERATORS[self.op](value, self.value)

    def fits(self, unit: str) -> bool:
        """Whether a value measured in `unit` can be judged by this target: same dimension,
        or a plain number on either side (`coverage >= 90` reads as percent)."""
        have = UNITS.get(unit, ("number", 1.0))[0]
        return bool(self.trend) or have == self.dimension or "number" in (have, self.dimension)

    @property
    def higher_is_better(self) -> bool:
        return self.trend == "increasing" or self.op in (">", ">=")

    def __str__(self) -> str:
        return self.text


def parse_unit(unit: str) -> tuple[str, float]:
    try:
        return UNITS[unit]
    except KeyError:
        raise TargetSyntaxError(f"unknown unit {unit!r}; allowed: {UNIT_LIST}") from None


# a trend: "decreasing over 30d", "increasing over 4w"
_TREND = re.compile(
    r"^\s*(?P<trend>decreasing|increasing)\s+over\s+(?P<value>\d+(?:\.\d*)?)\s*(?P<unit>h|d|w)\s*$"
)
_WINDOW = {"h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
MAX_WINDOW = 366 * 86400.0


def is_trend(text: str | None) -> bool:
    """Whether a target as the plan wrote it is a trend ("decreasing over 30d")."""
    return bool(text) and _TREND.match(text or "") is not None


def parse_target(text: str) -> Target:
    """Parse `OP VALUE[UNIT]`, e.g. "< 2s", ">= 85%", "< 500MB", or a trend over a window
    of history, "decreasing over 30d" (h, d or w)."""
    if not isinstance(text, str):
        raise TargetSyntaxError(f'expected a string like "< 2s", got {text!r}')
    trend = _TREND.match(text)
    if trend is not None:
        window = float(trend["value"]) * _WINDOW[trend["unit"]]
        if not 3600.0 <= window <= MAX_WINDOW:
            raise TargetSyntaxError(
                f'cannot read {text!r}: a trend\'s window is from 1h to 366d, e.g. "over 30d"'
            )
        return Target("", 0.0, "", "number", text.strip(), trend["trend"], window)
    match = _TARGET.match(text)
    if match is None:
        raise TargetSyntaxError(f"cannot read {text!r}; write {ALLOWED}")
    dimension, factor = parse_unit(match["unit"])
    value = float(match["value"]) * factor
    if value != value or value in (float("inf"), float("-inf")):
        raise TargetSyntaxError(f"cannot read {text!r}: the value is not a finite number")
    return Target(match["op"], value, match["unit"], dimension, text.strip())


# A phase's exit criterion: a KPI's name, and a target of its own or the plan's
# ("coverage >= 85%", "critical_vulnerabilities == 0", "p95_response_time").
CRITERION = re.compile(r"^\s*(?P<name>[A-Za-z_][\w.:-]*)\s*(?P<target>(?:<=|>=|==|!=|<|>).*)?$")

_QUANTITY = re.compile(
    r"^\s*(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S*)\s*$"
)


def parse_quantity(text: str | float | int, dimension: str | None = None) -> float:
    """Parse "30s", "10%", "500MB" into the base unit; a bare number stays as it is."""
    if isinstance(text, bool):
        raise TargetSyntaxError(f'expected a quantity like "30s", got {text!r}')
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if match is None:
        raise TargetSyntaxError(f'cannot read {text!r}; write VALUE[UNIT], e.g. "30s" or "10%"')
    unit_dimension, factor = parse_unit(match["unit"])
    if dimension is not None and match["unit"] and unit_dimension != dimension:
        raise TargetSyntaxError(f"{text!r} is not a {dimension} (unit {match['unit']!r})")
    value = float(match["value"]) * factor
    if value != value or value in (float("inf"), float("-inf")):
        raise TargetSyntaxError(f"cannot read {text!r}: the value is not a finite number")
    return value


def display_unit(values: Iterable[float], unit: str) -> tuple[str, float]:
    """The unit people read these base-unit values in, and the factor to it, chosen by the
    largest: times under 1 s in ms, under 2 min in s; bytes in KB, MB or GB; memory growth
    an hour. One value's label, or a chart axis shared by a series."""
    dimension = UNITS.get(unit, ("number", 1.0))[0]
    top = max((abs(v) for v in values), default=0.0)
    if dimension == "time":
        if top < 1:
            return "ms", 1000.0
        return ("s", 1.0) if top < 120 else ("min", 1 / 60)
    if dimension == "bytes":
        for name, size in (("GB", 1024.0**3), ("MB", 1024.0**2), ("KB", 1024.0)):
            if top >= size:
                return name, 1 / size
        return "B", 1.0
    if dimension == "byte_rate":
        for name, size in (("GB/h", 1024.0**3), ("MB/h", 1024.0**2)):
            if top * 3600 >= size:
                return name, 3600 / size
        return "KB/h", 3600 / 1024
    return BASE_UNIT.get(dimension, ""), 1.0


# display unit -> the factor from its base unit (display_unit's choices)
_DISPLAY_FACTOR = {
    "ms": 1000.0, "s": 1.0, "min": 1 / 60, "B": 1.0, "KB": 1 / 1024, "MB": 1 / 1024**2,
    "GB": 1 / 1024**3, "KB/h": 3600 / 1024, "MB/h": 3600 / 1024**2, "GB/h": 3600 / 1024**3,
}  # fmt: skip


def format_value(value: float | None, unit: str, shown_in: str | None = None) -> str:
    """Show a base-unit value in a unit people read: 0.412 s -> "412ms", bytes -> "MB";
    `shown_in` a display unit of its own (a chart's axis), e.g. "s" for 0.412 s -> "0.41s"."""
    if value is None:
        return "—"
    if shown_in in _DISPLAY_FACTOR:
        shown, factor = shown_in, _DISPLAY_FACTOR[shown_in]
    else:
        shown, factor = display_unit([value], unit)
    scaled = value * factor
    if shown in ("ms", "B"):
        return f"{scaled:.0f}{shown}"
    if shown == "s" or (shown == "%" and abs(scaled) < 100):
        return f"{scaled:.2f}{shown}"
    if shown == "":
        return f"{scaled:g}"
    return f"{scaled:.1f}{shown}"


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: 412ms, 3.20s, 4m05s, 2h03m; an unknown one as —."""
    if seconds is None or not math.isfinite(seconds):
        return "—"  # unknown; histories written before JUnit times were checked hold inf
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
