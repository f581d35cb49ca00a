"""The history's tables, and the log of their versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Schema versions (bump SCHEMA_VERSION and append a step to migrate.STEPS for every change;
# a database newer than SCHEMA_VERSION is refused, an older one is upgraded in place):
# 1: passcycle 0.1.0 -- meta, runs, test_results, measurements, file_coverage,
#    coverage_totals, issues, issue_runs, baselines, kpi_values (+ runs.gate, runs.reasons).
# 2: shards (which shard of which group a `shard` run is) and coverage_data (a shard's
#    coverage data file, so that shards run on other machines merge into one run).
# 3: test_results.cpu and .solo (each test's CPU seconds, and its wall seconds less those
#    it waited for a CPU: what judges a slower suite) and runs.partial
#    (a run of part of the suite: a re-test, a shard, `test -k` or `test PATH`).
# 4: test_results.probe (seconds a fixed piece of work took around the test: the machine's
#    speed then, so that tests are compared at equal speed).
# 5: audits (each part of a run's security audit: code or dependencies, the tool, whether
#    it measured and why not, and its findings).
# 6: timelines (each scenario of a run second by second: users, requests and errors a
#    second, current percentiles), for the within-run charts.
SCHEMA_VERSION = 6


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zones, so values are stored as naive UTC there and made aware again
    when read; PostgreSQL keeps `timestamptz` and answers in the session's zone, so values
    are converted back to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the history stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """JSON kept as plain text, so any SQL client can read it; empty values are NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        # NULL for empty containers keeps the common row (a passed test) small and fast.
        if value is None or value == () or value == [] or value == {}:
            return None
        return json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("started", UtcDateTime, nullable=False),
    Column("finished", UtcDateTime),
    Column("git_commit", Text),
    Column("git_branch", Text),
    Column("git_dirty", Boolean, nullable=False, default=False),
    Column("host", Text, nullable=False, default=""),
    Column("pid", Integer),
    # The writer's process creation time (epoch seconds): a reused pid is not our writer.
    Column("pid_created", Float),
    Column("parent_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("plan_digest", Text),
    Column("exit_code", Integer),
    Column("note", Text),
    Column("artifacts", Text),
    Column("counts", JsonText),
    Column("gate", Boolean),  # the verdict's gate; NULL until the run is judged
    Column("reasons", JsonText),  # why the gate failed
    Column("partial", Boolean, nullable=False, default=False),  # v3: part of the suite
    Index("ix_runs_project_kind", "project", "kind"),
    Index("ix_runs_project_id", "project", "id"),
    Index("ix_runs_status", "status"),
)

test_results = Table(
    "test_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("nodeid", Text, nullable=False),
    Column("file", Text, nullable=False, default=""),
    Column("outcome", Text, nullable=False),
    Column("duration", Float, nullable=False, default=0.0),
    Column("exc_type", Text),
    Column("message", Text),
    Column("traceback", Text),
    Column("frames", JsonText),
    Column("stage", Text),  # TestResult.when: setup, call or teardown ("when" is SQL)
    Column("reruns", JsonText),
    Column("fingerprint", Text),
    Column("cpu", Float),  # v3: CPU seconds of setup, call and teardown; NULL: not measured
    Column("solo", Float),  # v3: wall seconds less those spent waiting for a CPU
    Column("probe", Float),  # v4: seconds of a fixed piece of work around the test
    Index("ix_test_results_run", "run_id"),
    Index("ix_test_results_nodeid", "nodeid", "run_id"),
)

measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("unit", Text, nullable=False, default=""),
    Column("source", Text, nullable=False, default="tests"),
    Column("samples", JsonText),
    Index("ix_measurements_run", "run_id"),
    Index("ix_measurements_name", "name", "run_id"),
)

file_coverage = Table(
    "file_coverage",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("statements", Integer, nullable=False),
    Column("missing", Integer, nullable=False),
    Column("branches", Integer, nullable=False, default=0),
    Column("partial_branches", Integer, nullable=False, default=0),
    Column("percent", Float, nullable=False, default=0.0),
    Column("missing_lines", Text, nullable=False, default=""),
    PrimaryKeyConstraint("run_id", "path"),
)

coverage_totals = Table(
    "coverage_totals",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("statements", Integer, nullable=False),
    Column("covered_lines", Integer, nullable=False),
    Column("branches", Integer, nullable=False),
    Column("covered_branches", Integer, nullable=False),
    Column("percent", Float, nullable=False),
    Column("precision", Integer, nullable=False, default=0),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("root_cause", Text),
    Column("state", Text, nullable=False),
    Column("first_seen", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("last_seen", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("exc_type", Text),
    Column("message", Text),
    Column("location", Text),
    UniqueConstraint("project", "fingerprint", name="uq_issues_project_fingerprint"),
)

# One row per run an issue was seen in (or declared fixed in): its history.
issue_runs = Table(
    "issue_runs",
    metadata,
    Column("issue_id", Integer, ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("state", Text, nullable=False),
    Column("test_count", Integer, nullable=False, default=0),
    Column("tests", JsonText),
    PrimaryKeyConstraint("issue_id", "run_id"),
    Index("ix_issue_runs_run", "run_id"),
)

baselines = Table(
    "baselines",
    metadata,
    Column("project", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("project", "name"),
)

# The judged KPIs of a run, as the verdict showed them: trends and dashboards read these
# instead of judging every run again.
kpi_values = Table(
    "kpi_values",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Float),
    Column("unit", Text, nullable=False, default=""),
    Column("target", Text),
    Column("status", Text, nullable=False),
    Column("baseline", Float),
    Column("delta", Float),
    Column("regressed", Boolean, nullable=False, default=False),
    Column("source", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    PrimaryKeyConstraint("run_id", "name"),
    Index("ix_kpi_values_name", "name", "run_id"),
)

# A `shard` run's place in its group: shards of one group merge into one run.
shards = Table(
    "shards",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("project", Text, nullable=False),
    Column("grp", Text, nullable=False),  # "group" is SQL
    Column("number", Integer, nullable=False),  # 1..total
    Column("total", Integer, nullable=False),
    Index("ix_shards_group", "project", "grp"),
)

# A shard's coverage.py data file (SQLite bytes, lines and arcs only), for the merge.
coverage_data = Table(
    "coverage_data",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# One row per part of a run's security audit (security/): its findings kept whole, since
# they are read together with the run and never queried one by one.
audits = Table(
    "audits",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("part", Text, nullable=False),  # "code" or "dependencies"
    Column("tool", Text, nullable=False),
    Column("measured", Boolean, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("checked", Integer, nullable=False, default=0),
    Column("findings", JsonText),
    PrimaryKeyConstraint("run_id", "part"),
)

# One row per scenario of a run: its seconds kept whole, read together for one chart.
timelines = Table(
    "timelines",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("scenario", Text, nullable=False),
    Column("points", JsonText, nullable=False),
    PrimaryKeyConstraint("run_id", "scenario"),
)

# Added by schema version 2 (migrate.STEPS creates them in older histories).
V2_TABLES = (shards, coverage_data)
V5_TABLES = (audits,)
V6_TABLES = (timelines,)
