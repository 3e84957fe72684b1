"""JSON shapes of the labeling API (the labeling page uses the same API as scripts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.labeling.rules import MAX_RULE_MS
from app.projects.models import BoxRule

HARD_MAX_BOXES = 10_000  # parse-time cap; the configured max_boxes_per_annotation is checked after


class NextIn(BaseModel):
    # strict: `[true, false]` is not a list of assignment ids (lax mode read it as [1, 0]; schemathesis)
    model_config = ConfigDict(extra="forbid", strict=True)

    exclude: list[int] = Field(
        default_factory=list,
        max_length=8,
        description="assignment ids the client already holds (e.g. the prefetched one)",
    )
    tz_offset_minutes: int = Field(
        default=0, ge=-14 * 60, le=14 * 60, description="minutes to add to UTC for the labeler's day (progress)"
    )


class AnnotationIn(BaseModel):
    """One answer. `boxes` are image pixels: [{"x", "y", "w", "h", "class_id"}], x/y the top-left."""

    model_config = ConfigDict(extra="forbid")

    label_class_id: int | None = None
    boxes: list[dict[str, Any]] = Field(default_factory=list, max_length=HARD_MAX_BOXES)
    unsure: bool = False
    comment: str = Field(default="", max_length=2000)
    duration_ms: int | None = Field(default=None, ge=0, le=24 * 3600 * 1000)
    idempotency_key: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the same key twice stores one annotation",
    )
    supersedes_id: int | None = Field(
        default=None,
        description="the live annotation this answer replaces (as given in the assignment); a mismatch is a 409",
    )
    defect_book_version: int | None = None


class ImageOut(BaseModel):
    id: int
    width: int
    height: int
    url: str
    thumbnail_url: str


class PreviousOut(BaseModel):
    """The labeler's own live answer (shown on a returned assignment); never another labeler's."""

    id: int
    label_class_id: int | None
    boxes: list[dict[str, Any]]
    unsure: bool
    comment: str


class AssignmentOut(BaseModel):
    id: int
    state: str
    note: str | None
    image: ImageOut
    supersedes_id: int | None
    previous: PreviousOut | None
    expires_at: str | None


class ProgressOut(BaseModel):
    done_today: int
    remaining: int


class NextOut(BaseModel):
    assignment: AssignmentOut | None
    progress: ProgressOut


class AnnotationOut(BaseModel):
    id: int
    image_id: int
    assignment_id: int | None
    label_class_id: int | None
    boxes: list[dict[str, Any]]
    unsure: bool
    comment: str
    superseded_id: int | None = None
    replayed: bool = False
    progress: ProgressOut | None = None


class SkipOut(BaseModel):
    id: int
    state: str
    progress: ProgressOut


class OverlapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels_per_image: int = Field(ge=1, le=20)
    qa_fraction: float = Field(ge=0, le=1, allow_inf_nan=False)
    qa_labels_per_image: int = Field(ge=1, le=20)
    adaptive_overlap: bool = False
    gold_rate: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False)
    overlap_slices: list[str] = Field(default_factory=list, max_length=50)


class OverlapOut(OverlapIn):
    images_wanting_labels: int


class PreviousIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    exclude: list[int] = Field(
        default_factory=list,
        max_length=8,
        description="assignment ids already reopened (each Backspace one further back)",
    )


class ShownOut(BaseModel):
    id: int
    shown_at: str


class ClassRuleOut(BaseModel):
    id: int
    name: str
    is_active: bool
    box_rule: BoxRule


class LabelingRulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_view_ms: int = Field(
        ge=0, le=MAX_RULE_MS, description="an image's minimum time on screen before its answer is taken; 0: none"
    )
    fast_median_ms: int = Field(
        ge=0, le=MAX_RULE_MS, description="labelers whose median answer time is below this are flagged; 0: never"
    )
    box_rules: dict[int, BoxRule] = Field(
        default_factory=dict,
        max_length=500,
        description="class id -> required, optional or none (classes left out keep theirs)",
    )


class LabelingRulesOut(BaseModel):
    min_view_ms: int
    fast_median_ms: int
    classes: list[ClassRuleOut]
