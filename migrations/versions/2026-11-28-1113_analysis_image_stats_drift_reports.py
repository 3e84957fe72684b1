"""analysis: per-image statistics and drift reports

Revision ID: 3c1f8a2d9e47
Revises: 7a4c2e91b0d5
Create Date: 2026-11-28 11:13:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3c1f8a2d9e47"
down_revision: str | None = "7a4c2e91b0d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_stats",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("brightness", sa.Float(), nullable=False),
        sa.Column("contrast", sa.Float(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.Column("red", sa.Float(), nullable=False),
        sa.Column("green", sa.Float(), nullable=False),
        sa.Column("blue", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"),
                  nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_image_stats_image_id"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_image_stats_project_id"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_image_stats")),
    )
    with op.batch_alter_table("image_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_stats_project_id"), ["project_id"], unique=False)

    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("reference_batch_id", sa.Integer(), nullable=True),
        sa.Column("n_images", sa.Integer(), nullable=False),
        sa.Column("n_flagged", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"),
                  nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_drift_reports_created_by_id"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_drift_reports_project_id"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reference_batch_id"], ["upload_batches.id"],
                                name=op.f("fk_drift_reports_reference_batch_id"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_reports")),
    )
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_reports_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_reports_project_id"))
    op.drop_table("drift_reports")
    with op.batch_alter_table("image_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_stats_project_id"))
    op.drop_table("image_stats")
