"""Circuit-breaker reads against a real service and passcycle's real fault proxy: the tiny
app calls its upstream through a breaker (open after 2 failures, half-open 0.8 s later,
closed after two good trials 0.5 s apart) and shows the breaker's state as JSON, in a
header and as a Prometheus gauge; its upstream goes down for 1.2 s. Also each source read
from a canned answer, and a breaker that cannot be read."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from scenario_kit import scenario

from passcycle.breaker_section import BreakerSection, metric_selector
from passcycle.plan import load_plan
from passcycle.records import Measurement
from passcycle.scenario_sections import UpstreamSection
from passcycle.scenarios.breaker import Unreadable, read_value
from passcycle.scenarios.runner import run_scenarios
from passcycle.validate.breaker import breaker_issues, judge_breakers

FAULT = {"upstream": "model", "kind": "down", "after": "0.8s", "for": "1.2s"}  # to 2.0 s


def outage(breaker: dict[str, object]):  # type: ignore[no-untyped-def]
    return scenario(
        name="outage",
        users=3,
        duration="4s",
        steps=[{"get": "/call", "name": "call"}],
        think_time="50ms",
        faults=[FAULT],
        breaker=breaker,
    )


def run(app, tmp_path: Path, breaker: dict[str, object]) -> dict[str, Measurement]:  # type: ignore[no-untyped-def]
    # the tiny app itself answers GET / with {"ok": true}: it is the upstream here
    upstream = UpstreamSection.model_validate(
        {"command": [sys.executable, str(tmp_path / "app.py"), "{port}"]}
    )
    found = run_scenarios(
        app(APP_UPSTREAM="{upstream.model}", APP_FALLBACK="1", APP_BREAKER="2/0.8"),
        [outage(breaker)],
        tmp_path,
        tmp_path / "run",
        upstreams={"model": upstream},
    )
    return {m.name: m for m in found.measurements}


def test_a_breaker_read_from_json_opens_half_opens_and_closes(app, tmp_path: Path) -> None:
    m = run(app, tmp_path, {"get": "/breaker", "json": "breaker.state", "half_open": "half-open",
                            "opens": "< 1s", "closes": "< 3s"})  # fmt: skip
    # refused connections fail at once: two calls and the breaker is open
    assert 0 < m["breaker_open_time"].value < 1.0 and m["breaker_open_time"].unit == "s"
    # its 0.8 s cool-down ends while the upstream is still down, so the trial re-opens it;
    # the next cool-down ends after the outage and two trials 0.5 s apart close it
    assert 0.3 < m["breaker_recover_time"].value < 2.0
    assert m['breaker_half_open{scenario="outage"}'].value == 1.0
    reads = {k: v.value for k, v in m.items() if k.startswith("breaker_reads")}
    read = 'breaker_reads{{phase="{}",scenario="outage",state="{}",value="{}"}}'
    assert reads[read.format("before", "closed", "closed")] > 3
    assert reads[read.format("during", "open", "open")] > 3
    assert not [k for k in m if k.startswith("breaker_unreadable")]
    assert m["fault_error_rate"].value == 0.0  # the fallback answered meanwhile


def test_a_breaker_read_from_a_header_and_judged(app, tmp_path: Path) -> None:
    breaker = {"get": "/breaker", "header": "X-Breaker-State", "opens": "< 1s", "closes": "< 3s"}
    m = run(app, tmp_path, breaker)
    assert 0 < m["breaker_open_time"].value < 1.0
    # closed again after a failed trial or two (0.5 s apart) once the upstream is back; a
    # busy machine slows every trial, so the bound is the plan's own `closes`
    assert 0.3 < m["breaker_recover_time"].value < 3.0
    plan = plan_with(tmp_path, 'header = "X-Breaker-State", opens = "< 1s", closes = "< 3s"')
    checks = judge_breakers(plan, m.values())
    assert [(c.phase, c.held) for c in checks] == [("opens", True), ("closes", True)]
    assert "the breaker opened" in checks[0].how and "(opens < 1s)" in checks[0].how


def test_an_unreadable_breaker_is_one_line_and_the_scenario_keeps_its_results(
    app, tmp_path: Path
) -> None:
    asked = 'app_breaker_open{upstream="nope"}'
    m = run(app, tmp_path, {"get": "/metrics", "metric": asked, "opens": "< 1s"})
    [unreadable] = [v for k, v in m.items() if k.startswith("breaker_unreadable")]
    assert unreadable.value > 10  # every read, every 0.1 s
    assert "breaker_open_time" not in m
    assert m["p95_response_time"].value > 0 and "fault_error_rate" in m  # the rest is kept
    plan = plan_with(tmp_path, f"metric = '{asked}', opens = \"< 1s\"", get="/metrics")
    [issue] = breaker_issues(judge_breakers(plan, m.values()))
    assert issue.title.startswith(
        "outage: cannot read the breaker: GET /metrics answered 200: no series"
        ' app_breaker_open{upstream="nope"}; it has app_breaker_open{upstream="model"} ('
    )
    assert "\n" not in issue.title and issue.title.endswith(" reads)")


def test_the_metric_a_breaker_did_not_open_is_said_with_its_reads(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, "metric = 'app_breaker_open{upstream=\"model\"}', opens = \"< 5s\"",
                     get="/metrics")  # fmt: skip
    read = 'breaker_reads{{phase="{}",scenario="outage",state="closed",value="0"}}'
    reads = [
        Measurement(read.format(phase), count, "", "scenario:outage")
        for phase, count in (("before", 8.0), ("during", 52.0), ("after", 20.0))
    ]
    [issue] = breaker_issues(judge_breakers(plan, reads))
    assert issue.title == (
        "during outage: the breaker did not open within 5s"
        ' (read 0 on app_breaker_open{upstream="model"} 52 times)'
    )
    assert issue.severity == "high" and issue.kind == "breach"


def plan_with(root: Path, source: str, get: str = "/breaker"):  # type: ignore[no-untyped-def]
    (root / "passcycle.toml").write_text(
        '[service]\ncommand = "x {port}"\n[upstreams.model]\naddress = "127.0.0.1:9"\n'
        '[[scenarios]]\nname = "outage"\nduration = "4s"\nsteps = [{ get = "/call" }]\n'
        'faults = [{ upstream = "model", kind = "down", after = "0.8s", for = "1.2s" }]\n'
        f'breaker = {{ get = "{get}", {source} }}\n',
        encoding="utf-8",
    )
    return load_plan(root)


def answer(text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, text=text, headers=headers or {})


PAGE = '# TYPE b gauge\nb{backend="model",zone="a"} 1\nb{backend="other",zone="a"} 0\n'


@pytest.mark.parametrize(
    ("source", "response", "value"),
    [
        ({"metric": 'b{backend="model"}'}, answer(PAGE), "1"),  # the labels it names suffice
        ({"json": "$.breakers[1].state"}, answer('{"breakers": [{}, {"state": "OPEN"}]}'), "OPEN"),
        ({"json": "open"}, answer('{"open": true}'), "true"),
        ({"header": "x-breaker"}, answer("", {"X-Breaker": " half-open "}), "half-open"),
    ],
)
def test_each_source_reads_its_value(source, response, value) -> None:  # type: ignore[no-untyped-def]
    breaker = BreakerSection.model_validate({"get": "/", **source})
    series = metric_selector(breaker.metric) if breaker.metric else None
    assert read_value(breaker, series, response) == value


@pytest.mark.parametrize(
    ("source", "response", "says"),
    [
        ({"metric": 'b{zone="a"}'}, answer(PAGE), 'b{zone="a"} matches 2 series; name more'),
        ({"metric": "c"}, answer(PAGE), "no series c; no c at all"),
        ({"metric": "b"}, answer('{"detail": "Not Found"}'), "not Prometheus text: '{"),
        ({"json": "breaker.state"}, answer("<html>"), "not JSON: '<html>'"),
        ({"json": "breaker.state"}, answer('{"breaker": {}}'), "no breaker.state in '{"),
        ({"header": "X-Breaker"}, answer("{}"), "no X-Breaker header (its headers: content-"),
    ],
)
def test_an_answer_without_the_value_says_what_it_holds(source, response, says) -> None:  # type: ignore[no-untyped-def]
    breaker = BreakerSection.model_validate({"get": "/", **source})
    series = metric_selector(breaker.metric) if breaker.metric else None
    with pytest.raises(Unreadable, match="^" + __import__("re").escape(says)):
        read_value(breaker, series, response)
