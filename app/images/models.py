"""Images and the upload batches they arrived in."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column
from app.core.db import Base, JSONType


class UploadBatch(Base):
    """One upload or import: the unit of drift analysis (new conditions arrive in batches)."""

    __tablename__ = "upload_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32), default="upload")  # upload, labelstudio, coco, ...
    is_reference: Mapped[bool] = mapped_column(Boolean, default=False)  # the drift baseline
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # image statistics, drift
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("project_id", "sha256"),
        Index("ix_images_project_queue", "project_id", "priority", "id"),
        # The labeling queue walks only the images that still want labels, in priority order.
        Index(
            "ix_images_open_queue",
            "project_id",
            "priority",
            "id",
            sqlite_where=text("slots_taken < labels_wanted"),
            postgresql_where=text("slots_taken < labels_wanted"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("upload_batches.id", ondelete="SET NULL"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))  # the uploader's name, for display only
    format: Mapped[str] = mapped_column(String(8))  # verified by decoding: JPEG, PNG, BMP, TIFF, WEBP
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # line, camera, shift, batch...
    phash: Mapped[str | None] = mapped_column(Text)  # perceptual signature (hex of consistency.duplicates.signature)
    duplicate_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("duplicate_groups.id", ondelete="SET NULL"), index=True
    )
    # The queue: labels this image should get, and how many slots are handed out; raised priority
    # moves an image forward (drifted batches, returned images).
    labels_wanted: Mapped[int] = mapped_column(Integer, default=1)
    slots_taken: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    gold_boxes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    split: Mapped[str | None] = mapped_column(String(8))  # train/val/test, fixed at its first freeze
    augmented_from_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    augmentation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the transform applied
    created_at: Mapped[datetime] = created_at_column()
