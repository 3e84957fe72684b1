"""Freezing: the project's decided labels, filtered, become an immutable DatasetVersion.

Two passes. The read pass streams the final labels page by page (keyset), keeps a few integers per
kept item for the split plan, and spools the kept items themselves to a temporary file (memory stays
flat); it writes nothing, so a caller may commit between its pages (a job does: on SQLite that lets
other writers in). The write pass, in one savepoint, creates the version, then replays the spool in
image id order: each item is inserted once, with its planned split, in executemany batches, images
get their first split, and the content hash and counts are tallied on the way (nothing is read back).
Services never commit: the caller does.
"""
from __future__ import annotations

import pickle
import tempfile
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app.auth.models import User
from app.consistency.models import BOX_KINDS, Conflict, ConflictState
from app.core import audit
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid
from app.core.paging import keyset
from app.datasets import facts
from app.datasets.canonical import clean_boxes
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.schemas import FreezeFilter, FreezeIn
from app.datasets.splits import SplitItem, SplitPlan, plan_splits
from app.images.models import Image
from app.projects.models import LabelClass, Project
from app.projects.taxonomy import class_mapping
from app.review.models import FinalLabel

BATCH = 1000  # items per executemany, and per spooled chunk
PAGE = 5000  # final labels per read page
SPLIT_CHUNK = 500  # image ids per UPDATE of first splits
READ_SHARE = 0.6  # of the progress bar: the read pass (the write pass reports once, as it starts)
Source = aliased(Image)
Progress = Callable[[float, str], None]


class FreezeRace(ConflictError):
    """Another freeze of the project wrote at the same moment (a retry can succeed)."""


@dataclass
class Scan:
    """What the read pass keeps: a split candidate per kept item, the items spooled, why others were left out."""

    spool: IO[bytes]
    candidates: list[SplitItem] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    boxes_dropped: int = 0
    box_disputes_kept: int = 0  # kept items whose boxes are still in dispute (the admin kept them)


def check_freeze(db: Session, *, project: Project, spec: FreezeIn) -> list[LabelClass]:
    """The classes the version takes. Raises Invalid for classes that are not the project's, Conflict
    when the name is taken: what can be refused before any work (or job) starts."""
    classes = _classes(db, project.id, spec.filter)
    _refuse_taken(db, project.id, spec.name)
    return classes


def _refuse_taken(db: Session, project_id: int, name: str) -> None:
    if db.scalar(select(DatasetVersion.id).where(DatasetVersion.project_id == project_id,
                                                 DatasetVersion.name == name)) is not None:
        raise ConflictError(f"a version named {name!r} already exists", field="name")


def decided_labels(db: Session, project_id: int) -> int:
    """How many final labels the project has: an upper bound of a version's size."""
    return db.scalar(select(func.count()).select_from(FinalLabel).join(Image, Image.id == FinalLabel.image_id)
                     .where(Image.project_id == project_id)) or 0


def freeze_version(db: Session, *, project: Project, spec: FreezeIn, user: User | None,
                   progress: Progress | None = None) -> DatasetVersion:
    """Freeze the final labels that pass `spec.filter` into a new version with a stable split.

    Raises Conflict when the name is taken (FreezeRace when another freeze wrote at the same
    moment), Invalid for classes that are not the project's, or when nothing passes the filter. The
    writes run in a savepoint: on an error nothing of the freeze stays in the session. `progress`
    (fraction, message) is called only while nothing is written yet (between read pages, and once
    as the write pass starts), so it may commit.
    """
    report = progress or (lambda fraction, message: None)
    classes = check_freeze(db, project=project, spec=spec)
    with tempfile.TemporaryFile() as spool:
        scan = _scan(db, project=project, filt=spec.filter, class_ids={c.id for c in classes}, spool=spool,
                     report=report)
        if not scan.candidates:
            raise Invalid("no decided label passes this filter; nothing to freeze", field="filter")
        plan = plan_splits(scan.candidates, fractions=spec.split.fractions(), seed=spec.split.seed,
                           anchors=_anchors(db, project.id, scan.candidates))
        report(READ_SHARE, f"writing {len(plan.splits):,} items")
        with db.begin_nested():
            return _write(db, project=project, spec=spec, user=user, classes=classes, scan=scan, plan=plan)


def _write(db: Session, *, project: Project, spec: FreezeIn, user: User | None, classes: list[LabelClass],
           scan: Scan, plan: SplitPlan) -> DatasetVersion:
    version = _new_version(db, project=project, spec=spec, user=user)
    tally = facts.Tally({c.id: c.name for c in classes})
    _items(db, project_id=project.id, version_id=version.id, scan=scan, plan=plan, tally=tally)
    scan.excluded["duplicate_straddle"] += len(plan.excluded)
    sheet = facts.gather(db, project=project, version=version, classes=classes, tally=tally, excluded=scan.excluded,
                         boxes_dropped=scan.boxes_dropped, new_splits=len(plan.new),
                         box_disputes_kept=scan.box_disputes_kept)
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
    _refuse_taken(db, project.id, spec.name)  # again: a caller may have committed since check_freeze
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
        raise FreezeRace("another version was frozen at the same moment; try again") from exc
    return version


