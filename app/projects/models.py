"""Projects, their label classes and the defect book (class definitions with example images)."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, JSONType


class TaskType(StrEnum):
    classification = "classification"
    boxes = "boxes"
    both = "both"


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        one_of("task_type", TaskType),
        CheckConstraint("labels_per_image BETWEEN 1 AND 20", name="labels_per_image_range"),
        CheckConstraint("qa_fraction >= 0 AND qa_fraction <= 1", name="qa_fraction_range"),
        CheckConstraint("qa_labels_per_image BETWEEN 1 AND 20", name="qa_labels_range"),
        CheckConstraint("iou_threshold > 0 AND iou_threshold <= 1", name="iou_threshold_range"),
        CheckConstraint("confidence_threshold >= 0 AND confidence_threshold <= 1", name="confidence_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    task_type: Mapped[str] = mapped_column(String(16), default=TaskType.both)
    # Overlap policy: labels wanted per image; a random QA fraction of the rest gets more.
    labels_per_image: Mapped[int] = mapped_column(Integer, default=1)
    qa_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    qa_labels_per_image: Mapped[int] = mapped_column(Integer, default=3)
    adaptive_overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    # Consistency thresholds
    iou_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    confidence_threshold: Mapped[float] = mapped_column(Float, default=0.8)
    defect_book_version: Mapped[int] = mapped_column(Integer, default=1)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # further knobs
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()


class BoxRule(StrEnum):
    """Whether an answer of this class carries boxes."""

    required = "required"  # at least one box of the class
    optional = "optional"
    none = "none"  # no boxes at all (e.g. OK)


class LabelClass(Base):
    """A defect class and its definition: one page of the defect book."""

    __tablename__ = "label_classes"
    __table_args__ = (UniqueConstraint("project_id", "name"), one_of("box_rule", BoxRule))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    hotkey: Mapped[str | None] = mapped_column(String(1))
    colour: Mapped[str] = mapped_column(String(7), default="#888888")  # #rrggbb
    definition: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)  # order on the labeling page
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)  # retired by a merge or split
    box_rule: Mapped[str] = mapped_column(String(8), default=BoxRule.optional, server_default=BoxRule.optional.value)
    created_at: Mapped[datetime] = created_at_column()


class ClassExample(Base):
    """An image shown in the defect book as an example (or counter-example) of a class."""

    __tablename__ = "class_examples"
    __table_args__ = (UniqueConstraint("label_class_id", "image_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label_class_id: Mapped[int] = mapped_column(ForeignKey("label_classes.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    is_counter_example: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()


class DefectBookVersion(Base):
    """One change to the defect book or the taxonomy, with a snapshot of all classes after it.

    `change` says what happened (definition edited, example added, rename, merge, split, ...) so
    labelers can be shown "what changed"; a reversal is a new version, never an edit of an old one.
    """

    __tablename__ = "defect_book_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="")
    change: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
