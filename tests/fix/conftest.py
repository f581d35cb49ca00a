"""Fixtures of the re-test tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import CALC_FILES, committed_project


@pytest.fixture
def calc_project(tmp_path: Path, passcycle) -> Path:
    """gitkit's CALC_FILES committed, with one full `passcycle test` recorded (run 1)."""
    root = tmp_path / "project"
    committed_project(root, CALC_FILES)
    passcycle(root, "test", expect=0)
    return root
