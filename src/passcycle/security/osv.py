"""Advisories from an OSV database kept on disk, as osv-scanner keeps it for offline use:
a zip of OSV records per ecosystem (`PyPI/all.zip`). Versions are compared with
`packaging`'s rules (PEP 440), events as the OSV schema orders them."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# where an OSV database keeps PyPI's records, below the folder the plan names
_LAYOUTS = ("PyPI/all.zip", "osv-scanner/PyPI/all.zip", "all.zip")

# an advisory's own word for its severity (GitHub's: MODERATE), in passcycle's words
_SEVERITY = {"critical": "critical", "high": "high", "moderate": "medium", "medium": "medium"}
_SEVERITY["low"] = "low"
_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "": 0}


class DatabaseError(Exception):
    """The named OSV database cannot be read: the message says why."""


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record's verdict on one installed package."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str  # passcycle's words; "" when the record gives none
    fixed: str  # the first fixed version above the installed one; "" when none is known


def database_file(path: Path) -> Path:
    """The zip of PyPI records that `path` names (the zip itself, or a folder holding it)."""
    if path.is_file():
        return path
    if path.is_dir():
        for layout in _LAYOUTS:
            if (path / layout).is_file():
                return path / layout
        raise DatabaseError(f"{path} holds no {' or '.join(_LAYOUTS)}")
    raise DatabaseError(f"{path} does not exist")


def records(zip_path: Path) -> Iterator[dict]:
    """Every OSV record of the zip; a member that is not JSON is skipped."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for name in archive.namelist():
                if not name.endswith(".json"):
                    continue
                try:
                    record = json.loads(archive.read(name))
                except (ValueError, UnicodeDecodeError):
                    continue
                if isinstance(record, dict):
                    yield record
    except (OSError, zipfile.BadZipFile) as exc:
        raise DatabaseError(f"cannot read {zip_path}: {exc}") from None


def advisories(installed: dict[str, str], source: Iterable[dict]) -> dict[str, list[Advisory]]:
    """For each installed package (canonical name -> version) the records that mark its
    version affected; withdrawn records do not count."""
    found: dict[str, list[Advisory]] = {}
    for record in source:
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected") or []:
            package = affected.get("package") or {}
            if package.get("ecosystem") != "PyPI":
                continue
            name = canonicalize_name(str(package.get("name", "")))
            version = installed.get(name)
            if version is None or not _affects(affected, version):
                continue
            found.setdefault(name, []).append(
                Advisory(
                    id=str(record.get("id", "")),
                    aliases=tuple(str(a) for a in record.get("aliases") or ()),
                    summary=str(record.get("summary") or record.get("details") or "")[:200],
                    severity=_severity(record, affected),
                    fixed=_fixed(affected, version),
                )
            )
    return found


def _parse(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _affects(affected: dict, installed: str) -> bool:
    if installed in (affected.get("versions") or ()):
        return True
    version = _parse(installed)
    if version is None:
        return False
    for span in affected.get("ranges") or []:
        if span.get("type") == "ECOSYSTEM" and _in_range(span.get("events") or [], version):
            return True
    return False


def _in_range(events: list[dict], version: Version) -> bool:
    """The OSV schema's evaluation: walk the events in version order; `introduced` opens
    the range, `fixed` closes it at that version, `last_affected` just after it."""
    ordered = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                at = Version("0") if event[kind] == "0" else _parse(str(event[kind]))
                if at is not None:
                    ordered.append((at, kind))
    affected = False
    for at, kind in sorted(ordered, key=lambda pair: pair[0]):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def _fixed(affected: dict, installed: str) -> str:
    version = _parse(installed)
    fixes = [
        fixed
        for span in affected.get("ranges") or []
        for event in span.get("events") or []
        if (fixed := _parse(str(event.get("fixed", "")))) is not None
    ]
    above = sorted(f for f in fixes if version is None or f > version)
    return str(above[0]) if above else ""


def _severity(record: dict, affected: dict) -> str:
    for where in (record.get("database_specific"), affected.get("ecosystem_specific")):
        if isinstance(where, dict) and isinstance(where.get("severity"), str):
            word = _SEVERITY.get(where["severity"].lower())
            if word:
                return word
    return ""


def worst(severities: Iterable[str]) -> str:
    return max(severities, key=lambda s: _RANK.get(s, 0), default="")
