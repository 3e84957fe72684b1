"""The facts a datasheet states, gathered once when a version is frozen (then kept with it).

Sections follow "Datasheets for Datasets" (Gebru et al., 2021): composition (counts), collection,
labeling, agreement, ambiguities and lineage. Everything here is JSON-ready and deterministic.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.datasets import facts_labeling
from app.datasets.canonical import ContentHash, item_line
from app.datasets.diff import diff_versions
from app.datasets.models import DatasetVersion
from app.projects.models import LabelClass, Project

SHEET_FORMAT = "concord-datasheet/1"
MAX_SLICE_VALUES = 30  # a metadata key with more distinct values is an id, not a slice


class Tally:
    """A version's content hash and counts per class, split and slice, fed its items in image id order."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.digest = ContentHash()
        self.per_class: dict[str, Counter[str]] = defaultdict(Counter)
        self.splits, self.sources = Counter[str](), Counter[str]()
        self.groups: set[int] = set()
        self.slices: dict[str, Counter[str]] = defaultdict(Counter)
        self.used: set[int] = set()
        self.boxes = self.augmented = 0

    def add(self, *, sha256: str, class_id: int | None, boxes: list[dict[str, Any]], split: str, source: str,
            meta: dict[str, Any] | None, group_id: int | None, augmented: bool) -> None:
        names = self.names
        class_name = names.get(class_id) if class_id is not None else None
        self.digest.add(item_line(image_sha256=sha256, class_name=class_name, boxes=boxes, names=names, split=split))
        key = class_name if class_name is not None else "(no image class)"
        self.per_class[key]["images"] += 1
        self.per_class[key][split] += 1
        for box in boxes:
            self.per_class[names[box["class_id"]]]["boxes"] += 1
            self.used.add(box["class_id"])
        if class_id is not None:
            self.used.add(class_id)
        self.boxes += len(boxes)
        self.splits[split] += 1
        self.sources[source] += 1
        self.augmented += augmented
        if group_id is not None:
            self.groups.add(group_id)
        for meta_key, value in (meta or {}).items():
            if isinstance(value, str | int | float | bool) and len(self.slices[meta_key]) <= MAX_SLICE_VALUES:
                self.slices[meta_key][str(value)] += 1

    def counts(self) -> dict[str, Any]:
        return {
            "items": self.digest.items,
            "boxes": self.boxes,
            "classes": {k: {"images": v["images"], "boxes": v["boxes"], "train": v["train"], "val": v["val"],
                            "test": v["test"]} for k, v in sorted(self.per_class.items())},
            "splits": {s: self.splits[s] for s in ("train", "val", "test")},
            "sources": dict(sorted(self.sources.items())),
            "slices": {k: dict(sorted(v.items())) for k, v in sorted(self.slices.items())
                       if len(v) <= MAX_SLICE_VALUES},
            "duplicate_groups": len(self.groups),
            "augmented": self.augmented,
        }


def gather(db: Session, *, project: Project, version: DatasetVersion, classes: Sequence[LabelClass], tally: Tally,
           excluded: Counter[str], boxes_dropped: int, new_splits: int, box_disputes_kept: int = 0) -> dict[str, Any]:
    """The datasheet of a version whose items are written and were all fed to `tally`."""
    names = {c.id: c.name for c in classes}
    counts = tally.counts()
    counts["excluded"] = dict(sorted((k, v) for k, v in excluded.items() if v))
    counts["boxes_dropped"] = boxes_dropped
    counts["box_disputes_kept"] = box_disputes_kept
    counts["new_splits"] = new_splits
    used = tally.used
    frozen_classes = [
        {"id": c.id, "name": c.name, "definition": c.definition, "colour": c.colour}
        for c in classes if c.is_active or c.id in used
    ]
    version.counts, version.datasheet = counts, {"classes": frozen_classes}
    pseudonyms = facts_labeling.Pseudonyms()
    return {
        "format": SHEET_FORMAT,
        "content_hash": tally.digest.hexdigest(),
        "classes": frozen_classes,
        "counts": counts,
        "project": {"name": project.name, "description": project.description, "task_type": project.task_type},
        "collection": facts_labeling.collection(db, version_id=version.id),
        "labeling": facts_labeling.labeling(db, project=project, version_id=version.id, pseudonyms=pseudonyms),
        "agreement": facts_labeling.agreement(db, project_id=project.id, version_id=version.id, names=names,
                                              pseudonyms=pseudonyms),
        "lineage": _lineage(db, version),
    }


def _lineage(db: Session, version: DatasetVersion) -> dict[str, Any]:
    parent = db.get(DatasetVersion, version.parent_id) if version.parent_id else None
    if parent is None:
        return {"parent": None, "diff": None}
    diff = diff_versions(db, before=parent, after=version)
    summary = diff.as_dict()
    summary.pop("examples")
    return {"parent": {"number": parent.number, "name": parent.name, "content_hash": parent.content_hash},
            "diff": summary}
