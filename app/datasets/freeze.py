"""Freezing: the project's decided labels, filtered, become an immutable DatasetVersion.

Reads stream page by page; what stays in memory per item is a few integers (for the split plan),
never the labels themselves. Services never commit: the caller does.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app.auth.models import User
from app.consistency.models import Conflict, ConflictState
from app.core import audit
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid
from app.datasets import facts
from app.datasets.canonical import clean_boxes
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.paging import keyset
from app.datasets.schemas import FreezeFilter, FreezeIn
from app.datasets.splits import SplitItem, SplitPlan, plan_splits
from app.images.models import Image
from app.projects.models import LabelClass, Project
from app.projects.taxonomy import class_mapping
from app.review.models import FinalLabel

BATCH = 1000
Source = aliased(Image)


@dataclass
class Scan:
    """What the first pass keeps: a split candidate per written item, and why others were left out."""

    candidates: list[SplitItem] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    boxes_dropped: int = 0


def freeze_version(db: Session, *, project: Project, spec: FreezeIn, user: User | None) -> DatasetVersion:
    """Freeze the final labels that pass `spec.filter` into a new version with a stable split.

    Raises Conflict when the name is taken or another freeze ran at the same moment, Invalid for
    classes that are not the project's, or when nothing passes the filter. On an error nothing of
    the freeze stays in the session (it runs in a savepoint), so the caller can carry on.
    """
    with db.begin_nested():
        return _freeze(db, project=project, spec=spec, user=user)


def _freeze(db: Session, *, project: Project, spec: FreezeIn, user: User | None) -> DatasetVersion:
    classes = _classes(db, project.id, spec.filter)
    version = _new_version(db, project=project, spec=spec, user=user)
    scan = _scan(db, project=project, filt=spec.filter, class_ids={c.id for c in classes}, version_id=version.id)
    if not scan.candidates:
        raise Invalid("no decided label passes this filter; nothing to freeze", field="filter")
    plan = plan_splits(scan.candidates, fractions=spec.split.fractions(), seed=spec.split.seed,
                       anchors=_anchors(db, project.id, scan.candidates))
    _apply(db, project_id=project.id, version_id=version.id, plan=plan)
    scan.excluded["duplicate_straddle"] += len(plan.excluded)
    sheet = facts.gather(db, project=project, version=version, classes=classes, excluded=scan.excluded,
                         boxes_dropped=scan.boxes_dropped, new_splits=len(plan.new))
    version.content_hash = sheet.pop("content_hash")
    version.counts = sheet["counts"]
    version.datasheet = sheet
    audit.record(db, action="dataset.frozen", actor_id=user.id if user else None, project_id=project.id,
                 object_type="dataset_version", object_id=version.id,
                 data={"number": version.number, "items": sheet["counts"]["items"], "hash": version.content_hash})
    db.flush()
    return version


def _classes(db: Session, project_id: int, filt: FreezeFilter) -> list[LabelClass]:
    rows = db.scalars(select(LabelClass).where(LabelClass.project_id == project_id)
                      .order_by(LabelClass.position, LabelClass.id)).all()
    if filt.class_ids is None:
        return list(rows)
    unknown = set(filt.class_ids) - {c.id for c in rows}
    if unknown or not filt.class_ids:
        raise Invalid("choose classes of this project", field="filter.class_ids")
    return [c for c in rows if c.id in set(filt.class_ids)]


def _new_version(db: Session, *, project: Project, spec: FreezeIn, user: User | None) -> DatasetVersion:
    if db.scalar(select(DatasetVersion.id).where(DatasetVersion.project_id == project.id,
                                                 DatasetVersion.name == spec.name)) is not None:
        raise ConflictError(f"a version named {spec.name!r} already exists", field="name")
    last = db.scalars(select(DatasetVersion).where(DatasetVersion.project_id == project.id)
                      .order_by(DatasetVersion.number.desc()).limit(1)).first()
    version = DatasetVersion(
        project_id=project.id, number=(last.number + 1) if last else 1, name=spec.name,
        description=spec.description, filter=spec.filter.model_dump(mode="json"),
        split_spec=spec.split.model_dump(mode="json"), content_hash="", parent_id=last.id if last else None,
        defect_book_version=project.defect_book_version, counts={}, created_by_id=user.id if user else None,
    )
    try:
        with db.begin_nested():
            db.add(version)
            db.flush()
    except IntegrityError as exc:
        raise ConflictError("another version was frozen at the same moment; try again") from exc
    return version


def _blocked_images(db: Session, project_id: int, states: tuple[str, ...]) -> tuple[set[int], set[int]]:
    """Image ids and duplicate-group ids with a conflict in one of `states`."""
    rows = db.execute(select(Conflict.image_id, Conflict.duplicate_group_id)
                      .where(Conflict.project_id == project_id, Conflict.state.in_(states))).all()
    return {r[0] for r in rows if r[0] is not None}, {r[1] for r in rows if r[1] is not None}


def _scan(db: Session, *, project: Project, filt: FreezeFilter, class_ids: set[int], version_id: int) -> Scan:
    """First pass: filter the final labels, write the kept items (split pending), keep split candidates."""
    ambiguous = _blocked_images(db, project.id, (ConflictState.ambiguous,))
    unresolved = _blocked_images(db, project.id, (ConflictState.open, ConflictState.returned))
    stmt = (
        select(Image.id, FinalLabel.label_class_id, FinalLabel.boxes, FinalLabel.source, FinalLabel.confidence,
               FinalLabel.is_ambiguous, Image.width, Image.height, Image.meta, Image.split,
               Image.duplicate_group_id, Image.augmented_from_id, Source.duplicate_group_id)
        .join(FinalLabel, FinalLabel.image_id == Image.id)
        .outerjoin(Source, Source.id == Image.augmented_from_id)
        .where(Image.project_id == project.id)
    )
    alias = class_mapping(db, project.id)  # a label on a retired (merged) class counts as its successor
    scan, batch = Scan(), []
    for row in keyset(db, stmt, Image.id):
        class_id = alias.get(row.label_class_id, row.label_class_id)
        boxes = [{**b, "class_id": alias.get(b.get("class_id"), b.get("class_id"))} for b in row.boxes or []]
        reason = _reason(row, class_id, filt, class_ids, ambiguous, unresolved)
        cleaned = clean_boxes(boxes, width=row.width, height=row.height, class_ids=class_ids)
        if reason is None and class_id is None and not cleaned.boxes:
            reason = "class"  # neither an image class nor a box of a chosen class
        if reason is not None:
            scan.excluded[reason] += 1
            continue
        scan.boxes_dropped += cleaned.dropped
        batch.append({"version_id": version_id, "image_id": row.id, "label_class_id": class_id,
                      "boxes": cleaned.boxes, "split": row.split or "", "source": row.source,
                      "confidence": row.confidence})
        scan.candidates.append(SplitItem(image_id=row.id, stratum=_stratum(class_id, cleaned.boxes),
                                         unit=_unit(row.id, row.duplicate_group_id, row.augmented_from_id, row[-1]),
                                         split=row.split or None))
        if len(batch) >= BATCH:
            db.connection().execute(insert(DatasetItem), batch)
            batch = []
    if batch:
        db.connection().execute(insert(DatasetItem), batch)
    return scan


def _reason(row: Any, class_id: int | None, filt: FreezeFilter, class_ids: set[int],
            ambiguous: tuple[set[int], set[int]], unresolved: tuple[set[int], set[int]]) -> str | None:
    """Why a final label stays out of the version (the first rule that applies), or None."""
    group = row.duplicate_group_id
    if row.augmented_from_id is not None and not filt.include_augmented:
        return "augmented"
    if filt.exclude_ambiguous and (row.is_ambiguous or row.id in ambiguous[0] or group in ambiguous[1]):
        return "ambiguous"
    if filt.exclude_unresolved and (row.id in unresolved[0] or group in unresolved[1]):
        return "unresolved"
    # A reviewer's decision carries no confidence: it is the decision, so it passes.
    if filt.min_confidence is not None and row.confidence is not None and row.confidence < filt.min_confidence:
        return "low_confidence"
    if class_id is not None and class_id not in class_ids:
        return "class"
    meta = row.meta or {}
    for key, accepted in filt.slices.items():
        value = meta.get(key)
        if ("" if value is None else str(value)) not in accepted:
            return "slice"
    return None


def _stratum(class_id: int | None, boxes: list[dict[str, Any]]) -> int | None:
    if class_id is not None:
        return class_id
    votes = Counter(b["class_id"] for b in boxes)
    return min(votes, key=lambda c: (-votes[c], c)) if votes else None


def _unit(image_id: int, group_id: int | None, source_id: int | None, source_group: int | None) -> Hashable:
    """Members of a near-duplicate group, and an image with its augmented copies, share a split."""
    if group_id is not None:
        return ("g", group_id)
    if source_id is not None:
        return ("g", source_group) if source_group is not None else ("i", source_id)
    return ("i", image_id)


def _anchors(db: Session, project_id: int, candidates: list[SplitItem]) -> dict[Hashable, Counter[str]]:
    """Splits already given to project images outside this version, per unit of the version."""
    units = {c.unit for c in candidates}
    inside = {c.image_id for c in candidates}
    stmt: Any = (select(Image.id, Image.split, Image.duplicate_group_id, Image.augmented_from_id,
                        Source.duplicate_group_id)
            .outerjoin(Source, Source.id == Image.augmented_from_id)
            .where(Image.project_id == project_id, Image.split.is_not(None)))
    anchors: dict[Hashable, Counter[str]] = {}
    for row in keyset(db, stmt, Image.id):
        unit = _unit(row[0], row[2], row[3], row[4])
        if row[0] not in inside and unit in units:
            anchors.setdefault(unit, Counter())[row[1]] += 1
    return anchors


def _apply(db: Session, *, project_id: int, version_id: int, plan: SplitPlan) -> None:
    """Write the plan: first splits of images (never over an existing one), straddlers out, then every
    item takes its image's split (a kept item's split always is its image's)."""
    fresh: dict[str, list[int]] = {}
    for image_id in plan.new:
        fresh.setdefault(plan.splits[image_id], []).append(image_id)
    for split, ids in sorted(fresh.items()):
        for chunk in _chunks(sorted(ids)):
            done = db.connection().execute(update(Image).where(Image.project_id == project_id, Image.id.in_(chunk),
                                                               Image.split.is_(None)).values(split=split)).rowcount
            if done != len(chunk):
                raise ConflictError("another freeze split these images at the same moment; try again")
    for chunk in _chunks(sorted(plan.excluded)):
        db.execute(delete(DatasetItem).where(DatasetItem.version_id == version_id, DatasetItem.image_id.in_(chunk)))
    image_split = select(Image.split).where(Image.id == DatasetItem.image_id).scalar_subquery()
    db.connection().execute(update(DatasetItem).where(DatasetItem.version_id == version_id).values(split=image_split))
    wrong = db.scalar(select(func.count()).select_from(DatasetItem).join(Image, Image.id == DatasetItem.image_id)
                      .where(DatasetItem.version_id == version_id, DatasetItem.split.not_in(("train", "val", "test"))))
    assert wrong == 0, "every frozen item has a split"


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]
