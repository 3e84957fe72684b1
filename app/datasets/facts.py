"""The facts a datasheet states, gathered once when a version is frozen (then kept with it).

Sections follow "Datasheets for Datasets" (Gebru et al., 2021): composition (counts), collection,
labeling, agreement, ambiguities and lineage. Everything here is JSON-ready and deterministic.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets import facts_labeling
from app.datasets.canonical import ContentHash, item_line
from app.datasets.diff import diff_versions
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.paging import keyset
from app.images.models import Image
from app.projects.models import LabelClass, Project

SHEET_FORMAT = "concord-datasheet/1"
MAX_SLICE_VALUES = 30  # a metadata key with more distinct values is an id, not a slice


def gather(db: Session, *, project: Project, version: DatasetVersion, classes: Sequence[LabelClass],
           excluded: Counter[str], boxes_dropped: int, new_splits: int) -> dict[str, Any]:
    names = {c.id: c.name for c in classes}
    content_hash, counts = _hash_and_counts(db, version.id, names)
    counts["excluded"] = dict(sorted((k, v) for k, v in excluded.items() if v))
    counts["boxes_dropped"] = boxes_dropped
    counts["new_splits"] = new_splits
    used = set(counts.pop("_class_ids"))
    frozen_classes = [
        {"id": c.id, "name": c.name, "definition": c.definition, "colour": c.colour}
        for c in classes if c.is_active or c.id in used
    ]
    version.counts, version.datasheet = counts, {"classes": frozen_classes}
    pseudonyms = facts_labeling.Pseudonyms()
    return {
        "format": SHEET_FORMAT,
        "content_hash": content_hash,
        "classes": frozen_classes,
        "counts": counts,
        "project": {"name": project.name, "description": project.description, "task_type": project.task_type},
        "collection": facts_labeling.collection(db, version_id=version.id),
        "labeling": facts_labeling.labeling(db, project=project, version_id=version.id, pseudonyms=pseudonyms),
        "agreement": facts_labeling.agreement(db, project_id=project.id, version_id=version.id, names=names,
                                              pseudonyms=pseudonyms),
        "lineage": _lineage(db, version),
    }


def _hash_and_counts(db: Session, version_id: int, names: dict[int, str]) -> tuple[str, dict[str, Any]]:
    """Stream the items in image id order: the content hash, and counts per class, split and slice."""
    stmt = (select(DatasetItem.image_id, DatasetItem.label_class_id, DatasetItem.boxes, DatasetItem.split,
                   DatasetItem.source, Image.sha256, Image.meta, Image.duplicate_group_id, Image.augmented_from_id)
            .join(Image, Image.id == DatasetItem.image_id).where(DatasetItem.version_id == version_id))
    digest = ContentHash()
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    splits, sources, groups = Counter[str](), Counter[str](), set()
    slices: dict[str, Counter[str]] = defaultdict(Counter)
    used: set[int] = set()
    boxes = augmented = 0
    for row in keyset(db, stmt, DatasetItem.image_id):
        class_name = names.get(row.label_class_id) if row.label_class_id is not None else None
        digest.add(item_line(image_sha256=row.sha256, class_name=class_name, boxes=row.boxes, names=names,
                             split=row.split))
        key = class_name if class_name is not None else "(no image class)"
        per_class[key]["images"] += 1
        per_class[key][row.split] += 1
        for box in row.boxes:
            per_class[names[box["class_id"]]]["boxes"] += 1
            used.add(box["class_id"])
        if row.label_class_id is not None:
            used.add(row.label_class_id)
        boxes += len(row.boxes)
        splits[row.split] += 1
        sources[row.source] += 1
        augmented += row.augmented_from_id is not None
        if row.duplicate_group_id is not None:
            groups.add(row.duplicate_group_id)
        for meta_key, value in (row.meta or {}).items():
            if isinstance(value, str | int | float | bool) and len(slices[meta_key]) <= MAX_SLICE_VALUES:
                slices[meta_key][str(value)] += 1
    counts = {
        "items": digest.items,
        "boxes": boxes,
        "classes": {k: {"images": v["images"], "boxes": v["boxes"], "train": v["train"], "val": v["val"],
                        "test": v["test"]} for k, v in sorted(per_class.items())},
        "splits": {s: splits[s] for s in ("train", "val", "test")},
        "sources": dict(sorted(sources.items())),
        "slices": {k: dict(sorted(v.items())) for k, v in sorted(slices.items()) if len(v) <= MAX_SLICE_VALUES},
        "duplicate_groups": len(groups),
        "augmented": augmented,
        "_class_ids": sorted(used),
    }
    return digest.hexdigest(), counts


def _lineage(db: Session, version: DatasetVersion) -> dict[str, Any]:
    parent = db.get(DatasetVersion, version.parent_id) if version.parent_id else None
    if parent is None:
        return {"parent": None, "diff": None}
    diff = diff_versions(db, before=parent, after=version)
    summary = diff.as_dict()
    summary.pop("examples")
    return {"parent": {"number": parent.number, "name": parent.name, "content_hash": parent.content_hash},
            "diff": summary}
