"""What the consistency service shows: an image's consensus and conflicts, the project's agreement,
each labeler's quality, the open conflicts, the consensus per image (for the API, page and CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.consistency.context import latest_snapshot
from app.consistency.models import AgreementSnapshot, Conflict, ConflictState, ImageConsensus, LabelerQuality
from app.core.errors import NotFound
from app.images.models import Image
from app.labeling import rules
from app.projects.models import LabelClass, Project

ACTIVE = (ConflictState.open, ConflictState.returned)
TREND_POINTS = 30


def class_names(db: Session, project_id: int) -> dict[int, str]:
    return dict(db.execute(select(LabelClass.id, LabelClass.name).where(LabelClass.project_id == project_id)).all())


def image_in_project(db: Session, *, project_id: int, image_id: int) -> Image:
    image = db.get(Image, image_id)
    if image is None or image.project_id != project_id:
        raise NotFound("image not found")
    return image


def image_consensus(db: Session, *, project_id: int, image_id: int) -> tuple[Image, ImageConsensus | None]:
    image = image_in_project(db, project_id=project_id, image_id=image_id)
    return image, db.get(ImageConsensus, image.id)


def image_conflicts(db: Session, *, project_id: int, image_id: int) -> list[Conflict]:
    """The image's own conflicts and those of its near-duplicate group, worst first."""
    image = image_in_project(db, project_id=project_id, image_id=image_id)
    subject = Conflict.image_id == image.id
    if image.duplicate_group_id is not None:
        subject = subject | (Conflict.subject_key == f"group:{image.duplicate_group_id}")
    return list(db.scalars(select(Conflict).where(Conflict.project_id == project_id, subject)
                           .order_by(Conflict.severity.desc(), Conflict.id)))


@dataclass
class QualityRow:
    user_id: int
    name: str
    email: str
    quality: LabelerQuality
    too_fast: bool = False  # median answer time below the project's threshold: answers nobody looked at?


def labeler_quality(db: Session, *, project_id: int) -> list[QualityRow]:
    """Every labeler of the last recompute, lowest estimated accuracy first (those need attention)."""
    rows = db.execute(select(LabelerQuality, User.display_name, User.email)
                      .join(User, User.id == LabelerQuality.user_id)
                      .where(LabelerQuality.project_id == project_id)).all()
    project = db.get(Project, project_id)
    fast_ms = rules.timing(project).fast_median_ms if project is not None else 0
    out = [QualityRow(q.user_id, name, email, q, rules.is_too_fast(q.median_duration_ms, fast_ms))
           for q, name, email in rows]
    out.sort(key=lambda r: (r.quality.accuracy if r.quality.accuracy is not None else 2.0, r.user_id))
    return out


def conflict_counts(db: Session, *, project_id: int) -> dict[str, dict[str, int]]:
    """Conflicts by kind and state, now."""
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in db.execute(select(Conflict.kind, Conflict.state, func.count())
                                     .where(Conflict.project_id == project_id)
                                     .group_by(Conflict.kind, Conflict.state)):
        out.setdefault(kind, {})[state] = n
    return out


def trend(db: Session, *, project_id: int) -> list[AgreementSnapshot]:
    rows = db.scalars(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project_id)
                      .order_by(AgreementSnapshot.created_at.desc(), AgreementSnapshot.id.desc())
                      .limit(TREND_POINTS)).all()
    return list(reversed(rows))


