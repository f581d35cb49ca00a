"""An open model's schedule read back: each Locust process's HdrHistograms added up, and
when the generator counts as fallen behind."""

from __future__ import annotations

import json
from pathlib import Path

from hdrh.histogram import HdrHistogram

from passcycle.scenarios.loadstats import RequestStats
from passcycle.scenarios.schedule import read_schedule


def histogram(microseconds: list[int]) -> str:
    found = HdrHistogram(1, 3_600_000_000, 3)
    for value in microseconds:
        found.record_value(value)
    return bytes(found.encode()).decode("ascii")


def write_part(out: Path, pid: int, total: list[int], lag: list[int], **counts: int) -> None:
    part = {
        "rate": [50.0, 50.0],
        "total": histogram(total),
        "lag": histogram(lag),
        "steps": {"GET GET /": histogram(total)},
        **{"arrivals": len(lag), "waited": 0, "peak": 3, "unfinished": 0, **counts},
    }
    (out / f"schedule-{pid}.json").write_text(json.dumps(part))


def test_two_processes_histograms_add_up_to_microseconds(tmp_path: Path) -> None:
    # 98 fast answers in one process, 2 stalled ones in the other
    write_part(tmp_path, 1, [1_234] * 98, [200] * 98)
    write_part(tmp_path, 2, [950_000, 980_000], [300, 400], waited=2)
    schedule = read_schedule(tmp_path)
    assert schedule is not None
    assert schedule.arrivals == 100 and schedule.waited == 2 and schedule.peak == 6
    assert schedule.total.count == 100
    assert abs(schedule.total.p50 - 0.001234) < 0.000001  # not rounded to 1 ms
    assert schedule.total.p99 >= 0.95 and schedule.total.max >= 0.98
    assert not schedule.behind  # 0.4 ms late at most: the stall is the service's
    step = RequestStats("GET /", "GET", 100, 0, 0.001, 0.001, 0.001, 0.001, 50.0)
    assert schedule.timed(step).p99 == schedule.steps["GET GET /"].p99 >= 0.95
    notes = schedule.notes("steady", in_flight=6)
    assert notes == [
        "scenario 'steady': 2 iterations (2.0%) found all 6 in-flight slots (users) taken"
        " and waited; their wait is in the response times (raise users to send them on time)"
    ]


def test_a_generator_late_by_more_than_its_floor_fell_behind(tmp_path: Path) -> None:
    write_part(tmp_path, 1, [2_000] * 100, [1_000] * 90 + [250_000] * 10)
    schedule = read_schedule(tmp_path)
    assert schedule is not None and schedule.behind
    [note] = schedule.notes("flood", in_flight=10)
    assert note.startswith("scenario 'flood': the load generator fell behind the schedule by 0.25")


def test_no_schedule_files_no_schedule(tmp_path: Path) -> None:
    assert read_schedule(tmp_path) is None
