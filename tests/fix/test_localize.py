"""Suspects from the per-test map: a wrong value returned by a private helper is found in
that helper, not in the tests' assertions. Real CLI, real pytest, real git project."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import committed_project, edit

from passcycle.validate.localize import (
    Spectrum,
    culprits,
    ochiai,
    ranked_lines,
    suspects,
)

CODEC = """\
import json


def _loads(text):
    return json.loads(text)


def decode(text):
    if text.startswith('"'):
        return text[1:-1]
    return _loads(text)


def encode(value):
    return json.dumps(value, separators=(",", ":"))
"""

FILES = {
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
    ".gitignore": ".passcycle/\n",
    "pkg/__init__.py": "",
    "pkg/codec.py": CODEC,
    "pkg/units.py": "def to_cm(inches):\n    return inches * 2.54\n",
    "tests/test_units.py": "from pkg.units import to_cm\n\n"
    + "".join(
        f"def test_cm_{i}():\n    assert round(to_cm({i}), 2) == {round(i * 2.54, 2)}\n\n"
        for i in range(1, 5)
    ),
    # three files, three kinds of assertion on what decode returns
    "tests/test_decode.py": "from pkg.codec import decode\n\n"
    + "".join(
        f"def test_number_{i}():\n    assert decode('{{\"a\": {i}}}') == {{'a': {i}}}\n\n"
        for i in range(10)
    ),
    "tests/test_values.py": "from pkg.codec import decode\n\n"
    + "".join(
        f"def test_value_{i}():\n    assert decode('[{i}, {i + 1}]')[1] - {i} == 1\n\n"
        for i in range(10)
    ),
    "tests/test_roundtrip.py": "from pkg.codec import decode, encode\n\n"
    + "".join(
        f"def test_roundtrip_{i}():\n    assert decode(encode({i})) + 1 == {i + 1}\n\n"
        for i in range(10)
    )
    # these pass whatever _loads does: strings take decode's fast path
    + "".join(
        f"def test_text_{i}():\n    assert decode('\"t{i}\"') == 't{i}'\n\n" for i in range(6)
    ),
}


def test_ochiai() -> None:
    assert ochiai(4, 0, 4) == 1.0
    assert ochiai(0, 3, 4) == 0.0
    assert ochiai(2, 2, 4) == pytest.approx(2 / (4 * 4) ** 0.5)


def test_the_spectrum_counts_failing_and_passing_tests_per_line() -> None:
    test_map = {
        "t1": {"a.py": {1, 2}, "tests/t.py": {9}},
        "t2": {"a.py": {1, 3}},
        "t3": {"a.py": {1, 2, 3}, "b.py": {5}},
    }
    keep = lambda p: not p.startswith("tests")  # noqa: E731
    counts = Spectrum(test_map, ["t1"], ["t2", "t3"], keep).counts(["t1"])
    assert counts == {"a.py": {1: [1, 2], 2: [1, 1]}}  # b.py: no failing test ran it


def test_suspects_rank_one_line_per_function(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    x = 1\n    return x\n\n\ndef g():\n    pass\n")
    test_map = {"bad": {"a.py": {2, 3, 7}}, "good": {"a.py": {7}}}
    shared = Spectrum(test_map, ["bad"], ["good"], keep=lambda p: True)
    found = suspects(tmp_path, shared, ["bad"])
    assert [(s.line, s.function, s.score) for s in found] == [(2, "f", 1.0), (7, "g", 0.7071)]
    changed = suspects(tmp_path, shared, ["bad"], changed={"a.py": {3}})
    assert (changed[0].line, changed[0].changed) == (3, True)  # first among equals


def test_a_changed_line_ranks_before_a_higher_score(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f(x):\n    y = x + 1\n    if y:\n        return 2\n")
    # line 4 ran in the failing test alone (1.0); line 2, the changed one, in a passing too
    test_map = {"bad": {"a.py": {2, 3, 4}}, "good": {"a.py": {2, 3}}}
    shared = Spectrum(test_map, ["bad"], ["good"], keep=lambda p: True)
    assert ranked_lines(tmp_path, shared, ["bad"])[0] == ("a.py", 4)
    found = suspects(tmp_path, shared, ["bad"], changed={"a.py": {2}})
    assert (found[0].line, found[0].score, found[0].changed) == (2, 0.7071, True)


def test_a_changed_constant_is_a_suspect_of_the_tests_that_ran_its_module(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("LIMIT = 4\n\n\ndef f(x):\n    return x % LIMIT\n")
    (tmp_path / "b.py").write_text("def g():\n    return 1\n")
    # line 1 and line 4 ran when a.py was imported, in no test
    test_map = {"bad": {"a.py": {5}}, "bad2": {"a.py": {5}}, "good": {"b.py": {2}}}
    imports = {"a.py": {1, 4}, "b.py": {1}}
    keep = lambda p: True  # noqa: E731
    counts = Spectrum(test_map, ["bad", "bad2"], ["good"], keep, imports).counts(["bad", "bad2"])
    assert counts == {"a.py": {1: [2, 0], 4: [2, 0], 5: [2, 0]}}
    # unchanged, the import-time lines are no suspects: every test of a.py ran them
    shared = Spectrum(test_map, ["bad", "bad2"], ["good"], keep, imports)
    assert ranked_lines(tmp_path, shared, ["bad", "bad2"]) == [("a.py", 5)]
    # changed, they come first: the changed lines before the body that did not change
    ranked = ranked_lines(tmp_path, shared, ["bad", "bad2"], changed={"a.py": {1, 4}})
    assert ranked == [("a.py", 1), ("a.py", 4), ("a.py", 5)]
    changed = {"a.py": {1}}
    found = culprits(tmp_path, shared, changed={"bad": changed, "bad2": changed})
    assert {n: (s.line, s.function, s.changed) for n, s in found.items()} == {
        "bad": (1, None, True),
        "bad2": (1, None, True),
    }


def test_the_change_is_not_held_against_a_test_that_had_not_passed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f(x):\n    y = x + 1\n    return y\n")
    test_map = {"new": {"a.py": {2, 3}}, "old": {"a.py": {2, 3}}}
    # "old" failed before the change too: its culprit is the spectrum's, not the change
    shared = Spectrum(test_map, ["new", "old"], [], keep=lambda p: True)
    found = culprits(tmp_path, shared, changed={"new": {"a.py": {3}}})
    assert (found["new"].line, found["new"].changed) == (3, True)
    assert (found["old"].line, found["old"].changed) == (2, False)


@pytest.fixture
def broken(tmp_path: Path, passcycle) -> Path:
    """A project that passed at its commit, then `_loads` returns strings for numbers."""
    root = tmp_path / "project"
    committed_project(root, FILES)
    passcycle(root, "run", expect=0)
    edit(root, "pkg/codec.py", "json.loads(text)", "json.loads(text, parse_int=str)")
    return root


def test_a_wrong_value_from_a_helper_points_at_the_helper(broken: Path, passcycle) -> None:
    data = passcycle(broken, "run", "--json", expect=1).json()
    assert data["counts"]["failed"] == 30 and data["counts"]["passed"] == 10
    # three test files, 30 different assertion texts, one bug: one issue that names it
    failures = [i for i in data["issues"] if i["kind"] == "failure"]
    assert len(failures) == 1
    assert (
        failures[0]["title"]
        == "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 30 tests"
    )
    assert failures[0]["root_cause"] == "pkg/codec.py:5 in _loads"
    tips = [i["suggestion"] for i in failures]
    assert tips and all(tips)
    for tip in tips:
        top = tip["suspects"][0]
        assert (top["path"], top["line"], top["function"]) == ("pkg/codec.py", 5, "_loads")
        assert top["score"] == 1.0 and top["passed"] == 0 and top["changed"] is True
        assert tip["location"] == "pkg/codec.py:5"  # not the test's assertion
        assert tip["changed_since_pass"] == ["uncommitted: pkg/codec.py"]
        # decode's call of _loads ran in the failing tests alone too: equal score, and the
        # change since the pass puts _loads first
        second = tip["suspects"][1]
        assert (second["function"], second["line"], second["changed"]) == ("decode", 11, False)
    text = passcycle(broken, "run", expect=1).stdout
    assert "at pkg/codec.py:5" in text
    assert "1.00  pkg/codec.py:5 in _loads" in text and "changed" in text
    # the reports tell the same: one issue, its suspects (written before the gate is stored)
    markdown = (broken / ".passcycle" / "report.md").read_text()
    assert markdown.count("wrong value from") == 1 and "TypeError in" not in markdown
    assert "- suspects (Ochiai): `pkg/codec.py:5 in _loads` 1.00 (changed)" in markdown
    html = (broken / ".passcycle" / "report.html").read_text()
    assert '<table class="suspects">' in html and "<code>pkg/codec.py:5 in _loads</code>" in html


def test_two_bugs_are_two_issues_each_naming_its_own(broken: Path, passcycle) -> None:
    edit(broken, "pkg/units.py", "inches * 2.54", "inches * 2.45")
    data = passcycle(broken, "run", "--json", expect=1).json()
    titles = sorted(i["title"] for i in data["issues"] if i["kind"] == "failure")
    assert titles == [
        "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 30 tests",
        "wrong value from pkg/units.py:2 in to_cm (changed since it passed) — 4 tests",
    ]


def test_a_retest_of_one_bug_says_still_failing(broken: Path, passcycle) -> None:
    passcycle(broken, "run", expect=1)
    edit(
        broken,
        "pkg/codec.py",
        "json.loads(text, parse_int=str)",
        "json.loads(text, parse_int=str) ",
    )
    data = passcycle(broken, "retest", "--json", expect=1).json()
    assert data["counts"]["failed"] == 30
    progress = [i for i in data["issues"] if i["title"].startswith("wrong value")]
    assert [(i["status"], i["title"]) for i in progress] == [
        (
            "still failing",
            "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 30 tests",
        )
    ]


INHERITED = {
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n',
    ".gitignore": ".passcycle/\n",
    "pkg/__init__.py": "",
    "pkg/units.py": "def to_cm(inches):\n    return inches * 2.54\n",
    # the tests live in a base class of another module; the test files only inherit them
    "tests/checks.py": (
        "from pkg.units import to_cm\n\n\nclass Checks:\n    factor = 1\n\n"
        "    def test_inch(self):\n        assert to_cm(self.factor) == 2.54 * self.factor\n\n"
        "    def test_zero(self):\n        assert to_cm(0) == 0\n"
    ),
    "tests/test_one.py": "from checks import Checks\n\n\nclass TestOne(Checks):\n    pass\n",
    "tests/test_two.py": (
        "from checks import Checks\n\n\nclass TestTwo(Checks):\n    factor = 2\n"
    ),
}


def test_an_inherited_test_lists_the_change_to_its_base_class(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, INHERITED)
    passcycle(root, "run", expect=0)
    edit(root, "tests/checks.py", "== 2.54 * self.factor", "== 2.45 * self.factor")
    data = passcycle(root, "run", "--json", expect=1).json()
    failures = [i for i in data["issues"] if i["kind"] in ("failure", "regression")]
    assert sorted(t for i in failures for t in i["nodeids"]) == [
        "tests/test_one.py::TestOne::test_inch",
        "tests/test_two.py::TestTwo::test_inch",
    ]
    for issue in failures:
        # the changed file is neither the test's own file nor a suspect's: still listed
        assert "uncommitted: tests/checks.py" in issue["suggestion"]["changed_since_pass"]


def test_a_changed_module_constant_is_one_issue_naming_it(tmp_path: Path, passcycle) -> None:
    files = {
        **INHERITED,
        "pkg/units.py": "CM = 2.54\n\n\ndef to_cm(inches):\n    return inches * CM\n",
    }
    root = tmp_path / "project"
    committed_project(root, files)
    passcycle(root, "run", expect=0)
    edit(root, "pkg/units.py", "CM = 2.54", "CM = 2.45")
    data = passcycle(root, "run", "--json", expect=1).json()
    failures = [i for i in data["issues"] if i["kind"] in ("failure", "regression")]
    assert [(i["title"], i["tests"]) for i in failures] == [
        ("wrong value from pkg/units.py:1 (changed since it passed) — 2 tests", 2)
    ]
    assert failures[0]["suggestion"]["location"] == "pkg/units.py:1"


def test_show_issue_lists_the_suspects_and_the_change_behind_them(broken: Path, passcycle) -> None:
    data = passcycle(broken, "run", "--json", expect=1).json()
    issue = next(i for i in data["issues"] if i["kind"] == "failure")
    short = issue["fingerprint"][:8]
    assert f"· {short}" in passcycle(broken, "validate", expect=1).stdout

    text = passcycle(broken, "show", short, env={"COLUMNS": "200"}).stdout
    assert text.splitlines()[0] == issue["title"]
    assert f"fingerprint {issue['fingerprint']} · last seen in run {data['run']['id']}" in text
    assert "1.00  pkg/codec.py:5 in _loads 30/0 changed" in text
    assert "changed at pkg/codec.py:5 since it passed:" in text
    assert "-    return json.loads(text)" in text
    assert "+    return json.loads(text, parse_int=str)" in text
    assert "tests/test_decode.py::test_number_0" in text and "and 10 more" in text

    shown = passcycle(broken, "show", issue["fingerprint"], "--json").json()
    assert shown["issue"]["nodeids"] == issue["nodeids"]
    assert shown["suggestion"]["suspects"][0] == {
        "path": "pkg/codec.py", "line": 5, "function": "_loads", "score": 1.0,
        "failed": 30, "passed": 0, "changed": True,
    }  # fmt: skip
    hunk = shown["diffs"]["pkg/codec.py:5"]
    assert hunk.startswith("@@ ") and "+    return json.loads(text, parse_int=str)" in hunk

    missing = passcycle(broken, "show", "ffffeeee", expect=2)
    assert "no issue ffffeeee in the history" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_errors_raised_in_the_project_by_a_change_join_its_wrong_values(
    tmp_path: Path, passcycle
) -> None:
    files = {
        **FILES,
        "pkg/stats.py": "from pkg.codec import decode\n\n\ndef total(text):\n"
        "    return sum(decode(text))\n",
        "tests/test_stats.py": "from pkg.stats import total\n\n"
        + "".join(
            f"def test_total_{i}():\n    assert total('[{i}, 1]') == {i + 1}\n\n" for i in range(3)
        ),
    }
    root = tmp_path / "project"
    committed_project(root, files)
    passcycle(root, "run", expect=0)
    edit(root, "pkg/codec.py", "json.loads(text)", "json.loads(text, parse_int=str)")
    data = passcycle(root, "run", "--json", expect=1).json()
    failures = [i for i in data["issues"] if i["kind"] in ("failure", "regression")]
    # 30 tests assert a wrong value, 3 raise TypeError inside pkg/stats.py: one change
    assert [(i["title"], i["tests"]) for i in failures] == [
        (
            "broken by the change at pkg/codec.py:5 in _loads: AssertionError, TypeError"
            " — 33 tests",
            33,
        )
    ]
    tip = failures[0]["suggestion"]
    assert tip["location"] == "pkg/codec.py:5"
    assert "look first at pkg/codec.py:5 in _loads (changed since it passed)" in tip["next_step"]


TOGETHER = {
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[validate]\nreruns = 0\n',
    ".gitignore": ".passcycle/\nmode.txt\n",
    "pkg/__init__.py": "",
    "pkg/mode.py": (
        "def mode():\n    with open('mode.txt') as f:\n        return f.read().strip()\n"
    ),
    # two symptoms of one cause, in two issues: a wrong value from pkg, a KeyError in a
    # test that reads the mode itself, whenever the mode is "bad"
    "tests/test_a.py": "from pkg.mode import mode\n\n\ndef test_a():\n    assert mode() != 'bad'\n",
    "tests/test_b.py": "def test_b():\n    with open('mode.txt') as f:\n"
    "        if f.read().strip() == 'bad':\n            {}['setting']\n",
    # and one that fails on its own, once
    "tests/test_c.py": "from pkg.mode import mode\n\n\ndef test_c():\n    assert mode() != 'odd'\n",
}


def test_show_issue_names_the_tests_that_fail_together(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    committed_project(root, TOGETHER)
    for mode in ("good", "bad", "bad", "odd", "bad", "bad"):
        (root / "mode.txt").write_text(mode)
        passcycle(root, "run", expect=None)
    data = passcycle(root, "validate", "--json", expect=1).json()
    [issue_a] = [i for i in data["issues"] if i["nodeids"] == ["tests/test_a.py::test_a"]]
    shown = passcycle(root, "show", issue_a["fingerprint"], "--json").json()
    # b failed in the same 4 runs as a; c once, alone
    assert shown["together"] == [{"nodeid": "tests/test_b.py::test_b", "both": 4, "either": 4}]
    text = passcycle(root, "show", issue_a["fingerprint"][:8]).stdout
    assert "fails together with" in text and "tests/test_b.py::test_b 4 of 4 runs" in text
