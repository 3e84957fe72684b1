"""labeling queue indexes; images.phash holds the full perceptual signature

Revision ID: 7a4c2e91b0d5
Revises: 5d1c0a7e93b2
Create Date: 2026-11-28 11:10:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a4c2e91b0d5"
down_revision: str | None = "5d1c0a7e93b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("slots_taken < labels_wanted")


def upgrade() -> None:
    # The signature of app.consistency.duplicates is 769 bytes: 1,538 hex characters.
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column("phash", existing_type=sa.String(length=512), type_=sa.Text(), existing_nullable=True)
        batch_op.create_index("ix_images_open_queue", ["project_id", "priority", "id"], unique=False,
                              sqlite_where=OPEN, postgresql_where=OPEN)
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index("ix_assignments_project_state_expiry", ["project_id", "state", "expires_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_project_state_expiry")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_open_queue", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.alter_column("phash", existing_type=sa.Text(), type_=sa.String(length=512), existing_nullable=True)