def _blocked_images(db: Session, project_id: int, states: tuple[str, ...], *,
                    boxes: bool | None = None) -> tuple[set[int], set[int]]:
    """Image ids and duplicate-group ids with a conflict in one of `states` (`boxes`: only conflicts
    about boxes, or only the others)."""
    stmt = select(Conflict.image_id, Conflict.duplicate_group_id).where(Conflict.project_id == project_id,
                                                                       Conflict.state.in_(states))
    if boxes is not None:
        stmt = stmt.where(Conflict.kind.in_(BOX_KINDS) if boxes else Conflict.kind.not_in(BOX_KINDS))
    rows = db.execute(stmt).all()
    return {r[0] for r in rows if r[0] is not None}, {r[1] for r in rows if r[1] is not None}


def _scan(db: Session, *, project: Project, filt: FreezeFilter, class_ids: set[int], spool: IO[bytes],
          report: Progress) -> Scan:
    """The read pass: filter the final labels, spool the kept items in image id order, keep split candidates."""
    ambiguous = _blocked_images(db, project.id, (ConflictState.ambiguous,))
    unresolved = _blocked_images(db, project.id, (ConflictState.open, ConflictState.returned), boxes=False)
    disputed = _blocked_images(db, project.id, (ConflictState.open, ConflictState.returned), boxes=True)[0]
    total = decided_labels(db, project.id)
    stmt = (
        select(Image.id, FinalLabel.label_class_id, FinalLabel.boxes, FinalLabel.source, FinalLabel.confidence,
               FinalLabel.is_ambiguous, Image.width, Image.height, Image.meta, Image.split,
               Image.duplicate_group_id, Image.augmented_from_id, Image.sha256, Source.duplicate_group_id)
        .join(FinalLabel, FinalLabel.image_id == Image.id)
        .outerjoin(Source, Source.id == Image.augmented_from_id)
        .where(Image.project_id == project.id)
    )
    alias = class_mapping(db, project.id)  # a label on a retired (merged) class counts as its successor
    scan, chunk, seen = Scan(spool=spool), [], 0
    for row in keyset(db, stmt, Image.id, page=PAGE):
        seen += 1
        if seen % PAGE == 0:
            report(READ_SHARE * seen / max(total, seen), f"read {seen:,} of {total:,} decided labels")
        class_id = alias.get(row.label_class_id, row.label_class_id)
        boxes = [{**b, "class_id": alias.get(b.get("class_id"), b.get("class_id"))} for b in row.boxes or []]
        reason = _reason(row, class_id, filt, class_ids, ambiguous, unresolved)
        if reason is None and row.id in disputed and filt.exclude_box_disputes:
            reason = "box_disputes"
        cleaned = clean_boxes(boxes, width=row.width, height=row.height, class_ids=class_ids)
        if reason is None and class_id is None and not cleaned.boxes:
            reason = "class"  # neither an image class nor a box of a chosen class
        if reason is not None:
            scan.excluded[reason] += 1
            continue
        scan.boxes_dropped += cleaned.dropped
        scan.box_disputes_kept += row.id in disputed
        chunk.append((row.id, class_id, cleaned.boxes, row.source, row.confidence, row.sha256, row.meta,
                      row.duplicate_group_id, row.augmented_from_id))
        scan.candidates.append(SplitItem(image_id=row.id, stratum=_stratum(class_id, cleaned.boxes),
                                         unit=_unit(row.id, row.duplicate_group_id, row.augmented_from_id, row[-1]),
                                         split=row.split or None))
        if len(chunk) >= BATCH:
            pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
    if chunk:
        pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
    return scan


def _spooled(spool: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    """The kept items back from the spool (this process wrote it: unpickling it is safe)."""
    spool.seek(0)
    while True:
        try:
            chunk = pickle.load(spool)  # noqa: S301
        except EOFError:
            return
        yield from chunk


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


def _items(db: Session, *, project_id: int, version_id: int, scan: Scan, plan: SplitPlan, tally: facts.Tally) -> None:
    """Insert every kept item with its planned split (straddlers left out), give new images their
    first split (never over an existing one), and tally the hash and counts on the way."""
    batch: list[dict[str, Any]] = []
    fresh: dict[str, list[int]] = {}
    for image_id, class_id, boxes, source, confidence, sha256, meta, group_id, source_id in _spooled(scan.spool):
        if image_id in plan.excluded:
            continue
        split = plan.splits[image_id]
        batch.append({"version_id": version_id, "image_id": image_id, "label_class_id": class_id, "boxes": boxes,
                      "split": split, "source": source, "confidence": confidence})
        tally.add(sha256=sha256, class_id=class_id, boxes=boxes, split=split, source=source, meta=meta,
                  group_id=group_id, augmented=source_id is not None)
        if image_id in plan.new:
            fresh.setdefault(split, []).append(image_id)
            if len(fresh[split]) >= SPLIT_CHUNK:
                _first_splits(db, project_id, split, fresh.pop(split))
        if len(batch) >= BATCH:
            db.connection().execute(insert(DatasetItem), batch)
            batch = []
    if batch:
        db.connection().execute(insert(DatasetItem), batch)
    for split, ids in sorted(fresh.items()):
        _first_splits(db, project_id, split, ids)


def _first_splits(db: Session, project_id: int, split: str, ids: list[int]) -> None:
    done = db.connection().execute(update(Image).where(Image.project_id == project_id, Image.id.in_(ids),
                                                       Image.split.is_(None)).values(split=split)).rowcount
    if done != len(ids):
        raise FreezeRace("another freeze split these images at the same moment; try again")
