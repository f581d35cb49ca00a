"""Run references as people write them: 42, #42, latest, full, baseline[:NAME], -N.

Read here, above the store, which knows runs by id and answers the questions these
references ask (the newest run, the newest full run, a baseline).
"""

from __future__ import annotations

import re

from passcycle.errors import UsageError
from passcycle.records import Issue, Run
from passcycle.store import History
from passcycle.store.access import NOT_FOUND_HINT

_NTH = re.compile(r"-(\d+)")
REFS_HINT = 'give a run id, "latest", "full", "baseline" or -N for the N-th newest run'


def resolve_run(history: History, ref: str | int, project: str | None = None) -> Run:
    """The run a reference names, of `project` when one is given (else of any)."""
    text = str(ref).strip().lower()
    if text.lstrip("#").isdigit():
        return history.run(int(text.lstrip("#")), project)
    if text.startswith("baseline"):
        return _baseline(history, text.partition(":")[2] or "default", project)
    if text == "full":
        found = history.latest_full(project)
        if found is None:
            raise UsageError(
                "no full run in the history",
                hint="passcycle run runs the whole suite; give a run id to judge another",
            )
        return found
    nth = 1 if text in ("latest", "last") else None
    if (match := _NTH.fullmatch(text)) and int(match[1]) > 0:
        nth = int(match[1])
    if nth is None:
        raise UsageError(f"cannot read the run {ref!r}", hint=REFS_HINT)
    found = history.nth_latest(nth, project)
    if found is None:
        raise UsageError(f"no run {ref} in the history", hint=NOT_FOUND_HINT)
    return found


def _baseline(history: History, name: str, project: str | None) -> Run:
    if project is None:
        owners = history.baseline_owners(name)
        if len(owners) > 1:
            raise UsageError(
                f"{len(owners)} projects have a baseline {name!r}", hint="name the project"
            )
        project = owners[0] if owners else ""
    run = history.baseline(project, name)
    if run is None:
        raise UsageError(
            f"no baseline {name!r} in the history",
            hint="mark a good run as the baseline first (passcycle baseline)",
        )
    return run


ISSUE_REF = re.compile(r"[0-9a-f]{4,16}")


def is_issue_ref(ref: str) -> bool:
    """An issue's fingerprint or its first characters (4 or more, not all digits: a
    number names a run)."""
    text = ref.strip().lower()
    return bool(ISSUE_REF.fullmatch(text)) and not text.isdigit()


def resolve_issue(history: History, ref: str, project: str) -> Issue:
    """The project's issue whose fingerprint starts with `ref`."""
    text = ref.strip().lower()
    found = [i for i in history.issues(project) if i.fingerprint.startswith(text)]
    if not found:
        raise UsageError(
            f"no issue {ref} in the history of {project}",
            hint="`passcycle validate --json` lists the issues with their fingerprints",
        )
    if len(found) > 1:
        raise UsageError(
            f"{ref} starts {len(found)} issues' fingerprints",
            hint="give more of the fingerprint: "
            + ", ".join(i.fingerprint[: len(text) + 4] for i in found[:4]),
        )
    return found[0]
