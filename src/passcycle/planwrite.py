"""KPI targets written into passcycle.toml in place: each KPI's entry of `[kpis]` rewritten
with a comment saying where its values came from; every other line, comments included,
kept as it was (TOML's inline tables are one line, so a KPI is one line or one table)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from passcycle.errors import PlanError

CALIBRATED = "calibrated on"  # how the comment `passcycle calibrate --write` writes starts
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")
_TABLE = re.compile(r"^\s*\[\s*kpis\.([A-Za-z0-9_-]+|\"[^\"]*\")\s*\]")


def write_targets(path: Path, changes: Mapping[str, tuple[str, str | None, str]]) -> list[str]:
    """`changes`: KPI -> (target, regression or None, comment). Returns the KPIs written;
    a KPI the file does not declare is left out (the caller says so)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    section, written = "", []
    for i, line in enumerate(lines):
        if line.lstrip().startswith("["):
            table = _TABLE.match(line)
            section = f"kpis.{_name(table[1])}" if table else line.split("#")[0].strip()
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        name = _name(key[2])
        if section == "[kpis]" and name in changes:
            target, regression, comment = changes[name]
            value = tomllib.loads(line)[name]
            entry = dict(value) if isinstance(value, dict) else {"target": value}
            above = _moved(key[1], _comment(line), entry)
            entry["target"] = target
            if regression:
                entry["regression"] = regression
            lines[i] = f"{above}{key[1]}{key[2]} = {_inline(entry)}  # {comment}\n"
            written.append(name)
        elif section.startswith("kpis.") and section[5:] in changes and name == "target":
            target, regression, comment = changes[section[5:]]
            extra = f'{key[1]}regression = "{regression}"\n' if regression else ""
            lines[i] = f'{key[1]}target = "{target}"  # {comment}\n{extra}'
            written.append(section[5:])
        elif (
            section.startswith("kpis.")
            and name == "regression"
            and changes.get(section[5:], ("", None, ""))[1]
        ):
            lines[i] = ""  # the line written beside the target replaces it
    text = "".join(lines)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(
            f"cannot write the targets into {path.name}: the result would not parse ({exc})",
            hint="write them by hand from `passcycle calibrate`'s table",
        ) from None
    path.write_text(text, encoding="utf-8")
    return written


def _moved(indent: str, comment: str, entry: Mapping[str, Any]) -> str:
    """The line's own comment, kept above it: the plan's words on this KPI. It spoke of the
    line as it was ("fails when 10% slower"), so it says what that was; a previous
    calibration's comment is dropped, the new one replaces it."""
    if not comment or comment.startswith(f"# {CALIBRATED}"):
        return ""
    was = f"was {_value(entry.get('target', ''))}"
    if "regression" in entry:
        was += f", regression {entry['regression']}"
    return f"{indent}# {was}: {comment[1:].strip()}\n"


def _comment(line: str) -> str:
    """The line's trailing `# comment`, found outside its strings."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == "\\" and quote == '"':
                continue
            if char == quote and line[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[i:].rstrip()
    return ""


def _name(key: str) -> str:
    return key[1:-1] if key.startswith('"') else key


def _inline(table: Mapping[str, Any]) -> str:
    return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in table.items()) + " }"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string
