"""The analysis domain's interface for the rest of Concord (pages, API, CLI, other domains, jobs).

Slices, drift, model predictions with confident-learning label issues, targeted augmentation.
Every function takes the session first, flushes when it needs ids and never commits; the long ones
(`run_drift`, `augment_class`) take `progress(fraction, message)` for background jobs.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.analysis.augmentation import AugmentResult, augment_class
from app.analysis.drift_reports import (
    DRIFT_PRIORITY,
    ensure_image_stats,
    latest_report,
    record_image_stats,
    reference_batch,
    run_drift,
    set_reference_batch,
)
from app.analysis.label_issues import IssueReport, SendResult, find_issues, send_to_review
from app.analysis.predictions import ImportResult, import_predictions
from app.analysis.slice_report import report_json, slice_report

__all__ = [
    "DRIFT_PRIORITY", "AugmentResult", "DriftSummary", "ImportResult", "IssueReport", "SendResult",
    "augment_class", "drift_summary", "ensure_image_stats", "find_issues", "import_predictions", "latest_report",
    "record_image_stats", "reference_batch", "report_json", "run_drift", "send_to_review", "set_reference_batch",
    "slice_report",
]


@dataclass
class DriftSummary:
    """What the project page shows: the drifted batches and slices of the latest drift run."""

    report_id: int
    batches: list[str]
    slices: list[str]
    reference: str
    url: str

    @property
    def any(self) -> bool:
        return bool(self.batches or self.slices)


def drift_summary(db: Session, project_id: int) -> DriftSummary | None:
    report = latest_report(db, project_id)
    if report is None:
        return None
    body = report.report
    return DriftSummary(
        report_id=report.id,
        batches=[b["name"] for b in body.get("batches", []) if b["result"]["flagged"]],
        slices=[s["name"] for s in body.get("slices", []) if s["result"]["flagged"] and not s.get("explained_by")],
        reference=body.get("reference", {}).get("name", ""),
        url=f"/projects/{project_id}/analysis/drift",
    )
