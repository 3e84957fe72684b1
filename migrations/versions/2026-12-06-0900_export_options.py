"""dataset_exports: `options` (the writer's version and the admin's choices that shaped the bytes)

Exports stored before this revision were written by an older writer (0-based VOC boxes, images named
by id, a Label Studio annotator Label Studio refuses): their rows keep `{}`, which no current request
matches, so each is made again on its next request and its row updated in place.

Revision ID: 5e0c1d7a2b94
Revises: 5d8e2c7a1f60
Create Date: 2026-12-06 09:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e0c1d7a2b94"
down_revision: str | None = "5d8e2c7a1f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("dataset_exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("options", JSON, server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("dataset_exports", schema=None) as batch_op:
        batch_op.drop_column("options")
