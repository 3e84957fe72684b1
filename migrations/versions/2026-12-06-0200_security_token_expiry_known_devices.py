"""security: API token expiry and revocation reason; login attempts of known devices

Revision ID: 5d8e2c7a1f60
Revises: 9b2e6f41c7d3
Create Date: 2026-12-06 02:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "5d8e2c7a1f60"
down_revision: str | None = "9b2e6f41c7d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tokens made before expiry existed keep working this long after the upgrade (the default site maximum).
GRACE = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_reason", sa.String(length=32), nullable=True))
    op.execute(sa.text("UPDATE api_tokens SET expires_at = :until").bindparams(
        sa.bindparam("until", datetime.now(UTC) + GRACE, type_=sa.DateTime(timezone=True))))
    op.execute(sa.text("UPDATE api_tokens SET revoked_reason = 'revoked' WHERE revoked_at IS NOT NULL"))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_login_attempts_device_created", ["device", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_device_created")
        batch_op.drop_column("device")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("revoked_reason")
        batch_op.drop_column("expires_at")
