"""Likely label errors (confident learning on imported predictions) and their way into the review queue.

The label checked is each image's current label (final, else consensus, else the plurality of its
live annotations), so an image with a single label is checked too. Each issue becomes a Conflict of
kind `model_disagreement` with subject "image:<id>"; sending again updates the open ones, reopens
ones that had closed, leaves alone what a reviewer settled, and closes open confident-learning
conflicts whose image is no longer an issue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.analysis import confident_learning as cl
from app.analysis.data import load_predictions, load_project_data, model_names
from app.auth.models import User
from app.consistency import severity
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.core import audit
from app.core.errors import Invalid, NotFound

SOURCE = "confident_learning"
SETTLED = (ConflictState.resolved, ConflictState.ambiguous)


@dataclass
class Issue:
    rank: int
    image_id: int
    file_name: str
    given: str
    given_class_id: int
    suggested: str
    suggested_class_id: int
    self_confidence: float
    suggested_probability: float
    label_source: str
    n_labels: int
    severity: float


@dataclass
class IssueReport:
    model_name: str | None
    models: list[str]
    rank_by: str
    n_scored: int  # images with both a prediction and a label
    class_names: list[str]
    thresholds: list[float | None] = field(default_factory=list)
    confident_joint: list[list[int]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "models": self.models, "rank_by": self.rank_by,
                "n_scored": self.n_scored, "n_issues": len(self.issues), "class_names": self.class_names,
                "thresholds": self.thresholds, "confident_joint": self.confident_joint,
                "issues": [vars(i) for i in self.issues]}


def find_issues(db: Session, *, project_id: int, model_name: str | None = None,
                rank_by: str = "self_confidence") -> IssueReport:
    """Rank the likely label errors (read-only). No predictions yet: an empty report."""
    if rank_by not in cl.RANK_METHODS:
        raise Invalid(f"rank_by must be one of {', '.join(cl.RANK_METHODS)}", field="rank_by")
    models = model_names(db, project_id)
    if model_name is not None and model_name not in models:
        raise NotFound(f"no predictions of a model named {model_name!r}")
    model = model_name or (models[0] if models else None)
    data = load_project_data(db, project_id)
    report = IssueReport(model, models, rank_by, 0, data.class_names)
    if model is None:
        return report
    probs = load_predictions(db, data, project_id, model)
    usable = ~np.isnan(probs).any(axis=1) & (data.label >= 0)
    report.n_scored = int(usable.sum())
    if report.n_scored < 2 or np.unique(data.label[usable]).size < 2:
        return report
    rows = np.flatnonzero(usable)
    found = cl.find_label_issues(data.label[rows], probs[rows], rank_by=rank_by)
    report.thresholds = [None if np.isnan(t) else round(float(t), 4) for t in found.thresholds]
    report.confident_joint = found.confident_joint.tolist()
    k = len(data.class_ids)
    for rank, local in enumerate(found.indices, start=1):
        r = int(rows[local])
        given, suggested = int(data.label[r]), int(found.estimated[local])
        consensus_conf = data.confidence[r]
        if np.isnan(consensus_conf):  # a plurality: its vote share, shrunk for few labels
            n = data.votes[r].sum()
            consensus_conf = (data.votes[r, given] + 1.0) / (n + 2.0)
        report.issues.append(Issue(
            rank=rank, image_id=int(data.image_ids[r]), file_name=data.file_names[r],
            given=data.class_names[given], given_class_id=data.class_ids[given],
            suggested=data.class_names[suggested], suggested_class_id=data.class_ids[suggested],
            self_confidence=round(float(probs[r, given]), 4),
            suggested_probability=round(float(probs[r, suggested]), 4),
            label_source=data.label_source[r], n_labels=int(data.votes[r].sum()),
            severity=severity.model_disagreement(model_confidence=float(probs[r, suggested]),
                                                 consensus_confidence=float(consensus_conf), n_classes=k),
        ))
    return report


@dataclass
class SendResult:
    model_name: str | None
    issues: int
    created: int = 0
    updated: int = 0
    reopened: int = 0
    kept_settled: int = 0
    closed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _details(issue: Issue, model: str, rank_by: str) -> dict[str, Any]:
    return {"source": SOURCE, "model": model, "rank": issue.rank, "rank_by": rank_by,
            "given_class_id": issue.given_class_id, "given_class": issue.given,
            "suggested_class_id": issue.suggested_class_id, "suggested_class": issue.suggested,
            "self_confidence": issue.self_confidence, "suggested_probability": issue.suggested_probability,
            "label_source": issue.label_source, "n_labels": issue.n_labels,
            "message": f"model {model} says {issue.suggested} ({issue.suggested_probability:.0%}); "
                       f"the label says {issue.given} ({issue.self_confidence:.0%} by the model)"}


def _upsert(db: Session, project_id: int, issue: Issue, details: dict[str, Any], result: SendResult) -> None:
    key = f"image:{issue.image_id}"
    query = select(Conflict).where(Conflict.project_id == project_id, Conflict.kind == ConflictKind.model_disagreement,
                                   Conflict.subject_key == key)
    conflict = db.scalar(query)
    if conflict is None:
        savepoint = db.begin_nested()
        try:
            db.add(Conflict(project_id=project_id, image_id=issue.image_id, subject_key=key,
                            kind=ConflictKind.model_disagreement, severity=issue.severity, details=details,
                            state=ConflictState.open))
            db.flush()
            savepoint.commit()
            result.created += 1
            return
        except IntegrityError:  # sent at the same moment by someone else: update theirs
            savepoint.rollback()
            conflict = db.scalar(query)
            if conflict is None:
                raise
    if conflict.state in SETTLED:
        result.kept_settled += 1
        return
    if conflict.state == ConflictState.closed:
        conflict.state = ConflictState.open
        result.reopened += 1
    else:
        result.updated += 1
    conflict.severity, conflict.details = issue.severity, details


def send_to_review(db: Session, *, project_id: int, actor: User | None, model_name: str | None = None,
                   limit: int | None = None, rank_by: str = "self_confidence") -> SendResult:
    """Make the top `limit` issues (all by default) conflicts for the review queue; flushes, never commits."""
    report = find_issues(db, project_id=project_id, model_name=model_name, rank_by=rank_by)
    if report.model_name is None:
        raise Invalid("import model predictions first (concord predictions import)", field="model")
    chosen = report.issues[:limit] if limit else report.issues
    result = SendResult(report.model_name, len(chosen))
    for issue in chosen:
        _upsert(db, project_id, issue, _details(issue, report.model_name, rank_by), result)
    flagged = {f"image:{i.image_id}" for i in chosen}
    stale = db.scalars(select(Conflict).where(
        Conflict.project_id == project_id, Conflict.kind == ConflictKind.model_disagreement,
        Conflict.state == ConflictState.open, Conflict.subject_key.not_in(flagged) if flagged else true()))
    for conflict in stale:
        if (conflict.details or {}).get("source") == SOURCE:
            conflict.state = ConflictState.closed
            result.closed += 1
    db.flush()
    audit.record(db, action="analysis.label_issues_sent", actor_id=actor.id if actor else None,
                 project_id=project_id, object_type="model", data=result.as_dict())
    return result
