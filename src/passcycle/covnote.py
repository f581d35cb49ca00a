"""The words of a run's note when coverage measured nothing (suite/covwarn.py writes them):
one segment of the note, read back by the judge (the coverage issue's root cause), the
advice and the console. Below every package, so reading a note never imports the suite."""

from __future__ import annotations

NOTE_HEAD = "coverage measured nothing of "
CAUSE_HEAD = "coverage.py warned "
FIX_HEAD = " — fix: "
FIX = (
    "install the project editable (pip install -e .), "
    "or set [project] source to what the tests import"
)


def split_note(text: str | None) -> tuple[str | None, str | None]:
    """(the rest of a run's note, its coverage-measured-nothing segment), either None."""
    if not text:
        return None, None
    segments = text.split("; ")
    ours = next((s for s in segments if s.startswith(NOTE_HEAD)), None)
    rest = "; ".join(s for s in segments if s is not ours)
    return rest or None, ours


def cause_from_note(text: str | None) -> str | None:
    """The root cause of a coverage issue, from the note of the run that measured nothing."""
    ours = split_note(text)[1]
    if ours is None:
        return None
    at = ours.find(CAUSE_HEAD)
    if at < 0:
        return None
    return ours[at:].split(FIX_HEAD, 1)[0]


def is_unmeasured_cause(root_cause: str | None) -> bool:
    return bool(root_cause) and str(root_cause).startswith(CAUSE_HEAD + '"')
