"""The JUnit XML report: valid XML 1.0 whatever a test printed, counts as the run's."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from report_projects import HOSTILE_ID, MANY

from passcycle.report import build_context, render_junit
from passcycle.report.junit import xml_text


def parse(shop_or_many) -> tuple[ET.Element, object]:
    with shop_or_many.history() as history:
        ctx = build_context(shop_or_many.plan, history, shop_or_many.latest)
    text = render_junit(ctx)
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(text.encode("utf-8")), ctx


def test_counts_match_the_run(shop):
    root, ctx = parse(shop)
    counts = ctx.counts
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(ctx.results) == sum(counts.values())
    assert int(root.get("tests")) == len(cases)
    assert int(root.get("failures")) == counts["failed"] == len(root.findall(".//failure"))
    assert int(root.get("errors")) == counts["error"] == len(root.findall(".//error"))
    skipped = counts["skipped"] + counts["xfailed"]
    assert int(root.get("skipped")) == skipped == len(root.findall(".//skipped"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["tests/test_shop.py"]
    assert sum(int(s.get("tests")) for s in suites) == len(cases)


def test_names_messages_and_reruns(shop):
    root, _ = parse(shop)
    by_name = {c.get("name"): c for c in root.iter("testcase")}
    hostile = by_name[f"test_x[{HOSTILE_ID}]"]  # the name as written, as XML text
    assert hostile.get("classname") == "tests.test_shop"
    assert hostile.find("failure").get("type") == "AssertionError"
    ansi = by_name["test_ansi_message"].find("failure")
    assert ansi.get("message").startswith("red | `tick` <b>bold</b>")
    assert "\x1b" not in ansi.get("message") and "\x00" not in (ansi.text or "")
    assert "assert 4 == 5" in ansi.text
    assert by_name["test_skipped"].find("skipped").get("message") == "not today"
    assert by_name["test_xfail"].find("skipped").get("type") == "pytest.xfail"
    assert by_name["test_ok"].find("*") is None  # a pass is an empty testcase


def test_the_flaky_rerun_is_kept_on_its_run(shop):
    # run 1 saw test_flaky fail and pass on its re-runs; run 2 saw it pass
    with shop.history() as history:
        ctx = build_context(shop.plan, history, shop.runs[0])
    root = ET.fromstring(render_junit(ctx).encode("utf-8"))
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_flaky")
    assert case.find("failure") is not None  # the first outcome stays the outcome
    prop = case.find("./properties/property[@name='passcycle.reruns']")
    assert prop is not None and prop.get("value") == "passed"
    assert next(iter(case)).tag == "properties"
    assert "(flaky)" in case.find("system-out").text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nul\x00 bell\x07 esc\x1b[1mbold\x1b[0m", "nul bell escbold"),
        ("tab\tnewline\nok", "tab\tnewline\nok"),
        ("surrogate-free \ufffe\uffff end", "surrogate-free  end"),
        ("emoji 🧪 and é", "emoji 🧪 and é"),
    ],
)
def test_illegal_xml_characters_are_dropped(text, expected):
    assert xml_text(text) == expected
    ET.fromstring(f"<a b={xml_text(text)!r}>{xml_text(text).replace('<', '&lt;')}</a>")


@pytest.mark.slow
def test_a_thousand_failures(many_failures):
    root, _ = parse(many_failures)
    assert int(root.get("failures")) == MANY
    assert int(root.get("tests")) == MANY + 1
    assert len(root.findall("testsuite")) == 21  # one per file
    assert sum(int(s.get("failures")) for s in root.iter("testsuite")) == MANY
