"""What a change to a Python file touches: functions, rebound names."""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.fix.changes import FileChange, old_content
from passcycle.pysource import functions as _functions
from passcycle.pysource import parse as _parse


def _names(tree: ast.Module) -> set[str]:
    """Every name the text mentions (a walk of the whole tree: only when a new function
    needs it)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # getattr(module, "name"), __all__
    return names


def _harmless_new(name: str, decorated: set[str], old_names: Callable[[], set[str]]) -> bool:
    """A new plain function: nothing could call it before, and defining it has no effect.
    A new method may override a base class's, a decorator may register it: not harmless."""
    return "." not in name and name not in decorated and name not in old_names()


def _trivial_lines(source: str) -> set[int]:
    """Lines holding only comments or whitespace (strings are code)."""
    lines = source.splitlines()
    code: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                continue
            if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            code.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return set()
    return set(range(1, len(lines) + 1)) - code


def _maybe_trivial(source: str, change: FileChange, *, old: bool) -> set[int]:
    """_trivial_lines, tokenizing the file only when a changed line may be a comment or
    blank (a tenth of a second on a large module, most of a small re-test's selection)."""
    lines = source.splitlines()
    for hunk in change.hunks:
        start, count = (hunk.old_start, hunk.old_count) if old else (hunk.new_start, hunk.new_count)
        for number in range(start, start + count):
            text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
            if not text or text.startswith("#"):
                return _trivial_lines(source)
    return set()


def _enclosing(functions: Mapping[str, tuple[int, int]], line: int) -> str | None:
    for name, (first, last) in functions.items():
        if first <= line <= last:
            return name
    return None


@dataclass
class FileImpact:
    """What one change in a source file touches: functions (old spans) and module-level lines."""

    functions: dict[str, tuple[tuple[int, int], int]] = field(default_factory=dict)
    bodies: dict[str, int] = field(default_factory=dict)  # the old first body line of each
    headers: set[str] = field(default_factory=set)  # decorators or signature changed
    module_lines: list[int] = field(default_factory=list)  # new numbering where known
    names: set[str] | None = field(default_factory=set)  # what they rebind; None: unknown
    whole: bool = False

    def rebinds(self, found: set[str] | None) -> None:
        self.names = None if found is None or self.names is None else self.names | found


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _plain_target(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return all(_plain_target(e) for e in target.elts)
    return False


def _bound(tree: ast.Module, line: int) -> set[str] | None:
    """The names the module-level statement at `line` binds; None when it may do more
    (a call, a loop, an `if`: side effects the map cannot follow)."""
    for stmt in tree.body:
        if not stmt.lineno <= line <= (stmt.end_lineno or stmt.lineno):
            continue
        if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            calls = stmt.value is not None and any(
                isinstance(n, ast.Call) for n in ast.walk(stmt.value)
            )
            if calls or not all(_plain_target(t) for t in targets):
                return None  # `X = build()`, `obj.attr = 1`: may change more than X
            return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return {stmt.name}
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            return {(a.asname or a.name).split(".")[0] for a in stmt.names} - {"*"} or None
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return set()  # a docstring
        return None
    return set()  # between statements


def file_impact(root: Path, base: str | None, path: str, change: FileChange) -> FileImpact:
    before = old_content(root, base, path) if base and not change.whole_file else None
    try:
        after = (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        after = None
    old_tree, new_tree = _parse(before), _parse(after)
    if before is None or after is None or old_tree is None or new_tree is None:
        return FileImpact(whole=True)
    old_funcs, _, old_bodies = _functions(old_tree)
    new_funcs, new_decorated, new_bodies = _functions(new_tree)
    old_trivial, new_trivial = (
        _maybe_trivial(before, change, old=True),
        _maybe_trivial(after, change, old=False),
    )
    old_names = functools.cache(lambda: _names(old_tree))
    impact = FileImpact(bodies=old_bodies)
    for hunk in change.hunks:
        old = range(hunk.old_start, hunk.old_start + hunk.old_count)
        new = range(hunk.new_start, hunk.new_start + hunk.new_count)
        for line in old:
            if line in old_trivial:
                continue
            name = _enclosing(old_funcs, line)
            where = hunk.new_start + min(line - hunk.old_start, max(hunk.new_count - 1, 0))
            if name is None:
                impact.module_lines.append(where)
                impact.rebinds(_bound(old_tree, line))
            else:
                impact.functions.setdefault(name, (old_funcs[name], where))
                if line < old_bodies[name]:
                    impact.headers.add(name)
        for line in new:
            if line in new_trivial:
                continue
            name = _enclosing(new_funcs, line)
            if name is None:
                impact.module_lines.append(line)
                impact.rebinds(_bound(new_tree, line))
            elif name in old_funcs:
                impact.functions.setdefault(name, (old_funcs[name], line))
                if line < new_bodies[name]:
                    impact.headers.add(name)
            elif not _harmless_new(name, new_decorated, old_names):
                impact.module_lines.append(line)
                impact.rebinds({name.split(".")[0]})
    return impact
