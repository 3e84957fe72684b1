"""Frozen dataset versions and their export archives."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column
from app.core.db import Base, JSONType


class DatasetVersion(Base):
    """An immutable snapshot of final labels, with the filter and split that made it."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("project_id", "name"), UniqueConstraint("project_id", "number"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per project
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    filter: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    split_spec: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # fractions, seed
    content_hash: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="SET NULL"))
    defect_book_version: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The facts the datasheet states, frozen with the version (classes, collection, labeling,
    # agreement, lineage) so that every later export of it says the same thing, byte for byte.
    datasheet: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default=text("'{}'"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()


class DatasetItem(Base):
    """One image of a version, with the label it was frozen with."""

    __tablename__ = "dataset_items"
    __table_args__ = (Index("ix_dataset_items_version_split", "version_id", "split", "image_id"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="RESTRICT"), primary_key=True, index=True)
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="RESTRICT"))
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    split: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(12))  # where the final label came from
    confidence: Mapped[float | None] = mapped_column()


class DatasetExport(Base):
    """An export archive of a version in one format, kept in storage once complete."""

    __tablename__ = "dataset_exports"
    __table_args__ = (UniqueConstraint("version_id", "format", "include_images"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(16))
    include_images: Mapped[bool] = mapped_column(default=False)
    # What shaped the bytes besides the version: the writer's version and the admin's choices (how
    # Label Studio finds the images). A stored export is reused only for the same options.
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default=text("'{}'"))
    storage_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
