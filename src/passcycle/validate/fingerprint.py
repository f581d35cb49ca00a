"""Failure fingerprints: what makes two failures the same failure.

A fingerprint is a short hash of three things:

1. the exception type;
2. the *key frame*: where project code raised, as `path:function` (never the line, so an
   edit above it does not split an issue);
3. the first line of the message, normalised (numbers, addresses, ids, temporary paths and
   timestamps masked), so that "expected 3 got 4" and "expected 7 got 9" are one failure.

Which frame is the key frame decides how failures cluster. Frames are in traceback order
(outermost first, the raise site last), and test functions are the outermost frames, so
they differ for every test; 30 tests failing through one helper must still be one issue:

- the innermost in-project frame *outside the test's own file* (a helper, the code under
  test, a conftest fixture). Only the innermost one: one bug is often reached through
  several callers (`cart.total -> discount` and `invoice.render -> discount`), and the top
  issues should not list it twice; the callers stay in the traceback and the root cause;
- else, the failure is in the test's own file: the innermost frame there (a same-file helper
  is shared by the tests that call it; a bare `assert` in a test body keeps that test apart);
- else (a module-level error while collecting, or no project frames at all) no frame: the
  exception and its message say it all — five test files importing one missing module are
  one issue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

from passcycle.records import BAD_OUTCOMES, Frame, TestResult

MESSAGE_LIMIT = 300  # characters of the normalised first line that enter a fingerprint

_TMP_NAME = r"[^/\\\s'\"`<>()\[\]{},;:]+"

# (pattern, replacement), applied in order: the broad shapes (paths, uuids, timestamps)
# before the narrow ones (hex, numbers) that would otherwise eat them piecemeal.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # pytest's tmp_path: <basetemp>/pytest-of-USER/pytest-N/TESTNAME0 (the test name varies)
    (
        re.compile(
            r"(?:[A-Za-z]:)?[^\s'\"`<>()]*?[/\\]pytest-of-"
            + _TMP_NAME
            + r"[/\\]pytest-(?:\d+|current)(?:[/\\]"
            + _TMP_NAME
            + r")?"
        ),
        "<tmp>",
    ),
    # tempfile.mkdtemp() & co on Linux, macOS and Windows: the first name is random
    (re.compile(r"(?:/private)?/var/folders/[^/\s]+/[^/\s]+/[TC]/" + _TMP_NAME), "<tmp>"),
    (re.compile(r"(?:/private)?/tmp/" + _TMP_NAME), "<tmp>"),
    (
        re.compile(r"[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp\\" + _TMP_NAME, re.I),
        "<tmp>",
    ),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
            r"(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    # hashes and hex ids: 7+ hex digits with at least one digit and one letter (no words)
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I), "<hex>"),
    # quoted tokens mixing letters and digits look like ids: 'user-4f9a1', "a8Kq2z"
    (
        re.compile(r"(['\"])(?=[^'\"\s]*\d)(?=[^'\"\s]*[A-Za-z])[\w:+=-]{4,}\1"),
        r"\1<id>\1",
    ),
    # numbers, but not digits glued to a name (int64, utf8, py311 stay as they are)
    (re.compile(r"(?<![A-Za-z0-9.])(?:-(?=\d))?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?"), "<n>"),
    # lists of numbers whose length varies with the data: [<n>, <n>, <n>] -> [<n>, ...]
    (re.compile(r"<n>(?:\s*,\s*<n>)+"), "<n>, ..."),
    (re.compile(r"[ \t]+"), " "),
)


@lru_cache(maxsize=4096)
def normalise_message(msg: str) -> str:
    """Mask what varies between occurrences of one bug: numbers, addresses, ids, paths, times."""
    for pattern, replacement in _RULES:
        msg = pattern.sub(replacement, msg)
    return msg.strip()


def first_line(msg: str | None) -> str:
    """The first non-blank line of a message, or ""."""
    if not msg:
        return ""
    for line in msg.splitlines():
        if line.strip():
            return line.strip()
    return ""


def defining_file(result: TestResult) -> str:
    """The file that defines the test, relative to the project root as pytest reports it."""
    return (result.file or result.nodeid.split("::", 1)[0]).replace("\\", "/")


def same_file(path: str, other: str) -> bool:
    """True when two relative paths name one file, allowing for a different root
    (pytest's rootdir may sit below the project root: "test_a.py" vs "tests/test_a.py")."""
    path = path.replace("\\", "/")
    other = other.replace("\\", "/")
    if not path or not other:
        return False
    return path == other or path.endswith("/" + other) or other.endswith("/" + path)


def key_frame(result: TestResult) -> Frame | None:
    """The frame that identifies a failure; see the module docstring for the choice."""
    own_file = defining_file(result)
    own: Frame | None = None
    for frame in reversed(result.frames):  # innermost first
        if not frame.in_project:
            continue
        if not same_file(frame.path, own_file):
            return frame
        if own is None and frame.function != "<module>":
            own = frame
    return own


def fingerprint(result: TestResult) -> str | None:
    """A short stable hash naming the failure; None for results that did not fail."""
    if result.outcome not in BAD_OUTCOMES:
        return None
    frame = key_frame(result)
    # the same file from a Windows runner and a Linux one: the history may be shared
    where = frame.path.replace("\\", "/") + ":" + frame.function if frame else ""
    message = normalise_message(first_line(result.message))[:MESSAGE_LIMIT]
    # a bad outcome without an exception (a crash the runner saw from outside) still groups
    kind = result.exc_type or f"<{result.outcome}>"
    text = "\n".join((kind, where, message))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def is_test_file(path: str) -> bool:
    """pytest's default `python_files`: test_*.py and *_test.py."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def in_test_code(result: TestResult, tests: Sequence[str] = ()) -> bool:
    """The failure raised in test code (an assertion on a wrong value): no project frame
    outside the file that defines the test, another test file (a test method inherited
    from a base class in another module runs there) or the `tests` folders (a helper such
    as pyflakes' `test/harness.py`)."""
    frame = key_frame(result)
    if frame is None:
        return True
    path = frame.path.replace("\\", "/")
    folders = [f.strip("/") for f in tests if f.strip("/.")]
    return (
        same_file(path, defining_file(result))
        or is_test_file(path)
        or any(path.startswith(folder + "/") for folder in folders)
    )
