"""The GitHub Action (action.yml) and the CI templates in docs/ci: checked by actionlint, and
their steps run for real on a project, so the paths they upload are the ones passcycle writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from passcycle.store.engine import DEFAULT_PATH
from tests.gitkit import committed_project

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
WORKFLOWS = sorted((REPO / "docs" / "ci").glob("github-*.yml"))
GITLAB = REPO / "docs" / "ci" / "gitlab-ci.yml"
USES = "passcycle/passcycle@v1"  # how the docs refer to this repository's action

FILES = {
    "pkg/__init__.py": "def half(x):\n    return x / 2\n",
    "tests/test_half.py": "from pkg import half\n\n\ndef test_half():\n    assert half(4) == 2\n",
}


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["actionlint", "-no-color"], cwd=root, capture_output=True, text=True, check=False
    )


def repository_with(tmp_path: Path, workflows: dict[str, str]) -> Path:
    """A repository holding the action at its root and `workflows`, as GitHub reads them."""
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    shutil.copy(ACTION, root / "action.yml")
    for name, text in workflows.items():
        (root / ".github" / "workflows" / name).write_text(text, encoding="utf-8")
    return root


def test_actionlint_passes_the_workflow_examples_against_the_action(tmp_path: Path):
    assert len(WORKFLOWS) >= 2
    texts = {path.name: path.read_text(encoding="utf-8") for path in WORKFLOWS}
    assert all(USES in text for text in texts.values())
    # `uses: ./` makes actionlint read our action.yml and check every input given to it.
    local = {name: text.replace(USES, "./") for name, text in texts.items()}
    checked = actionlint(repository_with(tmp_path, local))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # and the check bites: an input the action does not have is named
    wrong = {"wrong.yml": local[WORKFLOWS[0].name].replace("artifact-name:", "artefact-name:")}
    checked = actionlint(repository_with(tmp_path / "wrong", wrong))
    assert checked.returncode == 1
    assert 'input "artefact-name" is not defined in action "passcycle"' in checked.stdout


def test_actionlint_passes_the_actions_own_steps(tmp_path: Path):
    """actionlint checks a composite action's metadata, not its steps: they are checked as
    the reusable workflow they would be, with the action's inputs as its inputs."""
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    inputs = {
        name: {"type": "string", "required": False, "default": spec.get("default", "")}
        for name, spec in action["inputs"].items()
    }
    steps = [{k: v for k, v in step.items() if k != "shell"} for step in action["runs"]["steps"]]
    workflow = {
        "name": "action-steps",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"steps": {"runs-on": "ubuntu-latest", "steps": steps}},
    }
    text = yaml.safe_dump(workflow, sort_keys=False).replace("$GITHUB_ACTION_PATH", ".")
    checked = actionlint(repository_with(tmp_path, {"steps.yml": text}))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def step(name: str) -> dict:
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return next(s for s in action["runs"]["steps"] if s["name"] == name)


def shell_env(tmp_path: Path) -> dict[str, str]:
    """`passcycle` on PATH as the action's install step leaves it, for this interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "passcycle"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m passcycle "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PASSCYCLE_DB", None)
    return env


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.parametrize("breaks", [False, True], ids=["gate passes", "gate fails"])
def test_the_actions_run_step_writes_what_it_uploads(tmp_path: Path, breaks: bool):
    root = tmp_path / "project"
    committed_project(root, FILES)
    if breaks:
        (root / "pkg" / "__init__.py").write_text("def half(x):\n    return x / 3\n")
    env = shell_env(tmp_path)
    env.update(
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        PASSCYCLE_DB="",  # the input's default: the SQLite history the cache carries
        PASSCYCLE_ARGS="",
    )
    run = step("Run the cycle")
    done = subprocess.run(
        ["bash", "-e", "-c", run["run"]], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr  # the gate is the last step's
    said = outputs(tmp_path / "output")
    assert said["exit-code"] == ("1" if breaks else "0")
    assert Path(said["junit"]).is_file()
    workdir = "${{ inputs.working-directory }}/"
    for line in step("Upload the reports")["with"]["path"].splitlines():
        assert (root / line.removeprefix(workdir)).is_file(), line
    cached = step("Save the history")["with"]["path"].removeprefix(workdir)
    assert Path(cached) == DEFAULT_PATH and (root / cached).is_file()
    assert ("gate failed" if breaks else "gate passed") in (tmp_path / "summary.md").read_text()
    gate = subprocess.run(
        ["bash", "-e", "-c", step("Gate")["run"]],
        env={**env, "CODE": said["exit-code"]},
        check=False,
    )
    assert gate.returncode == int(said["exit-code"])


def test_the_actions_args_reach_passcycle_word_by_word(tmp_path: Path):
    root = tmp_path / "project"
    committed_project(root, FILES)
    env = shell_env(tmp_path)
    env.update(GITHUB_OUTPUT=str(tmp_path / "output"), PASSCYCLE_ARGS="--scenario  nope")
    done = subprocess.run(
        ["bash", "-e", "-c", step("Run the cycle")["run"]],
        cwd=root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert outputs(tmp_path / "output")["exit-code"] == "2"
    assert "'nope'" in done.stderr


def test_the_gitlab_template_runs_and_keeps_what_passcycle_writes(tmp_path: Path):
    job = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))["passcycle"]
    assert job["artifacts"]["when"] == "always" and job["cache"]["when"] == "always"
    assert job["cache"]["paths"] == [DEFAULT_PATH.as_posix()]
    root = tmp_path / "project"
    committed_project(root, FILES)
    env = shell_env(tmp_path)
    commands = [line for line in job["script"] if not line.startswith("python -m pip")]
    assert commands == ["passcycle run --ci"]
    for command in commands:
        subprocess.run(["bash", "-e", "-c", command], cwd=root, env=env, check=True)
    for path in [*job["artifacts"]["paths"], job["artifacts"]["reports"]["junit"]]:
        assert (root / path).is_file(), path
    assert (root / job["cache"]["paths"][0]).is_file()
