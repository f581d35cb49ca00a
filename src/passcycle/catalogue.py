"""The built-in KPIs: what each measures, its unit, and where its value comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BuiltinKpi:
    name: str
    unit: str
    higher_is_better: bool
    source: str  # where the value comes from: tests, coverage, scenario, drill, audit
    description: str


_KPIS: tuple[BuiltinKpi, ...] = (
    BuiltinKpi(
        "test_pass_rate",
        "%",
        True,
        "tests",
        "passed / (passed + failed + error) of the run's tests; skipped and xfailed do not count",
    ),
    BuiltinKpi(
        "critical_error_rate",
        "%",
        False,
        "tests",
        "tests hit by a critical issue (crash, timeout, import or collection error, a"
        " failure spread over many tests) / tests run",
    ),
    BuiltinKpi(
        "test_reliability",
        "%",
        True,
        "tests",
        "tests whose outcome is not flaky / tests run (flaky = passed and failed on one"
        " commit, from isolated re-runs)",
    ),
    BuiltinKpi(
        "coverage",
        "%",
        True,
        "coverage",
        "the TOTAL of `coverage report`: lines and branches together when branch coverage is on",
    ),
    BuiltinKpi("line_coverage", "%", True, "coverage", "executed statements / statements"),
    BuiltinKpi("branch_coverage", "%", True, "coverage", "taken branches / branches"),
    BuiltinKpi(
        "diff_coverage",
        "%",
        True,
        "coverage",
        "covered / executable lines among those changed against the git base (validate.diff_base)",
    ),
    BuiltinKpi("suite_duration", "s", False, "tests", "wall time of the Test phase"),
    BuiltinKpi(
        "p95_response_time",
        "s",
        False,
        "scenario",
        "95th percentile of response times over every request of the run's scenarios",
    ),
    BuiltinKpi("error_rate", "%", False, "scenario", "failed requests / requests in the scenarios"),
    BuiltinKpi(
        "concurrent_users",
        "",
        True,
        "scenario",
        "the largest number of users a scenario actually sustained",
    ),
    BuiltinKpi(
        "hypothesis_met",
        "%",
        True,
        "scenario",
        "checks of the scenarios' steady-state hypotheses that held: each probe within its"
        " tolerance before, during and after the faults, and back within `recover`; each"
        " breaker open within `opens` of the faults and closed within `closes` after them",
    ),
    BuiltinKpi(
        "breaker_open_time",
        "s",
        False,
        "scenario",
        "time from a scenario's first fault to the first read of its circuit breaker as"
        " open (the slowest scenario)",
    ),
    BuiltinKpi(
        "breaker_recover_time",
        "s",
        False,
        "scenario",
        "time from the end of a scenario's faults to the first read of its circuit breaker"
        " as closed again, once it had opened (the slowest scenario)",
    ),
    BuiltinKpi(
        "memory_rss",
        "B",
        False,
        "scenario",
        "peak resident memory of the service's process tree while scenarios ran",
    ),
    BuiltinKpi(
        "memory_growth",
        "B/s",
        False,
        "scenario",
        "growth rate of the service's RSS in a scenario of 30 s or more: least-squares slope"
        " over the second half of the samples (the first is warm-up); the worst scenario",
    ),
    BuiltinKpi(
        "cpu_utilization",
        "%",
        False,
        "scenario",
        "mean CPU of the service's process tree while scenarios ran, as a share of the machine",
    ),
    BuiltinKpi(
        "uptime",
        "%",
        True,
        "scenario",
        "share of health probes answered while scenarios and drills ran",
    ),
    BuiltinKpi(
        "fault_error_rate",
        "%",
        False,
        "scenario",
        "failed requests / requests made while a scenario's faults were on (the worst"
        " scenario): do timeouts, fallbacks and circuit breakers hold",
    ),
    BuiltinKpi(
        "fault_p95_response_time",
        "s",
        False,
        "scenario",
        "95th percentile of response times of requests made while faults were on",
    ),
    BuiltinKpi(
        "recovery_time",
        "s",
        False,
        "drill",
        "time from the service's crash to healthy again, in a crash drill",
    ),
    BuiltinKpi(
        "data_survival",
        "%",
        True,
        "drill",
        "records written before a crash drill and read back as expected after the restart"
        " / records written",
    ),
    BuiltinKpi(
        "critical_vulnerabilities",
        "",
        False,
        "audit",
        "critical findings of the security audit: lines of the source bandit flags at high"
        " severity with at least medium confidence ([security] sets both), and installed"
        " packages an advisory rates critical",
    ),
    BuiltinKpi(
        "vulnerabilities",
        "",
        False,
        "audit",
        "every finding of the security audit: flagged lines of the source and vulnerable"
        " installed packages, whatever their severity",
    ),
    BuiltinKpi(
        "code_vulnerabilities",
        "",
        False,
        "audit",
        "lines of the plan's source that bandit flags (`# nosec` and bandit's own"
        " configuration honoured)",
    ),
    BuiltinKpi(
        "dependency_vulnerabilities",
        "",
        False,
        "audit",
        "packages installed for the project's interpreter that an advisory marks vulnerable"
        " at their version (an OSV database named in the plan, or pip-audit's service)",
    ),
)

_KPIS += (
    BuiltinKpi(
        "technical_debt",
        "",
        False,
        "lint",
        "ruff's findings on the plan's source with the project's ruff settings (or the count"
        ' a `command:` source prints); judged as a trend: "decreasing over 30d"',
    ),
    BuiltinKpi(
        "mtbf",
        "s",
        True,
        "history",
        "mean time between failing full runs (tests failed or the run errored) on the run's"
        ' branch, from the history; judged as a trend: "increasing over 30d"',
    ),
)

BUILTIN_KPIS: dict[str, BuiltinKpi] = {k.name: k for k in _KPIS}
