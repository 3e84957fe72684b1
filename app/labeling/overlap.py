"""The overlap policy: how many labels each image should get (Image.labels_wanted).

- Every ordinary image wants `labels_per_image` labels.
- A fixed QA fraction of them wants `qa_labels_per_image`: the draw is a pure function of the image
  id (`(id * 761) mod 1000 < qa_fraction * 1000`, a permutation within every 1,000 consecutive ids),
  so it is the same in SQL and Python and survives a policy change without storing anything.
- With adaptive overlap, an image is raised to `qa_labels_per_image` when it needs more eyes: a live
  label is marked unsure, its live labels disagree, it disagrees with an imported model prediction,
  or its slice (metadata key=value listed in project.settings["overlap_slices"], or flagged by the
  consistency service) has low agreement.
- Gold images and augmented copies want 0 regular labels: gold is mixed into every labeler's queue
  separately (see queue.py), augmented copies are never labeled.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import Project

log = logging.getLogger("concord.labeling")
QA_MULTIPLIER = 761
QA_MODULUS = 1000


def qa_cut(project: Project) -> int:
    return round(project.qa_fraction * QA_MODULUS)


def qa_drawn(image_id: int, project: Project) -> bool:
    return (image_id * QA_MULTIPLIER) % QA_MODULUS < qa_cut(project)


def regular_wanted(project: Project) -> int:
    return project.labels_per_image


def raised_wanted(project: Project) -> int:
    return max(project.labels_per_image, project.qa_labels_per_image)


def initial_labels_wanted(project: Project, image: Image) -> int:
    """Labels wanted by a newly stored image (its id must be known)."""
    if image.is_gold or image.augmented_from_id is not None:
        return 0
    return raised_wanted(project) if qa_drawn(image.id, project) else regular_wanted(project)


def apply_policy(db: Session, *, project: Project) -> None:
    """Recompute labels_wanted of every image of the project after a policy change (bulk SQL)."""
    ordinary = and_(Image.project_id == project.id, Image.is_gold.is_(False), Image.augmented_from_id.is_(None))
    db.execute(update(Image).where(ordinary).values(labels_wanted=regular_wanted(project)))
    high = raised_wanted(project)
    if high > regular_wanted(project):
        drawn = (Image.id * QA_MULTIPLIER) % QA_MODULUS < qa_cut(project)
        db.execute(update(Image).where(ordinary, drawn).values(labels_wanted=high))
        if project.adaptive_overlap:
            needing = _images_needing_more(db, project)
            if needing:
                db.execute(update(Image).where(ordinary, Image.id.in_(needing)).values(labels_wanted=high))
    db.execute(
        update(Image)
        .where(Image.project_id == project.id, or_(Image.is_gold.is_(True), Image.augmented_from_id.is_not(None)))
        .values(labels_wanted=0)
    )


def _images_needing_more(db: Session, project: Project) -> list[int]:
    live = (
        select(Annotation.image_id, Annotation.label_class_id, Annotation.unsure)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project.id, Annotation.superseded_by_id.is_(None))
        .subquery()
    )
    unsure = select(live.c.image_id).where(live.c.unsure.is_(True))
    split = (
        select(live.c.image_id).group_by(live.c.image_id).having(func.count(func.distinct(live.c.label_class_id)) > 1)
    )
    found = set(db.scalars(unsure)) | set(db.scalars(split))
    for image_id, probabilities, class_id in db.execute(
        select(ModelPrediction.image_id, ModelPrediction.probabilities, live.c.label_class_id)
        .join(live, live.c.image_id == ModelPrediction.image_id)
        .where(ModelPrediction.project_id == project.id)
    ):
        if class_id is not None and _predicted(probabilities) not in (None, class_id):
            found.add(image_id)
    slices = _overlap_slices(project)
    if slices:
        for image_id, meta in db.execute(select(Image.id, Image.meta).where(Image.project_id == project.id)):
            if _in_slices(meta, slices):
                found.add(image_id)
    return sorted(found)


def raise_if_needed(db: Session, *, project: Project, image: Image, annotation: Annotation) -> bool:
    """Adaptive overlap after a new annotation; True when the image now wants more labels."""
    high = raised_wanted(project)
    if not project.adaptive_overlap or image.labels_wanted == 0 or image.labels_wanted >= high:
        return False
    if not _needs_more(db, project=project, image=image, annotation=annotation):
        return False
    result = db.execute(
        update(Image)
        .where(Image.id == image.id, Image.labels_wanted < high)
        .values(labels_wanted=high)
        .execution_options(synchronize_session=False)
    )
    image.labels_wanted = high
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _needs_more(db: Session, *, project: Project, image: Image, annotation: Annotation) -> bool:
    if annotation.unsure:
        return True
    classes = set(
        db.scalars(
            select(Annotation.label_class_id).where(
                Annotation.image_id == image.id, Annotation.superseded_by_id.is_(None)
            )
        )
    )
    if len(classes) > 1:
        return True
    for probabilities in db.scalars(select(ModelPrediction.probabilities).where(ModelPrediction.image_id == image.id)):
        predicted = _predicted(probabilities)
        if predicted is not None and annotation.label_class_id is not None and predicted != annotation.label_class_id:
            return True
    return _in_slices(image.meta, _overlap_slices(project)) or _consistency_flags_slice(db, project, image)


def _predicted(probabilities: dict[str, Any] | None) -> int | None:
    """The class id a model prediction favours, or None for an empty or malformed one."""
    try:
        best = max((probabilities or {}).items(), key=lambda kv: float(kv[1]))
        return int(best[0])
    except (ValueError, TypeError):
        return None


def _overlap_slices(project: Project) -> list[tuple[str, str]]:
    """[(key, value)] from project.settings["overlap_slices"], e.g. ["line=L3", "shift=night"]."""
    out = []
    for item in (project.settings or {}).get("overlap_slices", []):
        key, sep, value = str(item).partition("=")
        if sep and key.strip():
            out.append((key.strip(), value.strip()))
    return out


def _in_slices(meta: dict[str, Any] | None, slices: list[tuple[str, str]]) -> bool:
    meta = meta or {}
    return any(str(meta.get(key, "")) == value for key, value in slices)


def _consistency_flags_slice(db: Session, project: Project, image: Image) -> bool:
    """Whether the consistency service finds this image's slice disagreeing more than the project."""
    from app.consistency.service import slice_needs_overlap  # here: consistency imports labeling at load

    try:
        return slice_needs_overlap(db, project_id=project.id, meta=image.meta or {})
    except Exception:  # advice only: a failing check must not block a labeler's submit
        log.exception("slice_needs_overlap failed for image %s", image.id)
        return False
