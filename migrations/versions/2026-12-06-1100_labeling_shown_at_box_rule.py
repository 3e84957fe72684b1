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


RULES = "box_rule IN ('required', 'optional', 'none')"
CHECK = "ck_label_classes_box_rule_valid"


def upgrade() -> None:
    op.add_column("assignments", sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch table copy: dropping label_classes fails while answers point at it. SQLite adds
        # the column with its CHECK in place (and drops both together).
        op.execute(
            f"ALTER TABLE label_classes ADD COLUMN box_rule VARCHAR(8) DEFAULT 'optional' NOT NULL "
            f"CONSTRAINT {CHECK} CHECK ({RULES})"
        )
    else:
        op.add_column(
            "label_classes", sa.Column("box_rule", sa.String(length=8), server_default="optional", nullable=False)
        )
        op.create_check_constraint(op.f(CHECK), "label_classes", sa.text(RULES))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE label_classes DROP COLUMN box_rule")
        op.execute("ALTER TABLE assignments DROP COLUMN shown_at")
        return
    op.drop_constraint(op.f(CHECK), "label_classes", type_="check")
    op.drop_column("label_classes", "box_rule")
    op.drop_column("assignments", "shown_at")