def agreement_summary(db: Session, *, project_id: int) -> dict[str, Any]:
    """The project figures of the last recompute, named (class and labeler names), with the
    conflict counts of now and the trend: the body of the API, the CLI's --json and the page."""
    snapshot = latest_snapshot(db, project_id)
    names = class_names(db, project_id)
    quality = labeler_quality(db, project_id=project_id)
    people = {r.user_id: r.name for r in quality}
    body: dict[str, Any] = {
        "computed_at": _iso(snapshot.created_at) if snapshot else None,
        "alpha": snapshot.alpha if snapshot else None,
        "fleiss_kappa": snapshot.fleiss_kappa if snapshot else None,
        "box_alpha": snapshot.box_alpha if snapshot else None,
        "n_images": snapshot.n_images if snapshot else 0,
        "n_annotations": snapshot.n_annotations if snapshot else 0,
        "conflicts": {kind: sum(states.get(s, 0) for s in ACTIVE)
                      for kind, states in conflict_counts(db, project_id=project_id).items()},
        "labelers": [quality_json(r) for r in quality],
        "trend": [{"at": _iso(s.created_at), "alpha": s.alpha, "box_alpha": s.box_alpha,
                   "fleiss_kappa": s.fleiss_kappa, "n_annotations": s.n_annotations}
                  for s in trend(db, project_id=project_id)],
    }
    summary = snapshot.summary if snapshot else {}
    body["fleiss_reason"] = summary.get("fleiss_reason")
    ids = summary.get("class_ids", [])
    body["classes"] = [names.get(i, f"class {i}") for i in ids]
    body["class_pairs"] = {"classes": body["classes"], **summary.get("class_pairs", {})}
    body["top_pairs"] = [{**p, "classes": [names.get(p["a"], str(p["a"])), names.get(p["b"], str(p["b"]))]}
                         for p in summary.get("top_pairs", [])]
    body["kappas"] = [{**k, "labelers": [people.get(k["a"], str(k["a"])), people.get(k["b"], str(k["b"]))]}
                      for k in summary.get("kappas", [])]
    body["kappa_min_shared"] = summary.get("kappa_min_shared")
    body["duplicates"] = summary.get("duplicates", {})
    return body


def quality_json(r: QualityRow) -> dict[str, Any]:
    q = r.quality
    return {"user_id": r.user_id, "name": r.name, "email": r.email, "n_labels": q.n_labels, "accuracy": q.accuracy,
            "agreement_with_consensus": q.agreement_with_consensus, "gold_accuracy": q.gold_accuracy,
            "gold_count": q.gold_count, "median_duration_ms": q.median_duration_ms, "class_ids": q.class_ids,
            "confusion": q.confusion, "too_fast": r.too_fast}


def open_conflicts(db: Session, *, project_id: int, limit: int | None = None) -> list[dict[str, Any]]:
    """Open (and returned) conflicts, worst first, with the image's file name (or the group's)."""
    query = (select(Conflict, Image.file_name).outerjoin(Image, Image.id == Conflict.image_id)
             .where(Conflict.project_id == project_id, Conflict.state.in_(ACTIVE))
             .order_by(Conflict.severity.desc(), Conflict.id))
    if limit:
        query = query.limit(limit)
    return [{"id": c.id, "kind": c.kind, "severity": c.severity, "state": c.state, "image_id": c.image_id,
             "file_name": name, "duplicate_group_id": c.duplicate_group_id, "subject": c.subject_key,
             "reason": (c.details or {}).get("reason", "")}
            for c, name in db.execute(query)]


def consensus_rows(db: Session, *, project_id: int) -> Iterator[dict[str, Any]]:
    """One row per image with a consensus (streamed): file name, classes by name, confidence."""
    names = class_names(db, project_id)
    query = (select(Image.file_name, ImageConsensus.consensus_class_id, ImageConsensus.confidence,
                    ImageConsensus.n_labels, ImageConsensus.majority_class_id)
             .join(Image, Image.id == ImageConsensus.image_id).where(Image.project_id == project_id)
             .order_by(Image.id).execution_options(yield_per=5000))
    for file_name, consensus, confidence, n_labels, vote in db.execute(query):
        yield {"file_name": file_name, "consensus_class": names.get(consensus, "") if consensus else "",
               "confidence": "" if confidence is None else round(confidence, 4), "n_labels": n_labels,
               "majority_class": names.get(vote, "") if vote else ""}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
