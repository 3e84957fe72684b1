"""Fresh, migrated test databases: an SQLite file, or a new schema in the Postgres test database."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.core import migrate
from app.core.db import make_engine

POSTGRES_URL = os.environ.get("CONCORD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("CONCORD_REQUIRE_POSTGRES") == "1"
TESTED: dict[str, str] = {}  # kind -> URL, for the summary at the end of the run


def postgres_available() -> bool:
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect():
            pass
        probe.dispose()
        return True
    except OperationalError:
        return False


@contextmanager
def fresh_database(kind: str, workdir: Path, *, migrate_to: str | None = "head") -> Iterator[Engine]:
    """An empty database of `kind`, migrated to `migrate_to` (None: left empty), dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'concord-{uuid.uuid4().hex[:8]}.db'}"
        engine = make_engine(url)
        TESTED["sqlite"] = "sqlite (a temporary file per run)"
        try:
            if migrate_to:
                migrate.upgrade(engine, migrate_to)
            yield engine
        finally:
            engine.dispose()
        return
    if not postgres_available():
        message = f"Postgres not answering at {POSTGRES_URL}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (CONCORD_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    schema = f"concord_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The schema rides in the URL, so another process (a live server) reaches the same tables.
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    TESTED["postgres"] = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    try:
        if migrate_to:
            migrate.upgrade(engine, migrate_to)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def engine_url(engine: Engine) -> str:
    """The URL another process can use to reach the same database (and schema)."""
    return engine.url.render_as_string(hide_password=False)
