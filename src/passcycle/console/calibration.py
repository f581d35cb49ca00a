"""`passcycle calibrate`: the proposed targets beside the plan's, and what each rests on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from passcycle.console import clean, out
from passcycle.validate.calibrate import Proposal


def show_calibration(proposals: Sequence[Proposal], written: Sequence[str] = ()) -> None:
    table = Table(
        title="calibrated targets", title_justify="left", box=None, pad_edge=False, padding=(0, 1)
    )
    for column in ("KPI", "target now", "proposed", "regression", "rests on", "why"):
        table.add_column(column, overflow="fold")
    for p in proposals:
        proposed = clean(p.target) if p.target else "[dim]—[/dim]"
        table.add_row(
            clean(p.name), clean(p.current or "—"), proposed, p.regression or "—", p.basis,
            clean(p.why),
        )  # fmt: skip
    out.print(table)
    if written:
        noun = "target" if len(written) == 1 else "targets"
        out.print(f"wrote {len(written)} {noun} into the plan: {', '.join(map(clean, written))}")
        missing = [p.name for p in proposals if p.target and p.name not in written]
        if missing:
            out.print(
                f"not in the plan's [kpis], left out: {', '.join(map(clean, missing))}"
                " (add them there to keep a target)"
            )
    elif any(p.target for p in proposals):
        out.print("next: passcycle calibrate --write  (puts them in passcycle.toml, with why)")


def calibration_json(proposals: Sequence[Proposal], written: Sequence[str]) -> dict[str, Any]:
    return {
        "kpis": [
            {
                "name": p.name,
                "current": p.current,
                "target": p.target,
                "regression": p.regression,
                "runs": list(p.runs),
                "why": p.why,
            }
            for p in proposals
        ],
        "written": list(written),
    }
