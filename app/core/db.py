"""Engine, sessions and the declarative base, for SQLite (embedded) and Postgres (production)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.db_guards import add_deadline, add_fair_write_queue
from app.core.group_commit import WROTE, add_group_commit
from app.core.private import private_sqlite_file

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 5


class Base(DeclarativeBase):
    # One naming convention, so migrations name constraints the same on every database.
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ix": "ix_%(column_0_label)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )


# JSON columns: JSONB on Postgres (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, deadline_seconds: float | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`. `deadline_seconds` bounds every Postgres call (web servers set it; long
    jobs and the CLI do not): past it the connection is dropped and the caller gets an error."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        database = engine.url.database or ""
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        event.listen(engine, "connect", _sqlite_pragmas_group_commit if on_disk else _sqlite_pragmas)
        add_fair_write_queue(engine, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        event.listen(engine, "begin", _sqlite_begin_immediate)  # after the queue: take the turn, then the lock
        if on_disk:
            add_group_commit(engine, Path(database).resolve())
        return engine
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if deadline_seconds:
        add_deadline(engine, deadline_seconds)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, synchronous: str = "FULL") -> None:
    # WAL lets readers run beside the writer. Every acknowledged commit survives a power loss: with
    # synchronous=FULL SQLite fsyncs each commit itself; a database file on disk runs NORMAL and
    # app.core.group_commit fsyncs the WAL before any commit returns (one fsync for many commits,
    # outside the write lock). Foreign keys are off by default.
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin_immediate)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_pragmas_group_commit(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record, synchronous="NORMAL")


READ_ONLY = "concord_read_only"  # execution option of read_only_session's connections


def _sqlite_begin_immediate(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
    # of one failing with "database is locked" when it upgrades a read transaction to a write.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")  # a WAL reader: a snapshot that blocks no writer
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def read_only_session(db: Session) -> Iterator[Session]:
    """A session for a long read beside `db` (an export streaming 100k rows) that holds no lock a
    writer waits for. Only SQLite needs one: every transaction there takes the write lock at BEGIN, so
    a reader of its own opens a plain BEGIN instead (a WAL snapshot). It must not write. Elsewhere,
    when `db` is bound to one connection (tests), and when `db` has written something it has not
    committed yet (which another connection's snapshot would miss), it is `db` itself."""
    bind = db.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite" or _writing(db):
        yield db
        return
    reader = Session(bind=bind.execution_options(**{READ_ONLY: True}), autoflush=False)
    try:
        yield reader
    finally:
        reader.rollback()
        reader.close()


def _writing(db: Session) -> bool:
    """Whether `db` holds writes not committed yet: a snapshot of its own would not see them (an import
    followed by a recompute in one transaction), so the reader must be `db` itself."""
    if db.new or db.dirty or db.deleted:
        return True
    return db.in_transaction() and bool(db.connection().info.get(WROTE))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; closing it rolls back whatever the route did not commit."""
    with request.app.state.sessionmaker() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
