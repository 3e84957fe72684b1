"""Datasheet facts about how a version's images were collected and labeled, and how well labelers agreed.

Read-only queries over the version's items joined to the other domains' tables. Labelers appear
under pseudonyms ("labeler 1", ... in user id order): an export can leave the company, people's
names, emails and account ids should not travel with it.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, aliased

from app.consistency.models import AgreementSnapshot, Conflict, LabelerQuality
from app.datasets.models import DatasetItem
from app.images.models import Image, UploadBatch
from app.labeling.models import Annotation
from app.projects.models import Project
from app.projects.taxonomy import class_mapping
from app.review.models import Resolution

TOP_PAIRS = 10


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _in_version(version_id: int) -> Any:
    return select(DatasetItem.image_id).where(DatasetItem.version_id == version_id)


def collection(db: Session, *, version_id: int) -> dict[str, Any]:
    """Upload batches, upload dates, image formats and sizes of the version's images."""
    batches = db.execute(
        select(UploadBatch.name, UploadBatch.source, UploadBatch.created_at, func.count(Image.id))
        .join(Image, Image.batch_id == UploadBatch.id)
        .where(Image.id.in_(_in_version(version_id)))
        .group_by(UploadBatch.id, UploadBatch.name, UploadBatch.source, UploadBatch.created_at)
        .order_by(UploadBatch.created_at, UploadBatch.id)
    ).all()
    loose = db.scalar(select(func.count()).where(Image.id.in_(_in_version(version_id)), Image.batch_id.is_(None)))
    first, last = db.execute(select(func.min(Image.created_at), func.max(Image.created_at))
                             .where(Image.id.in_(_in_version(version_id)))).one()
    formats = db.execute(
        select(Image.format, Image.width, Image.height, func.count())
        .where(Image.id.in_(_in_version(version_id)))
        .group_by(Image.format, Image.width, Image.height)
        .order_by(func.count().desc(), Image.format, Image.width, Image.height).limit(10)
    ).all()
    return {
        "batches": [{"name": n, "source": s, "uploaded": _iso(at), "images": c} for n, s, at, c in batches],
        "images_without_batch": loose or 0,
        "uploaded_from": _iso(first),
        "uploaded_to": _iso(last),
        "formats": [{"format": f, "width": w, "height": h, "images": c} for f, w, h, c in formats],
    }


class Pseudonyms(dict[int, str]):
    """user id -> "labeler N", numbered in the order first asked for (the version's labelers by id first)."""

    def __missing__(self, user_id: int) -> str:
        self[user_id] = f"labeler {len(self) + 1}"
        return self[user_id]


def labeling(db: Session, *, project: Project, version_id: int, pseudonyms: Pseudonyms) -> dict[str, Any]:
    """The overlap policy, who labeled how much, and how many decisions reviewers made."""
    live = (select(Annotation.labeler_id, func.count())
            .where(Annotation.image_id.in_(_in_version(version_id)), Annotation.superseded_by_id.is_(None))
            .group_by(Annotation.labeler_id).order_by(Annotation.labeler_id))
    per_labeler = db.execute(live).all()
    quality = {q.user_id: q for q in db.scalars(select(LabelerQuality).where(LabelerQuality.project_id == project.id))}
    labelers = []
    for user_id, count in per_labeler:
        q = quality.get(user_id)
        labelers.append({"labeler": pseudonyms[user_id], "annotations": count,
                         "accuracy": q.accuracy if q else None,
                         "agreement_with_consensus": q.agreement_with_consensus if q else None,
                         "gold_accuracy": q.gold_accuracy if q else None})
    annotations = sum(c for _, c in per_labeler)
    items = db.scalar(select(func.count()).select_from(DatasetItem).where(DatasetItem.version_id == version_id)) or 0
    per_image = (select(Annotation.image_id, func.count().label("n"))
                 .where(Annotation.image_id.in_(_in_version(version_id)), Annotation.superseded_by_id.is_(None))
                 .group_by(Annotation.image_id).subquery())
    given = {int(n): c for n, c in db.execute(select(per_image.c.n, func.count()).group_by(per_image.c.n))}
    if items - sum(given.values()):
        given[0] = items - sum(given.values())
    conflicts = db.execute(
        select(Conflict.kind, func.count()).where(Conflict.project_id == project.id,
                                                  Conflict.image_id.in_(_in_version(version_id)))
        .group_by(Conflict.kind).order_by(Conflict.kind)).all()
    resolutions = db.scalar(
        select(func.count(distinct(Resolution.conflict_id))).join(Conflict, Conflict.id == Resolution.conflict_id)
        .where(Conflict.project_id == project.id, Conflict.image_id.in_(_in_version(version_id))))
    return {
        "task_type": project.task_type,
        "defect_book_version": project.defect_book_version,
        "overlap": {"labels_per_image": project.labels_per_image, "qa_fraction": project.qa_fraction,
                    "qa_labels_per_image": project.qa_labels_per_image, "adaptive": project.adaptive_overlap},
        "annotations": annotations,
        "annotations_per_image": round(annotations / items, 3) if items else None,
        "labels_per_image_counts": {str(n): c for n, c in sorted(given.items())},
        "labelers": labelers,
        "conflicts_by_kind": {k: c for k, c in conflicts},
        "conflicts_reviewed": resolutions or 0,
        "confidence_threshold": project.confidence_threshold,
    }


