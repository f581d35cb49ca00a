"""Declarative steps' values: JSON paths into responses, and saved values put into requests.

Standard library only, no `from __future__`: locustgen.py copies this file's text into each
generated locustfile (above the harness), so the Locust side and passcycle's own drills
share one implementation.
"""

import re
import urllib.parse
from typing import Any

PATH_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")
PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
MISSING = object()


def extract(document: Any, path: str) -> Any:
    """The value at a JSON path subset ($.a.b[0], $["k"]), or MISSING."""
    value = document
    for key, index, dq, sq in PATH_TOKEN.findall(path[1:]):
        if index:
            if not isinstance(value, list) or not -len(value) <= int(index) < len(value):
                return MISSING
            value = value[int(index)]
            continue
        name = key or dq or sq
        if not isinstance(value, dict) or name not in value:
            return MISSING
        value = value[name]
    return value


def render(template: Any, values: dict[str, Any], *, quote: bool = False) -> Any:
    """Put saved values into strings; "{id}" alone keeps the value's JSON type."""
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole and whole[1] in values and not quote:
        return values[whole[1]]

    def one(match: re.Match[str]) -> str:
        if match[1] not in values:
            return match[0]
        text = str(values[match[1]])
        return urllib.parse.quote(text, safe="") if quote else text

    return PLACEHOLDER.sub(one, template)
