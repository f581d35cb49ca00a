"""The run's audit in the terminal and in JSON: what each part looked at and found."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from passcycle.console import out
from passcycle.sanitize import visible


def show_audit(audits: list[Any]) -> None:
    """One line: each part's tool, what it looked at, what it found, how long it took."""
    if not audits:
        return
    parts = []
    for audit in audits:
        looked = ""
        if audit.checked:
            noun = "files" if audit.part == "code" else "packages"
            looked = f"{audit.checked} {noun}, "
        if audit.measured:
            found = len(audit.findings)
            parts.append(
                f"{audit.part}: {audit.tool}, {looked}{found} finding{'s' * (found != 1)}"
                f" ({audit.seconds:.1f}s)"
            )
        else:
            parts.append(f"{audit.part}: not measured ({visible(audit.tool, 20)})")
    out.print(Text("audit  " + " · ".join(parts)))


def audit_json(audits: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "part": a.part,
            "tool": a.tool,
            "measured": a.measured,
            "reason": a.reason or None,
            "seconds": round(a.seconds, 3),
            "checked": a.checked,
            "findings": len(a.findings),
        }
        for a in audits
    ]
