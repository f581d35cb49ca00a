"""The KPI engine: every KPI of the plan computed from a run's records and judged against
its target and the baseline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.plan import KpiSpec, Plan
from passcycle.records import (
    CoverageSummary,
    Issue,
    KpiVerdict,
    Measurement,
    Run,
    TestResult,
)
from passcycle.targets import UNITS, format_value
from passcycle.validate.baseline import Comparison, compare_samples
from passcycle.validate.flaky import is_quarantined
from passcycle.validate.noise import MIN_WALL_SECONDS, Spread, compare_to_history
from passcycle.validate.trends import Trend

# When the plan declares no KPI at all, a run is judged by these: every test passes,
# none is flaky; coverage is reported without a target.
DEFAULT_KPIS: dict[str, str | None] = {
    "test_pass_rate": "== 100%",
    "test_reliability": "== 100%",
    "critical_error_rate": "== 0%",
    "coverage": None,
    "branch_coverage": None,
    "suite_duration": None,
}

# A coverage drop larger than this (percentage points) against the baseline is a regression
# even when the KPI sets no `regression` share: losing coverage is never noise.
COVERAGE_TOLERANCE = 0.1

_MAX_OVER_SCENARIOS = {"concurrent_users"}  # the most any scenario sustained, not the worst


@dataclass(frozen=True, slots=True)
class RunData:
    """Everything judging reads of one run."""

    run: Run
    results: list[TestResult]
    coverage: CoverageSummary | None = None
    measurements: list[Measurement] = field(default_factory=list)


def kpi_specs(plan: Plan) -> dict[str, KpiSpec]:
    if plan.kpis:
        return dict(plan.kpis)
    from passcycle.plan import KpiSpec as Spec

    return {
        name: Spec.model_validate({"target": target} if target else {})
        for name, target in DEFAULT_KPIS.items()
    }


def judged_results(results: Iterable[TestResult], quarantine: Sequence[str]) -> list[TestResult]:
    """The tests that count for the gate: not quarantined, not skipped or xfailed."""
    return [
        r
        for r in results
        if r.outcome in ("passed", "failed", "error", "xpassed")
        and not is_quarantined(r.nodeid, list(quarantine))
    ]


def measure(
    plan: Plan,
    data: RunData,
    *,
    issues: Sequence[Issue] = (),
    flaky: Iterable[str] = (),
    diff_coverage: float | None = None,
) -> dict[str, Measurement]:
    """The value of every KPI of the plan in this run; a KPI that nothing measured is absent."""
    quarantine = plan.validate.quarantine
    judged = judged_results(data.results, quarantine)
    flaky_set = set(flaky)
    values: dict[str, Measurement] = {}

    if judged:
        passed = sum(1 for r in judged if r.outcome in ("passed", "xpassed"))
        values["test_pass_rate"] = Measurement(
            "test_pass_rate", 100.0 * passed / len(judged), "%", "tests"
        )
        steady = sum(1 for r in judged if r.nodeid not in flaky_set)
        values["test_reliability"] = Measurement(
            "test_reliability", 100.0 * steady / len(judged), "%", "tests"
        )
        critical_tests = {t for i in issues if i.severity == "critical" for t in i.tests}
        hit = sum(1 for r in judged if r.nodeid in critical_tests)
        values["critical_error_rate"] = Measurement(
            "critical_error_rate", 100.0 * hit / len(judged), "%", "tests"
        )
    cov = data.coverage
    if cov is not None:
        values["coverage"] = Measurement("coverage", cov.percent, "%", "coverage")
        if cov.statements:
            values["line_coverage"] = Measurement("line_coverage", cov.line, "%", "coverage")
        if cov.branch is not None:
            values["branch_coverage"] = Measurement("branch_coverage", cov.branch, "%", "coverage")
    if diff_coverage is not None:
        values["diff_coverage"] = Measurement("diff_coverage", diff_coverage, "%", "coverage")

    by_name: dict[str, list[Measurement]] = {}
    for m in data.measurements:
        by_name.setdefault(m.name, []).append(m)
    for name, spec in kpi_specs(plan).items():
        if name in values:
            continue
        source = spec.source
        if source.startswith("metric:"):
            found = by_name.get(source.removeprefix("metric:"), []) or by_name.get(name, [])
        else:
            found = by_name.get(name, [])
        if not found:
            continue
        values[name] = _combine(name, found, spec)
    return values


def _combine(name: str, found: list[Measurement], spec: KpiSpec) -> Measurement:
    """Several measurements of one KPI (one per scenario): the worst counts."""
    builtin = BUILTIN_KPIS.get(name)
    higher = (
        builtin.higher_is_better
        if builtin
        else (spec.target.higher_is_better if spec.target else True)
    )
    if name in _MAX_OVER_SCENARIOS or higher is False:
        chosen = max(found, key=lambda m: m.value)
    else:
        chosen = min(found, key=lambda m: m.value)
    value, unit = chosen.value, chosen.unit
    if spec.unit == "ratio":  # a 0..1 ratio judged against a percent target
        value, unit = value * 100.0, "%"
    samples = tuple(s for m in found for s in m.samples)[:5000]
    return Measurement(
        name, value, unit or (builtin.unit if builtin else ""), chosen.source, samples
    )


def judge(
    plan: Plan,
    current: dict[str, Measurement],
    baseline: dict[str, Measurement] | None,
    *,
    spreads: Mapping[str, Spread] | None = None,
    paired: Comparison | None = None,
    unmeasured: Mapping[str, str] | None = None,
    trends: Mapping[str, Trend] | None = None,
) -> list[KpiVerdict]:
    """Each KPI: value, target, status (pass / fail / not measured), baseline and delta.

    Against the baseline, each KPI is judged beside the noise its history shows
    (validate/noise.py): `spreads` per KPI name, and for `suite_duration` the `paired`
    comparison of the tests both runs timed. `unmeasured`: why a KPI has no value;
    `trends`: the KPIs with a trend target, judged on their history.
    """
    verdicts = []
    for name, spec in kpi_specs(plan).items():
        builtin = BUILTIN_KPIS.get(name)
        measured = current.get(name)
        unit = measured.unit if measured else (builtin.unit if builtin else spec.unit)
        if spec.unit == "ratio":
            unit = "%"
        target = spec.target.text if spec.target else None
        source = builtin.source if builtin else spec.source
        if measured is None:
            why = (unmeasured or {}).get(name, "")  # what could not be measured, and why
            verdicts.append(
                KpiVerdict(name, None, unit, target, "not measured", source=source, detail=why)
            )
            continue
        value = measured.value
        if spec.target is not None and spec.target.trend:
            # judged on its history's slope (validate/trends.py), never against a baseline
            trend = (trends or {}).get(name)
            status, detail = (trend.status, trend.detail) if trend else ("not measured", "")
            verdicts.append(
                KpiVerdict(
                    name, value, unit, target, status, source=measured.source or source,
                    detail=detail or "no history to judge its trend on",
                )
            )  # fmt: skip
            continue
        if spec.target is not None:
            _check_dimension(name, spec, unit)
            status = "pass" if spec.target.check(value) else "fail"
        else:
            status = "pass"
        base = baseline.get(name) if baseline else None
        delta = regressed = None
        detail = ""
        if base is not None:
            delta = value - base.value
            higher = (
                builtin.higher_is_better
                if builtin
                else bool(spec.target and spec.target.higher_is_better)
            )
            cmp = _against_baseline(
                name, spec, source, base, measured, higher, unit, spreads or {}, paired
            )
            if cmp is not None:
                regressed = cmp.regressed
                detail = cmp.detail
        if regressed:
            status = "fail"
        verdicts.append(
            KpiVerdict(
                name,
                value,
                unit,
                target,
                status,
                baseline=base.value if base else None,
                delta=delta,
                regressed=bool(regressed),
                source=measured.source or source,
                detail=detail,
            )
        )
    return verdicts


def _against_baseline(
    name: str,
    spec: KpiSpec,
    source: str,
    base: Measurement,
    measured: Measurement,
    higher: bool,
    unit: str,
    spreads: Mapping[str, Spread],
    paired: Comparison | None,
) -> Comparison | None:
    """The KPI against its baseline beside its noise; None when it is not compared."""
    history = spreads.get(name)
    if source == "coverage":
        # deterministic on one tree: a fall beyond the tolerance is real even with no history
        tolerance = spec.regression * 100.0 if spec.regression is not None else COVERAGE_TOLERANCE
        return compare_to_history(
            base.value,
            measured.value,
            history,
            higher_is_better=True,
            min_effect=tolerance,
            absolute=True,
            unit=unit,
        )
    if spec.regression is None:
        return None
    if name == "suite_duration":
        return _judge_duration(base, measured, history, spec.regression, paired)
    cmp = compare_to_history(
        base.value, measured.value, history, higher_is_better=higher,
        min_effect=spec.regression, unit=unit,
    )  # fmt: skip
    if cmp.regressed and len(measured.samples) >= 5 and len(base.samples) >= 5:
        # the samples of each run (response times) must show the shift too
        within = compare_samples(
            base.samples, measured.samples, higher_is_better=higher, min_effect=spec.regression
        )
        if not within.regressed:
            return replace(cmp, regressed=False, detail=f"{cmp.detail}; {within.detail}")
    return cmp


def _judge_duration(
    base: Measurement,
    measured: Measurement,
    history: Spread | None,
    min_effect: float,
    paired: Comparison | None,
) -> Comparison:
    """The suite's time: its tests' solo times paired with the baseline's; wall time is
    shown beside it, and judged against its history only where solo times are missing."""
    wall = compare_to_history(
        base.value, measured.value, history, higher_is_better=False, min_effect=min_effect,
        unit="s", min_change=MIN_WALL_SECONDS,
    )  # fmt: skip
    if paired is not None and paired.method != "paired CPU time":
        return replace(paired, detail=f"{paired.detail}; wall {wall.detail}")
    if paired is None:
        return wall
    regressed = paired.regressed or wall.regressed
    return replace(paired, regressed=regressed, detail=f"{paired.detail}; wall {wall.detail}")


def _check_dimension(name: str, spec: KpiSpec, unit: str) -> None:
    """A target in seconds for a KPI in percent is a plan error, not a silent pass."""
    from passcycle.errors import PlanError

    assert spec.target is not None
    have = UNITS.get(unit, ("number", 1.0))[0]
    want = spec.target.dimension
    if want != "number" and have != "number" and want != have:
        raise PlanError(
            f"kpis.{name}: the target {spec.target.text!r} is a {want}, but {name} is measured"
            f" in {unit or 'plain numbers'}",
            hint=f"write the target in {unit or 'plain numbers'}",
        )


def describe(verdict: KpiVerdict) -> str:
    return format_value(verdict.value, verdict.unit)
