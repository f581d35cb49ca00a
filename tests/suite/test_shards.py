"""Shards: real `passcycle test --shard K/N` processes split one suite, and `passcycle merge`
joins them into the run a single machine would have made."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gitkit import git

from passcycle.errors import ExitCode
from passcycle.suite.shards import parse_shard

CODE = """\
def add(a, b):
    return a + b


def mul(a, b):
    if a == 0:
        return 0
    return a * b


def sub(a, b):
    if a < b:
        return -(b - a)
    return a - b
"""


def _tests() -> dict[str, str]:
    add = "\n\n".join(
        f"def test_add_{i}():\n    time.sleep({0.02 * (i % 4)})\n    assert add({i}, 1) == {i + 1}"
        for i in range(24)
    )
    return {
        "tests/test_add.py": "import time\n\nfrom calc import add\n\n\n" + add + "\n",
        "tests/test_mul.py": "from calc import mul\n\n\n"
        + "\n\n".join(f"def test_mul_{i}():\n    assert mul({i}, 2) == {2 * i}" for i in range(8))
        + "\n",
        # covers sub's first branch only, and fails: a shard alone sees part of the picture
        "tests/test_sub.py": "from calc import sub\n\n\ndef test_sub_wrong():\n"
        "    assert sub(1, 2) == 1\n",
        "tests/test_broken_import.py": "import no_such_module\n\n\ndef test_never():\n    pass\n",
    }


FILES = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    # a file that cannot be imported: every shard reports it, the merge counts it once
    "passcycle.toml": '[project]\nname = "calc"\n'
    'pytest_args = ["--continue-on-collection-errors"]\n'
    '[validate]\nreruns = 0\n[kpis]\ntest_pass_rate = ">= 50%"\nsuite_duration = "< 10min"\n',
    "src/calc/__init__.py": CODE,
    **_tests(),
}


@pytest.fixture
def project(make_project) -> Path:
    root = make_project(FILES)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "calc")
    return root


def test_shard_specs_are_read_or_refused() -> None:
    assert parse_shard("2/8") == (2, 8) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/2", "3/2", "2", "a/b", "", "1/1001", "1/99999999999999999999", "١/٢"):
        with pytest.raises(Exception, match="--shard: cannot read"):
            parse_shard(bad)


def test_shards_split_the_suite_and_merge_into_the_full_run(project: Path, passcycle) -> None:
    full = passcycle(project, "test", "--json", expect=1).json()  # also the durations
    parts = [passcycle(project, "test", "--shard", f"{k}/3", "--json").json() for k in (1, 2, 3)]
    ran = [
        passcycle(project, "show", str(p["run"]["id"]), "--json", "--results").json()["results"]
        for p in parts
    ]
    names = [{r["nodeid"] for r in results} for results in ran]
    collect_error = "tests/test_broken_import.py"
    tests_only = [n - {collect_error} for n in names]
    # every test in exactly one shard (the file that cannot be collected: in each)
    assert sum(len(n) for n in tests_only) == len(set().union(*tests_only)) == 33
    assert all(collect_error in n for n in names)
    # balanced by the full run's durations: the sleeping tests spread over the shards
    loads = [sum(r["duration"] for r in results) for results in ran]
    assert max(loads) - min(loads) < 0.25, loads
    assert {p["shard"]["group"] for p in parts} == {parts[0]["shard"]["group"]}

    merged = passcycle(project, "merge", "--json", expect=1).json()
    assert merged["counts"] == full["counts"]
    # the union of the shards' coverage is the full run's, to the line
    assert merged["coverage"] == full["coverage"]
    # only one shard has test_sub_wrong: the others measure less than the whole suite
    shard_coverage = [p["coverage"]["total"] for p in parts]
    assert min(shard_coverage) < full["coverage"]["total"]
    assert merged["run"]["kind"] == "run" and "merged from 3 shards" in merged["run"]["note"]
    kpis = {k["name"]: k for k in merged["kpis"]}
    # the longest shard's suite: a shard's run (pytest and re-runs) takes at least that
    longest = max(p["run"]["duration"] for p in parts)
    assert 0 < kpis["suite_duration"]["value"] <= longest
    issues = {i["title"] for i in merged["issues"]}
    assert any("test_sub_wrong" in t or "sub" in t for t in issues)
    # the shards are partial runs: the history's latest full run is the merged one
    assert passcycle(project, "validate", "--json").json()["run"]["id"] == merged["run"]["id"]
    # the shards' per-test maps merged too: a change to mul() re-tests mul's tests, not all
    source = project / "src" / "calc" / "__init__.py"
    source.write_text(CODE.replace("return a * b", "return b * a"))
    chosen = passcycle(project, "retest", "--dry-run", "--json").json()
    assert chosen["base"]["id"] == merged["run"]["id"]
    selected = {t["nodeid"] for t in chosen["selection"]["tests"]}
    assert not chosen["selection"]["everything"]
    assert {f"tests/test_mul.py::test_mul_{i}" for i in range(1, 8)} <= selected
    assert not any(n.startswith("tests/test_add.py") for n in selected)


def test_merge_names_the_shard_that_is_missing(project: Path, passcycle) -> None:
    passcycle(project, "test", "--shard", "1/2", "--group", "nightly-7", expect=1)
    result = passcycle(project, "merge", "--group", "nightly-7", expect=ExitCode.RUN_ERROR)
    assert "group 'nightly-7': shard 2/2 has not finished" in result.stderr
    assert "passcycle test --shard 2/2 --group nightly-7" in result.stderr
    assert len([x for x in result.stderr.splitlines() if x.startswith("error:")]) == 1
    none = passcycle(project, "merge", "--group", "other", expect=ExitCode.USAGE_ERROR)
    assert "no shard runs of group 'other' for project 'calc'" in none.stderr


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        # ran until killed, using 3 GB
        ("1/99999999999999999999", "N must be from 1 to 1000"),
        ("1/1001", "N must be from 1 to 1000"),
        ("3/2", "K must be from 1 to N (2)"),
        ("0/2", "K must be from 1 to N (2)"),
        ("1/0", "N must be from 1 to 1000"),
        ("-1/2", ""),
        ("a/b", ""),
        ("1.5/2", ""),
    ],
)
def test_a_shard_spec_out_of_range_is_one_line(make_project, passcycle, spec, says) -> None:
    root = make_project({"tests/test_a.py": "def test_ok():\n    pass\n"})
    result = passcycle(root, "test", f"--shard={spec}", expect=ExitCode.USAGE_ERROR, timeout=60)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == f"error: --shard: cannot read {spec!r}" + (f": {says}" if says else "")
    assert lines[1:] == [
        "Tip: write K/N with 1 <= K <= N, e.g. --shard 2/8 for the second of 8 shards"
    ]
    assert passcycle(root, "history", "--json", expect=0).json()["runs"] == []


def test_bad_shard_options_are_one_line(project: Path, passcycle) -> None:
    bad = passcycle(project, "test", "--shard", "3/2", expect=ExitCode.USAGE_ERROR)
    assert "--shard: cannot read '3/2'" in bad.stderr
    alone = passcycle(project, "test", "--group", "x", expect=ExitCode.USAGE_ERROR)
    assert "give --shard K/N with it" in alone.stderr
    assert "Tip: passcycle test --shard 1/4 --group nightly" in alone.stderr
    ranked = passcycle(project, "test", "--shard", "1/2", "--order", "risk", expect=2)
    lines = [line for line in ranked.stderr.splitlines() if line.strip()]
    assert (
        lines[0] == "error: --shard splits the suite by durations: leave out --order and --budget"
    )
    assert lines[1].startswith("Tip: a shard runs its share of every test")
    bare = passcycle(project, "test", "--shard", "1/2", "--no-cov", expect=2)
    assert "Tip: leave out --no-cov" in bare.stderr
    # refused before anything ran: no run recorded
    assert passcycle(project, "history", "--json", expect=0).json()["runs"] == []
    nothing = passcycle(project, "merge", expect=ExitCode.USAGE_ERROR)
    assert "no shard runs in the history" in nothing.stderr


def test_machines_with_other_checkouts_merge_through_postgresql(
    make_project, passcycle, pg_url: str
) -> None:
    # three checkouts in three folders, as three CI machines: one shared history
    roots = [make_project(FILES, name=f"machine-{k}") for k in (1, 2, 3)]
    env = {"PASSCYCLE_DB": pg_url}
    for k, root in enumerate(roots[:2], start=1):
        passcycle(root, "test", "--shard", f"{k}/2", "--group", "ci-42", env=env)
    shutil.rmtree(roots[0] / ".passcycle")  # nothing local survives on the shard machines
    merged = passcycle(roots[2], "merge", "--group", "ci-42", "--json", env=env).json()
    full = passcycle(roots[2], "test", "--json", env=env).json()
    assert merged["coverage"] == full["coverage"]
    assert merged["counts"] == full["counts"]
