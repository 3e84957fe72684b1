"""dataset versions keep a description and their frozen datasheet facts; items indexed by split

Revision ID: 5d1c0a7e93b2
Revises: ed98b0993553
Create Date: 2026-11-28 11:07:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5d1c0a7e93b2"
down_revision: str | None = "ed98b0993553"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("datasheet", JSON, server_default=sa.text("'{}'"), nullable=False))
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_items_version_split", ["version_id", "split", "image_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_items_version_split")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("datasheet")
        batch_op.drop_column("description")
