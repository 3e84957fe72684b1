"""What the analysis reads about a project, as aligned numpy arrays (a read model: it never writes).

One row per original image (augmented copies are left out: they are derived data). Classes are the
project's active classes in their labeling order; retired (merged) classes are mapped through the
defect book's `class_mapping`. An image's *current label* is its final label, else the consensus,
else the plurality of its live annotations (ties: the class that comes first), else none (-1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.analysis.slices import slice_value
from app.consistency.metrics import majority
from app.consistency.models import Conflict, ConflictKind, ConflictState, ImageConsensus
from app.images.models import Image, UploadBatch
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping
from app.projects.service import classes_of
from app.review.models import FinalLabel

NONE = -1
BATCH_DIMENSION = "batch"
DATE_DIMENSION = "upload date"


@dataclass
class ProjectData:
    image_ids: np.ndarray
    file_names: list[str]
    class_ids: list[int]
    class_names: list[str]
    votes: np.ndarray  # (n, K) live annotations per class
    labels_wanted: np.ndarray
    final: np.ndarray  # final class code or -1 (ambiguous finals count as none)
    consensus: np.ndarray  # consensus class code or -1
    confidence: np.ndarray  # of the final label or the consensus, NaN if unknown
    label: np.ndarray  # current label code
    label_source: list[str]  # final, consensus, majority or "" (none)
    conflict: np.ndarray  # bool: a label conflict that is not closed (model disagreements excluded)
    dims: dict[str, np.ndarray]  # slice dimensions: metadata keys, upload batch, upload date

    @property
    def n(self) -> int:
        return int(self.image_ids.size)

    def code_of(self, class_id: int) -> int:
        return self.class_ids.index(class_id)


def original_images(db: Session, project_id: int) -> list[Image]:
    return list(db.scalars(select(Image).where(Image.project_id == project_id, Image.augmented_from_id.is_(None))
                           .order_by(Image.id)))


def dimensions(db: Session, project_id: int, images: list[Image]) -> dict[str, np.ndarray]:
    names = dict(db.execute(select(UploadBatch.id, UploadBatch.name).where(UploadBatch.project_id == project_id)).all())
    keys: list[str] = []
    for image in images:
        for key in (image.meta or {}):
            if key not in keys and not str(key).startswith("_"):
                keys.append(str(key))
    dims: dict[str, np.ndarray] = {}
    for key in keys:
        dims[key] = np.array([slice_value((image.meta or {}).get(key)) for image in images], dtype=object)
    batch_dim = BATCH_DIMENSION if BATCH_DIMENSION not in dims else "upload batch"
    dims[batch_dim] = np.array([names.get(image.batch_id) if image.batch_id else None for image in images],
                               dtype=object)
    dims[DATE_DIMENSION] = np.array([image.created_at.date().isoformat() if image.created_at else None
                                     for image in images], dtype=object)
    return dims


def load_project_data(db: Session, project_id: int) -> ProjectData:
    images = original_images(db, project_id)
    classes = list(classes_of(db, project_id))
    class_ids = [c.id for c in classes]
    code = {cid: k for k, cid in enumerate(class_ids)}
    for retired, current in class_mapping(db, project_id).items():
        if current in code:
            code[retired] = code[current]
    row = {image.id: i for i, image in enumerate(images)}
    n, k = len(images), len(classes)
    votes = np.zeros((n, k), dtype=np.int64)
    live = (select(Annotation.image_id, Annotation.label_class_id, func.count())
            .join(Image, Image.id == Annotation.image_id)
            .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None),
                   Annotation.label_class_id.is_not(None))
            .group_by(Annotation.image_id, Annotation.label_class_id))
    for image_id, class_id, count in db.execute(live):
        if image_id in row and class_id in code:
            votes[row[image_id], code[class_id]] += count
    final = np.full(n, NONE)
    consensus = np.full(n, NONE)
    confidence = np.full(n, np.nan)
    finals = (select(FinalLabel.image_id, FinalLabel.label_class_id, FinalLabel.confidence)
              .join(Image, Image.id == FinalLabel.image_id)
              .where(Image.project_id == project_id, FinalLabel.is_ambiguous.is_(False)))
    for image_id, class_id, conf in db.execute(finals):
        if image_id in row and class_id in code:
            final[row[image_id]] = code[class_id]
            confidence[row[image_id]] = conf if conf is not None else np.nan
    cons = (select(ImageConsensus.image_id, ImageConsensus.consensus_class_id, ImageConsensus.confidence)
            .join(Image, Image.id == ImageConsensus.image_id).where(Image.project_id == project_id))
    for image_id, class_id, conf in db.execute(cons):
        if image_id in row and class_id in code:
            consensus[row[image_id]] = code[class_id]
            if np.isnan(confidence[row[image_id]]) and conf is not None:
                confidence[row[image_id]] = conf
    plurality = majority(votes).label if n else np.zeros(0, dtype=np.int64)
    label = np.where(final >= 0, final, np.where(consensus >= 0, consensus, plurality))
    source = ["final" if f >= 0 else "consensus" if c >= 0 else "majority" if p >= 0 else ""
              for f, c, p in zip(final, consensus, plurality, strict=True)]
    conflicted = select(Conflict.image_id).where(
        Conflict.project_id == project_id, Conflict.image_id.is_not(None),
        Conflict.kind != ConflictKind.model_disagreement, Conflict.state != ConflictState.closed)
    conflict = np.zeros(n, dtype=bool)
    for (conflicted_id,) in db.execute(conflicted.distinct()):
        if conflicted_id is not None and conflicted_id in row:
            conflict[row[conflicted_id]] = True
    return ProjectData(
        image_ids=np.array([image.id for image in images], dtype=np.int64),
        file_names=[image.file_name for image in images], class_ids=class_ids,
        class_names=[c.name for c in classes], votes=votes,
        labels_wanted=np.array([image.labels_wanted for image in images], dtype=np.int64),
        final=final, consensus=consensus, confidence=confidence, label=label, label_source=source,
        conflict=conflict, dims=dimensions(db, project_id, images),
    )


def model_names(db: Session, project_id: int) -> list[str]:
    """Imported models, newest first."""
    rows = db.execute(select(ModelPrediction.model_name, func.max(ModelPrediction.created_at))
                      .where(ModelPrediction.project_id == project_id)
                      .group_by(ModelPrediction.model_name)).all()
    return [name for name, _ in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]


def load_predictions(db: Session, data: ProjectData, project_id: int, model_name: str) -> np.ndarray:
    """(n, K) probabilities of `model_name` aligned with `data`; NaN rows for images it did not score."""
    probs = np.full((data.n, len(data.class_ids)), np.nan)
    row = {int(i): r for r, i in enumerate(data.image_ids)}
    query = select(ModelPrediction.image_id, ModelPrediction.probabilities).where(
        ModelPrediction.project_id == project_id, ModelPrediction.model_name == model_name)
    for image_id, probabilities in db.execute(query):
        if image_id in row:
            probs[row[image_id]] = [float(probabilities.get(str(cid), 0.0)) for cid in data.class_ids]
    return probs


def predicted_codes(probs: np.ndarray) -> np.ndarray:
    scored = ~np.isnan(probs).any(axis=1)
    out = np.full(probs.shape[0], NONE)
    if scored.any():
        out[scored] = np.nanargmax(probs[scored], axis=1)
    return out
