"""Labels somebody looked at: when an assignment's image was shown, and each class's box rule

`assignments.shown_at` (nullable: older assignments have none and are not held to a minimum viewing
time); `label_classes.box_rule` is required, optional or none, `optional` for every existing class
(the behaviour before).

Revision ID: 7d41b2c9e0a5
Revises: 6ca024678def
Create Date: 2026-12-06 11:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d41b2c9e0a5"
down_revision: str | None = "6ca024678def"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("label_classes", schema=None) as batch_op:  # SQLite: copies the table
        batch_op.add_column(sa.Column("box_rule", sa.String(length=8), server_default="optional", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_label_classes_box_rule_valid"), sa.text("box_rule IN ('required', 'optional', 'none')")
        )


def downgrade() -> None:
    with op.batch_alter_table("label_classes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_label_classes_box_rule_valid"), type_="check")
        batch_op.drop_column("box_rule")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("shown_at")
