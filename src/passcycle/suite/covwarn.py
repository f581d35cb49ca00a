"""Coverage that measured nothing: coverage.py's own warnings, agreed across processes.

When the tests import another copy of the measured package (an installed wheel instead of
the source tree, a `src/` layout that is not installed, a vendored copy on sys.path),
coverage.py measures nothing and says so in a warning that the plugin catches (it must
not reach the user's `filterwarnings = error`). Each pytest process, xdist workers
included, writes what it caught to `coverage-warnings.<pid>.json` beside the data file;
this module reads them, keeps what every process that ran tests agrees on, and words it
for the run's note, the coverage issue's root cause and its suggestion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.covnote import CAUSE_HEAD, FIX, FIX_HEAD, NOTE_HEAD

WARNINGS_PREFIX = "coverage-warnings"  # the plugin writes "<prefix>.<pid>.json"


@dataclass(frozen=True, slots=True)
class Unmeasured:
    """What coverage.py said it did not measure, as every test-running process said it."""

    # coverage's words and slug: "No data was collected. (no-data-collected)"
    warnings: tuple[str, ...]
    slugs: frozenset[str]
    # source folder -> the file the tests imported its package from instead
    copies: dict[str, str] = field(default_factory=dict)


def warning_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{WARNINGS_PREFIX}.*.json"))


def read_unmeasured(folder: Path, root: Path, measured_lines: int) -> Unmeasured | None:
    """The warnings every process that ran tests issued; None when there are none.

    An xdist controller runs no test, so it never measures anything: its warnings say
    nothing. A process that measured nothing while another measured (a worker given only
    tests that never import the package, a resume after a crash) is not the run's story
    either: only what all agree on, and "no data" only when the run measured no line.
    """
    reports = []
    for path in warning_files(folder):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("role") != "controller":
            reports.append(report)
    if not reports:
        return None
    agreed: list[tuple[str, str]] | None = None
    for report in reports:
        said = [(str(w["slug"]), str(w["message"])) for w in report.get("warnings") or []]
        agreed = said if agreed is None else [w for w in agreed if w in said]
    warnings = [
        (slug, message)
        for slug, message in dict.fromkeys(agreed or [])
        if not (slug == "no-data-collected" and measured_lines > 0)
    ]
    if not warnings:
        return None
    copies: dict[str, str] = {}
    for report in reports:
        for entry, where in (report.get("imported") or {}).items():
            copies.setdefault(str(entry), _shown(Path(where), root))
    return Unmeasured(
        warnings=tuple(_clean(f"{message} ({slug})") for slug, message in warnings),
        slugs=frozenset(slug for slug, _ in warnings),
        copies=copies,
    )


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _clean(text: str) -> str:
    # a run's note is segments joined by "; ": ours must stay one segment
    return " ".join(text.replace("; ", ", ").split())


def cause(unmeasured: Unmeasured, source: list[str]) -> str:
    """coverage's warning quoted, and why: the copy the tests imported, when known."""
    quoted = " and ".join(f'"{w}"' for w in unmeasured.warnings)
    whys = [
        f"the tests import {Path(entry).name or entry} from {copy}, not from {entry}"
        for entry, copy in unmeasured.copies.items()
    ]
    if not whys and "module-not-measured" in unmeasured.slugs:
        whys = ["it was imported before measurement started (a plugin or a .pth file)"]
    if not whys:
        whys = [f"the tests ran no code from {', '.join(source)} (another copy of it, or none)"]
    return _clean(f"{CAUSE_HEAD}{quoted}: {', '.join(whys)}")


def note(unmeasured: Unmeasured, source: list[str]) -> str:
    """One segment of the run's note: what, coverage's words, why, and the fix."""
    return f"{NOTE_HEAD}{', '.join(source)}: {cause(unmeasured, source)}{FIX_HEAD}{FIX}"
