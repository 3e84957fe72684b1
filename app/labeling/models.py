"""The work queue (assignments) and what labelers answered (annotations, never edited in place)."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, JSONType, UTCDateTime


class AssignmentState(StrEnum):
    open = "open"  # handed to the labeler, not answered yet
    done = "done"
    skipped = "skipped"  # the labeler passed; the image goes to the back of their queue
    returned = "returned"  # sent back by a reviewer with a note; shown first
    expired = "expired"  # abandoned; its slot went back to the pool


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        one_of("state", AssignmentState),
        # At most one open-or-returned assignment of an image per labeler.
        Index(
            "uq_assignments_active",
            "image_id",
            "labeler_id",
            unique=True,
            sqlite_where=text("state IN ('open', 'returned')"),
            postgresql_where=text("state IN ('open', 'returned')"),
        ),
        Index("ix_assignments_labeler_state", "labeler_id", "state"),
        Index("ix_assignments_project_state_expiry", "project_id", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    labeler_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=AssignmentState.open)
    note: Mapped[str | None] = mapped_column(Text)  # a reviewer's note when sent back
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the image was last put in front of the labeler: a submit sooner than the project's
    # minimum viewing time after it is refused, and the answer's duration is measured from it.
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Annotation(Base):
    """One labeler's answer for one image. A relabel adds a row and marks this one superseded."""

    __tablename__ = "annotations"
    __table_args__ = (
        # One live answer per (image, labeler); superseded rows stay as history.
        Index(
            "uq_annotations_live",
            "image_id",
            "labeler_id",
            unique=True,
            sqlite_where=text("superseded_by_id IS NULL"),
            postgresql_where=text("superseded_by_id IS NULL"),
        ),
        UniqueConstraint("labeler_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="RESTRICT"), index=True)
    labeler_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id", ondelete="SET NULL"))
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="RESTRICT"))
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # pixels: x, y, w, h, class_id
    unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="web")  # web, api, import
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    defect_book_version: Mapped[int | None] = mapped_column(Integer)  # what the labeler was shown
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
