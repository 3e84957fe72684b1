"""Alembic environment: the URL comes from Concord's settings, or from a connection passed in."""
from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

import app.models  # noqa: F401  (fills Base.metadata)
from app.core.config import get_settings
from app.core.db import Base, JSONType, UTCDateTime, make_engine

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Render our column types as plain SQLAlchemy so revisions never import app code.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and obj is JSONType:
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        render_item=render_item,
        compare_type=True,
    )


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:  # tests and `concord db upgrade` pass their own
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(get_settings().database_url)
    with engine.connect() as conn:
        configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `concord db upgrade`")
run_migrations()
