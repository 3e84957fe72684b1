"""Answers of the consistency API (typed, so the OpenAPI document describes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ClusterOut(BaseModel):
    """A consensus box: coordinate-wise median of the matched boxes (pixels, top-left x/y)."""

    x: float
    y: float
    w: float
    h: float
    class_id: int
    support: float  # labelers who drew it / labelers of the image
    labelers: list[int]
    missing: list[int]
    classes: list[int]  # each member's class, in the order of `labelers`
    class_agreement: float
    iou: list[float]  # each member's IoU with the consensus box
    iou_tolerant: list[float]


class ConsensusOut(BaseModel):
    image_id: int
    file_name: str
    computed: bool  # False: no label yet
    n_labels: int = 0
    consensus_class_id: int | None = None
    consensus_class: str | None = None
    confidence: float | None = None
    majority_class_id: int | None = None
    majority_class: str | None = None
    entropy: float | None = None
    method: str | None = None  # dawid_skene or majority
    posterior: dict[str, float] = {}  # class id -> probability
    box_agreement: float | None = None
    clusters: list[ClusterOut] = []
    updated_at: datetime | None = None


class ConflictOut(BaseModel):
    id: int
    kind: str
    state: str
    severity: float
    image_id: int | None
    duplicate_group_id: int | None
    subject: str
    reason: str
    details: dict[str, Any]
    version: int
    updated_at: datetime | None
    resolved_at: datetime | None


class LabelerQualityOut(BaseModel):
    user_id: int
    name: str
    email: str
    n_labels: int
    accuracy: float | None  # Dawid-Skene estimate of the share of this labeler's labels that are right
    agreement_with_consensus: float | None
    gold_accuracy: float | None
    gold_count: int
    median_duration_ms: float | None
    too_fast: bool = False  # median_duration_ms below the project's fast-labeler threshold
    class_ids: list[int]  # order of the confusion matrix's axes
    confusion: list[list[float]]  # rows: true class, columns: answered class


class AgreementOut(BaseModel):
    computed_at: str | None  # None: no recompute yet
    alpha: float | None
    fleiss_kappa: float | None
    fleiss_reason: str | None
    box_alpha: float | None
    n_images: int
    n_annotations: int
    classes: list[str]
    class_pairs: dict[str, Any]  # classes, rate, share, items_split (matrices in class order)
    top_pairs: list[dict[str, Any]]
    kappas: list[dict[str, Any]]  # a, b (user ids), labelers (names), n (shared images), kappa
    kappa_min_shared: int | None
    conflicts: dict[str, int]  # open + returned, by kind
    duplicates: dict[str, Any]
    labelers: list[LabelerQualityOut]
    trend: list[dict[str, Any]]


class RecomputeOut(BaseModel):
    queued: bool  # True: a job runs it (follow `url`); False: it ran in this request
    job_id: int | None = None
    url: str
    summary: dict[str, Any] | None = None
