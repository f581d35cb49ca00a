"""Suggestions: for one issue, where it fails, what changed since it last passed, and a
concrete next step, by rules per issue kind (deterministic: no model, no network).

| kind         | next step                                                            |
|--------------|----------------------------------------------------------------------|
| failure      | the assertion's two sides ("expected 6, got 5.0") or the exception   |
| regression   | the same, pointing at the commits since the last pass                |
| error        | the missing module or fixture, the import, the crash or timeout      |
| flaky        | the re-runs' outcomes, the flip rate and the durations               |
| slow         | the slowest phase (setup/call/teardown) or the duration vs threshold |
| coverage_gap | the uncovered lines of the worst files; when coverage.py measured     |
|              | nothing (the tests import another copy), how to measure what they run |
| vulnerability| the flagged line's fix or `# nosec RULE`; the package's fixed version  |
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from passcycle.covnote import FIX as UNMEASURED_FIX
from passcycle.covnote import is_unmeasured_cause
from passcycle.records import BAD_OUTCOMES, FileCoverage, Frame, Issue, TestResult
from passcycle.validate.fingerprint import in_test_code
from passcycle.validate.localize import Suspect
from passcycle.vcs import git

MAX_COMMITS = 10
MAX_FILES = 3  # worst-covered files named in a coverage suggestion
TEXT_LIMIT = 160  # characters of an expression or a value quoted in a suggestion


@dataclass(frozen=True, slots=True)
class HistoryInfo:
    """What the history knows about an issue, gathered by the caller."""

    last_pass_commit: str | None = None  # the commit of the last run its tests passed in
    last_pass_run: int | None = None
    flip_rate: float | None = None  # 0..1: share of recent runs where the outcome flipped
    recent_outcomes: tuple[str, ...] = ()  # the tests' outcomes in recent runs, oldest first
    slow_threshold: float | None = None  # seconds, for slow issues
    phases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # nodeid -> phase -> s
    coverage: tuple[FileCoverage, ...] = ()  # per-file coverage of the run, for coverage gaps


@dataclass(frozen=True, slots=True)
class Suggestion:
    location: str | None  # "path:line" of the deepest project frame, or the top suspect
    changed_since_pass: list[str]  # "abc1234 message" per commit, then "uncommitted: path"
    next_step: str
    suspects: tuple[Suspect, ...] = ()  # from the per-test map, most suspicious first


def suggest(
    issue: Issue,
    results: Sequence[TestResult],
    *,
    root: Path,
    history_info: HistoryInfo | None = None,
    suspects: Sequence[Suspect] = (),
    tests: Sequence[str] = (),
) -> Suggestion:
    """Where, what changed, and what to do next for `issue`; `results` are its tests'
    results in the run (others are ignored). `suspects`: where the per-test map puts the
    bug (fix/locating.py), most suspicious first; when the tests failed in their own code
    (a wrong value; `tests`, the plan's test folders), the top suspect is where to look."""
    info = history_info or HistoryInfo()
    mine = [r for r in results if r.nodeid in issue.tests] or list(results)
    frame = _deepest(mine)
    location = f"{frame.path}:{frame.line}" if frame else issue.location
    wrong_value = bool(suspects) and all(in_test_code(r, tests) for r in mine)
    # where to look: the top suspect of a wrong value, or of an error a change made
    culprit = suspects[0] if suspects and (wrong_value or suspects[0].changed) else None
    if issue.kind == "coverage_gap" and info.coverage and not is_unmeasured_cause(issue.root_cause):
        worst = _worst(info.coverage)
        if worst:
            location = f"{worst[0].path}:{_first_line(worst[0].missing_lines) or 1}"
    # the code under test, not the test: an assertion in a test body names no other file,
    # and then every change since the pass is a suspect
    test_files = {r.file or r.nodeid.split("::", 1)[0] for r in mine}
    files = sorted({f.path for r in mine for f in r.frames if f.in_project} - test_files)
    if culprit is not None:
        location = f"{culprit.path}:{culprit.line}"
        # the suspects' files and the test code the tracebacks pass through: the test's
        # own file, and the base class's file of an inherited test method
        frames = {f.path for r in mine for f in r.frames if f.in_project}
        files = sorted({s.path for s in suspects} | frames)
    changed = changed_since(root, info.last_pass_commit, files) if info.last_pass_commit else []
    step = _next_step(issue, mine, info, frame, culprit, wrong_value)
    return Suggestion(
        location=location, changed_since_pass=changed, next_step=step, suspects=tuple(suspects)
    )


def _deepest(results: Sequence[TestResult]) -> Frame | None:
    for result in results:
        project = [f for f in result.frames if f.in_project]
        if project:
            return project[-1]
    return None


def changed_since(root: Path, commit: str, files: Sequence[str]) -> list[str]:
    """Commits since `commit` touching `files` (all files when none), newest first, then
    the files with uncommitted changes."""
    paths = ["--", *files] if files else []
    since = f"{commit}..HEAD"
    log = git(root, "log", "--oneline", "--no-decorate", f"-{MAX_COMMITS}", since, *paths)
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    dirty = git(root, "diff", "--name-only", "--relative", "HEAD", *paths)
    lines += [f"uncommitted: {p}" for p in (dirty or "").splitlines() if p.strip()]
    return lines


# -- per kind -----------------------------------------------------------------------------


def _next_step(
    issue: Issue,
    results: Sequence[TestResult],
    info: HistoryInfo,
    frame: Frame | None,
    culprit: Suspect | None = None,
    wrong_value: bool = False,
) -> str:
    if issue.kind == "flaky":
        return _flaky(results, info)
    if issue.kind == "slow":
        return _slow(issue, results, info)
    if issue.kind == "coverage_gap":
        return _coverage(issue, info)
    if issue.kind == "vulnerability":  # the audit's judge wrote what to do (validate/security.py)
        return issue.message or issue.title
    if issue.kind in ("failure", "regression", "error"):
        bad = next((r for r in results if r.outcome in BAD_OUTCOMES), None)
        step = _error(bad, frame) if bad is not None else None
        if step is None and bad is not None:
            step = _failure(bad, _suspect(culprit) if culprit and wrong_value else _at(frame))
            if culprit and not wrong_value:  # raised in the project, on what a change made
                step += f"; look first at {_suspect(culprit)}"
        step = step or f"look at {issue.location or 'the traceback'}: {issue.title}"
        if issue.kind == "regression" and info.last_pass_commit:
            step += f"; it passed at {info.last_pass_commit[:10]}: bisect the commits since"
        return step
    if (issue.root_cause or "").startswith("audit:"):  # a vulnerability KPI off target
        return f"{issue.title}: its findings are the run's vulnerability issues; fix each"
    detail = f" ({issue.message})" if issue.message else ""
    return f"{issue.title}{detail}: compare with the baseline run and the change since"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _at(frame: Frame | None) -> str:
    return f"{frame.path}:{frame.line} in {frame.function}()" if frame else "the traceback"


_ASSERT = re.compile(
    r"^(?:AssertionError: )?assert (?P<left>.+?) "
    r"(?P<op>==|!=|<=|>=|<|>|not in|in|is not|is) (?P<right>.+)$"
)
_WHERE = re.compile(r"^\+\s+where (?P<value>.+?) = (?P<expr>.+)$")


def _suspect(suspect: Suspect) -> str:
    changed = " (changed since it passed)" if suspect.changed else ""
    return f"{suspect.where}{changed}, the top suspect"


# pytest's explanation lines that say nothing about the values
_NOISE = re.compile(
    r"^(?:Use -v to get (?:more|the full) diff|Full diff:|Omitting \d+ identical"
    r"|Skipping \d+ identical)"
)


def _comparison(lines: Sequence[str]) -> str:
    """pytest's own account of the difference (its diff lines, "Differing items: ..."),
    the first few lines of it, after the assertion's first line."""
    shown = [
        line
        for line in lines
        if not _WHERE.match(line) and not _NOISE.match(line) and not line.startswith("?")
    ][:4]
    return _short(" / ".join(shown)) if shown else ""


def _failure(result: TestResult, where: str) -> str:
    message = result.message or ""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    match = _ASSERT.match(first)
    if match:
        left, op, right = match["left"], match["op"], match["right"]
        found = next((m for line in lines[1:] if (m := _WHERE.match(line))), None)
        origin = f" — {left} came from {_short(found['expr'])}" if found else ""
        pytest_says = _comparison(lines[1:])
        said = f"; pytest: {pytest_says}" if pytest_says else ""
        # pytest cuts long reprs short ('xxxx...xx'): then its diff says more than they do
        cut = bool(said) and ("..." in left or "..." in right or len(left + right) > TEXT_LIMIT)
        if op == "==" and not cut:
            return (
                f"expected {_short(right)}, got {_short(left)}{origin}{said}; "
                f"check the code under test at {where}"
            )
        if op == "==":
            return f"wrong value{origin}{said}; check the code under test at {where}"
        check = _short(first.removeprefix("AssertionError: "))
        return f"`{check}` is false{origin}{said}; see {where}"
    if (result.exc_type or "").endswith("AssertionError"):
        text = f": {_short(first)}" if first else " (no message)"
        return f"an assertion failed at {where}{text}"
    exc = result.exc_type or "an exception"
    text = f": {_short(first)}" if first else ""
    return f"{exc} raised at {where}{text}; handle that case or fix the caller"


_NO_MODULE = re.compile(r"No module named '(?P<name>[^']+)'")
_CANNOT_IMPORT = re.compile(r"cannot import name '(?P<name>[^']+)' from '(?P<module>[^']+)'")
_FIXTURE = re.compile(r"fixture '(?P<name>[^']+)' not found")
# where a traceback names a line: CPython's form and pytest's short form
_FILE_LINE = (
    re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)'),
    re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): in ", re.M),
)
_NOT_PROJECT = ("site-packages", "/lib/python", "<frozen", "importlib")


