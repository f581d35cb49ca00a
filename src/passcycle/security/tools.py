"""What the audit's parts share: how a part that could not look is recorded."""

from __future__ import annotations

from passcycle.records import Audit, AuditPart
from passcycle.sanitize import visible


def not_measured(part: AuditPart, tool: str, reason: str, seconds: float = 0.0) -> Audit:
    """A part that found nothing because it could not look: never a count of 0."""
    return Audit(part, tool, False, visible(reason, 300, oneline=True), seconds)
