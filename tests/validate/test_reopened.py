"""An issue that comes back after a fix says how many times it did: in the terminal, in
`passcycle show ISSUE` and in `--json`. Real CLI, real git project."""

from __future__ import annotations

from pathlib import Path

import failkit
from gitkit import committed_project

FILES = {
    **failkit.FILES,
    "passcycle.toml": '[project]\nsource = ["pkg"]\ntests = ["tests"]\n\n[validate]\nreruns = 0\n',
    "pkg/__init__.py": "def one():\n    return 1\n",
    "tests/test_one.py": """\
        from fails import failing
        from pkg import one


        def test_one():
            assert one() == 1
            assert not failing("one"), "one broke"
    """,
}


def test_an_issue_back_twice_after_its_fix_says_reopened_2_times(tmp_path: Path, passcycle):
    root = tmp_path / "project"
    committed_project(root, FILES)
    for broken in (True, False, True, False, True):
        failkit.fail_only(root, *(["one"] if broken else []))
        last = passcycle(root, "run", "--json")
    issue = next(i for i in last.json()["issues"] if i["kind"] == "failure")
    assert (issue["state"], issue["reopened"], issue["occurrences"]) == ("reopened", 2, 3)
    shown = passcycle(root, "validate", expect=None).stdout
    assert "reopened 2 times" in shown
    detail = passcycle(root, "show", issue["fingerprint"], expect=0).stdout
    assert "reopened 2 times" in detail
    as_json = passcycle(root, "show", issue["fingerprint"], "--json", expect=0).json()
    assert as_json["issue"]["reopened"] == 2