def _import_site(result: TestResult, frame: Frame | None) -> str:
    if frame is not None:
        return f"{frame.path}:{frame.line}"
    # a collection error has no frames, but its traceback names the importing line
    text = "\n".join(filter(None, (result.traceback, result.message)))
    sites = [m.groups() for pattern in _FILE_LINE for m in pattern.finditer(text)]
    project = [f"{p}:{n}" for p, n in sites if not any(x in p for x in _NOT_PROJECT)]
    if project:
        return project[-1]
    return result.file or result.nodeid.split("::", 1)[0]


def _error(result: TestResult, frame: Frame | None) -> str | None:
    """Setup, import and crash errors; None when the result is an ordinary failure."""
    text = "\n".join(filter(None, (result.message, result.traceback)))
    if match := _NO_MODULE.search(text):
        name = match["name"]
        top = name.split(".")[0]
        return (
            f"ModuleNotFoundError: no module named '{name}': install {top} "
            f"(pip install {top}) or fix the import in {_import_site(result, frame)}"
        )
    if match := _CANNOT_IMPORT.search(text):
        return (
            f"'{match['module']}' has no '{match['name']}' (renamed or removed?): "
            f"fix the import in {_import_site(result, frame)} or restore the name"
        )
    if match := _FIXTURE.search(text):
        available = re.search(r"available fixtures: (.+)", text)
        close = _close_names(match["name"], available.group(1) if available else "")
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (
            f"fixture '{match['name']}' not found for {result.nodeid}: define it in a "
            f"conftest.py above {_folder(result.nodeid)} or fix the name{hint}"
        )
    if result.exc_type == "Timeout":
        return (
            f"{result.nodeid} hung past the timeout ({_short(result.message or '')}): "
            "run it alone and look for a wait without a deadline"
        )
    if result.exc_type == "Crash":
        return (
            f"the interpreter died in {result.nodeid}: run it alone under "
            "`python -X faulthandler -m pytest` to see the native stack"
        )
    if result.exc_type in ("SyntaxError", "IndentationError"):
        return f"{result.exc_type} at {_import_site(result, frame)}: {_short(result.message or '')}"
    if result.when in ("setup", "teardown"):
        first = (result.message or "").strip().splitlines()[0:1]
        text = f": {_short(first[0])}" if first else ""
        return (
            f"the test's {result.when} failed at {_at(frame)} "
            f"({result.exc_type or 'error'}{text}): fix the fixture, not the test"
        )
    return None


