"""The Fix step: what changed, which tests it affects, and what to do next."""

from passcycle.fix.changes import (
    ChangeSet,
    FileChange,
    Snapshot,
    changes_since,
    load_snapshot,
    save_snapshot,
    snapshot,
)
from passcycle.fix.impact import Selected, Selection, explain, select
from passcycle.fix.suggest import HistoryInfo, Suggestion, suggest

__all__ = [
    "ChangeSet",
    "FileChange",
    "HistoryInfo",
    "Selected",
    "Selection",
    "Snapshot",
    "Suggestion",
    "changes_since",
    "explain",
    "load_snapshot",
    "save_snapshot",
    "select",
    "snapshot",
    "suggest",
]
