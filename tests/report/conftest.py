"""Report fixtures: real histories made by real runs of `Cycle` on generated projects,
built once per session (each is a few real pytest runs) and only read by the tests."""

from __future__ import annotations

import pytest
from report_projects import Project, build_many, build_shop


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="session")
def many_failures(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_many(tmp_path_factory.mktemp("many"))
