"""pytest's command line, read as far as passcycle needs: the paths it names, and whether
it runs the whole suite or part of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Options of pytest and of its common plugins that take the next word as their value: that
# word is not a path. An unknown plugin's option written `--opt value` would be misread, so
# docs/plan.md asks for `--opt=value`; pytest accepts both.
VALUE_OPTIONS = frozenset(
    {
        "-k", "-m", "-p", "-o", "-c", "-W", "-r", "-n",
        "--deselect", "--ignore", "--ignore-glob", "--rootdir", "--basetemp", "--confcutdir",
        "--junitxml", "--junit-xml", "--junitprefix", "--junit-prefix", "--override-ini",
        "--maxfail", "--tb", "--durations", "--durations-min", "--import-mode", "--capture",
        "--color", "--code-highlight", "--pastebin", "--show-capture", "--debug",
        "--log-level", "--log-format", "--log-date-format", "--log-file", "--log-file-level",
        "--log-file-mode", "--log-file-format", "--log-file-date-format", "--log-cli-level",
        "--log-cli-format", "--log-cli-date-format", "--log-disable", "--config-file",
        "--inifile", "--cov", "--cov-report", "--cov-config", "--cov-fail-under",
        "--cov-context", "--numprocesses", "--dist", "--maxprocesses", "--max-worker-restart",
        "--tx", "--rsyncdir", "--rsyncignore", "--timeout", "--timeout-method", "--reruns",
        "--reruns-delay", "--only-rerun", "--randomly-seed", "--hypothesis-seed",
        "--hypothesis-profile", "--splits", "--group", "--durations-path",
    }
)  # fmt: skip

# Options that run part of the suite: such a run is partial and is never judged as a full
# run (pass rate, coverage and duration of part of a suite say nothing of the suite, #9).
NARROWING = frozenset(
    {
        "-k", "-m", "--deselect", "--ignore", "--ignore-glob", "--lf", "--last-failed",
        "--sw", "--stepwise", "--sw-skip", "--stepwise-skip", "--splits", "--group",
    }
)  # fmt: skip

# Options that stop the session at the first failures (`-x`, `--maxfail`): what such a run
# left unrun is unknown, so it is part of the suite too; `test --order risk -x` is the quick
# "does anything fail?" that never becomes a re-test's base or a baseline (#14).
STOPPING = frozenset({"-x", "--exitfirst", "--maxfail"})
# short options that take a value glued to them (`-kexpr`, `-rxX`): no `x` flag in those
_SHORT_VALUES = "kmpocWrn"


@dataclass(frozen=True, slots=True)
class PytestArgs:
    paths: tuple[str, ...]  # the files, folders and node ids named on the command line
    narrowing: tuple[str, ...]  # the options among them that select part of the suite

    @property
    def partial(self) -> bool:
        return bool(self.paths or self.narrowing)


def read_args(args: Sequence[str]) -> PytestArgs:
    """What pytest will make of `args`: its positional words are `file_or_dir`."""
    paths: list[str] = []
    narrowing: list[str] = []
    takes_value = False
    for word in args:
        if takes_value:
            takes_value = False
            continue
        if word == "--":
            continue
        if word.startswith("-") and len(word) > 1:
            name = word.split("=", 1)[0]
            if name in NARROWING or (name[:2] in ("-k", "-m") and not name.startswith("--")):
                narrowing.append(name[:2] if not name.startswith("--") else name)
            elif _stops(name):
                narrowing.append(name if name.startswith("--") else "-x")
            takes_value = name in VALUE_OPTIONS and "=" not in word
            continue
        paths.append(word)
    return PytestArgs(tuple(paths), tuple(narrowing))


def suite_tests(
    plan_tests: Sequence[str], given: Sequence[str], paths: Sequence[str] | None
) -> list[str]:
    """The paths pytest is given: `paths` when the cycle chose them, else none when the
    command line names its own (they replace the plan's, as on pytest's command line),
    else the plan's tests."""
    return list(paths) if paths is not None else [] if given else list(plan_tests)


def _stops(name: str) -> bool:
    """`-x`, alone or among short flags (`-xvs`), `--exitfirst` or `--maxfail`."""
    if name.startswith("--"):
        return name in STOPPING
    return name[1] not in _SHORT_VALUES and "x" in name[1:]
