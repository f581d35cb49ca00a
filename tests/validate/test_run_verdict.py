"""`passcycle run` end to end: issues grouped by root cause, flaky tests, diff coverage, gate."""

from __future__ import annotations

from gitkit import git

HELPER_BUG = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/shop/__init__.py": "",
    "src/shop/pricing.py": """
        def unit_price(item):
            table = {"apple": 3, "pear": 4}
            return table[item["name"]] / item["divisor"]

        def total(items):
            return sum(unit_price(i) for i in items)
        """,
    "src/shop/tax.py": """
        def vat(amount, rate):
            if rate > 1:
                raise ValueError(f"rate {rate} must be a fraction, got it for order {id(amount)}")
            return amount * rate
        """,
    # 30 tests in three files reach the one helper bug (divisor 0) through different paths
    **{
        f"tests/test_orders_{n}.py": "\n".join(
            [
                "import pytest",
                "from shop.pricing import total, unit_price",
                "",
                "@pytest.mark.parametrize('qty', range(10))",
                f"def test_total_{n}(qty, tmp_path):",
                "    assert total([{'name': 'apple', 'divisor': 0}] * (qty + 1)) > 0",
                "",
            ]
        )
        for n in range(3)
    },
    "tests/test_tax.py": """
        import pytest
        from shop.tax import vat

        @pytest.mark.parametrize("rate", [7, 19])
        def test_vat(rate):
            assert vat(100, rate) > 0

        def test_vat_ok():
            assert vat(100, 0.2) == 20
        """,
}


def test_one_helper_bug_and_an_unrelated_bug_make_exactly_two_issues(make_project, passcycle):
    root = make_project(HELPER_BUG)
    data = passcycle(root, "run", "--json", expect=1).json()
    assert data["counts"]["failed"] == 32
    failures = [i for i in data["issues"] if i["kind"] in ("failure", "error", "regression")]
    assert len(failures) == 2, failures
    first, second = failures
    assert first["tests"] == 30
    assert first["title"].startswith("ZeroDivisionError")
    assert "pricing" in first["title"]
    assert first["root_cause"].startswith("src/shop/pricing.py")
    assert "unit_price" in first["root_cause"]
    assert second["tests"] == 2
    assert second["title"].startswith("ValueError") and "tax" in second["title"]
    assert second["root_cause"].startswith("src/shop/tax.py")
    assert {i["state"] for i in failures} == {"new"}
    assert data["gate"]["passed"] is False

    again = passcycle(root, "validate", "--json", expect=1).json()
    assert [i["tests"] for i in again["issues"] if i["kind"] == "failure"] == [30, 2]


FLAKY = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/coin/__init__.py": "def value():\n    return 1\n",
    # fails on the first of every three calls, counted across processes in a file
    "tests/test_coin.py": """
        import os
        from pathlib import Path
        from coin import value

        def test_steady():
            assert value() == 1

        def test_flaky():
            counter = Path(os.environ["FLAKY_COUNTER"])
            n = int(counter.read_text()) if counter.exists() else 0
            counter.write_text(str(n + 1))
            assert n % 3 != 0, "lost the race"
        """,
}


def test_a_test_failing_one_time_in_three_is_flaky_and_quarantine_decides_the_gate(
    make_project, passcycle, tmp_path
):
    root = make_project(FLAKY)
    env = {"FLAKY_COUNTER": str(tmp_path / "counter")}
    data = passcycle(root, "run", "--json", env=env, expect=1).json()
    assert data["flaky"] == ["tests/test_coin.py::test_flaky"]
    issues = [i for i in data["issues"] if i["nodeids"] == ["tests/test_coin.py::test_flaky"]]
    assert [i["kind"] for i in issues] == ["flaky"]
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["test_reliability"]["value"] == 50.0
    assert kpis["test_reliability"]["status"] == "fail"

    (root / "passcycle.toml").write_text(
        '[validate]\nquarantine = ["tests/test_coin.py::test_flaky"]\n'
    )
    (tmp_path / "counter").write_text("0")
    data = passcycle(root, "run", "--json", env=env, expect=0).json()
    assert data["gate"]["passed"] is True
    assert data["flaky"] == ["tests/test_coin.py::test_flaky"]
    assert data["quarantined"] == ["tests/test_coin.py::test_flaky"]
    shown = passcycle(root, "validate", env=env, expect=0).stdout
    assert "(quarantined)" in shown and "GATE PASSED" in shown


def test_diff_coverage_is_the_share_of_changed_executable_lines_covered(make_project, passcycle):
    root = make_project(
        {
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
            "passcycle.toml": '[validate]\ndiff_base = "base"\n[kpis]\ndiff_coverage = ">= 50%"\n',
            "src/geo/__init__.py": "def area(w, h):\n    return w * h\n",
            "tests/test_geo.py": (
                "from geo import area\n\ndef test_area():\n    assert area(2, 3) == 6\n"
            ),
        }
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    git(root, "tag", "base")
    # the change: 6 new executable lines; the test runs 4 of them (the raise and the body of
    # perimeter() never run), so diff coverage is 4 of 6
    (root / "src/geo/__init__.py").write_text(
        "def area(w, h):\n"
        "    # a comment is not executable\n"
        "    if w < 0:\n"  # changed, run
        "        raise ValueError(w)\n"  # changed, not run
        "    result = w * h\n"  # changed, run
        "    return result\n"  # changed, run
        "\n"
        "def perimeter(w, h):\n"  # changed, run (def executes at import)
        "    return 2 * (w + h)\n"  # changed, not run
    )
    data = passcycle(root, "run", "--json", expect=0).json()
    diff = {k["name"]: k for k in data["kpis"]}["diff_coverage"]
    assert diff["value"] == 100.0 * 4 / 6
    assert diff["status"] == "pass"


def test_terminal_summary_fits_100_columns_and_json_gives_the_same_verdict(make_project, passcycle):
    root = make_project(HELPER_BUG)
    (root / "passcycle.toml").write_text(
        '[kpis]\ntest_pass_rate = "> 85%"\ncoverage = ">= 90%"\n'
        'p95_response_time = "< 2s"\n'
        '[phases.1]\ntitle = "Immediate stabilization"\n'
        'exit = ["test_pass_rate > 85%", "baseline", "no critical issues"]\n'
    )
    shown = passcycle(root, "run", expect=1)
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    text = shown.stdout
    assert "GATE FAILED" in text
    assert "p95_response_time" in text and "not measured" in text
    assert "phase 1: Immediate stabilization" in text
    assert "root cause: src/shop/pricing.py" in text
    data = passcycle(root, "validate", "--json", expect=1).json()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["p95_response_time"]["status"] == "not measured"
    assert kpis["p95_response_time"]["value"] is None
    assert kpis["test_pass_rate"]["status"] == "fail"
    assert data["current_phase"] == 1
    assert data["gate"]["passed"] is False
    assert set(data["kpis"][0]) >= {
        "name",
        "value",
        "unit",
        "target",
        "status",
        "baseline",
        "delta",
    }
    assert set(data["issues"][0]) >= {"title", "kind", "severity", "tests", "root_cause", "state"}
