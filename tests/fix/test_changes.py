"""What changed since a run: git diffs in both numberings, file hashes, and the two combined."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gitkit import git

from passcycle.fix.changes import (
    FileChange,
    Hunk,
    changes_since,
    load_snapshot,
    parse_diff,
    save_snapshot,
    snapshot,
)

MODULE = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(5))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    files = {
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": MODULE,
        "src/pkg/gone.py": "X = 1\n",
        "src/pkg/data.csv": "a,b\n",
        "tests/test_mod.py": "def test_f():\n    pass\n",
        "tests/conftest.py": "",
        "pyproject.toml": "[project]\nname = 'pkg'\n",
        "requirements-dev.txt": "pytest\n",
        "docs/index.md": "# docs\n",
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    return root


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def test_snapshot_hashes_the_files_that_matter(project: Path) -> None:
    (project / "src/pkg/__pycache__").mkdir()
    (project / "src/pkg/__pycache__/mod.cpython-311.pyc").write_bytes(b"x")
    (project / ".passcycle/runs/1").mkdir(parents=True)
    (project / ".passcycle/runs/1/coverage.db").write_bytes(b"x")
    snap = snapshot(project, ["src/pkg", "tests"])
    assert set(snap) == {
        "src/pkg/__init__.py",
        "src/pkg/mod.py",
        "src/pkg/gone.py",
        "src/pkg/data.csv",
        "tests/test_mod.py",
        "tests/conftest.py",
        "pyproject.toml",
        "requirements-dev.txt",
    }
    assert len(set(snap.values())) == len(snap) - 1  # __init__.py and conftest.py are empty
    (project / "src/pkg/data.csv").write_text("a,c\n")
    again = snapshot(project, ["src/pkg", "tests"])
    assert [p for p in snap if snap[p] != again[p]] == ["src/pkg/data.csv"]


def test_snapshot_round_trip(tmp_path: Path, project: Path) -> None:
    snap = snapshot(project, ["src/pkg", "tests"])
    path = tmp_path / "runs" / "4" / "files.json"
    save_snapshot(path, snap)
    assert load_snapshot(path) == snap
    assert load_snapshot(tmp_path / "missing.json") is None
    path.write_text("{not json")
    assert load_snapshot(path) is None


def test_git_diff_gives_old_and_new_line_numbers(project: Path) -> None:
    text = MODULE.replace("def f1():", "# a comment\n# another\ndef f1():")
    text = text.replace("return 3", "return 33")
    (project / "src/pkg/mod.py").write_text(text)
    changes = changes_since(project, commit=head(project), snapshot=None)
    change = changes.modified["src/pkg/mod.py"]
    # f3's body is line 14 in the old file, 16 in the new one
    assert change.old_lines == frozenset({14})
    assert change.new_lines == frozenset({5, 6, 16})
    assert change.hunks == (Hunk(4, 0, 5, 2), Hunk(14, 1, 16, 1))
    assert not change.whole_file and changes.base == head(project)


def test_git_sees_added_untracked_and_deleted_files(project: Path) -> None:
    (project / "src/pkg/gone.py").unlink()
    (project / "src/pkg/new.py").write_text("Y = 2\n")  # untracked
    (project / "tests/test_new.py").write_text("def test_n():\n    pass\n")
    git(project, "add", "tests/test_new.py")  # staged, not committed
    (project / ".passcycle").mkdir()
    (project / ".passcycle/history.db").write_bytes(b"x")  # our own: never a change
    changes = changes_since(project, commit=head(project), snapshot=None)
    assert changes.added == {"src/pkg/new.py", "tests/test_new.py"}
    assert changes.deleted == {"src/pkg/gone.py"}
    assert changes.modified == {}


def test_git_includes_commits_since_the_run(project: Path) -> None:
    base = head(project)
    (project / "src/pkg/mod.py").write_text(MODULE.replace("return 0", "return -1"))
    git(project, "commit", "-qam", "change f0")
    changes = changes_since(project, commit=base, snapshot=None)
    assert changes.modified["src/pkg/mod.py"].old_lines == {2}


def test_without_git_the_snapshot_marks_whole_files(project: Path) -> None:
    snap = snapshot(project, ["src/pkg", "tests"])
    shutil.rmtree(project / ".git")
    (project / "src/pkg/mod.py").write_text(MODULE + "# end\n")
    (project / "src/pkg/gone.py").unlink()
    (project / "tests/test_other.py").write_text("")
    changes = changes_since(project, commit=None, snapshot=snap)
    assert changes.modified == {"src/pkg/mod.py": FileChange(whole_file=True)}
    assert changes.added == {"tests/test_other.py"}
    assert changes.deleted == {"src/pkg/gone.py"}
    assert changes.base is None and changes.known


def test_unknown_commit_falls_back_to_the_snapshot(project: Path) -> None:
    snap = snapshot(project, ["src/pkg", "tests"])
    (project / "src/pkg/mod.py").write_text("")
    changes = changes_since(project, commit="0" * 40, snapshot=snap)
    assert changes.modified == {"src/pkg/mod.py": FileChange(whole_file=True)}


def test_nothing_to_compare_is_unknown(project: Path) -> None:
    changes = changes_since(project, commit="0" * 40, snapshot=None)
    assert not changes.known and not changes.empty
    assert "no file hashes" in (changes.note or "")


def test_snapshot_corrects_a_run_taken_on_a_dirty_tree(project: Path) -> None:
    base = head(project)
    # the run was taken with these uncommitted edits: its map knows them already
    (project / "src/pkg/mod.py").write_text(MODULE.replace("return 0", "return 100"))
    (project / "tests/test_mod.py").write_text("def test_f():\n    assert 1\n")
    (project / "src/pkg/gone.py").write_text("X = 2\n")
    snap = snapshot(project, ["src/pkg", "tests"])
    # since the run: mod.py unchanged, test_mod.py edited again, gone.py reverted
    (project / "tests/test_mod.py").write_text("def test_f():\n    assert 2\n")
    (project / "src/pkg/gone.py").write_text("X = 1\n")
    changes = changes_since(project, commit=base, snapshot=snap)
    assert changes.modified == {
        # the map was not recorded against the commit: its lines are unknown
        "tests/test_mod.py": FileChange(whole_file=True),
        # git sees no change against the commit, yet it changed since the run
        "src/pkg/gone.py": FileChange(whole_file=True),
    }
    assert changes.added == set() and changes.deleted == set()


def test_snapshot_keeps_git_lines_when_the_run_matched_the_commit(project: Path) -> None:
    snap = snapshot(project, ["src/pkg", "tests"])
    (project / "src/pkg/mod.py").write_text(MODULE.replace("return 4", "return 44"))
    changes = changes_since(project, commit=head(project), snapshot=snap)
    assert changes.modified["src/pkg/mod.py"].old_lines == {18}


def test_parse_diff_reads_binary_and_new_files() -> None:
    diff = (
        "diff --git a/img.png b/img.png\n"
        "Binary files a/img.png and b/img.png differ\n"
        "diff --git a/new.py b/new.py\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/new.py\n"
        "@@ -0,0 +1 @@\n"
        "+x = 1\n"
        "diff --git a/old.py b/old.py\n"
        "deleted file mode 100644\n"
        "--- a/old.py\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-y = 1\n"
    )
    modified, added, deleted = parse_diff(diff)
    assert modified == {"img.png": FileChange(whole_file=True)}
    assert added == {"new.py"} and deleted == {"old.py"}


# -- what is new: only what appeared after the run; never a virtualenv --------------------------


def add_venv(root: Path, name: str = ".venv") -> None:
    """What `python -m venv` leaves, with an installed package holding tests of its own."""
    package = root / name / "lib/python3.11/site-packages/fakepkg"
    (package / "tests").mkdir(parents=True)
    (root / name / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (package / "__init__.py").write_text("")
    (package / "conftest.py").write_text("raise ImportError('not for this project')\n")
    (package / "tests/test_x.py").write_text("def test_x():\n    pass\n")


def test_an_untracked_file_is_new_only_if_it_appeared_after_the_run(project: Path) -> None:
    (project / "src/pkg/draft.py").write_text("D = 1\n")  # untracked before the run
    (project / "notes.txt").write_text("todo\n")  # untracked, outside the folders
    (project / "scripts").mkdir()
    (project / "scripts/tool.py").write_text("T = 1\n")  # in an untracked folder
    add_venv(project)
    snap = snapshot(project, ["src/pkg", "tests"])
    assert {"src/pkg/draft.py", "notes.txt", "scripts/tool.py"} <= set(snap)
    assert not any(".venv" in p for p in snap)
    unchanged = changes_since(project, commit=head(project), snapshot=snap)
    assert unchanged.empty, unchanged

    (project / "scripts/tool.py").write_text("T = 2\n")
    (project / "src/pkg/later.py").write_text("L = 1\n")  # after the run
    (project / "notes.txt").unlink()
    (project / ".venv/lib/python3.11/site-packages/fakepkg/conftest.py").write_text("# new\n")
    changes = changes_since(project, commit=head(project), snapshot=snap)
    assert changes.added == {"src/pkg/later.py"}
    assert changes.modified == {"scripts/tool.py": FileChange(whole_file=True)}
    assert changes.deleted == {"notes.txt"}


def test_a_file_committed_since_the_run_unchanged_is_no_change(project: Path) -> None:
    (project / "src/pkg/draft.py").write_text("D = 1\n")
    snap = snapshot(project, ["src/pkg", "tests"])
    base = head(project)
    git(project, "add", "src/pkg/draft.py")
    git(project, "commit", "-qm", "draft")
    assert changes_since(project, commit=base, snapshot=snap).empty


def test_git_never_counts_an_untracked_virtualenv(project: Path) -> None:
    add_venv(project)
    add_venv(project, "tools/py311")  # any name, deeper down
    (project / "build/lib/pkg").mkdir(parents=True)
    (project / "build/lib/pkg/conftest.py").write_text("")
    changes = changes_since(project, commit=head(project), snapshot=None)
    assert changes.empty, changes


def test_dirty_files_at_the_run_are_judged_since_the_run(project: Path) -> None:
    # docs/ is no folder of the plan: git alone would call it changed at every re-test
    (project / "docs/index.md").write_text("# docs, edited before the run\n")
    snap = snapshot(project, ["src/pkg", "tests"])
    assert changes_since(project, commit=head(project), snapshot=snap).empty
    (project / "docs/index.md").write_text("# docs\n")  # reverted since: a change
    changes = changes_since(project, commit=head(project), snapshot=snap)
    assert changes.modified == {"docs/index.md": FileChange(whole_file=True)}


def test_ignored_files_are_no_change_before_the_first_commit(tmp_path: Path) -> None:
    # a repository without a commit: file hashes, listed by git's ignore rules
    root = tmp_path / "fresh"
    (root / "tests/fixtures").mkdir(parents=True)
    (root / "tests/test_a.py").write_text("def test_a():\n    pass\n")
    (root / "tests/fixtures/cache.json").write_text("{}\n")
    (root / ".gitignore").write_text("tests/fixtures/cache.json\n")
    git(root, "init", "-q")
    snap = snapshot(root, ["tests"])
    assert set(snap) == {"tests/test_a.py", ".gitignore"}  # everything is untracked yet
    (root / "tests/fixtures/cache.json").write_text('{"warm": true}\n')
    assert changes_since(root, commit=None, snapshot=snap).empty


def test_without_git_a_virtualenv_under_the_folders_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_calc.py").write_text("def test_add():\n    pass\n")
    add_venv(root, "py311")
    add_venv(root)
    snap = snapshot(root, ["."])  # a flat project: tests and source are the whole folder
    assert set(snap) == {"calc.py", "test_calc.py"}
    (root / "py311/lib/python3.11/site-packages/fakepkg/conftest.py").write_text("# new\n")
    (root / "py311/lib/python3.11/site-packages/fakepkg/new.py").write_text("")
    (root / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    changes = changes_since(root, commit=None, snapshot=snap)
    assert changes.modified == {"calc.py": FileChange(whole_file=True)}
    assert changes.added == set() and changes.deleted == set()


def test_snapshot_of_an_older_run_still_loads(tmp_path: Path, project: Path) -> None:
    # runs recorded before the folders were kept saved the hashes alone
    path = tmp_path / "files.json"
    path.write_text('{"src/pkg/mod.py": "aa", "tests/test_mod.py": "bb"}')
    snap = load_snapshot(path)
    assert snap is not None and snap.folders == ("src/pkg", "tests")
    assert dict(snap) == {"src/pkg/mod.py": "aa", "tests/test_mod.py": "bb"}
