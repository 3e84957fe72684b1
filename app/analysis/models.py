"""Model predictions imported from a factory's own models."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
