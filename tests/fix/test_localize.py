"""Suspects from the per-test map: a wrong value returned by a private helper is found in
that helper, not in the tests' assertions. Real CLI, real pytest, real git project."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import committed_project, edit

from passcycle.validate.localize import ochiai, spectrum, suspects

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
        for i in range(8)
    ),
    "tests/test_values.py": "from pkg.codec import decode\n\n"
    + "".join(
        f"def test_value_{i}():\n    assert decode('[{i}, {i + 1}]')[1] - {i} == 1\n\n"
        for i in range(8)
    ),
    "tests/test_roundtrip.py": "from pkg.codec import decode, encode\n\n"
    + "".join(
        f"def test_roundtrip_{i}():\n    assert decode(encode({i})) + 1 == {i + 1}\n\n"
        for i in range(8)
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
    counts = spectrum(test_map, ["t1"], ["t2", "t3"], keep=lambda p: not p.startswith("tests"))
    assert counts == {"a.py": {1: [1, 2], 2: [1, 1]}}  # b.py: no failing test ran it


def test_suspects_rank_one_line_per_function(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    x = 1\n    return x\n\n\ndef g():\n    pass\n")
    test_map = {"bad": {"a.py": {2, 3, 7}}, "good": {"a.py": {7}}}
    found = suspects(tmp_path, test_map, ["bad"], ["good"], keep=lambda p: True)
    assert [(s.line, s.function, s.score) for s in found] == [(2, "f", 1.0), (7, "g", 0.7071)]
    changed = suspects(tmp_path, test_map, ["bad"], ["good"], keep=lambda p: True,
                       changed={"a.py": {3}})  # fmt: skip
    assert (changed[0].line, changed[0].changed) == (3, True)  # first among equals


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
    assert data["counts"]["failed"] == 24 and data["counts"]["passed"] == 10
    # three test files, 24 different assertion texts, one bug: one issue that names it
    failures = [i for i in data["issues"] if i["kind"] == "failure"]
    assert len(failures) == 1
    assert (
        failures[0]["title"]
        == "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 24 tests"
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


def test_two_bugs_are_two_issues_each_naming_its_own(broken: Path, passcycle) -> None:
    edit(broken, "pkg/units.py", "inches * 2.54", "inches * 2.45")
    data = passcycle(broken, "run", "--json", expect=1).json()
    titles = sorted(i["title"] for i in data["issues"] if i["kind"] == "failure")
    assert titles == [
        "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 24 tests",
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
    assert data["counts"]["failed"] == 24
    progress = [i for i in data["issues"] if i["title"].startswith("wrong value")]
    assert [(i["status"], i["title"]) for i in progress] == [
        (
            "still failing",
            "wrong value from pkg/codec.py:5 in _loads (changed since it passed) — 24 tests",
        )
    ]
