"""Change points in a KPI's history: the runs where its level shifted.

The detection is Apache Otava's (E-divisive means, each candidate kept only if a t-test
between the segments either side says p < MAX_PVALUE; vendored in passcycle/_vendor/otava),
the method the Hunter paper (Fleming et al., ICPE 2023) built for performance histories.
On top of it: a change needs MIN_SEGMENT runs on each side, so one odd run is never a
change, and a KPI's latest change that makes it worse is an issue of kind `regression`
whether or not a baseline is set, as long as it is the latest and recent."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, median

from passcycle.records import Issue
from passcycle.targets import format_value
from passcycle.validate.direction import higher_is_better

MIN_SEGMENT = 3  # runs on each side of a change
P_FLOOR = 1e-15  # smaller p-values are the float's noise, not evidence
MAX_PVALUE = 0.001
WINDOW = 30  # Otava's sliding window, in runs
RECENT = 10  # a worsening change this many runs back or fewer is still news
LEAST_CHANGE = 0.02  # of the level before: smaller shifts are noise however significant


@dataclass(frozen=True, slots=True)
class Shift:
    """One change point: the series' level before it and from it on (to the next change)."""

    index: int  # position in the series of the first value at the new level
    run_id: int
    before: float
    after: float
    pvalue: float

    @property
    def change(self) -> float:
        """Relative change of the level (+0.18: 18% higher)."""
        return (self.after - self.before) / abs(self.before) if self.before else math.inf

    @property
    def size(self) -> str:
        """The change as people read it: "18%", or "from 0" (no share of 0 fits)."""
        return f"{abs(self.change):.0%}" if math.isfinite(self.change) else "from 0"

    @property
    def p_text(self) -> str:
        """ "p=0.002"; a step out of a constant level has a p-value of 0 to the float, which
        no test can claim: below the float's own precision it reads "p<1e-15"."""
        return f"p={self.pvalue:.2g}" if self.pvalue >= P_FLOOR else f"p<{P_FLOOR:.0e}"


def change_points(
    series: Sequence[tuple[int, float]], min_segment: int = MIN_SEGMENT
) -> list[Shift]:
    """The change points of (run id, value), oldest first: where the level shifted."""
    values = [float(v) for _, v in series]
    if len(values) < 2 * min_segment or max(values) == min(values):
        return []
    from passcycle._vendor.otava.analysis import compute_change_points

    found, _weak = compute_change_points(values, window_len=WINDOW, max_pvalue=MAX_PVALUE)
    kept: list[tuple[int, float]] = []
    for point in sorted(found, key=lambda p: int(p.index)):
        index, pvalue = int(point.index), float(point.stats.pvalue)
        if index < min_segment or len(values) - index < min_segment:
            continue  # too near an end: a run or two is no new level
        if kept and index - kept[-1][0] < min_segment:
            if pvalue < kept[-1][1]:
                kept[-1] = (index, pvalue)  # two changes too close: keep the surer one
            continue
        kept.append((index, pvalue))
    bounds = [0, *(i for i, _ in kept), len(values)]
    shifts = []
    for n, (index, pvalue) in enumerate(kept):
        before, after = values[bounds[n] : index], values[index : bounds[n + 2]]
        shift = Shift(index, series[index][0], fmean(before), fmean(after), pvalue)
        # the medians must agree: one wild run pulls a mean across a split, not a median
        moved = median(after) - median(before)
        if (
            abs(shift.change) >= LEAST_CHANGE
            and (moved > 0) == (shift.change > 0)
            and abs(moved) >= LEAST_CHANGE * abs(median(before))
        ):
            shifts.append(shift)
    return shifts


def shift_issue(
    name: str,
    unit: str,
    target: str | None,
    series: Sequence[tuple[int, float]],
    commits: dict[int, str | None],
    shifts: Sequence[Shift] | None = None,
) -> Issue | None:
    """An issue for the KPI's latest change point when it made the KPI worse and is recent
    (RECENT runs or fewer before the last), else None. `shifts`: the series' change points
    when the caller has them already."""
    better_up = higher_is_better(name, target)
    shifts = change_points(series) if shifts is None else shifts
    if better_up is None or not shifts:
        return None
    last = shifts[-1]
    worse = (last.after < last.before) if better_up else (last.after > last.before)
    if not worse or len(series) - last.index > RECENT:
        return None
    verb = "rose" if last.after > last.before else "fell"
    commit = commits.get(last.run_id)
    at = f"run {last.run_id}" + (f" (commit {commit[:10]})" if commit else "")
    title = f"{name} {verb} {last.size} at {at}, {last.p_text}"
    detail = (
        f"level {format_value(last.before, unit)} before, {format_value(last.after, unit)} "
        f"in the {len(series) - last.index} runs since (change point, Otava E-divisive)"
    )
    digest = hashlib.sha1(f"shift\n{name}\n{last.run_id}".encode()).hexdigest()[:16]
    return Issue(
        fingerprint=digest,
        title=title,
        kind="regression",
        severity="medium",
        root_cause=f"the change at {at}",
        message=detail,
    )
