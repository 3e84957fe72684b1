"""A seeded source instance with its backup, and an empty target instance of the same database kind."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.backup.service import backup
from tests.backup.helpers import Instance, instance
from tests.backup.scene import Seeded, seed
from tests.support.databases import fresh_database
from tests.support.s3 import s3_endpoint  # noqa: F401 (a fixture)


@dataclass
class Made:
    source: Instance
    seeded: Seeded
    archive: Path


def kind_of(engine: Engine) -> str:
    return engine.dialect.name.replace("postgresql", "postgres")


@pytest.fixture
def made(fresh_engine: Engine, tmp_path: Path) -> Made:
    source = instance(fresh_engine, tmp_path / "source")
    with source.session() as db:
        seeded = seed(db, source.storage, source.settings)
    archive = tmp_path / "concord.tar"
    with source.session() as db:
        backup(db, storage=source.storage, key=source.key, out_path=archive)
    return Made(source, seeded, archive)


@pytest.fixture
def target(fresh_engine: Engine, tmp_path: Path) -> Iterator[Instance]:
    with fresh_database(kind_of(fresh_engine), tmp_path) as engine:
        yield instance(engine, tmp_path / "target")
