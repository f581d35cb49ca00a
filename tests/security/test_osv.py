"""OSV's version ranges, read as the OSV schema defines them, with PEP 440 versions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from passcycle.security import osv


def record(events: list[dict], versions: list[str] | None = None, **extra) -> dict:
    affected: dict = {
        "package": {"ecosystem": "PyPI", "name": "Some_Pkg"},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    if versions is not None:
        affected["versions"] = versions
    return {"id": "OSV-1", "affected": [affected], **extra}


@pytest.mark.parametrize(
    ("events", "version", "affected"),
    [
        ([{"introduced": "0"}, {"fixed": "2.0"}], "1.9.9", True),
        ([{"introduced": "0"}, {"fixed": "2.0"}], "2.0", False),
        ([{"introduced": "0"}, {"fixed": "2.0"}], "2.0rc1", True),  # a pre-release comes before
        ([{"introduced": "1.5"}, {"fixed": "2.0"}], "1.4", False),
        ([{"introduced": "1.5"}, {"last_affected": "1.7"}], "1.7", True),
        ([{"introduced": "1.5"}, {"last_affected": "1.7"}], "1.7.1", False),
        ([{"introduced": "1.0"}], "99.0", True),  # no fix yet
        # two ranges in one: 1.x up to 1.4, 2.x up to 2.2
        ([{"introduced": "1.0"}, {"fixed": "1.4"}, {"introduced": "2.0"}, {"fixed": "2.2"}],
         "1.6", False),
        ([{"introduced": "1.0"}, {"fixed": "1.4"}, {"introduced": "2.0"}, {"fixed": "2.2"}],
         "2.1", True),
    ],
)  # fmt: skip
def test_ranges(events: list[dict], version: str, affected: bool) -> None:
    found = osv.advisories({"some-pkg": version}, [record(events)])
    assert bool(found) is affected


def test_listed_versions_withdrawn_records_and_other_ecosystems() -> None:
    listed = record([], versions=["0.3"])
    assert osv.advisories({"some-pkg": "0.3"}, [listed])
    assert not osv.advisories({"some-pkg": "0.3"}, [{**listed, "withdrawn": "2099-01-01"}])
    other = record([{"introduced": "0"}])
    other["affected"][0]["package"]["ecosystem"] = "npm"
    assert not osv.advisories({"some-pkg": "0.3"}, [other])
    # a version PEP 440 cannot read is only matched when the record lists it
    assert not osv.advisories({"some-pkg": "main-branch"}, [record([{"introduced": "0"}])])


def test_the_first_fix_above_the_installed_version_and_the_severity() -> None:
    events = [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.3"}]
    [advisory] = osv.advisories(
        {"some-pkg": "2.1"}, [record(events, database_specific={"severity": "MODERATE"})]
    )["some-pkg"]
    assert advisory.fixed == "2.3" and advisory.severity == "medium"


def test_where_the_database_is(tmp_path: Path) -> None:
    (tmp_path / "osv-scanner" / "PyPI").mkdir(parents=True)
    zip_path = tmp_path / "osv-scanner" / "PyPI" / "all.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("OSV-1.json", "{not json")
        archive.writestr("OSV-2.json", '{"id": "OSV-2"}')
    assert osv.database_file(tmp_path) == zip_path
    assert [r["id"] for r in osv.records(zip_path)] == ["OSV-2"]  # the broken one skipped
    (tmp_path / "empty").mkdir()
    with pytest.raises(osv.DatabaseError, match=r"holds no PyPI/all\.zip"):
        osv.database_file(tmp_path / "empty")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(osv.DatabaseError, match="cannot read"):
        list(osv.records(tmp_path / "bad.zip"))


@pytest.mark.parametrize(
    ("target", "least", "status"),
    [
        ("== 0", 1.0, "fail"),  # one critical finding already misses it
        ("<= 2", 3.0, "fail"),
        ("<= 2", 2.0, "not measured"),  # the packages may add one
        ("== 5", 3.0, "not measured"),  # below an equality: the rest may make it 5
        ("> 5", 3.0, "not measured"),  # a floor cannot be missed from below
    ],
)
def test_a_sum_known_from_below_fails_only_when_that_is_sure(
    tmp_path: Path, target: str, least: float, status: str
) -> None:
    from passcycle.plan import Plan, parse_plan
    from passcycle.records import KpiVerdict, Measurement
    from passcycle.validate.security import at_least

    plan = Plan(parse_plan({"kpis": {"critical_vulnerabilities": target}}), tmp_path, None, {})
    unknown = KpiVerdict("critical_vulnerabilities", None, "", target, "not measured")
    measured = {
        "critical_vulnerabilities": Measurement(
            "critical_vulnerabilities", least, "", "audit:bandit:least"
        )
    }
    why = {"critical_vulnerabilities": "dependencies: cannot reach the advisory service"}
    [judged] = at_least(plan, [unknown], measured, why)
    assert judged.status == status
    if status == "fail":
        assert judged.value == least and judged.detail.startswith(f"at least {least:g}; ")
