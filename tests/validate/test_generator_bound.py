"""A scenario whose load generator ran out of CPU measured Locust's own queueing, not the
service: response times that would fail are left out of the latency KPIs ("not judged:
generator-bound"), never judged as the service's; those that meet an upper bound still do."""

from __future__ import annotations

from pathlib import Path

from passcycle.plan import load_plan
from passcycle.records import Measurement
from passcycle.store import History
from passcycle.validate.verdict import judge_run

PLAN = '[project]\nname = "svc"\n\n[kpis]\np95_response_time = "< 100ms"\nerror_rate = "< 5%"\n'


def judged(tmp_path: Path, measurements: list[Measurement]) -> dict:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "passcycle.toml").write_text(PLAN)
    plan = load_plan(tmp_path)
    with History.open(f"sqlite:///{tmp_path / 'history.db'}") as history:
        run = history.start_run("svc", "run", partial=True)
        history.add_measurements(run.id, measurements)
        history.finish_run(run.id, "passed", 0, counts={})
        verdict = judge_run(plan, history, history.run(run.id))
    return {k.name: k for k in verdict.kpis}


def scenario(name: str, p95: float, bound: bool) -> list[Measurement]:
    source = f"scenario:{name}"
    found = [
        Measurement("p95_response_time", p95, "s", source),
        Measurement("error_rate", 0.0, "%", source),
    ]
    return [*found, Measurement("generator_bound", 1.0, "", source)] if bound else found


def test_a_generator_bound_scenario_is_not_judged_on_its_latency(tmp_path: Path):
    kpis = judged(tmp_path, scenario("fast", 0.180, bound=True))
    p95 = kpis["p95_response_time"]
    assert p95.status == "not measured" and p95.value is None
    assert p95.detail.startswith("not judged: generator-bound ('fast': the load generator")
    assert kpis["error_rate"].status == "pass"  # errors are the service's either way


def test_the_other_scenarios_latency_still_counts(tmp_path: Path):
    both = [*scenario("fast", 0.180, bound=True), *scenario("steady", 0.040, bound=False)]
    p95 = judged(tmp_path, both)["p95_response_time"]
    assert p95.status == "pass" and p95.value == 0.040 and p95.source == "scenario:steady"
    assert p95.detail == ""  # the time judged is the service's own
    # and without the flag the worst (the generator's 180 ms) would have failed it
    unflagged = [*scenario("fast", 0.180, bound=False), *scenario("steady", 0.040, bound=False)]
    assert judged(tmp_path / "again", unflagged)["p95_response_time"].status == "fail"


def test_a_generator_bound_time_that_meets_its_upper_bound_still_passes(tmp_path: Path):
    # the generator's queueing only adds: under it, the service met "< 100ms" as well
    kpis = judged(tmp_path, scenario("fast", 0.030, bound=True))
    p95 = kpis["p95_response_time"]
    assert p95.status == "pass" and p95.value == 0.030 and p95.source == "scenario:fast"
    assert p95.detail == "generator-bound: an upper bound, the service's own time is lower"
    # one bound scenario that would fail and one that passes: the failing one is set aside
    both = [*scenario("fast", 0.180, bound=True), *scenario("quick", 0.030, bound=True)]
    p95 = judged(tmp_path / "both", both)["p95_response_time"]
    assert p95.status == "pass" and p95.source == "scenario:quick"
