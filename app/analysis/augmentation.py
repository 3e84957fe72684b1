"""Targeted augmentation of one class: new images, linked to their source, with the source's final label.

Sources are the class's original images with a final label of that class (decided labels only:
an augmented copy inherits its source's label, so the source's must be settled). Each source gets
`per_image` copies; copy i of source s uses recipes drawn from a generator seeded with (seed, s),
so the same request makes the same bytes, and a re-run finds them as duplicates and adds nothing
(a retried background job is harmless). Copies are stored through the ingest service (original +
thumbnail, labels_wanted 0: never queued for labeling), keep their source's split, and get a
FinalLabel with the source's class and its boxes moved by the same geometry. Exports leave them out
unless the version's filter has include_augmented.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import augment
from app.auth.models import User
from app.core import audit
from app.core.config import Settings
from app.core.errors import Invalid
from app.core.storage import Storage
from app.images import service as images_service
from app.images.models import Image, UploadBatch
from app.projects.models import LabelClass, Project
from app.projects.service import classes_of
from app.review.models import FinalLabel

Progress = Callable[[float, str], None]
MAX_PER_IMAGE = 20


@dataclass
class AugmentResult:
    class_name: str
    sources: int
    created: int = 0
    existing: int = 0
    refused: int = 0
    batch_id: int | None = None
    image_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "image_ids"} | {"image_ids": self.image_ids[:1000]}


def find_class(db: Session, project_id: int, name: str) -> LabelClass:
    for label_class in classes_of(db, project_id):
        if label_class.name == name or str(label_class.id) == name:
            return label_class
    raise Invalid(f"no active class {name!r} in this project", field="class")


def sources_of(db: Session, project_id: int, class_id: int) -> list[tuple[Image, FinalLabel]]:
    rows = db.execute(select(Image, FinalLabel).join(FinalLabel, FinalLabel.image_id == Image.id).where(
        Image.project_id == project_id, Image.augmented_from_id.is_(None), FinalLabel.label_class_id == class_id,
        FinalLabel.is_ambiguous.is_(False)).order_by(Image.id))
    return [(image, final) for image, final in rows]


def _encode(pixels: np.ndarray, fmt: str) -> tuple[bytes, str]:
    out = io.BytesIO()
    if fmt == "JPEG":
        PILImage.fromarray(pixels).save(out, format="JPEG", quality=95)
        return out.getvalue(), "jpg"
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue(), "png"


def _copies(storage: Storage, image: Image, recipes: list[augment.Recipe]) -> list[tuple[bytes, str]]:
    with storage.open(image.storage_key) as handle, PILImage.open(handle) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    return [_encode(augment.transform_pixels(pixels, r), image.format) for r in recipes]


def augment_class(db: Session, *, storage: Storage, settings: Settings, project: Project, class_name: str,
                  per_image: int, seed: int = 0, limit: int | None = None, actor: User | None = None,
                  progress: Progress | None = None) -> AugmentResult:
    """Make `per_image` augmented copies of each final-labeled image of the class; flushes, never commits."""
    if not 1 <= per_image <= MAX_PER_IMAGE:
        raise Invalid(f"per_image must be 1 to {MAX_PER_IMAGE}", field="per_image")
    label_class = find_class(db, project.id, class_name)
    sources = sources_of(db, project.id, label_class.id)[:limit] if limit else sources_of(db, project.id,
                                                                                         label_class.id)
    if not sources:
        raise Invalid(f"no image has a final label of class {label_class.name!r} yet", field="class")
    batch = images_service.start_batch(db, project=project, name=f"augmented {label_class.name} x{per_image} "
                                       f"(seed {seed})", source="augmentation", creator=actor)
    result = AugmentResult(label_class.name, len(sources), batch_id=batch.id)
    for done, (image, final) in enumerate(sources, start=1):
        recipes = augment.draw_recipes(np.random.default_rng([seed, image.id]), per_image)
        for index, (recipe, (data, ext)) in enumerate(zip(recipes, _copies(storage, image, recipes), strict=True)):
            _store_copy(db, storage=storage, settings=settings, project=project, batch=batch, source=image,
                        final=final, recipe=recipe, seed=seed, index=index, data=data, ext=ext, result=result)
        if progress:
            progress(done / len(sources), f"{done}/{len(sources)} {label_class.name} images augmented")
    batch.stats = {**(batch.stats or {}), "augmentation": {"class": label_class.name, "per_image": per_image,
                                                           "seed": seed, "created": result.created}}
    db.flush()
    audit.record(db, action="analysis.augmented", actor_id=actor.id if actor else None, project_id=project.id,
                 object_type="upload_batch", object_id=batch.id, data=result.as_dict() | {"image_ids": None})
    return result


def _store_copy(db: Session, *, storage: Storage, settings: Settings, project: Project, batch: UploadBatch,
                source: Image, final: FinalLabel, recipe: augment.Recipe, seed: int, index: int, data: bytes,
                ext: str, result: AugmentResult) -> None:
    stem = PurePath(source.file_name).stem
    spec = {"recipe": recipe.as_dict(), "description": recipe.describe(), "seed": seed, "index": index,
            "source_image_id": source.id, "class_id": final.label_class_id}
    stored = images_service.store_image_bytes(
        db, storage=storage, settings=settings, project=project, data=data,
        file_name=f"{stem}_aug{index + 1}.{ext}", meta=dict(source.meta or {}),
        batch=batch, augmented_from_id=source.id, augmentation=spec)
    if stored.status == images_service.IngestStatus.refused or stored.image is None:
        result.refused += 1
        return
    if stored.status == images_service.IngestStatus.duplicate:
        result.existing += 1
        return
    copy = stored.image
    copy.split = source.split
    boxes = augment.transform_boxes(list(final.boxes or []), source.width, source.height, recipe)
    db.add(FinalLabel(image_id=copy.id, label_class_id=final.label_class_id, boxes=boxes, source=final.source,
                      confidence=final.confidence))
    result.created += 1
    result.image_ids.append(copy.id)
