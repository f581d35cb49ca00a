"""Benchmark: what the security audit costs, as a share of the whole `passcycle run`.

Run: python bench/bench_audit.py [--runs 5]                      (examples/organism)
     python bench/bench_audit.py --project PATH --source src/pkg --tests tests \
         [--pythonpath src] [--runs 5]

On a copy of the project (examples/organism by default, its scenarios and drills left out so
that the run is the suite and the audit), with the plan passcycle init writes for it:

1. `--runs` pairs of `passcycle run --json`, alternating: one with the audit
   (`critical_vulnerabilities = "== 0"` and `[security] osv`), one without (no audit KPI);
2. for each audited run: bandit's seconds, the dependency part's seconds (listing the
   installed packages and reading the OSV database), and the run's wall time;
3. medians: the parts run side by side, so the audit's share of the run is the longer part
   over the run's wall; the difference between the medians of the two kinds of run is
   shown beside it.

The OSV database is `--osv FOLDER` (a real PyPI/all.zip) or, by default, one this bench
writes with `--records` records of the shape of real ones against package names that are
not installed: its cost is reading that many records, not what they find.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORGANISM = ROOT / "examples" / "organism"
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "NO_COLOR": "1"}


def synthetic_database(folder: Path, count: int, seed: int = 1) -> Path:
    """`count` OSV records shaped as GitHub's PyPI advisories are, for names not installed."""
    rng = random.Random(seed)
    (folder / "PyPI").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "PyPI" / "all.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(count):
            major = rng.randint(0, 9)
            record = {
                "id": f"GHSA-bench-{number:06d}",
                "aliases": [f"CVE-2099-{number:05d}"],
                "summary": "A bench advisory " + "x" * rng.randint(20, 120),
                "details": "y" * rng.randint(200, 2000),
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": f"bench-pkg-{number % 4000}"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": f"{major}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"},
                                ],
                            }
                        ],
                        "versions": [f"{major}.{i}" for i in range(rng.randint(0, 40))],
                    }
                ],
                "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH"])},
            }
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return folder


def write_plan(root: Path, source: list[str], tests: list[str], osv: Path | None) -> None:
    lines = [
        "[project]",
        f"source = {json.dumps(source)}",
        f"tests = {json.dumps(tests)}",
        "[kpis]",
        'test_pass_rate = ">= 0%"',
    ]
    if osv is not None:
        lines += ['critical_vulnerabilities = "== 0"', "[security]", f'osv = "{osv}"']
    (root / "passcycle.toml").write_text("\n".join(lines) + "\n")


def run(root: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "passcycle", "-C", str(root), "run", "--json"],
        capture_output=True, text=True, env={**os.environ, **QUICK}, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"passcycle run exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, help="a real project (copied, never edited)")
    parser.add_argument("--source", action="append", help="its source, repeatable")
    parser.add_argument("--tests", action="append", help="its tests, repeatable")
    parser.add_argument("--osv", type=Path, help="a real OSV database folder (PyPI/all.zip)")
    parser.add_argument("--records", type=int, default=17_000, help="records of the synthetic one")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--pythonpath", help="a folder of the project put first on PYTHONPATH (e.g. src)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        root = work / "project"
        project = args.project or ORGANISM
        shutil.copytree(project, root, ignore=shutil.ignore_patterns(".passcycle", "*.db*"))
        if args.pythonpath:
            # the copy's code, not an installed release of the same package, must run
            paths = [str(root / args.pythonpath), os.environ.get("PYTHONPATH", "")]
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        source = args.source or ["src/organism"]
        tests = args.tests or ["tests"]
        osv = args.osv.resolve() if args.osv else synthetic_database(work / "osv", args.records)
        zipped = osv / "PyPI" / "all.zip"
        print(f"OSV database: {zipped} ({zipped.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
        audited, plain = [], []
        for number in range(1, args.runs + 1):
            write_plan(root, source, tests, osv)
            wall, data = run(root)
            parts = {a["part"]: a for a in data["audit"]}
            assert all(a["measured"] for a in parts.values()), parts
            audited.append((wall, parts["code"]["seconds"], parts["dependencies"]["seconds"]))
            write_plan(root, source, tests, None)
            plain_wall, data = run(root)
            assert not data.get("audit")
            plain.append(plain_wall)
            print(
                f"pair {number}: audited {wall:.2f}s (bandit {audited[-1][1]:.2f}s on"
                f" {parts['code']['checked']} files, dependencies {audited[-1][2]:.2f}s on"
                f" {parts['dependencies']['checked']} packages) · without {plain_wall:.2f}s",
                file=sys.stderr,
            )
        wall = statistics.median(a[0] for a in audited)
        code = statistics.median(a[1] for a in audited)
        deps = statistics.median(a[2] for a in audited)
        longer = statistics.median(max(a[1], a[2]) for a in audited)
        without = statistics.median(plain)
        print(
            "| project | runs | run with audit | bandit | dependencies | audit share"
            " | run without | difference |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {project.name} | {args.runs} | {wall:.2f} s | {code:.2f} s | {deps:.2f} s"
            f" | {longer / wall:.0%} | {without:.2f} s | {wall - without:+.2f} s |"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
