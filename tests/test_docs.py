"""The docs keep up with the code: every plan key and every built-in KPI is documented,
and CI runs the test command the README gives."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.plan import PlanModel

ROOT = Path(__file__).resolve().parents[1]


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        keys.add(key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation)
    return keys


def test_every_plan_key_is_in_the_plan_reference():
    text = (ROOT / "docs" / "plan.md").read_text() + (ROOT / "docs" / "scenarios.md").read_text()
    missing = sorted(
        k for k in _keys(PlanModel) if not any(f in text for f in (f"`{k}`", f"[{k}]", f"[[{k}]]"))
    )
    assert missing == []


def test_every_builtin_kpi_is_in_the_catalogue():
    text = (ROOT / "docs" / "kpis.md").read_text()
    assert [k for k in BUILTIN_KPIS if f"| `{k}` |" not in text] == []


def test_ci_runs_the_test_command_of_the_readme():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash")[1:3]]
    assert len(blocks) == 2 and "pip install" in blocks[0] and "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1] in ci
