"""What the review API accepts and answers (Pydantic v2); the services take these as input."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.review.models import Decision

MAX_BOXES = 500  # mirrors Settings.max_boxes_per_annotation's default
MAX_REASON = 2000

DecisionName = Literal["accept_consensus", "take_labeler", "edit", "ambiguous", "send_back", "group"]


class BoxIn(BaseModel):
    """A box in image pixels (x, y = top-left). The service checks it lies inside the image."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    class_id: int

    @field_validator("x", "y", "w", "h")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class DecisionIn(BaseModel):
    """One reviewer decision on a conflict, made on the conflict `version` the reviewer saw.

    accept_consensus: the consensus class and boxes; take_labeler: `labeler_id`'s answer;
    edit: `label_class_id` and `boxes`; ambiguous: excluded from export until decided;
    send_back: `labeler_ids` relabel with `reason` as the note; group: `label_class_id` for every
    image of the near-duplicate group.

    `class_only` (edit, accept_consensus): the decision is about the image's class; its boxes are the
    consensus boxes a majority supports (finals.consensus_boxes), and conflicts about boxes stay open
    for a person, unless the class means "no defect" (then there are no boxes, and nothing to settle).
    A group decision is class-only for every image of the group.
    """

    model_config = ConfigDict(extra="forbid")

    decision: DecisionName
    version: int = Field(ge=0)
    label_class_id: int | None = None
    boxes: list[BoxIn] | None = Field(default=None, max_length=MAX_BOXES)
    labeler_id: int | None = None
    labeler_ids: list[int] = Field(default_factory=list, max_length=100)
    reason: str = Field(default="", max_length=MAX_REASON)
    class_only: bool = False

    def audit_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FlagIn(BaseModel):
    """A reviewer's flag on an image: the note says what looks wrong (required)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_REASON)


class FlagOut(BaseModel):
    conflict_id: int
    image_id: int
    state: str
    severity: float
    version: int
    url: str  # the conflict page


class ResolutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conflict_id: int
    reviewer_id: int
    decision: Decision
    label_class_id: int | None
    boxes: list[dict[str, Any]] | None
    taken_from_labeler_id: int | None
    reason: str
    conflict_version: int
    created_at: datetime


class DecisionOut(BaseModel):
    resolution: ResolutionOut
    settled_conflict_ids: list[int]
    image_ids: list[int]
    next_conflict_id: int | None = None


class BulkRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(min_length=1, max_length=255)
    final_class: str = Field(min_length=1, max_length=80)
    note: str = Field(default="", max_length=MAX_REASON)
    boxes: list[BoxIn] | None = Field(default=None, max_length=MAX_BOXES)


class BulkDecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[BulkRowIn] = Field(min_length=1, max_length=100_000)


class BulkDecisionsOut(BaseModel):
    decided: int
    resolution_ids: list[int]
    boxes_left_open: int = 0  # decided images whose conflicts about boxes stay open for a person


class ExampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_class_id: int
    note: str = Field(default="", max_length=MAX_REASON)
    counter_example: bool = False


class ClassVotes(BaseModel):
    id: int
    name: str
    votes: int


class ConflictItemOut(BaseModel):
    id: int
    rank: int
    kind: str
    state: str
    severity: float
    version: int
    image_id: int | None
    file_name: str | None
    duplicate_group_id: int | None
    images: int
    labelers: int
    classes: list[ClassVotes]
    details: dict[str, Any]


class FacetValueOut(BaseModel):
    value: str
    label: str
    count: int
    active: bool


class FacetOut(BaseModel):
    name: str
    title: str
    values: list[FacetValueOut]


class QueueOut(BaseModel):
    total: int
    offset: int
    limit: int
    filters: dict[str, str]
    items: list[ConflictItemOut]
    facets: list[FacetOut]


class AnswerOut(BaseModel):
    labeler_id: int
    labeler: str
    label_class_id: int | None
    boxes: list[dict[str, Any]]
    unsure: bool
    comment: str
    created_at: datetime


class ConsensusOut(BaseModel):
    label_class_id: int | None
    confidence: float | None
    majority_class_id: int | None
    method: str
    n_labels: int
    boxes: list[dict[str, Any]]


class FinalLabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    label_class_id: int | None
    boxes: list[dict[str, Any]]
    source: str
    is_ambiguous: bool
    resolution_id: int | None


class ConflictDetailOut(BaseModel):
    id: int
    kind: str
    state: str
    severity: float
    version: int
    details: dict[str, Any]
    image_id: int
    file_name: str
    duplicate_group_id: int | None
    group_image_ids: list[int]
    answers: list[AnswerOut]
    consensus: ConsensusOut | None
    gold_class_id: int | None
    final_label: FinalLabelOut | None
    other_conflict_ids: list[int]
    resolutions: list[ResolutionOut]
    next_conflict_id: int | None
    previous_conflict_id: int | None


class FeedbackItemOut(BaseModel):
    image_id: int
    file_name: str
    your_class_id: int | None
    final_class_id: int | None
    reason: str
    reviewer: str
    decision: str
    decided_at: datetime


class FeedbackOut(BaseModel):
    labeler_id: int
    reviewed: int
    agreed: int
    items: list[FeedbackItemOut]
