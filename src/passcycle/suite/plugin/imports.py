"""Code that runs while a module of the project is imported belongs to that import.

A package may import a module lazily (`attr.validators`, through a module `__getattr__`), so
its import, and everything its module-level code calls, runs inside whichever test touches
it first. Every later test uses what that import built: a change there must re-test them
too, not only the first. So the import of each module under the measured source is kept
under its own setup key, "import:" and the module's file, whatever test or collection ran
it (the runner re-tests the module's users, fix/impact.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .mapdb import SETUP_PREFIX

IMPORT_KEY = "import:"  # a setup key's scope: "import:" and the module's absolute path


class ImportWatch:
    """A finder first on sys.meta_path that finds nothing itself: it asks the others and
    wraps the loader of a project module so that executing it is owned by its import."""

    def __init__(self, roots: Sequence[str], owned: Callable[[str], AbstractContextManager]):
        self.roots = tuple(os.path.join(os.path.abspath(r), "") for r in roots)
        self.owned = owned
        self.asking = False

    def install(self) -> None:
        sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if self.asking:
            return None
        self.asking = True
        try:
            spec = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(name, path, target)
                if spec is not None:
                    break
        finally:
            self.asking = False
        origin = getattr(spec, "origin", None)
        loader = getattr(spec, "loader", None)
        if (
            spec is None
            or origin is None
            or not origin.endswith(".py")
            or not origin.startswith(self.roots)
            or not hasattr(loader, "exec_module")
        ):
            return spec
        key = SETUP_PREFIX + IMPORT_KEY + os.path.abspath(origin)
        spec.loader = _OwnedLoader(loader, self.owned, key)
        return spec

    def invalidate_caches(self) -> None:
        pass


class _OwnedLoader:
    """The module's own loader, its execution owned by the import's key."""

    def __init__(self, loader: Any, owned: Callable[[str], AbstractContextManager], key: str):
        self._loader = loader
        self._owned = owned
        self._key = key

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader  # what inspect and linecache expect to find
        with self._owned(self._key):
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
