"""What the model-run API takes and gives (Pydantic v2)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.models import Job
from app.modeling.compare import Changed
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


class RecipeOut(BaseModel):
    name: str
    version: str  # bumped whenever anything changes predictions
    params: dict[str, Any] = Field(description="everything that shapes the features and the head; "
                                               "its keys differ from recipe to recipe")
    libraries: dict[str, str]  # library name: version in use
    description: str
    needs_backbone: bool  # pass an uploaded backbone (POST .../models/backbones) to use it
    feature_key: str  # SHA-256 hex of what determines the features


class Interval(BaseModel):
    """A figure with its bootstrap interval; None where it is undefined (e.g. no image of a class)."""

    value: float | None
    low: float | None
    high: float | None


class MetricDelta(BaseModel):
    """A metric of run a and run b on the same images, and b - a with its paired bootstrap interval."""

    a: float | None
    b: float | None
    delta: Interval


class RunSummary(BaseModel):
    id: int
    number: int
    recipe: str
    seed: int
    version_id: int
    version_number: int
    version_name: str


class ReferenceOut(BaseModel):
    """The labels both runs are scored on, after the leak guard dropped images either trained on."""

    version_id: int
    version_number: int
    version_name: str
    split: Literal["test", "all"]
    settled_only: bool
    count: int  # images scored
    total: int  # reference items before the leak guard
    dropped: dict[str, int]  # leaked into run "a", into run "b", and "total" dropped
    description: str


class ClassRef(BaseModel):
    id: int
    name: str


class ClassDelta(BaseModel):
    class_id: int
    name: str
    support: int  # reference images of the class
    precision: MetricDelta
    recall: MetricDelta
    f1: MetricDelta


class SliceDelta(BaseModel):
    dimension: str  # a metadata key, or "batch"
    value: str
    n: int
    accuracy: MetricDelta
    macro_f1: MetricDelta


class ChangedOut(BaseModel):
    fixed: int  # images run a got wrong and run b right
    broken: int  # and the other way round
    fixed_images: list[Changed]  # the first of each, up to a limit
    broken_images: list[Changed]


class ClassChangeOut(BaseModel):
    """The data changes of one class between the runs' versions, beside its metric change."""

    name: str
    corrected_to: int  # kept images relabeled into this class
    corrected_from: list[tuple[str, int]]  # [former class, images], most first
    moved_out: int
    added: int
    augmented: int
    removed: int
    recall: MetricDelta | None  # None when the class is not among the compared classes
    f1: MetricDelta | None
    sentence: str  # the change and the metric change in one line
    changes: int


class AttributionOut(BaseModel):
    before: int  # run a's version number
    after: int  # run b's
    same_version: bool
    relabeled: int
    added: int
    augmented: int
    removed: int
    sentences: list[str]  # a lead sentence, then one per changed class
    classes: list[ClassChangeOut]


class ComparisonOut(BaseModel):
    a: RunSummary
    b: RunSummary
    reference: ReferenceOut
    n: int  # reference images scored
    classes: list[ClassRef]
    predicted_now: dict[str, int] = Field(description='reference images run "a" and run "b" had no stored '
                                                      "prediction for, predicted by their model for this answer")
    accuracy: MetricDelta | None  # None when no reference image is left
    macro_f1: MetricDelta | None
    per_class: list[ClassDelta]
    slices: list[SliceDelta]  # largest drop first
    changed: ChangedOut
    attribution: AttributionOut


class StepAction(BaseModel):
    """A call that addresses a weakness: `method` `url` with `body` (the body's fields are those of the
    operation at `url`, e.g. a capture request's)."""

    kind: str  # "capture", "augment", "send_to_review"
    label: str
    method: str
    url: str
    body: dict[str, Any] | None = None  # left out where the call takes no body
    page: str | None = None  # a page doing the same, where there is one


class WeaknessOut(BaseModel):
    kind: Literal["class", "slice"]
    title: str  # "pit", "line L3"
    value: float  # F1 of a class; accuracy gap of a slice
    n: int
    source: str  # out_of_fold or evaluation
    detail: str
    class_id: int | None
    slice: dict[str, str]  # metadata key: value of a slice
    actions: list[StepAction]


class NextStepsOut(BaseModel):
    run_id: int
    run_number: int
    model_name: str
    classes: list[WeaknessOut]  # lowest F1 first
    slices: list[WeaknessOut]  # largest accuracy gap first
    actions: list[StepAction]  # for the whole run


class CaptureRequestOut(BaseModel):
    id: int
    project_id: int
    run_id: int | None
    slice: dict[str, str]  # metadata key: value
    label_class_id: int | None
    class_name: str | None
    wanted: int
    note: str
    state: Literal["open", "done"]
    created_by_id: int | None
    created_at: str | None = Field(description="ISO 8601")
    closed_at: str | None = Field(description="ISO 8601; None while open")
