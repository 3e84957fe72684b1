"""What the model-run API takes and gives (Pydantic v2)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.models import Job
from app.modeling.models import ModelRun
from app.modeling.service import MAX_FOLDS, MAX_SEED, effective_state


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version_id: int = Field(description="the frozen dataset version to train on (its train and val images) and "
                                        "evaluate on (its test images)")
    recipe: str | None = Field(default=None, max_length=40, description="a recipe name; default: the default recipe")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    folds: int = Field(default=5, ge=2, le=MAX_FOLDS)
    backbone: str | None = Field(default=None, max_length=255,
                                 description="the `backbone` key an upload to .../models/backbones returned "
                                             "(the onnx-linear recipe)")


class BackboneOut(BaseModel):
    backbone: str  # the key to pass as RunIn.backbone
    sha256: str
    input: str  # "HxW"
    dimension: int
    pooling: str
    size_bytes: int


class JobProgress(BaseModel):
    id: int
    state: str
    progress: float
    message: str
    status_url: str


class RunOut(BaseModel):
    id: int
    project_id: int
    number: int
    version_id: int
    recipe: str
    recipe_identity: dict[str, Any]
    backbone: str | None
    seed: int
    folds: int
    state: str
    error: str
    classes: list[dict[str, Any]]
    train_count: int
    eval_count: int
    metrics: dict[str, Any]
    seconds: float | None
    created_at: datetime
    finished_at: datetime | None
    job: JobProgress | None
    url: str  # the run's page
    predictions_url: str  # the CSV

    @classmethod
    def of(cls, run: ModelRun, job: Job | None) -> RunOut:
        state, error = effective_state(run, job)
        api = f"/api/v1/projects/{run.project_id}/models/runs/{run.id}"
        progress = None if job is None else JobProgress(
            id=job.id, state=job.state, progress=job.progress, message=job.message,
            status_url=f"/api/v1/projects/{run.project_id}/jobs/{job.id}")
        return cls(id=run.id, project_id=run.project_id, number=run.number, version_id=run.version_id,
                   recipe=run.recipe, recipe_identity=run.recipe_identity, backbone=run.backbone_key, seed=run.seed,
                   folds=run.folds, state=state, error=error, classes=run.classes, train_count=run.train_count,
                   eval_count=run.eval_count, metrics=run.metrics, seconds=run.seconds, created_at=run.created_at,
                   finished_at=run.finished_at, job=progress, url=f"/projects/{run.project_id}/models/{run.id}",
                   predictions_url=f"{api}/predictions.csv")
