"""Coverage, measured from before the conftest files load, with the per-test impact map."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from .impactmap import ImpactMap, map_supported
from .imports import ImportWatch
from .mapdb import SETUP_PREFIX, combine_data
from .text import distributed, is_worker

# coverage's warnings (coverage/inorout.py, control.py) that say what it measured is not
# what the tests ran; each is issued by a process at save, so the runner agrees them.
UNMEASURED_SLUGS = ("module-not-imported", "module-not-measured", "no-data-collected")
# coverage formats a warning as "MESSAGE (SLUG); see URL#warning-SLUG" (Coverage._warn)
_SLUGGED = re.compile(r"^(?P<message>.*?) \((?P<slug>[a-z-]+)\)(?:; see .*)?$", re.S)


class Measure:
    """This process's coverage.Coverage and its impact map, from the first conftest to the
    end of the session; the controller combines every process's data at the end."""

    def __init__(self, config: pytest.Config, spec: dict[str, Any]) -> None:
        self.config = config
        self.spec = spec
        self.cov: Any = None
        self.map: ImpactMap | None = None
        # Whom the code running now belongs to: a test, or a setup key (mapdb.py); what
        # runs before collection is the session's.
        self.owners: list[str] = [SETUP_PREFIX]
        self.imports: ImportWatch | None = None

    def start(self) -> None:
        spec = self.spec
        try:
            import coverage
        except ImportError as exc:
            raise pytest.UsageError(
                f"passcycle: coverage is not installed in {sys.executable} ({exc}); "
                "install it there or run without coverage"
            ) from None
        # Every process (controller and xdist workers) writes a suffixed file; the
        # controller combines them at the end so that the run keeps one data file.
        cov = self.cov = coverage.Coverage(
            data_file=spec["data_file"],
            data_suffix=True,
            source=spec.get("source") or None,
            branch=bool(spec.get("branch", True)),
            config_file=spec.get("rcfile") or False,
        )
        # We mark tests ourselves; a dynamic_context from the rcfile would fight us.
        cov.set_option("run:dynamic_context", None)
        contexts = os.environ.get("PASSCYCLE_COVERAGE_CONTEXTS") == "1"
        if not contexts and map_supported(coverage) and sys.version_info >= (3, 12):
            # sys.monitoring (core=sysmon, the default on Python 3.14) stops reporting a
            # line once it has seen it, so a later test would not see the lines an earlier
            # one ran: the map needs a trace function. ("run:core" exists from coverage
            # 7.9; before it only COVERAGE_CORE=sysmon picks sysmon, and attach() then
            # declines.)
            with contextlib.suppress(Exception):
                if cov.get_option("run:core") in (None, "", "sysmon"):
                    cov.set_option("run:core", "ctrace")
        cov.start()
        self.map = None if contexts else ImpactMap.attach(cov)
        if self.map is None:
            cov.switch_context(self.owners[-1])
        if spec.get("source"):
            self.imports = ImportWatch(spec["source"], self._owned)
            self.imports.install()

    def _enter(self, owner: str) -> None:
        """From here on the code that runs is `owner`'s (a test's node id or a setup key)."""
        if self.map is not None:
            self.map.boundary(self.owners[-1])
        elif self.cov is not None:
            self.cov.switch_context(owner)
        self.owners.append(owner)

    def _leave(self) -> None:
        owner = self.owners.pop()
        if self.map is not None:
            self.map.boundary(owner)
        elif self.cov is not None:
            self.cov.switch_context(self.owners[-1])

    @contextlib.contextmanager
    def _owned(self, owner: str) -> Any:
        if self.cov is None:
            yield
            return
        self._enter(owner)
        try:
            yield
        finally:
            self._leave()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        # Importing a test module runs code no test runs again: class decorators, class
        # bodies, module-level calls. It belongs to the module (a change there re-tests
        # its tests); a folder's collection imports its conftest files.
        node: Any = collector
        while node is not None and not isinstance(node, pytest.File):
            node = node.parent  # a class belongs to its module
        with self._owned(SETUP_PREFIX + (node or collector).nodeid):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: pytest.FixtureRequest) -> Any:
        # A fixture wider than a test runs once for many tests, inside the first one: its
        # code belongs to its scope (the module, the package's folder, the session).
        if fixturedef.scope == "function":
            yield
            return
        with self._owned(SETUP_PREFIX + request.node.nodeid.split("::", 1)[0]):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        with self._owned(item.nodeid):
            yield

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # tryfirst: a worker saves its data before pytest-xdist tells the controller it is
        # done.
        self.stop()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # After pytest-xdist has shut its workers down (their data files are saved by then).
        self.stop()
        if not is_worker(config):
            combine_data(Path(self.spec["data_file"]), self.spec.get("rcfile"))

    def stop(self) -> None:
        if self.imports is not None:
            self.imports.uninstall()
            self.imports = None
        if self.cov is None:
            return
        cov, self.cov = self.cov, None
        if self.map is not None:
            self.map.boundary(None)
            self.map.write()
            self.map = None
        cov.stop()
        # A warning here would reach the user's `filterwarnings = error` and fail their
        # suite, so coverage's warnings are caught and handed to the runner instead: those
        # that say nothing was measured are how a suite that imports another copy of the
        # package shows.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cov.save()
        with contextlib.suppress(Exception):  # a note lost is better than a suite failed
            self._write_warnings(caught)

    def _write_warnings(self, caught: list[warnings.WarningMessage]) -> None:
        """This process's unmeasured warnings, its role, and where the source's modules came
        from, in a small file per process: xdist workers write no events, but this they can."""
        prefix = self.spec.get("warnings")
        if not prefix:
            return
        found = []
        for item in caught:
            if type(item.message).__name__ != "CoverageWarning":
                continue
            match = _SLUGGED.match(str(item.message))
            if match and match["slug"] in UNMEASURED_SLUGS:
                found.append({"slug": match["slug"], "message": match["message"].strip()})
        if is_worker(self.config):
            role = "worker"
        elif distributed(self.config):
            role = "controller"  # runs no test: it measures nothing, by design
        else:
            role = "single"
        imported = self._imported(self.spec.get("source") or [])
        report = {"role": role, "warnings": found, "imported": imported}
        path = Path(f"{prefix}.{os.getpid()}.json")
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(report), encoding="utf-8")
        os.replace(partial, path)  # the runner never reads half a file

    def _imported(self, source: list[str]) -> dict[str, str]:
        """For each source folder, the file its package was imported from when that is not
        in the folder: the copy the tests ran instead (an installed wheel, a vendored copy).
        A source given as a package name is measured wherever it is imported from."""
        # coverage read relative folders against the directory pytest started in
        base = Path(self.config.invocation_params.dir)
        copies = {}
        for entry in source:
            folder = base / entry
            module = sys.modules.get(folder.name) if folder.is_dir() else None
            where = getattr(module, "__file__", None)
            if not where:
                continue
            where = os.path.realpath(where)
            if not where.startswith(os.path.realpath(folder) + os.sep):
                copies[entry] = where
        return copies
