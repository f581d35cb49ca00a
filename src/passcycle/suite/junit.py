"""JUnit XML import: test outcomes written by any runner (pytest, surefire, go, jest).

Reports come from elsewhere, so a document with a DOCTYPE (the carrier of entity
expansion bombs and external entities) is refused before ElementTree sees it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.parsers import expat

from passcycle.errors import UsageError
from passcycle.records import Outcome, TestResult

MESSAGE_LIMIT = 2_000
TRACEBACK_LIMIT = 8_000
_HINT = "pass JUnit XML reports (testsuites/testsuite/testcase), e.g. from pytest --junitxml"


class _Doctype(Exception):
    pass


def _refuse_doctype(*args: object) -> None:
    raise _Doctype


def _parse(path: Path) -> ET.Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the report ({exc.strerror})", hint=_HINT) from None
    # A first pass with expat that stops at any DOCTYPE or entity declaration, before any
    # expansion happens; only then does ElementTree build the tree.
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_doctype
    checker.EntityDeclHandler = _refuse_doctype
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)
    except _Doctype:
        raise UsageError(
            f"{path}: refused, the report declares a DOCTYPE (entities are not accepted)",
            hint=_HINT,
        ) from None
    except (expat.ExpatError, ET.ParseError) as exc:
        raise UsageError(f"{path}: not well-formed XML ({exc})", hint=_HINT) from None


def _seconds(raw: str | None, path: Path, nodeid: str) -> float:
    """A test's time="..." in seconds; missing is 0. A time that is not a finite number of
    seconds >= 0 refuses the report: "1e400" read as infinity used to reach the history
    and break every JSON written from it (`Infinity` is not JSON)."""
    text = (raw or "").strip().replace(",", "")
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"{path}: testcase {nodeid!r}: time={raw!r} is not a number of seconds >= 0",
            hint='fix the runner\'s report: time="0.25", or no time attribute when unknown',
        )
    return value


def _nodeid(case: ET.Element, root: Path | None = None) -> tuple[str, str]:
    """(node id, file): file::Class::name when the case names its file or its classname
    names a module file under `root` (pytest's default xunit2 writes only
    classname="tests.test_a.TestX"), so that imported results join the same tests run
    natively; else classname::name."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = (case.get("file") or "").replace("\\", "/")
    if not file and root is not None and classname:
        file = _module_file(root, classname)
    if file:
        # pytest's xunit1 writes file="tests/test_a.py" classname="tests.test_a.TestX".
        module = file.removesuffix(".py").replace("/", ".")
        inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        return "::".join([file, *filter(None, inner.split(".")), name]), file
    return (f"{classname}::{name}" if classname else name), ""


def _module_file(root: Path, classname: str) -> str:
    """The longest dotted prefix of `classname` that is a .py file under `root`, or ""."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        relative = "/".join(parts[:end]) + ".py"
        if (root / relative).is_file():
            return relative
    return ""


def _case(case: ET.Element, path: Path, root: Path | None = None) -> TestResult:
    nodeid, file = _nodeid(case, root)
    duration = _seconds(case.get("time"), path, nodeid)
    children = {child.tag: child for child in reversed(list(case))}  # the first of each kind
    bad: tuple[tuple[str, Outcome], ...] = (("failure", "failed"), ("error", "error"))
    for tag, outcome in bad:
        element = children.get(tag)
        if element is not None:
            text = (element.text or "").strip()
            message = element.get("message") or (text.splitlines()[0] if text else "")
            return TestResult(
                nodeid=nodeid,
                outcome=outcome,
                duration=duration,
                file=file,
                exc_type=element.get("type") or None,
                message=message[:MESSAGE_LIMIT] or None,
                traceback=(text[-TRACEBACK_LIMIT:] or None),
                when="call",
            )
    skipped = children.get("skipped")
    if skipped is not None:
        # pytest writes xfails as <skipped type="pytest.xfail">.
        skip: Outcome = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        reason = skipped.get("message") or (skipped.text or "").strip()
        return TestResult(
            nodeid=nodeid,
            outcome=skip,
            duration=duration,
            file=file,
            message=reason[:MESSAGE_LIMIT] or None,
        )
    return TestResult(nodeid=nodeid, outcome="passed", duration=duration, file=file)


def read_junit(paths: list[Path], root: Path | None = None) -> list[TestResult]:
    """Every test case of the reports, in order; `root`, the project's folder, lets a
    classname name its test file."""
    results: list[TestResult] = []
    for path in paths:
        tree = _parse(Path(path))
        if tree.tag not in {"testsuites", "testsuite"}:
            raise UsageError(
                f"{path}: not a JUnit XML report (its root element is <{tree.tag}>)", hint=_HINT
            )
        results.extend(_case(case, Path(path), root) for case in tree.iter("testcase"))
    return results
