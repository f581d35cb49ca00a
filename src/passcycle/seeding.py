"""`passcycle init`: the user's execution plan as a first passcycle.toml, fitted to the
project's shape. A library gets the test and quality KPIs and the phases' criteria that
apply to it, the service ones left as comments saying when they apply; a project with a web
app gets its `[service]` and a first scenario drafted from what is found (a Dockerfile's
command, Django's manage.py, a FastAPI or Starlette app object, a Flask app)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from passcycle.errors import PlanError

PLAN_FILE = "passcycle.toml"

# the seed's KPIs measured against a running service: a library has none of them
SERVICE_KPIS = (
    "uptime",
    "error_rate",
    "recovery_time",
    "p95_response_time",
    "concurrent_users",
    "memory_rss",
    "cpu_utilization",
)
_SKIP = {"tests", "test", "docs", "examples", "build", "dist", "venv", ".venv", "node_modules"}
_ASGI = re.compile(
    r"^(\w+)\s*(?::[^=]+)?=\s*(?:fastapi\.|starlette\.applications\.)?(FastAPI|Starlette)\(", re.M
)
_WSGI = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:flask\.)?Flask\(", re.M)
_HEALTH = re.compile(r"""["'](/(?:health|healthz|ping|status))["']""")
_DOCKER = re.compile(r"^\s*(CMD|ENTRYPOINT)\s+(.+?)\s*$", re.M | re.I)
# where a Dockerfile's command says its port: `--port 80`, `-p 80`, `--bind 0.0.0.0:80`,
# `$PORT`; passcycle gives the service a free port of its own and keeps it on loopback
_PORT = (
    (re.compile(r"\$\{?PORT\}?"), "{port}"),
    (re.compile(r"(--port[= ]|-p )\d+"), r"\g<1>{port}"),
    (re.compile(r"(--bind[= ]|-b )\S*:(?:\d+|\{port\})"), r"\g<1>127.0.0.1:{port}"),
    (re.compile(r"\b0\.0\.0\.0\b"), "127.0.0.1"),
)
MAX_FILES = 400


@dataclass(frozen=True, slots=True)
class Shape:
    """What `init` found: a library, or a web app and how to start it."""

    kind: str  # "library" or "service"
    command: str = ""  # the service's command, {port} for its port
    health: str = "/"
    found: str = ""  # what it was found from, for the plan's comment
    env: str = ""  # a TOML inline table, e.g. { PYTHONPATH = "src" }


def project_shape(root: Path) -> Shape:
    """A web app the project defines, else a library."""
    docker = _docker_command(root)
    if docker:
        health = next((h for h in map(_health, _texts(root)) if h != "/"), "/")
        return Shape("service", docker, health, "Dockerfile's command")
    if (root / "manage.py").is_file():
        return Shape(
            "service",
            "python manage.py runserver 127.0.0.1:{port} --noreload",
            _health((root / "manage.py").read_text(errors="replace")),
            "manage.py (Django)",
        )
    for path in _python_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
        except OSError:
            continue
        relative = path.relative_to(root)
        under_src = relative.parts[0] == "src"
        module = ".".join(relative.parts[1:] if under_src else relative.parts).removesuffix(".py")
        module = module.removesuffix(".__init__")
        env = '{ PYTHONPATH = "src" }' if under_src else '{ PYTHONPATH = "." }'
        asgi = _ASGI.search(text)
        if asgi:
            target = f"{module}:{asgi[1]}"
            return Shape(
                "service",
                f"python -m uvicorn {target} --host 127.0.0.1 --port {{port}}",
                _health(text),
                f"{asgi[2]} app {target}",
                env,
            )
        wsgi = _WSGI.search(text)
        if wsgi:
            target = f"{module}:{wsgi[1]}"
            return Shape(
                "service",
                f"python -m flask --app {target} run --host 127.0.0.1 --port {{port}}",
                _health(text),
                f"Flask app {target}",
                env,
            )
    return Shape("library")


def _docker_command(root: Path) -> str:
    """The Dockerfile's ENTRYPOINT and CMD as one command on a port passcycle sets, or ""
    when it has none or says no port (a drafted command that cannot be reached is worse
    than none)."""
    try:
        text = (root / "Dockerfile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    found: dict[str, str] = {}
    for kind, rest in _DOCKER.findall(text.replace("\\\n", " ")):
        try:
            words = json.loads(rest)  # the exec form: ["uvicorn", "app:app", ...]
            found[kind.upper()] = shlex.join(words) if isinstance(words, list) else rest
        except ValueError:
            found[kind.upper()] = " ".join(rest.split())  # the shell form, as written
    command = " ".join(found[k] for k in ("ENTRYPOINT", "CMD") if found.get(k))
    for pattern, replacement in _PORT:
        command = pattern.sub(replacement, command)
    return command if "{port}" in command else ""


def _texts(root: Path) -> list[str]:
    texts = []
    for path in _python_files(root):
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace")[:200_000])
        except OSError:
            continue
    return texts


def _python_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in _SKIP or p.startswith(".") or p == "site-packages" for p in parts[:-1]):
            continue
        if parts[-1].startswith("test_") or parts[-1] == "conftest.py":
            continue
        found.append(path)
        if len(found) >= MAX_FILES:
            break
    return found


def _health(text: str) -> str:
    match = _HEALTH.search(text)
    return match[1] if match else "/"


def seed_text(root: Path, shape: Shape, source: list[str], tests: list[str]) -> str:
    """The seed plan written for this project: its name, source and tests in the comments;
    the service KPIs and criteria live for a service, commented for a library."""
    text = files("passcycle").joinpath("seed_plan.toml").read_text(encoding="utf-8")
    text = text.replace('# name = "organism"', f'# name = "{root.name}"', 1)
    text = text.replace('# source = ["src/organism"]', f"# source = {_toml_list(source)}", 1)
    text = text.replace('# tests = ["tests"]', f"# tests = {_toml_list(tests)}", 1)
    if shape.kind == "library":
        return _comment_service_kpis(text)
    return _with_service(text, shape)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _comment_service_kpis(text: str) -> str:
    """The KPIs and phase criteria a library cannot measure, as comments saying when they
    apply: a phase that waits for a KPI never measured would never be met."""
    lines = []
    names = "|".join(SERVICE_KPIS)
    kpi = re.compile(rf"^({names})\s*=")
    criterion = re.compile(rf'^(\s*)"({names})\b[^"]*",')
    for line in text.splitlines():
        if kpi.match(line):
            line = f"# {line}  (with a [service])"
        elif criterion.match(line):
            indent = criterion.match(line)[1]  # type: ignore[index]
            line = f"{indent}# {line.lstrip()}  (with a [service])"
        lines.append(line)
    note = (
        "# This project looks like a library (no web app found): the KPIs measured against a\n"
        '# running service are comments below, marked "(with a [service])"; declare [service]\n'
        "# and scenarios (the commented block further down) and uncomment them.\n"
    )
    return note + "\n".join(lines) + "\n"


def _with_service(text: str, shape: Shape) -> str:
    """The service section and a first scenario, live, in place of the commented example."""
    start, end = "# >>> scenarios\n", "# <<< scenarios\n"
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    example, tail = rest.split(end, 1)
    env = f"env = {shape.env}\n" if shape.env else ""
    drafted = (
        f"[service]                                        # found: {shape.found}\n"
        f'command = "{shape.command}"\n'
        f"{env}"
        f'health = "{shape.health}"\n'
        'ready_timeout = "30s"\n\n'
        "[[scenarios]]\n"
        'name = "steady"              # plan: "Scale testing to 100+ concurrent sessions"\n'
        "users = 100\n"
        "spawn_rate = 50\n"
        'duration = "30s"\n'
        'think_time = ["0.5s", "1s"]   # people pause; a loop with none measures the generator\n'
        f'steps = [ {{ get = "{shape.health}" }} ]          # add the requests your users make\n\n'
        "[[drills]]\n"
        'name = "crash"               # plan: "Disaster recovery and business continuity"\n'
        "records = 0                  # with `before` and `after` steps: what survives a crash\n\n"
        "# More to adapt (every key is in docs/scenarios.md):\n"
        + "\n".join(
            line
            for line in example.splitlines()
            if not line.startswith(("# [service]", "# command", "# health", "# metrics"))
        )
        + "\n"
    )
    return head + start + drafted + end + tail


def write_seed(root: Path, force: bool, source: list[str], tests: list[str]) -> tuple[Path, Shape]:
    target = root / PLAN_FILE
    if target.exists() and not force:
        raise PlanError(f"{target.name} already exists", hint="use --force to overwrite it")
    shape = project_shape(root)
    target.write_text(seed_text(root, shape, source, tests), encoding="utf-8")
    return target, shape
