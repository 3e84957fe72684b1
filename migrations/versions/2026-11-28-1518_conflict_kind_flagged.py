"""conflicts: kind `flagged` (a reviewer flags an image whose label looks wrong)

Revision ID: 9b2e6f41c7d3
Revises: 3c1f8a2d9e47
Create Date: 2026-11-28 15:18:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b2e6f41c7d3"
down_revision: str | None = "3c1f8a2d9e47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("class_disagreement", "low_confidence", "missing_box", "box_class_mismatch", "box_localization",
          "gold_miss", "duplicate_group", "model_disagreement")
AFTER = (*BEFORE, "flagged")


def _replace_kind_check(kinds: Sequence[str]) -> None:
    allowed = ", ".join(f"'{k}'" for k in kinds)
    with op.batch_alter_table("conflicts", schema=None) as batch_op:  # SQLite: copies the table
        batch_op.drop_constraint(op.f("ck_conflicts_kind_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_conflicts_kind_valid"), sa.text(f"kind IN ({allowed})"))


def upgrade() -> None:
    _replace_kind_check(AFTER)


def downgrade() -> None:
    # The older schema cannot hold a flag: flagged conflicts and their resolutions go (final labels stay).
    op.execute(sa.text("UPDATE final_labels SET resolution_id = NULL WHERE resolution_id IN (SELECT id FROM "
                       "resolutions WHERE conflict_id IN (SELECT id FROM conflicts WHERE kind = 'flagged'))"))
    op.execute(sa.text("DELETE FROM resolutions WHERE conflict_id IN (SELECT id FROM conflicts WHERE kind = 'flagged')"))
    op.execute(sa.text("DELETE FROM conflicts WHERE kind = 'flagged'"))
    _replace_kind_check(BEFORE)
