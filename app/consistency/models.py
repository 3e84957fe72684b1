"""What the consistency service derives from annotations: consensus, conflicts, quality, agreement."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, JSONType, UTCDateTime, utcnow


class ConflictKind(StrEnum):
    class_disagreement = "class_disagreement"
    low_confidence = "low_confidence"
    missing_box = "missing_box"
    box_class_mismatch = "box_class_mismatch"
    box_localization = "box_localization"
    gold_miss = "gold_miss"
    duplicate_group = "duplicate_group"
    model_disagreement = "model_disagreement"
    flagged = "flagged"  # a reviewer's doubt about a label, with a note; only a decision settles it


# Conflicts about boxes: a decision on the image's class alone does not settle them.
BOX_KINDS = (ConflictKind.missing_box, ConflictKind.box_class_mismatch, ConflictKind.box_localization)


class ConflictState(StrEnum):
    open = "open"
    resolved = "resolved"
    returned = "returned"  # sent back to labelers; reopens when their new labels arrive
    ambiguous = "ambiguous"  # a reviewer could not decide; excluded from exports
    closed = "closed"  # went away on its own (the image became unanimous)


class DuplicateGroup(Base):
    """Near-duplicate images (same part, same defects) found by perceptual signature."""

    __tablename__ = "duplicate_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()


class Conflict(Base):
    """A disagreement for a reviewer: about one image, or about a near-duplicate group.

    `subject_key` ("image:42", "group:7") makes (project, kind, subject) unique, so a conflict
    that comes back reopens its row instead of adding one. `version` guards against lost updates.
    """

    __tablename__ = "conflicts"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "subject_key"),
        one_of("kind", ConflictKind),
        one_of("state", ConflictState),
        Index("ix_conflicts_queue", "project_id", "state", "severity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    duplicate_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("duplicate_groups.id", ondelete="SET NULL"), index=True
    )
    subject_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(24))
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(12), default=ConflictState.open)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class ImageConsensus(Base):
    """The current consensus of one image, refreshed on each new annotation and on recompute."""

    __tablename__ = "image_consensus"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    majority_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    consensus_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    confidence: Mapped[float | None] = mapped_column(Float)
    entropy: Mapped[float | None] = mapped_column(Float)
    posterior: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # class id -> probability
    box_agreement: Mapped[float | None] = mapped_column(Float)
    clusters: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # consensus boxes
    method: Mapped[str] = mapped_column(String(16), default="majority")  # majority or dawid_skene
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LabelerQuality(Base):
    """A labeler's estimated quality in one project, from the last global recompute."""

    __tablename__ = "labeler_quality"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    accuracy: Mapped[float | None] = mapped_column(Float)  # Dawid-Skene estimate
    agreement_with_consensus: Mapped[float | None] = mapped_column(Float)
    gold_accuracy: Mapped[float | None] = mapped_column(Float)
    gold_count: Mapped[int] = mapped_column(Integer, default=0)
    median_duration_ms: Mapped[float | None] = mapped_column(Float)
    confusion: Mapped[list[list[float]]] = mapped_column(JSONType, default=list)  # rows: true, cols: given
    class_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)  # order of confusion's axes
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgreementSnapshot(Base):
    """Project-level agreement figures at one recompute; the series is the trend over time."""

    __tablename__ = "agreement_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    alpha: Mapped[float | None] = mapped_column(Float)
    fleiss_kappa: Mapped[float | None] = mapped_column(Float)
    box_alpha: Mapped[float | None] = mapped_column(Float)
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    n_annotations: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # kappas, pair matrix, ...
    created_at: Mapped[datetime] = created_at_column()
