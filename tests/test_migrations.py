"""The migrations build exactly the schema the models describe, and run down and up again."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import app.models  # noqa: F401
from app.core import migrate
from app.core.db import Base
from tests.support.databases import fresh_database


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_models_and_migrations_agree_and_round_trip(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as engine:
        assert _drift(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables

        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert _drift(engine) == []


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"
