"""The structure of a Python module's text: its functions and where they are."""

from __future__ import annotations

import ast


def parse(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def functions(
    tree: ast.Module,
) -> tuple[dict[str, tuple[int, int]], set[str], dict[str, int]]:
    """Outermost functions and methods by qualified name -> (first, last) line, decorators
    included; the names of the decorated ones; each function's first body line (what runs
    when it is called, not when it is defined)."""
    found: dict[str, tuple[int, int]] = {}
    decorated: set[str] = set()
    bodies: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                name = prefix + child.name
                while name in found:  # a redefinition keeps both spans
                    name += "'"
                found[name] = (first, child.end_lineno or child.lineno)
                bodies[name] = child.body[0].lineno
                if child.decorator_list:
                    decorated.add(name)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif not isinstance(child, ast.expr):
                visit(child, prefix)  # `if TYPE_CHECKING:`, `try:` blocks at module level

    visit(tree, "")
    return found, decorated, bodies


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """Outermost functions and methods of a module's text by qualified name -> (first, last)
    line, decorators included; {} when the text does not parse."""
    tree = parse(source)
    return functions(tree)[0] if tree is not None else {}
