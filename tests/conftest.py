"""Test fixtures: every database test runs on SQLite and on Postgres, each inside a transaction.

`engine` is built once per run and kind with `alembic upgrade head` (so every run tests the
migrations). `db` wraps a test in a connection-level transaction; the app's commits become
savepoints and everything is rolled back at the end. Tests that need real commits across
connections (concurrency, live servers) use `fresh_engine`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.config import Settings, get_settings
from app.core.db import get_session
from app.main import create_app
from tests.factories import login_client
from tests.support.databases import (
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    TESTED,
    engine_url,
    fresh_database,
    postgres_available,
)

DATABASE_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=DATABASE_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as created:
        yield created


@pytest.fixture
def fresh_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A separate, empty, migrated database of the same kind, for tests that really commit."""
    with fresh_database(engine.dialect.name.replace("postgresql", "postgres"), tmp_path) as created:
        yield created


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                          autoflush=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def cli_env(fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """`concord` commands run in this test (typer's CliRunner) use `fresh_engine` and a temporary data dir."""
    monkeypatch.setenv("CONCORD_DATABASE_URL", engine_url(fresh_engine))
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield fresh_engine
    get_settings.cache_clear()


def make_test_settings(url: str, data_dir: Path, **overrides: object) -> Settings:
    return Settings(database_url=url, data_dir=data_dir, secret_key=None, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data_dir = tmp_path_factory.mktemp("data")
    return create_app(make_test_settings(engine_url(engine), data_dir))


@pytest.fixture
def anon(app: FastAPI, db: Session) -> Iterator[TestClient]:
    """A client with no login, whose requests run inside the test's transaction."""
    app.dependency_overrides[get_session] = lambda: db
    with TestClient(app, base_url="http://testserver") as client:
        yield client
    app.dependency_overrides.clear()


@pytest.fixture
def client_for(app: FastAPI, db: Session, anon: TestClient) -> Callable[[User], TestClient]:
    """`client_for(user)`: a client logged in as `user` (session cookie and CSRF header set)."""
    made: list[TestClient] = []

    def make(user: User) -> TestClient:
        client = TestClient(app, base_url="http://testserver")
        login_client(db, app, client, user)
        made.append(client)
        return client

    return make


def pytest_report_header(config: pytest.Config) -> str:
    if postgres_available():
        return f"databases: sqlite and postgres ({POSTGRES_URL})"
    required = " — REQUIRED, the postgres tests will fail" if REQUIRE_POSTGRES else "; postgres tests skipped"
    return f"databases: sqlite only (Postgres not answering at {POSTGRES_URL}{required})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TESTED:
        terminalreporter.write_sep("=", "databases tested: " + "; ".join(TESTED.values()), bold=True)
    elif getattr(terminalreporter.config.option, "numprocesses", None):
        return  # xdist: the workers ran the tests; the header says which databases they had
    else:
        terminalreporter.write_sep("=", "no database tests ran", yellow=True)
