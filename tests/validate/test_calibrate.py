"""`passcycle calibrate`: targets the recent history meets with a margin, regression
thresholds from each KPI's noise, and `--write` putting them in the plan with why."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from kpikit import kpi_project

from passcycle.records import Run
from passcycle.validate.calibrate import calibrate


def runs_with(values: dict[str, list[float]]) -> list[tuple[Run, dict[str, float]]]:
    count = len(next(iter(values.values())))
    return [
        (
            Run(i + 1, "demo", "run", "passed", datetime.now(UTC)),
            {name: series[i] for name, series in values.items() if i < len(series)},
        )
        for i in range(count)
    ]


def test_ceilings_floors_shares_and_what_is_left_alone():
    history = runs_with(
        {
            "p95_response_time": [0.40, 0.42, 0.38, 0.45, 0.41, 0.43],
            "concurrent_users": [120, 118, 125, 119, 121, 122],
            "coverage": [91.0, 91.5, 92.0, 91.2, 91.8, 91.4],
            "error_rate": [0.0] * 6,
            "data_survival": [100.0] * 6,
            "uptime": [100.0] * 6,
            "memory_rss": [1e8] * 3,
            "branch_coverage": [0.0, 5.0, 0.0, 0.0, 2.0],  # a project whose tests cover little
        }
    )
    kpis = {
        "p95_response_time": ("< 2s", "s"),
        "concurrent_users": (">= 100", ""),
        "coverage": (">= 80%", "%"),
        "error_rate": ("< 5%", "%"),
        "data_survival": ("== 100%", "%"),
        "uptime": ("> 99.5%", "%"),
        "memory_rss": ("< 500MB", "B"),
        "branch_coverage": (">= 80%", "%"),
    }
    found = {p.name: p for p in calibrate(kpis, history, margin=0.10)}
    assert found["p95_response_time"].target == "<= 495ms"  # worst 450ms + 10%
    assert found["p95_response_time"].why == "worst 450ms + 10%"
    assert found["concurrent_users"].target == ">= 106.2"  # worst 118 - 10%
    assert found["coverage"].target == ">= 90.10%"  # misses 9%, +10% of that: 9.9%
    assert found["p95_response_time"].runs == (1, 2, 3, 4, 5, 6)
    assert found["error_rate"].target is None and "0 in every run" in found["error_rate"].why
    assert found["data_survival"].target is None  # an exact target stays as written
    # 100% in every run misses nothing, so a margin on what it misses is 0: ">= 100%" would
    # fail the gate at the first flaky test
    assert found["uptime"].target is None and "100% in every run" in found["uptime"].why
    assert found["memory_rss"].target is None and "needs 5" in found["memory_rss"].why
    assert found["branch_coverage"].target is None  # never a floor below 0% (was ">= -10%")
    assert "a floor at or below 0 holds nothing" in found["branch_coverage"].why
    # noise: p95's MAD is 15ms around 415ms, a spread of 1.4826 x 15 / 415 = 5.4% between
    # runs, so a regression is 3x that, 16.1%, rounded up
    assert found["p95_response_time"].regression == "17%"
    assert found["concurrent_users"].regression == "6%"  # 3 x 1.85%
    assert found["coverage"].regression == "5%"  # quiet (3 x 0.49%): the least, 5%


def test_calibrate_writes_the_plan_keeping_its_comments(tmp_path: Path, passcycle):
    kpis = (
        "# how long the nightly job takes\n"
        'latency = { source = "command:python value.py", target = "< 1000" }  # seconds\n'
        'test_pass_rate = ">= 90%"\n'
    )
    root = kpi_project(tmp_path / "project", kpis=kpis)
    for value in (100, 104, 98, 120, 101, 99):
        (root / "v").write_text(str(value))
        passcycle(root, "run", expect=0)
    data = passcycle(root, "calibrate", "--json", expect=0).json()
    latency = next(k for k in data["kpis"] if k["name"] == "latency")
    assert latency["target"] == "<= 132" and latency["runs"] == [1, 2, 3, 4, 5, 6]
    assert data["written"] == []
    shown = passcycle(root, "calibrate", "--write", expect=0).stdout
    assert "wrote 1 target into the plan: latency" in shown
    text = (root / "passcycle.toml").read_text()
    assert (
        '# how long the nightly job takes\n# was "< 1000": seconds\nlatency = { source = ' in text
    )
    assert 'target = "<= 132", regression = "' in text
    assert "# calibrated on 6 runs (1–6): worst 120 + 10%" in text
    parsed = tomllib.loads(text)["kpis"]
    assert parsed["latency"]["source"] == "command:python value.py"
    assert parsed["test_pass_rate"] == ">= 90%"  # 100% in every run: the target stands
    assert passcycle(root, "validate", "--json", expect=0).json()["gate"]["passed"] is True
    wrong = passcycle(root, "calibrate", "--margin", "lots", expect=2)
    assert "--margin 'lots'" in wrong.stderr and "write e.g. --margin 10%" in wrong.stderr


def test_write_targets_keeps_every_other_line_and_both_table_forms(tmp_path: Path):
    from passcycle.planwrite import write_targets

    plan = tmp_path / "passcycle.toml"
    plan.write_text(
        '# the plan\n[project]\nname = "x"\n\n[kpis]\n'
        'coverage = ">= 80%"  # plan: "coverage 80%+"\n'
        'uptime = { target = "> 99%", description = "a # in a string" }\n\n'
        "[kpis.p95_response_time]\n"
        'regression = "50%"\n'
        'target = "< 2s"\n\n'
        "[validate]\nreruns = 0\n"
    )
    written = write_targets(
        plan,
        {
            "coverage": (">= 95.60%", "5%", "calibrated"),
            "uptime": (">= 99.90%", None, "calibrated"),
            "p95_response_time": ("<= 495ms", "17%", "calibrated"),
            "nowhere": ("<= 1", None, "not in the file"),
        },
    )
    assert sorted(written) == ["coverage", "p95_response_time", "uptime"]
    text = plan.read_text()
    parsed = tomllib.loads(text)
    assert parsed["kpis"]["coverage"] == {"target": ">= 95.60%", "regression": "5%"}
    assert parsed["kpis"]["uptime"] == {"target": ">= 99.90%", "description": "a # in a string"}
    assert parsed["kpis"]["p95_response_time"] == {"target": "<= 495ms", "regression": "17%"}
    assert parsed["validate"] == {"reruns": 0} and text.startswith("# the plan\n")
    assert '# was ">= 80%": plan: "coverage 80%+"\ncoverage = ' in text  # its comment, above it


def test_a_margin_below_zero_is_refused_before_the_history_is_read(tmp_path: Path, passcycle):
    # a negative margin asks for targets tighter than the worst run: none would hold
    root = kpi_project(tmp_path / "project")
    wrong = passcycle(root, "calibrate", "--margin", "-5%", expect=2)
    assert "--margin '-5%'" in wrong.stderr and "write e.g. --margin 10%" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_writing_again_replaces_the_calibration_and_says_what_a_moved_comment_was(
    tmp_path: Path,
):
    # the comment moved above a KPI spoke of the line it was on ("fails when 10% slower");
    # a second calibration's comment replaces the first's instead of piling up above it
    from passcycle.planwrite import write_targets

    plan = tmp_path / "passcycle.toml"
    plan.write_text(
        '[kpis]\nsuite_duration = { target = "< 10min", regression = "10%" }'
        "  # fails when 10% slower than the baseline\n"
    )
    write_targets(plan, {"suite_duration": ("<= 19.69s", "80%", "calibrated on 6 runs")})
    write_targets(plan, {"suite_duration": ("<= 18.80s", "80%", "calibrated on 7 runs")})
    assert plan.read_text() == (
        "[kpis]\n"
        '# was "< 10min", regression 10%: fails when 10% slower than the baseline\n'
        'suite_duration = { target = "<= 18.80s", regression = "80%" }'
        "  # calibrated on 7 runs\n"
    )
