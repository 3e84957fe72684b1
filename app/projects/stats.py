"""Headline counts of a project, read across the domains (a read model: it never writes)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.consistency.models import Conflict, ConflictState
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass
from app.review.models import FinalLabel


@dataclass
class ClassCounts:
    name: str
    annotations: int = 0
    final_labels: int = 0


@dataclass
class ProjectStats:
    project_id: int
    images: int
    annotations: int
    labelers: int
    images_labeled: int
    conflicts_open: int
    conflicts_resolved: int
    final_labels: int
    classes: list[ClassCounts] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project_stats(db: Session, project_id: int) -> ProjectStats:
    live = (
        select(Annotation)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None))
        .subquery()
    )
    images = db.scalar(select(func.count()).where(Image.project_id == project_id)) or 0
    annotations = db.scalar(select(func.count()).select_from(live)) or 0
    labelers = db.scalar(select(func.count(func.distinct(live.c.labeler_id)))) or 0
    images_labeled = db.scalar(select(func.count(func.distinct(live.c.image_id)))) or 0
    conflicts = dict(
        db.execute(
            select(Conflict.state, func.count()).where(Conflict.project_id == project_id).group_by(Conflict.state)
        ).all()
    )
    finals = (
        select(FinalLabel).join(Image, Image.id == FinalLabel.image_id).where(Image.project_id == project_id).subquery()
    )
    final_count = db.scalar(select(func.count()).select_from(finals)) or 0
    per_class_ann: dict[int | None, int] = dict(
        db.execute(select(live.c.label_class_id, func.count()).group_by(live.c.label_class_id)).all()
    )
    per_class_final: dict[int | None, int] = dict(
        db.execute(select(finals.c.label_class_id, func.count()).group_by(finals.c.label_class_id)).all()
    )
    classes = db.scalars(
        select(LabelClass).where(LabelClass.project_id == project_id).order_by(LabelClass.position, LabelClass.id)
    ).all()
    return ProjectStats(
        project_id=project_id,
        images=images,
        annotations=annotations,
        labelers=labelers,
        images_labeled=images_labeled,
        conflicts_open=conflicts.get(ConflictState.open, 0),
        conflicts_resolved=conflicts.get(ConflictState.resolved, 0),
        final_labels=final_count,
        classes=[
            ClassCounts(name=c.name, annotations=per_class_ann.get(c.id, 0), final_labels=per_class_final.get(c.id, 0))
            for c in classes
        ],
    )
