"""Reviewers' decisions and the final label each image ends up with."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, JSONType, UTCDateTime, utcnow


class Decision(StrEnum):
    accept_consensus = "accept_consensus"
    take_labeler = "take_labeler"
    edit = "edit"
    ambiguous = "ambiguous"
    send_back = "send_back"
    group = "group"  # one decision for a whole near-duplicate group


class FinalLabelSource(StrEnum):
    unanimous = "unanimous"
    consensus = "consensus"
    review = "review"
    gold = "gold"


class Resolution(Base):
    """A reviewer's decision on a conflict. Never edited; a new decision is a new row."""

    __tablename__ = "resolutions"
    __table_args__ = (one_of("decision", Decision),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conflict_id: Mapped[int] = mapped_column(ForeignKey("conflicts.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="RESTRICT"))
    boxes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    taken_from_labeler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    conflict_version: Mapped[int] = mapped_column(Integer)  # the version the reviewer decided on
    created_at: Mapped[datetime] = created_at_column()


class FinalLabel(Base):
    """The current decided label of an image and where it came from (at most one per image)."""

    __tablename__ = "final_labels"
    __table_args__ = (one_of("source", FinalLabelSource),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), unique=True)
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="RESTRICT"))
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(String(12))
    confidence: Mapped[float | None] = mapped_column(Float)
    is_ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_id: Mapped[int | None] = mapped_column(ForeignKey("resolutions.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
