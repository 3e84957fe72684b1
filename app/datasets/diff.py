"""The difference between two versions: images added, removed and relabeled, per class.

Both versions are read in image id order, page by page, and merged: memory holds two pages and
the counters, whatever the size of the versions.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.paging import keyset
from app.datasets.models import DatasetItem, DatasetVersion

EXAMPLES = 50  # image ids listed per kind of change


@dataclass
class ClassDelta:
    name: str
    before: int  # images of this class in the older version
    after: int
    added: int = 0  # new images of this class
    removed: int = 0  # images of this class no longer in the version
    relabeled_in: int = 0  # kept images that became this class
    relabeled_out: int = 0  # kept images that were this class and became another


@dataclass
class Change:
    image_id: int
    before: str | None  # class name, None when absent
    after: str | None


@dataclass
class VersionDiff:
    before: int  # version numbers
    after: int
    added: int = 0
    removed: int = 0
    class_changed: int = 0
    boxes_changed: int = 0  # same class, different boxes
    unchanged: int = 0
    classes: list[ClassDelta] = field(default_factory=list)
    transitions: list[tuple[str, str, int]] = field(default_factory=list)  # (from, to, images), most first
    examples: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def relabeled(self) -> int:
        return self.class_changed + self.boxes_changed

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["relabeled"] = self.relabeled
        out["transitions"] = [{"from": a, "to": b, "images": n} for a, b, n in self.transitions]
        return out


def _items(db: Session, version_id: int) -> Iterator[tuple[int, int | None, list[dict[str, Any]]]]:
    stmt = select(DatasetItem.image_id, DatasetItem.label_class_id, DatasetItem.boxes).where(
        DatasetItem.version_id == version_id)
    for row in keyset(db, stmt, DatasetItem.image_id):
        yield row[0], row[1], row[2]


def class_names(version: DatasetVersion) -> dict[int, str]:
    return {c["id"]: c["name"] for c in version.datasheet.get("classes", [])}


def diff_versions(db: Session, *, before: DatasetVersion, after: DatasetVersion) -> VersionDiff:
    """Compare two versions of one project (the caller checks they belong to it)."""
    names_before, names_after = class_names(before), class_names(after)
    names = {**names_before, **names_after}

    def name(cid: int | None) -> str | None:
        return None if cid is None else names.get(cid, f"class {cid}")

    result = VersionDiff(before=before.number, after=after.number, examples={
        "added": [], "removed": [], "class_changed": [], "boxes_changed": []})
    added, removed, into, out_of = (Counter[int | None]() for _ in range(4))
    moves: Counter[tuple[int | None, int | None]] = Counter()

    def note(kind: str, image_id: int, a: int | None, b: int | None) -> None:
        setattr(result, kind, getattr(result, kind) + 1)
        if len(result.examples[kind]) < EXAMPLES:
            result.examples[kind].append(Change(image_id, name(a), name(b)))

    old, new = _items(db, before.id), _items(db, after.id)
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            note("removed", a[0], a[1], None)  # type: ignore[index]
            removed[a[1]] += 1  # type: ignore[index]
            a = next(old, None)
        elif a is None or b[0] < a[0]:
            note("added", b[0], None, b[1])
            added[b[1]] += 1
            b = next(new, None)
        else:
            if a[1] != b[1]:
                note("class_changed", a[0], a[1], b[1])
                moves[(a[1], b[1])] += 1
                out_of[a[1]] += 1
                into[b[1]] += 1
            elif a[2] != b[2]:
                note("boxes_changed", a[0], a[1], b[1])
            else:
                result.unchanged += 1
            a, b = next(old, None), next(new, None)
    per_before, per_after = before.counts.get("classes", {}), after.counts.get("classes", {})
    ids = sorted({cid for cid in names} | {k for k in (*added, *removed, *into, *out_of) if k is not None})
    result.classes = [
        ClassDelta(name=name(cid) or "", before=per_before.get(names_before.get(cid), {}).get("images", 0),
                   after=per_after.get(names_after.get(cid), {}).get("images", 0), added=added[cid],
                   removed=removed[cid],
                   relabeled_in=into[cid], relabeled_out=out_of[cid])
        for cid in ids
    ]
    result.transitions = sorted(((name(x) or "(none)", name(y) or "(none)", n) for (x, y), n in moves.items()),
                                key=lambda t: (-t[2], t[0], t[1]))
    return result