def _folder(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return path.rsplit("/", 1)[0] if "/" in path else "the test file"


def _close_names(name: str, available: str) -> list[str]:
    import difflib

    names = [n.strip() for n in available.split(",") if n.strip()]
    return difflib.get_close_matches(name, names, n=2, cutoff=0.6)


def _flaky(results: Sequence[TestResult], info: HistoryInfo) -> str:
    parts = []
    for result in results[:3]:
        outcomes = [result.outcome, *result.reruns]
        passed = sum(o == "passed" for o in result.reruns)
        parts.append(
            f"{result.nodeid}: {result.outcome} in the run, passed {passed} of "
            f"{len(result.reruns)} isolated re-runs ({' -> '.join(outcomes)}), "
            f"took {result.duration:.3g}s"
        )
    if info.flip_rate is not None:
        runs = f" over {len(info.recent_outcomes)} runs" if info.recent_outcomes else ""
        parts.append(f"flip rate {info.flip_rate:.0%}{runs}")
    elif info.recent_outcomes:
        parts.append(f"recent outcomes {' '.join(info.recent_outcomes)}")
    timing = any(
        word in (r.message or "").lower()
        for r in results
        for word in ("timeout", "timed out", "sleep", "deadline", "elapsed")
    )
    cause = (
        "timing-dependent: wait on a condition instead of a fixed delay"
        if timing
        else "passes alone, fails in the suite: look for shared state, order or time"
    )
    return "; ".join([*parts, cause])


def _slow(issue: Issue, results: Sequence[TestResult], info: HistoryInfo) -> str:
    slowest = sorted(results, key=lambda r: -r.duration)[:3]
    threshold = f" (threshold {info.slow_threshold:.3g}s)" if info.slow_threshold else ""
    if not slowest:
        return f"{issue.title}{threshold}: profile the suite with `pytest --durations=10`"
    parts = []
    for result in slowest:
        phases = info.phases.get(result.nodeid)
        if phases:
            phase, seconds = max(phases.items(), key=lambda item: item[1])
            what = "a fixture" if phase in ("setup", "teardown") else "the test body"
            parts.append(
                f"{result.nodeid} spends {seconds:.3g}s of {result.duration:.3g}s in "
                f"{phase} ({what})"
            )
        else:
            parts.append(f"{result.nodeid} took {result.duration:.3g}s{threshold}")
    return "; ".join(parts) + "; profile it: `pytest --durations=0 " + slowest[0].nodeid + "`"


def _worst(files: Sequence[FileCoverage]) -> list[FileCoverage]:
    gaps = [f for f in files if f.missing or f.partial_branches]
    return sorted(gaps, key=lambda f: (f.percent, -f.missing, f.path))[:MAX_FILES]


def _first_line(missing: str) -> int | None:
    match = re.match(r"\s*(\d+)", missing or "")
    return int(match.group(1)) if match else None


def _coverage(issue: Issue, info: HistoryInfo) -> str:
    if is_unmeasured_cause(issue.root_cause):
        # the uncovered lines are every line: tests written for them would not count either
        return f"{UNMEASURED_FIX}: {issue.root_cause}"
    worst = _worst(info.coverage)
    if not worst:
        return f"{issue.title}: run `coverage report -m` to find the uncovered lines"
    parts = [
        f"{f.path} {f.percent:g}% (missing {_short(f.missing_lines) or f'{f.missing} lines'})"
        for f in worst
    ]
    return "write tests for the uncovered lines: " + "; ".join(parts)
