"""What a run reads of a frozen dataset version: its labeled items, split into the images a run trains on
(train and val) and the images it is evaluated on (test), with their fold groups and slice values."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.datasets.models import DatasetItem, DatasetVersion
from app.images.models import Image

TRAINING_SPLITS = ("train", "val")
EVALUATION_SPLIT = "test"
MIN_TRAINING_IMAGES = 4


@dataclass(frozen=True)
class Item:
    image_id: int
    split: str
    label_class_id: int
    sha256: str
    storage_key: str
    file_name: str
    group: str  # near-duplicates, and an image with its augmented copies, share a group (and a fold)
    meta: dict[str, Any]


@dataclass(frozen=True)
class VersionData:
    training: list[Item]
    evaluation: list[Item]
    classes: list[dict[str, Any]]  # [{"id", "name"}]: the version's classes that training images carry

    @property
    def class_index(self) -> dict[int, int]:
        return {c["id"]: k for k, c in enumerate(self.classes)}


def version_classes(version: DatasetVersion) -> list[dict[str, Any]]:
    """The version's classes in its datasheet's order, as [{"id", "name"}]."""
    return [{"id": int(c["id"]), "name": str(c["name"])} for c in (version.datasheet or {}).get("classes", [])]


def training_counts(db: Session, version_id: int) -> Counter[int]:
    """Labeled training images per class id (the up-front check of a run)."""
    query = select(DatasetItem.label_class_id).where(
        DatasetItem.version_id == version_id, DatasetItem.split.in_(TRAINING_SPLITS),
        DatasetItem.label_class_id.is_not(None))
    return Counter(int(c) for c in db.scalars(query) if c is not None)


def problem_with(counts: Counter[int]) -> str | None:
    """Why a version with these training counts cannot train, worded for a person, or None."""
    total = sum(counts.values())
    if len(counts) < 2:
        return (f"the version's train and val images carry {len(counts)} class(es); a model needs labeled "
                "images of at least two classes")
    if total < MIN_TRAINING_IMAGES:
        return f"the version has {total} labeled train and val images; a model needs at least {MIN_TRAINING_IMAGES}"
    return None


def load_version(db: Session, version: DatasetVersion) -> VersionData:
    """The version's items that have a label class, in image id order (boxes-only items are left out)."""
    source = aliased(Image)
    query = (select(DatasetItem.image_id, DatasetItem.split, DatasetItem.label_class_id, Image.sha256,
                    Image.storage_key, Image.file_name, Image.meta, Image.duplicate_group_id,
                    Image.augmented_from_id, source.duplicate_group_id)
             .join(Image, Image.id == DatasetItem.image_id)
             .outerjoin(source, source.id == Image.augmented_from_id)
             .where(DatasetItem.version_id == version.id, DatasetItem.label_class_id.is_not(None))
             .order_by(DatasetItem.image_id))
    training: list[Item] = []
    evaluation: list[Item] = []
    for image_id, split, class_id, sha, key, name, meta, group_id, source_id, source_group in db.execute(query):
        item = Item(image_id=image_id, split=split, label_class_id=class_id, sha256=sha, storage_key=key,
                    file_name=name, group=_group(image_id, group_id, source_id, source_group), meta=dict(meta or {}))
        (training if split in TRAINING_SPLITS else evaluation).append(item)
    present = {item.label_class_id for item in training}
    classes = [c for c in _ordered_classes(version, present) if c["id"] in present]
    return VersionData(training=training, evaluation=evaluation, classes=classes)


def _ordered_classes(version: DatasetVersion, present: set[int]) -> list[dict[str, Any]]:
    listed = version_classes(version)
    seen = {c["id"] for c in listed}
    # a version frozen before datasheets named its classes: the ids in order, named by id
    return listed + [{"id": cid, "name": str(cid)} for cid in sorted(present - seen)]


def _group(image_id: int, group_id: int | None, source_id: int | None, source_group: int | None) -> str:
    if group_id is not None:
        return f"g{group_id}"
    if source_id is not None:
        return f"g{source_group}" if source_group is not None else f"i{source_id}"
    return f"i{image_id}"
