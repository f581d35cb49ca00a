"""Strict JSON: every document passcycle writes parses anywhere, NaN and infinities as null.

Python's json writes `NaN` and `Infinity`, which are not JSON: `jq`, JavaScript's
JSON.parse and most other parsers refuse the whole document. A non-finite number has no
meaning a reader could use anyway (a duration of infinity is a broken report), so it is
written as null, which every reader of passcycle's JSON already handles as "unknown".
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(data: Any) -> Any:
    """`data` with every float that is NaN or infinite replaced by None, at any depth."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def dumps(data: Any, **options: Any) -> str:
    """json.dumps that never writes NaN or Infinity (allow_nan=False checks it did not)."""
    return json.dumps(finite(data), allow_nan=False, **options)
