"""What the analysis API takes and gives (Pydantic v2)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.analysis.augmentation import MAX_PER_IMAGE
from app.analysis.label_issues import Issue
from app.analysis.predictions import MODEL_NAME_MAX

RankBy = Literal["self_confidence", "normalized_margin"]


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_id: int


class SendIssuesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=MODEL_NAME_MAX)
    limit: int | None = Field(default=None, ge=1, le=100_000)
    rank_by: RankBy = "self_confidence"


class AugmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    class_name: str = Field(alias="class", min_length=1, max_length=80)
    per_image: int = Field(ge=1, le=MAX_PER_IMAGE)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    limit: int | None = Field(default=None, ge=1, le=100_000)


# --- Answers -----------------------------------------------------------------------------------------

class SliceStatsOut(BaseModel):
    name: str
    key: list[list[str]]  # [[dimension, value], ...]; empty for the whole project
    n: int
    class_counts: dict[str, int]
    labeled: float
    finalized: float
    alpha: float | None
    conflict_rate: float | None
    top_pair: list[str] | None
    model_accuracy: float | None
    n_scored: int
    drifted: bool
    score: float
    reasons: list[str]


class FindingOut(BaseModel):
    kind: str
    title: str
    detail: str
    action: str
    score: float
    slice_name: str | None = None


class SliceReportOut(BaseModel):
    overall: SliceStatsOut
    dimensions: list[str]
    findings: list[FindingOut]
    slices: list[SliceStatsOut]


class FeatureDriftOut(BaseModel):
    feature: str
    distance: float
    noise_floor: float
    mean: float
    reference_mean: float
    significant: bool


class DriftResultOut(BaseModel):
    n: int
    n_reference: int
    distance: float
    feature: str | None
    flagged: bool
    judged: bool
    features: list[FeatureDriftOut]


class DriftFeatureOut(BaseModel):
    name: str
    label: str
    lo: float
    hi: float
    bins: int


class DriftReferenceOut(BaseModel):
    kind: Literal["batch", "all"]
    batch_id: int | None
    name: str
    n: int
    hist: dict[str, list[int]]


class DriftBatchOut(BaseModel):
    batch_id: int
    name: str
    is_reference: bool
    hist: dict[str, list[int]]
    note: str
    result: DriftResultOut


class DriftSliceOut(BaseModel):
    key: list[list[str]]
    name: str
    note: str
    explained_by: str | None
    hist: dict[str, list[int]]
    result: DriftResultOut


class DriftReportOut(BaseModel):
    """The latest drift report; only `computed`, `batches` and `slices` when none was computed yet."""

    computed: bool
    id: int | None = None
    created_at: str | None = None  # ISO 8601
    version: int | None = None
    threshold: float | None = None
    min_images: int | None = None
    distance: str | None = None
    features: list[DriftFeatureOut] = []
    reference: DriftReferenceOut | None = None
    n_images: int | None = None
    n_without_stats: int | None = None
    raised_priority: int | None = None  # images whose labeling priority the run raised
    batches: list[DriftBatchOut]
    slices: list[DriftSliceOut]


class DriftRunOut(BaseModel):
    id: int
    n_flagged: int
    raised_priority: int
    flagged_batches: list[str]
    flagged_slices: list[str]


class ReferenceOut(BaseModel):
    reference_batch_id: int
    name: str


class PredictionsImportOut(BaseModel):
    model_name: str
    rows: int
    created: int
    updated: int


class IssueReportOut(BaseModel):
    model_name: str | None
    models: list[str]
    rank_by: str
    n_scored: int
    n_issues: int
    class_names: list[str]
    thresholds: list[float | None]
    confident_joint: list[list[int]]
    issues: list[Issue]


class SendIssuesOut(BaseModel):
    model_name: str | None
    issues: int
    created: int
    updated: int
    reopened: int
    kept_settled: int
    closed: int


class AugmentOut(BaseModel):
    class_name: str
    sources: int
    created: int
    existing: int
    refused: int
    batch_id: int | None
    image_ids: list[int]  # the first 1000
