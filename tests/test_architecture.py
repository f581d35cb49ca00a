"""The one-way flow holds itself: import contracts, no cycles, a plugin with no passcycle in it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint) if lint.exists() else "lint-imports", "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root / "src"), "PATH": str(Path(sys.executable).parent)},
        check=False,
    )


def test_the_import_contracts_hold():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_report_that_imports_the_suite_breaks_them(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(SRC, copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    markdown = copy / "src" / "passcycle" / "report" / "markdown.py"
    markdown.write_text(
        markdown.read_text(encoding="utf-8") + "\nfrom passcycle.suite import runner  # noqa\n",
        encoding="utf-8",
    )
    done = _lint_imports(copy)
    assert done.returncode != 0
    assert "passcycle.report is not allowed to import passcycle.suite" in done.stdout


def test_no_cycle_among_the_packages_counting_imports_inside_functions():
    # grimp reads every import statement, those inside functions too
    graph = grimp.build_graph("passcycle", cache_dir=None)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[:2], imported.split(".")[:2]
            if len(a) == 2 and len(b) == 2 and a != b:
                edges.setdefault(a[1], set()).add(b[1])
    cycles = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in path and len(path) < len(edges):
                    stack.append((nxt, [*path, nxt]))
    # plan <-> plancheck is one way at run time; the other is for type checkers only
    assert not [c for c in cycles if not _type_checking_only(c)], cycles


def _type_checking_only(cycle: str) -> bool:
    return set(cycle.split(" -> ")) == {"plan", "plancheck"}


def test_the_plugin_imports_only_the_standard_library_pytest_and_coverage():
    # it runs in the project's interpreter, where passcycle may not be installed
    allowed = set(sys.stdlib_module_names) | {"pytest", "_pytest", "coverage", "__future__"}
    found = set()
    for module in (SRC / "passcycle" / "suite" / "plugin").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    assert found - allowed == set(), found - allowed
    assert "pytest" in found  # the check reads real imports


def test_modules_stay_small_and_the_core_functions_short():
    sizes = {
        path: len(path.read_text(encoding="utf-8").splitlines())
        for path in (SRC / "passcycle").rglob("*.py")
    }
    ordered = sorted(sizes.values())
    assert ordered[len(ordered) // 2] <= 200, "the median module grew past 200 lines"
    assert not {str(p): n for p, n in sizes.items() if n > 500}
    core = [
        *(SRC / "passcycle" / "cycle").glob("*.py"),
        *(SRC / "passcycle" / "cli").glob("*.py"),
        *(SRC / "passcycle" / "suite" / "plugin").glob("*.py"),
    ]
    long = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in core
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long
