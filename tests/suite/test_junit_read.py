"""JUnit XML import: handmade reports, pytest's own, and documents we refuse."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from passcycle.errors import ExitCode, UsageError
from passcycle.suite.junit import read_junit

HANDMADE = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="com.acme.CartTest" tests="4">
    <testcase classname="com.acme.CartTest" name="addsItem" time="0.012"/>
    <testcase classname="com.acme.CartTest" name="removesItem" time="1,204.5">
      <failure message="expected 1 but was 2" type="java.lang.AssertionError">
    java.lang.AssertionError: expected 1 but was 2
    at com.acme.CartTest.removesItem(CartTest.java:31)</failure>
    </testcase>
    <testcase classname="com.acme.CartTest" name="talksToDb">
      <error type="java.sql.SQLException">connection refused</error>
    </testcase>
    <testcase classname="com.acme.CartTest" name="later"><skipped message="not yet"/></testcase>
  </testsuite>
  <testsuite name="go">
    <testsuite name="nested">
      <testcase classname="acme/cart" name="TestTotal" time="0.5"/>
    </testsuite>
  </testsuite>
</testsuites>
"""


def test_handmade_report(tmp_path):
    path = tmp_path / "surefire.xml"
    path.write_text(HANDMADE)
    results = read_junit([path])
    assert [(r.nodeid, r.outcome) for r in results] == [
        ("com.acme.CartTest::addsItem", "passed"),
        ("com.acme.CartTest::removesItem", "failed"),
        ("com.acme.CartTest::talksToDb", "error"),
        ("com.acme.CartTest::later", "skipped"),
        ("acme/cart::TestTotal", "passed"),
    ]
    failed = results[1]
    assert failed.duration == 1204.5
    assert (failed.exc_type, failed.message) == ("java.lang.AssertionError", "expected 1 but was 2")
    assert "CartTest.java:31" in failed.traceback
    assert (results[2].exc_type, results[2].message) == (
        "java.sql.SQLException",
        "connection refused",
    )
    assert results[3].message == "not yet"


def test_report_written_by_pytest_junitxml(make_project):
    root = make_project(
        files={
            "pytest.ini": "[pytest]\njunit_family = xunit1\n",
            "tests/test_j.py": """\
                import pytest

                def test_ok():
                    pass

                def test_bad():
                    assert 1 == 2

                @pytest.mark.xfail(reason="known")
                def test_known():
                    assert 0

                class TestGroup:
                    def test_skip(self):
                        pytest.skip("later")
            """,
        }
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--junitxml=report.xml", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
    )
    results = read_junit([root / "report.xml"])
    assert {r.nodeid: r.outcome for r in results} == {
        "tests/test_j.py::test_ok": "passed",
        "tests/test_j.py::test_bad": "failed",
        "tests/test_j.py::test_known": "xfailed",
        "tests/test_j.py::TestGroup::test_skip": "skipped",
    }
    assert Counter(r.file for r in results) == Counter({"tests/test_j.py": 4})
    bad = next(r for r in results if r.outcome == "failed")
    assert bad.message.startswith("assert 1 == 2")
    assert "def test_bad" in bad.traceback


BOMB = """\
<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite><testcase name="a" classname="&lol2;"/></testsuite>
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "refused, the report declares a DOCTYPE"),
        (
            "<coverage><packages/></coverage>",
            "not a JUnit XML report (its root element is <coverage>)",
        ),
        ("<testsuite><testcase>", "not well-formed XML"),
    ],
)
def test_reports_we_refuse_name_the_file(tmp_path, text, expected):
    path = tmp_path / "report.xml"
    path.write_text(text)
    with pytest.raises(UsageError) as raised:
        read_junit([path])
    assert raised.value.message == f"{path}: {expected}" or raised.value.message.startswith(
        f"{path}: {expected}"
    )
    assert raised.value.hint


def test_missing_report_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read the report"):
        read_junit([tmp_path / "nope.xml"])


@pytest.mark.parametrize("time", ["1e400", "nan", "-inf", "-0.5", "soon"])
def test_a_time_that_is_not_seconds_refuses_the_report(make_project, passcycle, time):
    # "1e400" was read as infinity, and `show --json`, reports and the dashboard broke on it
    root = make_project({"tests/test_a.py": "def test_ok():\n    pass\n"})
    (root / "other.xml").write_text(
        '<testsuite><testcase classname="a.B" name="fast" time="0.5"/>'
        f'<testcase classname="a.B" name="odd" time="{time}"/></testsuite>'
    )
    report = root / "other.xml"
    result = passcycle(root, "import", "junit", str(report), expect=ExitCode.USAGE_ERROR)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == (
        f"error: {report}: testcase 'a.B::odd': time='{time}' is not a number of seconds >= 0"
    )
    assert lines[1:] == [
        'Tip: fix the runner\'s report: time="0.25", or no time attribute when unknown'
    ]
    assert passcycle(root, "history", "--json", expect=0).json()["runs"] == []


def test_a_missing_time_reads_as_zero(tmp_path):
    path = tmp_path / "report.xml"
    path.write_text('<testsuite><testcase name="a"/><testcase name="b" time=""/></testsuite>')
    assert [r.duration for r in read_junit([path])] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<testsuite><testcase name="a">', "not well-formed XML (no element found: line 1"),
        (
            '<testsuite><testcase classname="a.B" name="odd" time="1e400"/></testsuite>',
            "testcase 'a.B::odd': time='1e400' is not a number of seconds >= 0",
        ),
    ],
)
@pytest.mark.parametrize("command", ["test", "run"])
def test_a_bad_report_in_the_plan_ends_the_run_as_an_error(
    make_project, passcycle, command, text, expected
):
    # [project] junit is read after the suite: a bad report once left the run `running`,
    # and the next command marked it `interrupted` as if passcycle had been killed
    root = make_project(
        {
            "tests/test_a.py": "def test_ok():\n    pass\n",
            "passcycle.toml": '[project]\njunit = ["reports/*.xml"]\n',
            "reports/other.xml": text,
        }
    )
    report = root / "reports" / "other.xml"
    result = passcycle(root, command, expect=ExitCode.USAGE_ERROR)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    error = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    assert lines[error].startswith(f"error: [project] junit: {report}: {expected}"), lines
    assert lines[error + 1 :] == [
        "Tip: fix that runner's report, or leave it out of the plan's [project] junit"
    ]
    runs = passcycle(root, "history", "--json", expect=0).json()["runs"]
    assert [(r["status"], r["exit_code"]) for r in runs] == [("error", ExitCode.USAGE_ERROR)]
    assert runs[0]["note"] == lines[error].removeprefix("error: ")
    assert runs[0]["counts"]["passed"] == 1  # the suite's own results are kept
    judged = passcycle(root, "validate", str(runs[0]["id"]), "--json", expect=1).json()
    assert judged["gate"]["passed"] is False
    assert judged["gate"]["reasons"][0] == f"the run ended error: {runs[0]['note']}"
