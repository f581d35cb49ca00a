"""Scenario lines read back from measurements: totals, faults and phases apart."""

from __future__ import annotations

from passcycle.records import Measurement
from passcycle.report.scenarios import split_series, summarize


def test_series_names_split_into_base_and_labels():
    assert split_series("p95_response_time") == ("p95_response_time", {})
    assert split_series('error_rate{scenario="a \\"b\\"",phase="during"}') == (
        "error_rate",
        {"scenario": 'a "b"', "phase": "during"},
    )


def test_summaries_keep_totals_phases_and_faults_apart():
    src = "scenario:outage"
    found = summarize(
        [
            Measurement("requests", 900, "", src),
            Measurement("p95_response_time", 0.05, "s", src),
            Measurement("error_rate", 4.0, "%", src),
            Measurement("generator_bound", 1.0, "", src),
            Measurement('p95_response_time{scenario="outage",step="call"}', 9.0, "s", src),
            Measurement('requests{scenario="outage",phase="after"}', 300, "", src),
            Measurement('requests{scenario="outage",phase="during"}', 300, "", src),
            Measurement('error_rate{scenario="outage",phase="during"}', 12.0, "%", src),
            Measurement(
                'fault_hits{scenario="outage",upstream="db",kind="reset",fault="1"}', 36, "", src
            ),
            Measurement("harmony", 0.99, "ratio", "metric:harmony"),  # not a scenario's
            Measurement("requests", 50, "", "scenario:steady"),
        ]
    )
    assert [s.name for s in found] == ["outage", "steady"]
    outage = found[0]
    assert (outage.requests, outage.p95, outage.error_rate) == (900, 0.05, 4.0)
    assert [(f.upstream, f.kind, f.hits) for f in outage.faults] == [("db", "reset", 36)]
    assert [p.phase for p in outage.phases] == ["during", "after"]  # in phase order
    assert outage.phases[0].error_rate == 12.0 and outage.phases[1].error_rate is None
    assert found[1].faults == () and found[1].phases == ()
    # recorded only when the generator was the bottleneck
    assert outage.generator_bound is True and found[1].generator_bound is False
