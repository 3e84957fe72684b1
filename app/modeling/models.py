"""A model run: one recipe trained on one frozen dataset version, with every image's prediction.

The pure training code (recipes, folds, metrics) lives in app.training; these tables hold what a
run produced so that pages, comparisons and exports read it back without training again.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, JSONType, UTCDateTime


class RunState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class ModelRun(Base):
    """One training of a recipe on a dataset version, and its evaluation."""

    __tablename__ = "model_runs"
    __table_args__ = (UniqueConstraint("project_id", "number"), one_of("state", RunState))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per project, as people name runs
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True)
    recipe: Mapped[str] = mapped_column(String(40))
    # RecipeIdentity.as_dict(): name, version, parameters, library versions: what made the predictions.
    recipe_identity: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    backbone_key: Mapped[str | None] = mapped_column(String(255))  # the admin's ONNX file, onnx recipes only
    seed: Mapped[int] = mapped_column(Integer, default=0)
    folds: Mapped[int] = mapped_column(Integer, default=5)
    state: Mapped[str] = mapped_column(String(12), default=RunState.queued)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    artifact_key: Mapped[str | None] = mapped_column(String(255))  # the fitted model in storage
    # The head's classes in its column order: [{"id": label class id, "name": ...}, ...]
    classes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    train_count: Mapped[int] = mapped_column(Integer, default=0)
    eval_count: Mapped[int] = mapped_column(Integer, default=0)
    # {"evaluation": ..., "out_of_fold": ..., "slices": [...]}: see app.modeling.service
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunPrediction(Base):
    """One image's prediction in a run: out of fold for a training image, by the final model for an
    evaluation image (which never entered training)."""

    __tablename__ = "model_run_predictions"
    __table_args__ = (Index("ix_model_run_predictions_run_split", "run_id", "split"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, index=True)
    split: Mapped[str] = mapped_column(String(8))  # the version's split: train, val or test
    out_of_fold: Mapped[bool] = mapped_column(Boolean)  # True: a training image, predicted by a fold model
    fold: Mapped[int | None] = mapped_column(Integer)
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    predicted_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    confidence: Mapped[float] = mapped_column(Float)  # probability of the predicted class
    probabilities: Mapped[list[float]] = mapped_column(JSONType, default=list)  # in ModelRun.classes order


class FeatureVector(Base):
    """A recipe's features of one image's bytes, computed once: keyed by the recipe's feature key and
    the image's content hash, so a relabel or a new version never extracts an unchanged image again."""

    __tablename__ = "model_features"

    feature_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    dims: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[datetime] = created_at_column()


class CaptureState(StrEnum):
    open = "open"
    done = "done"


class CaptureRequest(Base):
    """A request to the line for more images of a weak slice or class, raised from a run's error analysis."""

    __tablename__ = "capture_requests"
    __table_args__ = (one_of("state", CaptureState),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("model_runs.id", ondelete="SET NULL"))
    slice: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {"line": "L2", "shift": "night"}
    label_class_id: Mapped[int | None] = mapped_column(ForeignKey("label_classes.id", ondelete="SET NULL"))
    wanted: Mapped[int] = mapped_column(Integer, default=50)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    state: Mapped[str] = mapped_column(String(8), default=CaptureState.open)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
