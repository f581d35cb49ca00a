"""The plan: what to test, what to measure, which targets and phases to judge by."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator

from passcycle.breaker_section import BREAKER_HINT
from passcycle.errors import PlanError
from passcycle.load_section import LoadSection
from passcycle.scenario_sections import (
    RATE_HINT,
    DrillSection,
    Name,
    ScenarioSection,
    ServiceSection,
    UpstreamSection,
)
from passcycle.sections import (
    AlertsSection,
    Count,
    Fraction,
    NumberError,
    PositiveSeconds,
    Seconds,
    Section,
    TargetField,
    counts,
    parse_target_value,
    shares,
)
from passcycle.targets import CRITERION

if TYPE_CHECKING:
    from passcycle.seeding import Shape

PLAN_FILE = "passcycle.toml"

# Sources of the plan, later wins:
# 1) defaults in these models
# 2) passcycle.toml, or else [tool.passcycle] in pyproject.toml, found in the project folder
# 3) PASSCYCLE_DB for the history (so CI can point every runner at one database)
# 4) command-line options (--db, --workers, pytest arguments after --)


class ProjectSection(Section):
    name: str = ""  # default: the project folder's name
    source: list[str] = []  # what coverage measures; default: detected package(s)
    tests: list[str] = []  # what pytest runs; default: detected tests folder
    python: str = ""  # interpreter that runs the suite; default: passcycle's own
    history: str = ""  # database URL; default sqlite:///.passcycle/history.db
    pytest_args: list[str] = []  # always passed to pytest, before those on the command line
    timeout: Seconds = 300.0  # per test; 0 turns it off
    branch: bool = True  # branch coverage
    junit: list[str] = []  # JUnit XML files (globs) from other runners, imported into each run


class KpiSpec(Section):
    target: TargetField | None = None
    source: str = ""  # built-in KPIs know their own; "metric:NAME" or "command:..." for custom ones
    # worse than the baseline by more than this, significantly; 1000%: ten times worse
    regression: Annotated[float, shares(most=10.0)] | None = None
    unit: str = ""
    description: str = ""


class ValidateSection(Section):
    reruns: Annotated[int, counts(0, 20)] = 2  # isolated re-runs of each failed test
    top: Annotated[int, counts(1, 100)] = 5  # the plan's "top 5 critical issues"
    quarantine: list[str] = []  # node id patterns of known-flaky tests: reported, not gating
    diff_base: str = "origin/main"  # git base for diff_coverage
    slow_test: Seconds = 5.0  # a test slower than this is reported as slow
    critical_share: Fraction = 0.10  # an issue hitting this share of the tests is critical
    critical_min_tests: Count = 5
    high_min_tests: Count = 3
    # a KPI on target whose trend crosses it within this many days is a `forecast` issue
    forecast_days: Annotated[int, counts(0, 366)] = 14  # 0: forecast nothing


class FixSection(Section):
    llm_url: str = ""  # an OpenAI-compatible endpoint (base URL); empty: no model advice
    llm_model: str = "gpt-4o-mini"
    llm_key_env: str = ""  # NAME of the environment variable holding the key, never the key
    llm_timeout: Seconds = 20.0


Level = Literal["low", "medium", "high"]


class SecuritySection(Section):
    """[security]: the audit behind the vulnerability KPIs (security/)."""

    code: bool = True  # bandit on the plan's source
    dependencies: bool = True  # the [project] python's installed packages against advisories
    osv: str = ""  # an OSV database for air-gapped CI: a folder holding PyPI/all.zip, or the zip
    service: bool = True  # ask pip-audit's advisory service when no osv database is named
    # a code finding counts in critical_vulnerabilities at this severity and confidence or more
    critical_severity: Level = "high"
    critical_confidence: Level = "medium"
    bandit_config: str = ""  # bandit's -c file; default: pyproject.toml's [tool.bandit]
    timeout: PositiveSeconds = 120.0  # each tool's, so a stuck one never holds the run


_KEYWORDS = ("baseline", "no critical issues", "no regressions", "all kpis", "gate")


class PhaseSection(Section):
    title: str = ""
    exit: list[str] = []

    @field_validator("exit")
    @classmethod
    def _criteria(cls, criteria: list[str]) -> list[str]:
        for criterion in criteria:
            if criterion.strip().lower() in _KEYWORDS:
                continue
            match = CRITERION.match(criterion)
            if match is None:
                raise ValueError(
                    f"cannot read criterion {criterion!r}; write a KPI target such as"
                    f' "coverage >= 90%", a KPI name, or one of: {", ".join(_KEYWORDS)}'
                )
            if match["target"]:
                parse_target_value(match["target"])
        return criteria


class PlanModel(Section):
    project: ProjectSection = ProjectSection()
    kpis: dict[str, KpiSpec] = {}
    validate_: ValidateSection = Field(default=ValidateSection(), alias="validate")
    phases: dict[str, PhaseSection] = {}
    service: ServiceSection | None = None
    scenarios: list[ScenarioSection] = []
    load: LoadSection = LoadSection()  # how many Locust processes (#16)
    drills: list[DrillSection] = []
    upstreams: dict[Name, UpstreamSection] = {}  # named as scenarios and drills are
    fix: FixSection = FixSection()
    alerts: AlertsSection = AlertsSection()
    security: SecuritySection | None = None  # default: audit when a KPI needs it

    @field_validator("kpis", mode="before")
    @classmethod
    def _short_kpis(cls, kpis: Any) -> Any:
        # `coverage = ">= 90%"` is short for `coverage = { target = ">= 90%" }`
        if isinstance(kpis, dict):
            return {k: {"target": v} if isinstance(v, str) else v for k, v in kpis.items()}
        return kpis

    @field_validator("phases")
    @classmethod
    def _phase_numbers(cls, phases: dict[str, PhaseSection]) -> dict[str, PhaseSection]:
        for key in phases:
            if not key.isdigit():
                raise ValueError(f"phases.{key}: phases are numbered: [phases.1], [phases.2], ...")
        return phases


class Plan:
    """A validated plan, bound to the project folder it came from."""

    def __init__(
        self, model: PlanModel, root: Path, path: Path | None, detected: dict[str, str]
    ) -> None:
        self.model = model
        self.root = root
        self.path = path  # None: no plan file, defaults only
        self.detected = detected  # what was filled in by detection: key -> what was found

    @property
    def name(self) -> str:
        return self.model.project.name or self.root.name

    @property
    def project(self) -> ProjectSection:
        return self.model.project

    @property
    def validate(self) -> ValidateSection:
        return self.model.validate_

    @property
    def kpis(self) -> dict[str, KpiSpec]:
        return self.model.kpis

    @property
    def phases(self) -> dict[int, PhaseSection]:
        return {int(k): v for k, v in sorted(self.model.phases.items(), key=lambda kv: int(kv[0]))}

    @property
    def source(self) -> list[str]:
        return self.project.source

    @property
    def tests(self) -> list[str]:
        return self.project.tests

    @property
    def digest(self) -> str:
        """Changes when the plan's content changes: runs record it to tell plans apart."""
        text = json.dumps(
            self.model.model_dump(mode="json", by_alias=True), sort_keys=True, default=str
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def display_path(self) -> str:
        if self.path is None:
            return "(no plan file: defaults)"
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def find_plan_file(root: Path) -> tuple[Path | None, dict[str, Any]]:
    """passcycle.toml wins over [tool.passcycle] in pyproject.toml; neither means defaults."""
    candidate = root / PLAN_FILE
    if candidate.is_file():
        return candidate, read_toml(candidate)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = read_toml(pyproject)
        section = data.get("tool", {}).get("passcycle")
        if section is not None:
            if not isinstance(section, dict):
                raise PlanError(f"{pyproject}: [tool.passcycle] must be a table")
            return pyproject, section
    return None, {}


# Deeper than any plan needs (a step's `json` body included); much deeper and the TOML
# reader, the validation and the JSON written for Locust would recurse past Python's limit.
MAX_DEPTH = 64


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file passcycle reads (the plan, pyproject.toml); one that cannot be read, is
    not TOML or nests deeper than the reader recurses is a PlanError naming the file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name}: not valid TOML: {exc}", hint="fix the TOML syntax") from None
    except RecursionError:
        raise _too_deep(path.name, _deep_line(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path.name}: cannot read it: {exc}") from None
    return data


def _too_deep(filename: str, where: str) -> PlanError:
    return PlanError(
        f"{filename}: {where}: nested more than {MAX_DEPTH} levels deep",
        hint="a plan or a project's config needs a few levels of tables and arrays; flatten"
        " this value",
    )


def _deep_key(data: Any) -> str | None:
    """The key of the first value nested more than MAX_DEPTH deep, or None. Iterative: the
    point is not to recurse."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return key.split("[")[0] or "the top level"
        if isinstance(value, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def _deep_line(path: Path) -> str:
    """Where a file too deep for the TOML reader gets deep: its line and key, found by
    counting brackets (strings are not told apart: this only points at the place)."""
    depth = 0
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "a value"
    for number, line in enumerate(lines, 1):
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        if line.count("[") + line.count("{") > MAX_DEPTH or depth > MAX_DEPTH:
            key = line.split("=", 1)[0].strip() if "=" in line else ""
            return f"line {number}" + (f" ({key})" if key else "")
    return "a value"


def load_plan(root: Path | None = None, plan_file: Path | None = None) -> Plan:
    """The plan of the project in `root` (default: the current folder). With `plan_file`
    and no `root`, the project is the plan file's folder; with both, a plan kept outside
    the project (one for a checkout of someone else's repository) applies to `root`."""
    given = root
    root = (root or Path.cwd()).resolve()
    if plan_file is not None:
        plan_file = plan_file if plan_file.is_absolute() else (Path.cwd() / plan_file)
        if not plan_file.is_file():
            raise PlanError(f"{plan_file}: no such plan file", hint="passcycle init writes one")
        data = read_toml(plan_file)
        if plan_file.name == "pyproject.toml":
            data = data.get("tool", {}).get("passcycle", {})
        resolved = plan_file.resolve()
        path: Path | None = resolved
        if given is None:
            root = resolved.parent
    else:
        path, data = find_plan_file(root)
    model = parse_plan(data, path.name if path else PLAN_FILE)
    model, detected = _detect(model, root)
    return Plan(model, root, path, detected)


def parse_plan(data: dict[str, Any], filename: str = PLAN_FILE) -> PlanModel:
    """Validate plan data; any problem becomes one PlanError line naming the file and key."""
    from passcycle.plancheck import problems

    if not isinstance(data, dict):
        raise PlanError(f"{filename}: the plan must be a table of sections")
    deep = _deep_key(data)
    if deep is not None:
        raise _too_deep(filename, deep)
    try:
        model = PlanModel.model_validate(data)
    except ValidationError as exc:
        raise PlanError(_describe(exc, filename), hint=_hint(exc)) from None
    except PlanError as exc:  # raised as it is inside validation, to keep secrets out
        raise PlanError(f"{filename}: {exc.message}", hint=exc.hint) from None
    problem = next(problems(model), None)
    if problem is not None:
        raise PlanError(f"{filename}: {problem.key}: {problem.message}", hint=problem.hint)
    return model


def _key(loc: tuple[Any, ...]) -> str:
    """pydantic's ("scenarios", 1, "name") as the plan writes it: scenarios[1].name."""
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's mark of a mistake in a table's key, not its value
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text.replace("validate_", "validate")


def _describe(exc: ValidationError, filename: str) -> str:
    error = exc.errors()[0]
    loc = _key(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _key(error["loc"][:-1])
        allowed = _allowed_keys(error["loc"][:-1])
        where = f"[{parent}]" if parent else "the top level"
        return f"{filename}: unknown key {loc!r} in {where}; allowed: {allowed}"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if loc.startswith("kpis.") and loc.count(".") == 1 and kind.endswith("_type"):
        message = 'write a target such as ">= 90%", or a table with target/source/regression'
    extra = f" (more problems: {len(exc.errors()) - 1})" if len(exc.errors()) > 1 else ""
    return f"{filename}: {loc}: {message}{extra}"


def _hint(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if isinstance(error.get("ctx", {}).get("error"), NumberError):
        return "docs/plan.md lists the range of every number of the plan (Limits)"
    loc = [str(p) for p in error["loc"]]
    if loc[:1] == ["scenarios"] and loc[-1:] == ["rate"]:
        return f"{RATE_HINT}; see docs/scenarios.md"
    if loc[:1] == ["scenarios"] and "breaker" in loc:
        return BREAKER_HINT
    if loc and loc[0] == "kpis":
        return (
            'e.g. coverage = ">= 90%" or p95_response_time = { target = "< 2s" }; see docs/plan.md'
        )
    return "see docs/plan.md for every key and its default"


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = PlanModel
    item: type[BaseModel] | None = None  # the model of a list's items or a table's values
    for part in loc:
        if item is not None:  # `part` is the index or the key: its value is an item
            model, item = item, None
            continue
        field = model.model_fields.get(str(part)) or model.model_fields.get(f"{part}_")
        found, many = _model_of(field.annotation if field else None)
        if found is None:
            break
        if many:
            item = found
        else:
            model = found
    names = [f.alias or name for name, f in model.model_fields.items()]
    return ", ".join(names)


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The section model in a field's type, and whether it is the item of a list or table:
    `ServiceSection | None` -> (ServiceSection, False); `list[StepSection]` -> (.., True)."""
    many = False
    for _ in range(3):  # Optional, then list/dict, then Optional again
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation, many
        args = [a for a in get_args(annotation) if a is not type(None)]
        if not args:
            break
        if get_origin(annotation) in (list, dict):
            many = True
        annotation = args[-1]
    return None, False


# --- detection: a project with no plan still works ------------------------------------

_NOT_SOURCE = {
    "tests",
    "test",
    "testing",
    "docs",
    "doc",
    "examples",
    "build",
    "dist",
    "bench",
    "benchmarks",
    "scripts",
    "venv",
    ".venv",
    "node_modules",
    "site-packages",
}


def _detect(model: PlanModel, root: Path) -> tuple[PlanModel, dict[str, str]]:
    detected: dict[str, str] = {}
    project = model.project
    updates: dict[str, Any] = {}
    if not project.tests:
        tests = [d for d in ("tests", "test", "testing") if (root / d).is_dir()]
        updates["tests"] = tests[:1] or ["."]
        detected["tests"] = ", ".join(updates["tests"])
    if not project.source:
        source = detect_source(root)
        updates["source"] = source
        detected["source"] = ", ".join(source)
    if updates:
        model = model.model_copy(update={"project": project.model_copy(update=updates)})
    return model, detected


def detect_source(root: Path) -> list[str]:
    """Packages under src/, else top-level packages, else the whole folder (as `pytest --cov`
    measures it). Loose top-level modules are not named one by one: coverage would import a
    dotted name's parent to find it, and a script's import can do anything."""
    src = root / "src"
    if src.is_dir():
        found = sorted(
            f"src/{d.name}" for d in src.iterdir() if d.is_dir() and (d / "__init__.py").is_file()
        )
        if found:
            return found
    found = sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir()
        and d.name not in _NOT_SOURCE
        and not d.name.startswith(".")
        and (d / "__init__.py").is_file()
    )
    return found or ["."]


def init_plan(root: Path, force: bool = False) -> Path:
    """Write the seed plan (the user's execution plan as KPIs and phases), fitted to the
    project's shape (seeding.py), as passcycle.toml."""
    return init_project(root, force)[0]


def init_project(root: Path, force: bool = False) -> tuple[Path, Shape]:
    """`init_plan`, and the shape the plan was fitted to."""
    from passcycle.seeding import write_seed

    model, _ = _detect(PlanModel(), root)
    return write_seed(root, force, model.project.source, model.project.tests)
