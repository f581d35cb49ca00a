"""The project's import graph: who reads which names of a module."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from passcycle.fix.tree import Tree


class Imports:
    """Which project modules import which (statically), to follow module-level changes."""

    def __init__(self, root: Path, folders: Iterable[str]) -> None:
        self.root = root
        self.files: dict[str, str] = {}  # module name -> path
        tree = Tree(root)  # a virtualenv under a tests folder of "." is not the project's
        for folder in folders:
            for relative in sorted(tree.walk(folder), key=lambda p: p.split("/")):
                if relative.endswith(".py"):
                    self.files.setdefault(self.module(relative), relative)

    def module(self, path: str) -> str:
        parts = path[: -len(".py")].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        folders = path.split("/")[:-1]
        start = len(folders)  # the file's own folder and up, while they are packages
        while start > 0 and (self.root.joinpath(*folders[:start]) / "__init__.py").is_file():
            start -= 1
        return ".".join(parts[start:])

    @cached_property
    def uses(self) -> dict[str, dict[str, _Use]]:
        """path -> for each project module it imports (by path), how it binds it."""
        found: dict[str, dict[str, _Use]] = {}
        for name, path in self.files.items():
            for target, use in self._imports(name, path).items():
                if target in self.files and self.files[target] != path:
                    found.setdefault(path, {})[self.files[target]] = use
        return found

    @cached_property
    def dependents(self) -> dict[str, set[str]]:
        """path -> the paths of the modules that import it."""
        users: dict[str, set[str]] = {}
        for user, targets in self.uses.items():
            for target in targets:
                users.setdefault(target, set()).add(user)
        return users

    def _imports(self, name: str, path: str) -> dict[str, _Use]:
        try:
            tree = ast.parse((self.root / path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            return {}
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        found: dict[str, _Use] = {}
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        toplevel = _import_time_reads(tree)

        def bind(module: str, names: dict[str, str] | None) -> None:
            use = found.setdefault(module, _Use(attributes, toplevel))
            if names is None:
                use.as_module = True
            else:
                use.names.update(names)

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    for prefix in _prefixes(alias.name):
                        bind(prefix, None)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                for prefix in _prefixes(base)[:-1]:
                    bind(prefix, None)
                bind(base, {a.name: a.asname or a.name for a in node.names})
                for alias in node.names:  # `from pkg import mod` binds a module
                    bind(f"{base}.{alias.name}" if base else alias.name, None)
        return found

    def closure(self, path: str, names: set[str] | None = None) -> dict[str, tuple[str, ...]]:
        """`path` and every project module that imports it, directly or not, each with the
        modules it imports `path` through, in import order (() when it imports `path`
        itself). With `names` (what the change rebinds), only the importers that can read
        one of them."""
        carried: dict[str, set[str] | None] = {path: names}
        via: dict[str, tuple[str, ...]] = {path: ()}
        todo = deque([path])  # breadth first: the shortest chain is the one named
        while todo:
            target = todo.popleft()
            for user in sorted(self.dependents.get(target, ())):
                affected, reads = self.uses[user][target].reads(carried[target])
                if not affected:
                    continue
                if user not in carried:
                    via[user] = () if target == path else (target, *via[target])
                    carried[user] = reads
                    todo.append(user)
                    continue
                # reached again, reading more of the change: its importers must see that too
                before = carried[user]
                wider = None if before is None or reads is None else before | reads
                if before is not None and wider != before:
                    carried[user] = wider
                    todo.append(user)
        return via


@dataclass
class _Use:
    """How one module binds another: as a module object, and/or names imported from it."""

    attributes: set[str]  # every `x.attr` name in the importing module
    toplevel: set[str]  # names read by code that runs at import (outside function bodies)
    as_module: bool = False
    names: dict[str, str] = field(default_factory=dict)  # imported name -> local name

    def reads(self, changed: set[str] | None) -> tuple[bool, set[str] | None]:
        """Whether the importer can read a `changed` name (None: any), and the names
        through which its own importers may see the change (None: any name)."""
        if changed is None or "*" in self.names:
            return True, changed
        local = {alias for name, alias in self.names.items() if name in changed}
        if self.as_module and self.attributes & changed:
            local |= changed
        if local & self.toplevel:
            return True, None  # read at import (`X = LIMIT * 2`): any name may carry it
        return bool(local), local


def _import_time_reads(tree: ast.Module) -> set[str]:
    """Names and attributes read by the code that runs at import: everything outside
    function bodies (decorators and defaults included)."""
    reads: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            todo.extend([*args.defaults, *(d for d in args.kw_defaults if d is not None)])
            if not isinstance(node, ast.Lambda):
                todo.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads.add(node.id)
        elif isinstance(node, ast.Attribute):
            reads.add(node.attr)
        todo.extend(ast.iter_child_nodes(node))
    return reads


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts)) if parts[i]]
