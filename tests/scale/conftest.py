"""Scale-out tests: several app processes and `concord worker` processes on one database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.databases import fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def shared_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated database that several processes share (committed data)."""
    with fresh_database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def postgres_engine(tmp_path: Path) -> Iterator[Engine]:
    with fresh_database("postgres", tmp_path) as engine:
        yield engine
