"""Config files: which change to one the coverage map cannot judge (the selection widens)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from passcycle.fix.changes import old_content
from passcycle.plan import read_toml

DEPENDENCY_FILES: frozenset[str] = frozenset(
    {"poetry.lock", "uv.lock", "Pipfile", "Pipfile.lock", "setup.py"}
)
CONFIG_FILES: frozenset[str] = frozenset({"pytest.ini", "setup.cfg", "tox.ini", ".coveragerc"})
# pyproject.toml tables whose change the map cannot judge; other tables (ruff, mypy) are inert
PYPROJECT_KEYS: tuple[tuple[str, ...], ...] = (
    ("tool", "pytest"),
    ("tool", "coverage"),
    ("tool", "passcycle"),
    ("project", "dependencies"),
    ("project", "optional-dependencies"),
    ("project", "requires-python"),
    ("build-system",),
    ("tool", "poetry", "dependencies"),
    ("tool", "poetry", "group"),
    ("tool", "uv"),
    ("tool", "setuptools"),
    ("tool", "hatch", "envs"),
)


def pyproject_change(root: Path, base: str | None) -> str | None:
    """Which judged table of pyproject.toml changed, or None when only inert ones did.

    The file as it is now must read: pytest, coverage and pip read it too, so a re-test of a
    file they cannot read would only fail later, less clearly (a PlanError, exit 2). An
    earlier content that does not read only means that the change cannot be judged."""
    new = read_toml(root / "pyproject.toml")
    before = old_content(root, base, "pyproject.toml") if base else None
    if before is None:
        return "pyproject.toml changed (its earlier content is unknown)"
    try:
        old = tomllib.loads(before)
    except (tomllib.TOMLDecodeError, RecursionError):
        return "pyproject.toml changed and its earlier content does not parse"
    for keys in PYPROJECT_KEYS:
        if _dig(old, keys) != _dig(new, keys):
            table = ".".join(keys)
            kind = "dependencies" if "depend" in table or keys[0] == "build-system" else "config"
            return f"pyproject.toml [{table}] changed ({kind})"
    return None


def _dig(data: Mapping, keys: Sequence[str]) -> object:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data
