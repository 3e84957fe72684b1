"""What changed in the data between two runs' versions, per class, beside the class's metric change.

The label changes come from app.datasets.diff.diff_versions (run a's version before, run b's after):
labels corrected to a class (relabeled in, with the classes they came from), labels moved out of it,
images added (original ones and augmented copies apart) and removed. Each class with a change gets
one sentence joined to its recall and F1 change on the comparison's reference, e.g.
"42 labels corrected to pit (38 from dent, 4 from ok); pit recall +0.18 [0.11, 0.25], F1 +0.12 [...]".
A sentence states what moved together; it does not prove the change caused the difference.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.datasets.diff import VersionDiff, class_names, diff_versions
from app.datasets.models import DatasetItem, DatasetVersion
from app.images.models import Image
from app.modeling.compare import Comparison


@dataclass
class ClassChange:
    name: str
    corrected_to: int = 0  # kept images relabeled into this class
    corrected_from: list[tuple[str, int]] = field(default_factory=list)  # (former class, images)
    moved_out: int = 0  # kept images of this class relabeled to another
    added: int = 0  # original images added with this class
    augmented: int = 0  # augmented copies added with this class
    removed: int = 0
    recall: dict[str, Any] | None = None  # the comparison's delta JSON, None when the class is not in it
    f1: dict[str, Any] | None = None
    sentence: str = ""

    @property
    def changes(self) -> int:
        return self.corrected_to + self.moved_out + self.added + self.augmented + self.removed


@dataclass
class Attribution:
    before: int  # version numbers: run a's, run b's
    after: int
    same_version: bool
    relabeled: int = 0
    added: int = 0
    augmented: int = 0
    removed: int = 0
    classes: list[ClassChange] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "classes"}
        out["classes"] = [vars(c) | {"changes": c.changes} for c in self.classes]
        return out


def augmented_added(db: Session, *, before: DatasetVersion, after: DatasetVersion) -> Counter[int | None]:
    """Augmented copies in `after` and not in `before`, per label class id."""
    earlier = select(DatasetItem.image_id).where(DatasetItem.version_id == before.id)
    rows = db.execute(select(DatasetItem.label_class_id, func.count()).join(Image, Image.id == DatasetItem.image_id)
                      .where(DatasetItem.version_id == after.id, Image.augmented_from_id.is_not(None),
                             DatasetItem.image_id.not_in(earlier))
                      .group_by(DatasetItem.label_class_id))
    return Counter({class_id: count for class_id, count in rows})


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2f}"


def _metric(name: str, delta: dict[str, Any] | None) -> str:
    if delta is None:
        return f"{name} —"
    d = delta["delta"]
    return f"{name} {_signed(d['value'])} [{_signed(d['low'])}, {_signed(d['high'])}]"


def _sentence(c: ClassChange) -> str:
    parts = []
    if c.corrected_to:
        sources = ", ".join(f"{n} from {name}" for name, n in c.corrected_from[:3])
        parts.append(f"{c.corrected_to} labels corrected to {c.name}" + (f" ({sources})" if sources else ""))
    if c.moved_out:
        parts.append(f"{c.moved_out} {c.name} labels changed to another class")
    if c.added:
        parts.append(f"{c.added} {c.name} images added")
    if c.augmented:
        parts.append(f"{c.augmented} augmented {c.name} copies added")
    if c.removed:
        parts.append(f"{c.removed} {c.name} images removed")
    metrics = f"{c.name} {_metric('recall', c.recall)}, {_metric('F1', c.f1)}"
    return "; ".join([", ".join(parts), metrics])


def attribute(db: Session, comparison: Comparison) -> Attribution:
    """The data changes from run a's version to run b's, per class, with the class's metric change."""
    before = db.get(DatasetVersion, comparison.a["version_id"])
    after = db.get(DatasetVersion, comparison.b["version_id"])
    assert before is not None and after is not None  # runs keep their versions (ON DELETE CASCADE)
    out = Attribution(before=before.number, after=after.number, same_version=before.id == after.id)
    if out.same_version:
        out.sentences.append(f"Both runs trained on version {before.number}: the differences come from the "
                             "recipe or the seed, not from the labels.")
        return out
    diff = diff_versions(db, before=before, after=after)
    augmented = augmented_added(db, before=before, after=after)
    names = {**class_names(before), **class_names(after)}
    by_name = {names.get(cid, f"class {cid}"): n for cid, n in augmented.items() if cid is not None}
    out.relabeled, out.removed = diff.class_changed, diff.removed
    out.augmented = sum(augmented.values())
    out.added = diff.added - out.augmented
    deltas = {row["name"]: row for row in comparison.as_dict()["per_class"]}
    out.classes = _class_changes(diff, by_name, deltas)
    out.sentences.append(_lead(out))
    out.sentences += [c.sentence for c in out.classes]
    return out


def _class_changes(diff: VersionDiff, augmented: dict[str, int],
                   deltas: dict[str, dict[str, Any]]) -> list[ClassChange]:
    changes = []
    for cd in diff.classes:
        aug = augmented.get(cd.name, 0)
        change = ClassChange(name=cd.name, corrected_to=cd.relabeled_in, moved_out=cd.relabeled_out,
                             added=cd.added - aug, augmented=aug, removed=cd.removed,
                             corrected_from=[(a, n) for a, b, n in diff.transitions if b == cd.name])
        if change.changes == 0:
            continue
        row = deltas.get(cd.name)
        change.recall, change.f1 = (row["recall"], row["f1"]) if row else (None, None)
        change.sentence = _sentence(change)
        changes.append(change)
    return sorted(changes, key=lambda c: (-c.changes, c.name))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _lead(out: Attribution) -> str:
    return (f"From version {out.before} to version {out.after}: {_count(out.relabeled, 'label', 'labels')} "
            f"changed class, {_count(out.added, 'image', 'images')} added, "
            f"{_count(out.augmented, 'augmented copy', 'augmented copies')} added, "
            f"{_count(out.removed, 'image', 'images')} removed.")
