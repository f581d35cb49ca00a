"""The JUnit XML report: one testsuite per test file, one testcase per result, as CI servers
(GitHub, GitLab, Jenkins) read it; isolated re-runs are kept as properties and system-out."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import TextIO

from passcycle.records import TestResult
from passcycle.report.base import ReportContext, first_line
from passcycle.sanitize import strip_ansi
from passcycle.validate.flaky import classify

# XML 1.0 allows tab, newline, carriage return and these ranges; nothing else may appear,
# not even escaped, so a test's NUL or ESC is dropped, not encoded.
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_LIMIT = 1000  # characters of the failure message attribute
TEXT_LIMIT = 20_000  # characters of a traceback element


def xml_text(text: object, limit: int | None = None) -> str:
    """Text from a test that XML 1.0 accepts: no ANSI sequences, no illegal characters."""
    value = _ILLEGAL_XML.sub("", strip_ansi(text))
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


def _file(result: TestResult) -> str:
    return result.file or result.nodeid.split("::", 1)[0]


def _names(result: TestResult) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml writes them: the file as a dotted module plus
    any class, and the test's own name with its parameters."""
    parts = result.nodeid.split("::")
    module = re.sub(r"\.py$", "", parts[0]).replace("/", ".").replace("\\", ".")
    classname = ".".join([module, *parts[1:-1]]) if len(parts) > 1 else module
    return classname, parts[-1]


def _testcase(result: TestResult) -> ET.Element:
    classname, name = _names(result)
    case = ET.Element(
        "testcase",
        classname=xml_text(classname),
        name=xml_text(name),
        file=xml_text(_file(result)),
        time=f"{result.duration:.3f}",
    )
    message = xml_text(first_line(result.message, MESSAGE_LIMIT) or result.exc_type or "")
    detail = xml_text(result.traceback or result.message or "", TEXT_LIMIT)
    if result.outcome == "failed":
        failure = ET.SubElement(case, "failure", message=message)
        failure.set("type", xml_text(result.exc_type or "AssertionError"))
        failure.text = detail
    elif result.outcome == "error":
        error = ET.SubElement(case, "error", message=message)
        error.set("type", xml_text(result.exc_type or "Error"))
        error.text = detail
    elif result.outcome == "skipped":
        ET.SubElement(case, "skipped", message=message or "skipped", type="pytest.skip")
    elif result.outcome == "xfailed":
        ET.SubElement(case, "skipped", message=message or "expected failure", type="pytest.xfail")
    if result.reruns or result.outcome == "xpassed":
        properties = ET.SubElement(case, "properties")
        if result.reruns:
            ET.SubElement(
                properties, "property", name="passcycle.reruns", value=",".join(result.reruns)
            )
        if result.outcome == "xpassed":
            ET.SubElement(properties, "property", name="passcycle.outcome", value="xpassed")
        # properties first: the JUnit schema orders them before failure and skipped
        case.remove(properties)
        case.insert(0, properties)
    if result.reruns:
        out = ET.SubElement(case, "system-out")
        verdict = classify(result.outcome, result.reruns)
        out.text = f"passcycle: re-run in isolation: {', '.join(result.reruns)} ({verdict})"
    return case


def junit_tree(ctx: ReportContext) -> ET.Element:
    run = ctx.run
    root = ET.Element("testsuites", name=xml_text(ctx.plan_name))
    by_file: dict[str, list[TestResult]] = {}
    for result in ctx.results:
        by_file.setdefault(_file(result), []).append(result)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for path, results in by_file.items():
        counts = _counts(results)
        elapsed = sum(r.duration for r in results)
        attributes = {
            "name": xml_text(path),
            "timestamp": run.started.isoformat(timespec="seconds"),
            "hostname": xml_text(run.host),
            "time": f"{elapsed:.3f}",
            **{key: str(value) for key, value in counts.items()},
        }
        suite = ET.SubElement(root, "testsuite", attributes)
        suite.extend(_testcase(r) for r in results)
        for key, value in counts.items():
            totals[key] += value
        total_time += elapsed
    root.set("time", f"{total_time:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    return root


def _counts(results: Iterable[TestResult]) -> dict[str, int]:
    found = list(results)
    return {
        "tests": len(found),
        "failures": sum(r.outcome == "failed" for r in found),
        "errors": sum(r.outcome == "error" for r in found),
        "skipped": sum(r.outcome in ("skipped", "xfailed") for r in found),
    }


def render_junit(ctx: ReportContext) -> str:
    root = junit_tree(ctx)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


class JunitReporter:
    def write(self, ctx: ReportContext, out: TextIO) -> None:
        out.write(render_junit(ctx))
