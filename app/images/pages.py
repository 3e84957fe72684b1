"""The image page's context: the image with every labeler's live boxes, the whole label history
(superseded answers too), consensus, the final label and its source, metadata, conflicts and the
decisions made on them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.consistency.models import Conflict
from app.images import browse
from app.images.models import Image, UploadBatch
from app.images.service import get_image
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping
from app.projects.models import LabelClass, Project
from app.review.detail import Shown, drawing, shown_image
from app.review.flags import open_flag
from app.review.models import Resolution


@dataclass
class HistoryRow:
    annotation: Annotation
    labeler: str
    label_class: LabelClass | None
    live: bool  # False: superseded by a later answer of the same labeler


@dataclass
class ResolutionRow:
    resolution: Resolution
    conflict: Conflict
    reviewer: str
    label_class: LabelClass | None


@dataclass
class ImageView:
    project: Project
    image: Image
    shown: Shown
    drawing: dict[str, Any]  # the layers the viewer draws (review.detail.drawing)
    history: list[HistoryRow]
    conflicts: list[Conflict]  # about the image, or its near-duplicate group; newest first
    resolutions: list[ResolutionRow]
    class_by_id: dict[int, LabelClass]
    batch: UploadBatch | None
    pending_flag: Conflict | None  # a flag nobody decided yet
    prev_id: int | None
    next_id: int | None


def image_view(db: Session, *, project: Project, image_id: int, filters: browse.BrowseFilters) -> ImageView:
    """Raises NotFound for an image of another project."""
    image = get_image(db, project_id=project.id, image_id=image_id)
    classes = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project.id))}
    mapping = class_mapping(db, project.id)
    shown = shown_image(db, image, classes, mapping)
    about = Conflict.image_id == image.id
    if image.duplicate_group_id is not None:
        about = or_(about, (Conflict.duplicate_group_id == image.duplicate_group_id) & Conflict.image_id.is_(None))
    conflicts = list(db.scalars(select(Conflict).where(Conflict.project_id == project.id, about)
                                .order_by(Conflict.id.desc())))
    prev_id, next_id = browse.neighbours(db, project_id=project.id, filters=filters, image_id=image.id)
    return ImageView(project=project, image=image, shown=shown, drawing=drawing(shown, classes),
                     history=_history(db, image.id, classes, mapping), conflicts=conflicts,
                     resolutions=_resolutions(db, {c.id: c for c in conflicts}, classes), class_by_id=classes,
                     batch=db.get(UploadBatch, image.batch_id) if image.batch_id else None,
                     pending_flag=open_flag(db, image_id=image.id), prev_id=prev_id, next_id=next_id)


def _history(db: Session, image_id: int, classes: dict[int, LabelClass], mapping: dict[int, int]) -> list[HistoryRow]:
    rows = db.execute(select(Annotation, User.display_name).join(User, User.id == Annotation.labeler_id)
                      .where(Annotation.image_id == image_id)
                      .order_by(User.display_name, Annotation.labeler_id, Annotation.id.desc())).all()
    return [HistoryRow(annotation=a, labeler=name, live=a.superseded_by_id is None,
                       label_class=classes.get(mapping.get(a.label_class_id, a.label_class_id))
                       if a.label_class_id is not None else None)
            for a, name in rows]


def _resolutions(db: Session, conflicts: dict[int, Conflict], classes: dict[int, LabelClass]) -> list[ResolutionRow]:
    if not conflicts:
        return []
    rows = db.execute(select(Resolution, User.display_name).join(User, User.id == Resolution.reviewer_id)
                      .where(Resolution.conflict_id.in_(list(conflicts))).order_by(Resolution.id.desc())).all()
    return [ResolutionRow(resolution=r, conflict=conflicts[r.conflict_id], reviewer=name,
                          label_class=classes.get(r.label_class_id or -1))
            for r, name in rows]
