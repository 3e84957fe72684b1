"""Model predictions imported from a factory's own models; image statistics and drift reports."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column
from app.core.db import Base, JSONType


class ModelPrediction(Base):
    """Per-image class probabilities from one model run (`model_name`), keyed by class id."""

    __tablename__ = "model_predictions"
    __table_args__ = (UniqueConstraint("image_id", "model_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(120))
    probabilities: Mapped[dict[str, float]] = mapped_column(JSONType)  # class id (str) -> probability
    created_at: Mapped[datetime] = created_at_column()


class ImageStats(Base):
    """Drift statistics of one image, from its thumbnail (see app.analysis.drift for the definitions)."""

    __tablename__ = "image_stats"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    brightness: Mapped[float] = mapped_column(Float)
    contrast: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float] = mapped_column(Float)
    red: Mapped[float] = mapped_column(Float)  # chromaticity: channel mean / sum of channel means
    green: Mapped[float] = mapped_column(Float)
    blue: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = created_at_column()


class DriftReport(Base):
    """One drift run of a project: every batch and slice against the reference, with its histograms.

    The latest report is what pages and the API show; older ones are the history.
    """

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    reference_batch_id: Mapped[int | None] = mapped_column(ForeignKey("upload_batches.id", ondelete="SET NULL"))
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    n_flagged: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
