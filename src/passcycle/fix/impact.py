"""Impact: the tests a change can affect, chosen from the coverage map — widening, never
guessing, when the map cannot know.

Rules, in the order they apply (each selected test or widening carries a one-line reason):

1. every test that failed or errored in the last run;
2. every test in a changed or added test file (new tests too: the file runs whole);
3. every test that executed a function the change touches. The map is numbered as the old
   file, so changed old lines map to the function around them in the old file's AST, and
   added lines to their function in the new file, found again in the old one by name: an
   insertion above a function moves its lines without losing its tests. Code that ran
   outside any test counts for its scope: while a test module was imported or collected
   (a class decorator, a class body) or in its module-scoped fixtures, every test of that
   module; while a folder was collected (its conftest files), every test under it; before
   collection or in a session-scoped fixture, every test;
4. a change outside any function (module or class level: constants, imports, a decorated
   new function) selects the tests that executed the module, and the tests that executed a
   module that can read what it rebinds (`from mod import LIMIT`, `mod.LIMIT`, a star
   import; transitively), and every test file that can read it. A statement with side
   effects (a call, a loop) rebinds "anything": every importer counts. A new plain function
   changes nothing until something calls it;
5. the map cannot know, so the selection widens: a changed conftest.py (every test under its
   folder), the plan, pytest or coverage config, a dependency file, a new or deleted module,
   a non-Python file under the source or tests folders, a helper no test file imports, no
   map at all.

Widening never reaches beyond the project's own tests and source: a conftest.py widens only
when its folder holds tests of the suite, and the change itself never holds a virtualenv,
installed packages or build output (fix/tree.py). A reason that follows an import names the
chain: `imports src/pkg/util.py via src/pkg/api.py` (the test imports api, api imports util).

Order: failed first, then by recent failure rate, then fastest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from passcycle.fix.changes import ChangeSet, FileChange
from passcycle.fix.code import file_impact
from passcycle.fix.config import CONFIG_FILES, DEPENDENCY_FILES, pyproject_change
from passcycle.fix.imports import Imports
from passcycle.fix.tree import Tree
from passcycle.records import BAD_OUTCOMES, TestResult
from passcycle.suite.plugin.imports import IMPORT_KEY
from passcycle.validate.fingerprint import is_test_file

TestMap = Mapping[str, Mapping[str, AbstractSet[int]]]


@dataclass(frozen=True, slots=True)
class Selected:
    nodeid: str  # a node id, or a path when a file or folder runs whole and its tests are new
    reason: str
    hit: bool = False  # it executed a changed line, not only a changed function or module


@dataclass(frozen=True, slots=True)
class Selection:
    tests: list[Selected]  # in run order
    everything: bool = False  # the whole suite runs
    scope: list[str] = field(default_factory=list)  # files and folders pytest collects from
    reasons: list[str] = field(default_factory=list)  # why the selection widened
    whole: list[str] = field(default_factory=list)  # paths of `scope` that run every test
    ignored: list[str] = field(default_factory=list)  # changed files that affect no test

    @property
    def args(self) -> list[str]:
        """What to give pytest, in run order: the paths that run whole and the node ids of
        the other selected tests (so pytest collects only their files)."""
        if self.everything:
            return list(self.scope)
        args: list[str] = []
        placed: set[str] = set()
        for test in self.tests:
            path = next((w for w in self.whole if _under(test.nodeid, w)), None)
            if path is None:
                args.append(test.nodeid)
            elif path not in placed:
                placed.add(path)
                args.append(path)
        args.extend(w for w in self.whole if w not in placed)
        return args

    @property
    def paths(self) -> list[str]:
        """The files and folders of `args`: what pytest is given to collect, while `args`
        selects and orders the items (a node id whose module fails to import would make
        pytest stop with "found no collectors" and hide the other modules' errors)."""
        return list(dict.fromkeys(arg.split("::", 1)[0] for arg in self.args))

    @property
    def nodeids(self) -> list[str]:
        return [t.nodeid for t in self.tests]


def explain(selection: Selection) -> list[str]:
    """One line per selected test, with its reason:
    `tests/test_a.py::test_x  — covers src/pkg/calc.py:12 (changed)`."""
    return [f"{test.nodeid}  — {test.reason}" for test in selection.tests]


def _under(path: str, folder: str) -> bool:
    path = path.split("::", 1)[0]
    return folder in ("", ".") or path == folder or path.startswith(folder.rstrip("/") + "/")


def _via(chain: Sequence[str]) -> str:
    """` via a.py via b.py`: the modules an import goes through, in import order."""
    return "".join(f" via {module}" for module in chain)


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "."


# -- the selection ---------------------------------------------------------------------------


class _Selector:
    def __init__(
        self,
        root: Path,
        changes: ChangeSet,
        test_map: TestMap,
        setup_map: TestMap,
        last_results: Sequence[TestResult],
        source: Sequence[str],
        tests: Sequence[str],
        plan_file: str | None,
        last_run: int | None,
    ) -> None:
        self.root = root
        self.changes = changes
        self.test_map = test_map
        self.setup_map = setup_map
        self.results = last_results
        self.source = [s.strip("/") or "." for s in source]
        self.tests = [t.strip("/") or "." for t in tests] or ["."]
        self.plan_file = plan_file
        self.last_run = last_run
        self.chosen: dict[str, str] = {}  # node id or path -> reason (the first one wins)
        self.hits: set[str] = set()  # node ids that executed a changed line
        self.whole: dict[str, str] = {}  # path -> reason
        self.widened: list[str] = []
        self.everything = False
        self.ignored: list[str] = []

    @cached_property
    def known(self) -> list[str]:
        """Every test node id the map or the last run knows."""
        ids = dict.fromkeys(self.test_map)
        ids.update(dict.fromkeys(r.nodeid for r in self.results))
        return list(ids)

    @cached_property
    def imports(self) -> Imports:
        folders = [*self.source, *self.tests]
        return Imports(self.root, [f for f in folders if f != "."] or ["."])

    def in_source(self, path: str) -> bool:
        return any(_under(path, s) for s in self.source)

    def in_tests(self, path: str) -> bool:
        return any(_under(path, t) for t in self.tests)

    def widen(self, reason: str, folder: str | None = None) -> None:
        """Every test (or every test under `folder`) runs."""
        self.widened.append(reason)
        if folder is None or any(_under(t, folder) for t in self.tests):
            self.everything = True
        else:
            self.whole.setdefault(folder, reason)

    def pick(self, nodeid: str, reason: str) -> None:
        self.chosen.setdefault(nodeid, reason)

    def pick_file(self, path: str, reason: str) -> None:
        """Every test of a test file, the new ones too."""
        self.whole.setdefault(path, reason)
        for nodeid in self.known:
            if _under(nodeid, path):
                self.pick(nodeid, reason)

    # -- rules --

    def run(self) -> None:
        if not self.changes.known:
            self.widen(f"cannot tell what changed: {self.changes.note}")
        for result in self.results:
            if result.outcome in BAD_OUTCOMES:
                verb = "errored" if result.outcome == "error" else "failed"
                where = f"run {self.last_run}" if self.last_run is not None else "the last run"
                if "::" in result.nodeid:
                    self.pick(result.nodeid, f"{verb} in {where}")
                else:  # a file that failed to collect
                    self.pick_file(result.nodeid, f"{verb} in {where}")
        for path in sorted(self.changes.added):
            self.added(path)
        for path in sorted(self.changes.deleted):
            self.deleted(path)
        for path, change in sorted(self.changes.modified.items()):
            self.modified(path, change)

    def config(self, path: str) -> bool:
        """Widen for a config, plan or dependency file; True when `path` is one."""
        name = path.rsplit("/", 1)[-1]
        if path == self.plan_file and path != "pyproject.toml":
            self.widen(f"{path} changed: the plan")
        elif path == "pyproject.toml":
            why = pyproject_change(self.root, self.changes.base)
            if why:
                self.widen(why)
            else:
                self.ignored.append(f"{path}: no test or dependency setting changed")
        elif path in CONFIG_FILES:
            self.widen(f"{path} changed: pytest or coverage config")
        elif path in DEPENDENCY_FILES or (
            "/" not in path and name.startswith("requirements") and name.endswith(".txt")
        ):
            self.widen(f"{path} changed: dependencies")
        elif name == "conftest.py":
            self.conftest(path, "conftest.py changed")
        else:
            return False
        return True

    def conftest(self, path: str, reason: str) -> None:
        """A conftest.py serves the tests under its folder: those of the project run again.
        One elsewhere (docs, scripts, a package's own tests) serves no test of the suite, and
        pytest, pointed at it, would import code of no concern to the project."""
        folder = _folder(path)
        if not any(_under(t, folder) for t in self.tests):  # it does not hold a tests folder
            if not (self.in_tests(path) or self.in_source(path)):
                self.ignored.append(f"{path}: outside the source and tests")
                return
            if not self.tests_under(folder):
                self.ignored.append(f"{path}: no test of the suite under {folder}")
                return
        self.widen(f"{reason}: every test under {folder}", folder)

    def tests_under(self, folder: str) -> bool:
        """A test the run knew is under `folder`, or, within the tests folders, a test file."""
        if any(_under(nodeid, folder) for nodeid in self.known):
            return True
        if not self.in_tests(folder):
            return False
        return any(is_test_file(p) for p in Tree(self.root).walk(folder))

    def added(self, path: str) -> None:
        if self.config(path):
            return
        if self.in_tests(path) and is_test_file(path):
            self.pick_file(path, "test file added")
        elif self.in_source(path) and path.endswith(".py"):
            self.widen(f"new module {path}: the map cannot know who imports it")
        elif self.in_source(path) or self.in_tests(path):
            self.widen(f"new file {path} under the source or tests: the code may read it")
        else:
            self.ignored.append(f"{path}: outside the source and tests")

    def deleted(self, path: str) -> None:
        if self.config(path):
            return
        if self.in_source(path) or self.in_tests(path) or path.endswith(".py"):
            self.widen(f"{path} deleted: the map cannot know who needed it")
        else:
            self.ignored.append(f"{path}: outside the source and tests")

    def modified(self, path: str, change: FileChange) -> None:
        if self.config(path):
            return
        if self.in_tests(path) and is_test_file(path):
            self.pick_file(path, "test file changed")
        elif path.endswith(".py") and self.in_source(path):
            self.source_change(path, change)
        elif path.endswith(".py"):
            self.helper_change(path)
        elif self.in_source(path) or self.in_tests(path):
            self.widen(f"{path} changed: a data file the code may read")
        else:
            self.ignored.append(f"{path}: outside the source and tests")

    def source_change(self, path: str, change: FileChange) -> None:
        if not self.test_map:
            self.widen(f"{path} changed and the run has no coverage map")
            return
        impact = file_impact(self.root, self.changes.base, path, change)
        if impact.whole:
            self.module_change(path, f"{path} changed (lines unknown)", None)
            return
        for name, ((first, last), line) in impact.functions.items():
            span = set(range(first, last + 1))
            label = name.rstrip("'")
            reached = False
            for nodeid, files in self.test_map.items():
                lines = files.get(path)
                if lines and not lines.isdisjoint(span):
                    reached = True
                    hit = change.old_lines & lines
                    if hit:
                        self.hits.add(nodeid)
                        self.pick(nodeid, f"covers {path}:{line} (changed)")
                    else:
                        self.pick(nodeid, f"runs {label}() in {path}, changed at line {line}")
            # defining a function runs its decorators and signature: only its body counts
            body = set(range(impact.bodies.get(name, first), last + 1))
            for scope, files in self.setup_map.items():
                lines = files.get(path)
                if lines and not lines.isdisjoint(body):
                    reached = True
                    self.setup_change(scope, f"{label}() in {path} changed at line {line}")
            if name in impact.headers and (reached or self.ran(path, span)):
                # decorators, defaults and annotations run where the function is defined,
                # whether or not its body ever runs; a decorator is a call, its effects
                # (a registry, a wrapper) reach any importer
                what = f"the definition of {label}() changed at {path}:{line}"
                self.module_change(path, what, None)
            elif not reached:  # what never ran cannot have changed a result
                where = f"run {self.last_run}" if self.last_run is not None else "the last run"
                self.ignored.append(
                    f"{path}:{line}: {label}() never ran in {where}: no test reaches it"
                )
        if impact.module_lines:
            line = min(impact.module_lines)
            self.module_change(path, f"module-level change at {path}:{line}", impact.names)

    def ran(self, path: str, lines: set[int]) -> bool:
        """Any of `lines` of `path` ran outside a test (its module's import, most often)."""
        return any(not lines.isdisjoint(f.get(path, ())) for f in self.setup_map.values())

    def setup_change(self, scope: str, what: str) -> None:
        """A change to code that ran outside any test, in `scope` (covmap.impact_maps)."""
        if scope.startswith(IMPORT_KEY):
            module = scope.removeprefix(IMPORT_KEY)
            self.module_change(module, f"{what}: it ran while {module} was imported", None)
        elif not scope:
            self.widen(f"{what}: it ran in the session's setup (before collection, a fixture)")
        elif (self.root / scope).is_file():
            self.pick_file(scope, f"{what}: it ran while {scope} was imported or set up")
        else:
            self.widen(f"{what}: it ran while {scope} was collected (its conftest files)", scope)

    def module_change(self, path: str, why: str, names: set[str] | None) -> None:
        """Code that runs at import changed (rebinding `names`; None: unknown): every test
        that ran the module or a module that can read the change, and every test file
        that can read it."""
        users = self.imports.closure(path, names)
        for nodeid, files in self.test_map.items():
            ran = users.keys() & files.keys()
            if not ran:
                continue
            file = nodeid.split("::", 1)[0]
            if file in users:  # the test's own imports, as written
                chain = users[file]
            elif path in ran:
                chain = ()
            else:  # through what it ran: a fixture's module, a plugin
                first = min(ran, key=lambda m: (len(users[m]), m))
                chain = (first, *users[first])
            self.pick(nodeid, f"imports {path}{_via(chain)} ({why})")
        for user, chain in sorted(users.items()):
            if user.rsplit("/", 1)[-1] == "conftest.py":
                self.conftest(user, f"{why}, imported by {user}{_via(chain)}")
            elif is_test_file(user) and self.in_tests(user):
                self.pick_file(user, f"imports {path}{_via(chain)} ({why})")

    def helper_change(self, path: str) -> None:
        """A Python file that is no test and not under the source: a test helper, a script."""
        users = {u: c for u, c in self.imports.closure(path).items() if u != path}
        if path not in self.imports.files.values() and not self.in_tests(path):
            self.ignored.append(f"{path}: outside the source and tests")
            return
        test_users = [u for u in users if is_test_file(u) or u.endswith("conftest.py")]
        if not test_users:
            self.widen(f"{path} changed and no test file imports it: it may be loaded by name")
            return
        for user in sorted(test_users):
            via = _via(users[user])
            if user.endswith("conftest.py"):
                self.conftest(user, f"{path} changed, imported by {user}{via}")
            else:
                self.pick_file(user, f"imports {path}{via} (changed)")


def select(
    root: Path,
    *,
    changes: ChangeSet,
    test_map: TestMap,
    setup_map: TestMap | None = None,
    last_results: Sequence[TestResult],
    recent_failure_rate: Mapping[str, float],
    durations: Mapping[str, float],
    source: Sequence[str],
    tests: Sequence[str],
    plan_file: str | None,
    last_run: int | None = None,
) -> Selection:
    """The tests to re-run after `changes` (see the module docstring for the rules).

    `test_map`: node id -> file -> lines executed, and `setup_map`: setup scope -> file ->
    lines, as covmap.impact_maps reads the run's coverage data; `last_results`: that run's
    results (`last_run` is its id, for reasons);
    `source`/`tests`: the plan's folders; `plan_file`: the plan's path relative to root.
    """
    selector = _Selector(
        root, changes, test_map, setup_map or {}, last_results, source, tests, plan_file, last_run
    )
    selector.run()
    failed = {r.nodeid for r in last_results if r.outcome in BAD_OUTCOMES}

    def order(nodeid: str) -> tuple:
        return (
            nodeid not in failed,
            -recent_failure_rate.get(nodeid, 0.0),
            durations.get(nodeid, 0.0),
            nodeid,
        )

    if selector.everything:
        reason = selector.widened[0]
        chosen = {n: selector.chosen.get(n, reason) for n in selector.known}
        ranked = sorted(chosen, key=order)
        return Selection(
            tests=[Selected(n, chosen[n], n in selector.hits) for n in ranked],
            everything=True,
            scope=list(selector.tests),
            reasons=list(selector.widened),
            whole=list(selector.tests),
            ignored=selector.ignored,
        )
    # tests of a folder or file that runs whole are listed, whatever else selected them
    for path, reason in selector.whole.items():
        for nodeid in selector.known:
            if _under(nodeid, path):
                selector.pick(nodeid, reason)
    ranked = sorted(selector.chosen, key=order)
    listed = [Selected(n, selector.chosen[n], n in selector.hits) for n in ranked]
    for path, reason in selector.whole.items():
        if not any(_under(t.nodeid, path) for t in listed):  # only new tests in it
            listed.append(Selected(path, reason))
    whole = sorted(selector.whole)
    scope = [*whole]
    for test in listed:
        file = test.nodeid.split("::", 1)[0]
        if not any(_under(file, w) for w in whole) and file not in scope:
            scope.append(file)
    return Selection(
        tests=listed,
        everything=False,
        scope=scope,
        reasons=list(selector.widened),
        whole=whole,
        ignored=selector.ignored,
    )
