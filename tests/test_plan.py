"""The plan: defaults, detection, the seed plan, and one clear line for every mistake."""

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.errors import ExitCode, PlanError
from passcycle.plan import init_plan, load_plan, parse_plan
from passcycle.seeding import SERVICE_KPIS

SEED_KPIS = {
    "test_pass_rate",
    "critical_error_rate",
    "test_reliability",
    "coverage",
    "branch_coverage",
    "suite_duration",
    "p95_response_time",
    "error_rate",
    "concurrent_users",
    "memory_rss",
    "cpu_utilization",
    "uptime",
    "recovery_time",
    "critical_vulnerabilities",
    "technical_debt",  # the plan's trends: "Monthly reduction target", "Target increasing"
    "mtbf",
}


def test_no_plan_detects_tests_and_source(tmp_path):
    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "src" / "shop" / "__init__.py").write_text("")
    (tmp_path / "tests").mkdir()
    plan = load_plan(tmp_path)
    assert plan.path is None
    assert plan.tests == ["tests"] and plan.source == ["src/shop"]
    assert plan.detected == {"tests": "tests", "source": "src/shop"}
    assert plan.name == tmp_path.name


def test_flat_layout_is_detected(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    assert load_plan(tmp_path).source == ["shop"]


def test_plan_file_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.passcycle.project]\nname = "from-pyproject"\n')
    assert load_plan(tmp_path).name == "from-pyproject"
    (tmp_path / "passcycle.toml").write_text('[project]\nname = "from-plan"\n')
    assert load_plan(tmp_path).name == "from-plan"


def test_a_plan_kept_outside_the_project_applies_to_the_project_folder(tmp_path):
    project = tmp_path / "checkout"
    (project / "tests").mkdir(parents=True)
    plan_file = tmp_path / "plans" / "checkout.toml"
    plan_file.parent.mkdir()
    plan_file.write_text('[project]\nname = "theirs"\ntests = ["tests"]\n')
    plan = load_plan(project, plan_file)
    assert plan.root == project.resolve() and plan.path == plan_file.resolve()
    assert plan.name == "theirs" and plan.tests == ["tests"]
    # without a project folder, the plan's folder is the project
    assert load_plan(None, plan_file).root == plan_file.parent.resolve()


def test_init_writes_the_seed_plan(tmp_path):
    # a folder with no web app in it is a library: the service KPIs are comments
    path = init_plan(tmp_path)
    plan = load_plan(tmp_path)
    assert set(plan.kpis) == SEED_KPIS - set(SERVICE_KPIS)
    # with a [service] they apply: uncommented, each reads with the plan's own target
    text = path.read_text()
    for name in SERVICE_KPIS:
        text = re.sub(rf"^# ({name} = .*)  \(with a \[service\]\)$", r"\1", text, flags=re.M)
    path.write_text(text)
    plan = load_plan(tmp_path)
    assert set(plan.kpis) == SEED_KPIS
    assert set(plan.kpis) <= set(BUILTIN_KPIS)
    assert [p.title for p in plan.phases.values()] == [
        "Immediate stabilization",
        "Enhanced reliability",
        "Production readiness",
        "Advanced monitoring",
    ]
    assert plan.kpis["p95_response_time"].target.value == 2.0
    assert plan.kpis["memory_rss"].target.value == 500 * 1024**2
    assert plan.kpis["recovery_time"].target.value == 300
    # every KPI line says where it came from
    for line in path.read_text().splitlines():
        if line.split("=")[0].strip() in SEED_KPIS:
            assert "#" in line, line
    with pytest.raises(PlanError, match="already exists"):
        init_plan(tmp_path)


def test_the_seed_plans_scenario_example_is_a_valid_plan(tmp_path):
    # uncommented, the example block must read as it is documented
    text = init_plan(tmp_path).read_text()
    block = text.split("# >>> scenarios\n")[1].split("# <<< scenarios")[0]
    uncommented = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines())
    enabled = text.replace(block, uncommented)
    model = parse_plan(tomllib.loads(enabled))
    assert [s.name for s in model.scenarios] == ["steady-100", "model-outage"]
    assert model.scenarios[1].faults[0].upstream == "model" and "model" in model.upstreams
    assert model.drills[0].records == 20 and model.service is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[project]\nbogus = 1\n", "unknown key 'project.bogus' in [project]; allowed: name"),
        ('[kpis]\ncoverage = ">= nine"\n', "kpis.coverage.target: cannot read '>= nine'"),
        ('[kpis]\ncoverage = "> 2 parsecs"\n', "unknown unit 'parsecs'"),
        ('[kpis]\nharmony = "> 99%"\n', "a custom KPI needs a source"),
        ("[kpis]\ncoverage = 90\n", 'write a target such as ">= 90%"'),
        ('[project]\ntimeout = "soon"\n', "project.timeout: cannot read 'soon'"),
        ('[validate]\ntop = "five"\n', "validate.top"),
        ('[phases.one]\ntitle = "x"\n', "phases are numbered"),
        ('[phases.1]\nexit = ["coverage >= lots"]\n', "phases.1.exit"),
        ("[project\n", "not valid TOML"),
        ("bogus = 1\n", "unknown key 'bogus' in the top level"),
    ],
)
def test_plan_errors_are_one_line_naming_file_and_key(tmp_path, text, expected):
    (tmp_path / "passcycle.toml").write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path)
    assert info.value.message.startswith("passcycle.toml")
    assert expected in info.value.message
    assert "\n" not in info.value.message
    assert info.value.exit_code == ExitCode.USAGE_ERROR


_keys = st.sampled_from(
    [
        "project",
        "kpis",
        "validate",
        "phases",
        "coverage",
        "name",
        "target",
        "source",
        "timeout",
        "exit",
        "1",
        "top",
        "x",
    ]
)
_leaves = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.sampled_from(["< 2s", ">= 90%", "10%", "metric:x", "5min", "== 0"]),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=4))
def test_fuzz_plans_give_a_plan_or_a_plan_error(data):
    try:
        parse_plan(data)
    except PlanError as exc:
        assert exc.message and "\n" not in exc.message


@settings(max_examples=100)
@given(st.text(max_size=200))
def test_fuzz_plan_files_never_traceback(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("plan")
    (root / "passcycle.toml").write_text(text, encoding="utf-8")
    try:
        load_plan(Path(root))
    except PlanError as exc:
        assert exc.message