def agreement(db: Session, *, project_id: int, version_id: int, names: dict[int, str],
              pseudonyms: Pseudonyms) -> dict[str, Any]:
    """The consistency service's latest project figures (labelers under their pseudonyms, classes by
    name), and the class pairs labelers disagreed on among this version's images."""
    snap = db.scalars(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project_id)
                      .order_by(AgreementSnapshot.created_at.desc(), AgreementSnapshot.id.desc()).limit(1)).first()
    figures = None
    if snap is not None:
        summary = snap.summary or {}
        kappas = [k for k in summary.get("kappas", []) if isinstance(k, dict) and k.get("kappa") is not None]
        values = [float(k["kappa"]) for k in kappas]
        figures = {
            "alpha": snap.alpha, "fleiss_kappa": snap.fleiss_kappa, "box_alpha": snap.box_alpha,
            "n_images": snap.n_images, "n_annotations": snap.n_annotations, "computed_at": _iso(snap.created_at),
            "pairwise_kappa": None if not values else {
                "pairs": len(values), "mean": round(sum(values) / len(values), 4), "min": round(min(values), 4),
                "max": round(max(values), 4),
                "each": [{"labelers": [pseudonyms[int(k["a"])], pseudonyms[int(k["b"])]], "shared_images": k.get("n"),
                          "kappa": k["kappa"]} for k in kappas]},
            "class_pairs": [{"classes": [names.get(p["a"], f"class {p['a']}"), names.get(p["b"], f"class {p['b']}")],
                             "rate": p.get("rate"), "share": p.get("share"), "images": p.get("items")}
                            for p in summary.get("top_pairs", []) if isinstance(p, dict)],
            "labels_per_image": summary.get("labels_per_image"),
        }
    return {"snapshot": figures, "class_pairs": _class_pairs(db, project_id, version_id, names)}


def _class_pairs(db: Session, project_id: int, version_id: int, names: dict[int, str]) -> list[dict[str, Any]]:
    """Pairs of live answers on one image by two labelers that name different classes, per class pair
    (answers on a retired class count as the class that now stands for it: merges never rewrite them)."""
    alias = class_mapping(db, project_id)
    a, b = aliased(Annotation), aliased(Annotation)
    rows: Any = db.execute(
        select(a.label_class_id, b.label_class_id, func.count())
        .join(b, (b.image_id == a.image_id) & (b.labeler_id > a.labeler_id))
        .where(a.image_id.in_(_in_version(version_id)), a.superseded_by_id.is_(None), b.superseded_by_id.is_(None),
               a.label_class_id.is_not(None), b.label_class_id.is_not(None), a.label_class_id != b.label_class_id)
        .group_by(a.label_class_id, b.label_class_id)
    ).all()
    pairs: dict[tuple[str, ...], int] = {}
    for x, y, count in rows:
        x, y = alias.get(int(x), int(x)), alias.get(int(y), int(y))
        if x != y:
            key = tuple(sorted((names.get(x, f"class {x}"), names.get(y, f"class {y}"))))
            pairs[key] = pairs.get(key, 0) + count
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PAIRS]
    return [{"classes": list(k), "disagreements": n} for k, n in ranked]
