"""Diff coverage: the share of changed executable lines that the tests ran."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from passcycle.vcs import changed_lines


@dataclass(frozen=True, slots=True)
class DiffCoverage:
    percent: float | None  # None: no changed executable line
    changed: int  # changed executable lines
    covered: int
    missing: dict[str, list[int]]  # file -> changed lines no test ran


def diff_coverage(root: Path, data_file: Path, base: str) -> DiffCoverage | None:
    """None when there is no git, no such base, or no coverage data."""
    import coverage

    if not data_file.is_file():
        return None
    changes = changed_lines(root, base)
    if changes is None:
        return None
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    measured = {str(Path(f).resolve()): f for f in data.measured_files()}
    cov = coverage.Coverage(data_file=str(data_file), config_file=False)
    cov.load()
    changed = covered = 0
    missing: dict[str, list[int]] = {}
    for name, lines in sorted(changes.items()):
        path = (root / name).resolve()
        if str(path) not in measured or not lines:
            continue
        _, statements, _, not_run, _ = cov.analysis2(measured[str(path)])
        executable = lines & set(statements)
        unrun = executable & set(not_run)
        changed += len(executable)
        covered += len(executable) - len(unrun)
        if unrun:
            missing[name] = sorted(unrun)
    percent = 100.0 * covered / changed if changed else None
    return DiffCoverage(percent, changed, covered, missing)
