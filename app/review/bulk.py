"""Decisions in bulk, for scripts: rows of (file_name, final_class[, note][, boxes]).

All or nothing: every row is checked first (image known and unique, class current, a conflict to
decide, boxes inside the image); any bad row stops the whole file with a per-row report, and
nothing is applied.

A row with boxes decides the image's most severe active conflict (or, when none is active, its
latest one) and with it every active conflict of the image: class and boxes. A row without boxes
decides the image's class only (`class_only`): its conflicts about the class are settled, it keeps
the consensus boxes a majority of its labelers drew (finals.consensus_boxes), and its conflicts
about boxes stay open for a person (out of a frozen version unless the admin keeps them), unless
the class means "no defect": then the image has no boxes and every conflict is settled. An image
whose only open conflicts are about boxes gets its class all the same (a final label, no conflict
settled). The decision is `accept_consensus` when the class is the consensus class, else `edit`.

A near-duplicate group conflict is decided by the rows of its images: the first row of a group
whose look-alikes are in dispute decides the whole group with its class (`group`), and every other
row of that group must name the same class (else the file is refused: decide such a group on the
review page, image by image).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.consistency.models import BOX_KINDS, Conflict, ImageConsensus
from app.core.errors import ConcordError, Invalid
from app.images.models import Image
from app.projects.models import Project
from app.review.finals import ClassBook, clean_boxes
from app.review.schemas import BulkRowIn, DecisionIn, DecisionName
from app.review.service import ACTIVE, decide, decide_class

REQUIRED_COLUMNS = ("file_name", "final_class")
OPTIONAL_COLUMNS = ("note",)


@dataclass
class RowError:
    row: int  # 1-based line of the file (the header is line 1), or the row's index + 1 in JSON
    file_name: str
    message: str


@dataclass
class Planned:
    row: int
    file_name: str
    conflict_id: int | None  # None: a class for an image whose only open conflicts are about boxes
    data: DecisionIn
    image_id: int = 0
    group_id: int | None = None  # the near-duplicate group this row decides for all its images
    covered: bool = False  # another row of the file decides this image's group


@dataclass
class Applied:
    row: int
    file_name: str
    resolution_ids: list[int]
    image_ids: list[int]


class BulkRejected(Invalid):
    """The file has bad rows; `detail` lists every one, and nothing was applied."""


def parse_csv(text: str) -> tuple[list[tuple[int, BulkRowIn]], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        raise Invalid(f"the header must be file_name,final_class[,note]; missing {missing or 'none'}, "
                      f"unknown {unknown or 'none'}", field="file")
    reader.fieldnames = header
    rows, errors = [], []
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(RowError(line, str(record.get("file_name") or ""), "too many columns"))
            continue
        try:
            rows.append((line, BulkRowIn.model_validate({k: (v or "").strip() for k, v in record.items()})))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            errors.append(RowError(line, str(record.get("file_name") or ""), f"{where}: {first['msg']}"))
    if not rows and not errors:
        raise Invalid("the file has no decisions", field="file")
    return rows, errors


def _images_by_name(db: Session, project_id: int, names: Sequence[str]) -> dict[str, list[Image]]:
    found: dict[str, list[Image]] = {}
    unique = sorted(set(names))
    for start in range(0, len(unique), 500):
        for image in db.scalars(select(Image).where(Image.project_id == project_id,
                                                    Image.file_name.in_(unique[start:start + 500]))):
            found.setdefault(image.file_name, []).append(image)
    return found


def _conflict_for(db: Session, project_id: int, image_id: int, *, class_only: bool) -> Conflict | None:
    """The conflict a row decides: the most severe active one (only those about the class for a row
    without boxes), else the latest such one."""
    query = select(Conflict).where(Conflict.project_id == project_id, Conflict.image_id == image_id)
    if class_only:
        query = query.where(Conflict.kind.not_in(BOX_KINDS))
    active = db.scalar(query.where(Conflict.state.in_(ACTIVE)).order_by(Conflict.severity.desc(), Conflict.id))
    return active or db.scalar(query.order_by(Conflict.updated_at.desc(), Conflict.id.desc()))


def _group_conflict(db: Session, image: Image) -> Conflict | None:
    if image.duplicate_group_id is None:
        return None
    return db.scalar(select(Conflict).where(Conflict.project_id == image.project_id, Conflict.image_id.is_(None),
                                            Conflict.duplicate_group_id == image.duplicate_group_id,
                                            Conflict.state.in_(ACTIVE)).order_by(Conflict.id))


def _box_conflict(db: Session, image: Image) -> Conflict | None:
    return db.scalar(select(Conflict).where(Conflict.project_id == image.project_id, Conflict.image_id == image.id,
                                            Conflict.kind.in_(BOX_KINDS), Conflict.state.in_(ACTIVE))
                     .order_by(Conflict.severity.desc(), Conflict.id))


def _plan_row(db: Session, book: ClassBook, by_name: dict[str, int], image: Image,
              row: BulkRowIn) -> tuple[Conflict | None, DecisionIn]:
    if row.final_class not in by_name:
        raise Invalid(f"unknown class {row.final_class!r}")
    class_id = book.current(by_name[row.final_class])
    class_only = row.boxes is None
    group = _group_conflict(db, image) if class_only else None
    if group is not None:
        return group, DecisionIn(decision="group", version=group.version, label_class_id=class_id, reason=row.note)
    if not class_only:
        conflict = _conflict_for(db, image.project_id, image.id, class_only=False)
        if conflict is None:
            raise Invalid("this image has no conflict to decide (its label is not disputed)")
        return conflict, DecisionIn(decision="edit", version=conflict.version, label_class_id=class_id,
                                    boxes=clean_boxes(book, image, row.boxes or []), reason=row.note)  # type: ignore[arg-type]
    conflict = _conflict_for(db, image.project_id, image.id, class_only=True)
    boxes_disputed = _box_conflict(db, image)
    if boxes_disputed is not None and (conflict is None or conflict.state not in ACTIVE):
        # only its boxes are disputed: "no defect" settles them (no boxes); a defect class does not
        conflict = boxes_disputed if book.is_ok(class_id) else None
    elif conflict is None:
        raise Invalid("this image has no conflict to decide (its label is not disputed)")
    consensus = db.get(ImageConsensus, image.id)
    agrees = consensus is not None and book.current(consensus.consensus_class_id) == class_id
    decision: DecisionName = "accept_consensus" if agrees else "edit"
    return conflict, DecisionIn(decision=decision, version=conflict.version if conflict else 0, reason=row.note,
                                label_class_id=None if agrees else class_id, class_only=True)


def plan(db: Session, *, project: Project,
         rows: Sequence[tuple[int, BulkRowIn]]) -> tuple[list[Planned], list[RowError]]:
    book = ClassBook(db, project.id)
    by_name = {c.name: c.id for c in book.classes.values()}
    images = _images_by_name(db, project.id, [r.file_name for _, r in rows])
    planned: list[Planned] = []
    errors, seen = [], set()
    groups: dict[int, Planned] = {}  # group conflict id -> the row that decides it
    for line, row in rows:
        matches = images.get(row.file_name, [])
        if row.file_name in seen:
            errors.append(RowError(line, row.file_name, "this image is listed twice"))
            continue
        seen.add(row.file_name)
        if len(matches) != 1:
            message = "no image with this file name in the project" if not matches else \
                f"{len(matches)} images have this file name; decide them through the API by conflict id"
            errors.append(RowError(line, row.file_name, message))
            continue
        try:
            conflict, data = _plan_row(db, book, by_name, matches[0], row)
        except ConcordError as exc:
            errors.append(RowError(line, row.file_name, exc.message))
            continue
        item = Planned(line, row.file_name, conflict.id if conflict else None, data, image_id=matches[0].id)
        if data.decision == "group" and conflict is not None:
            first = groups.setdefault(conflict.id, item)
            if first is not item:
                if first.data.label_class_id != data.label_class_id:
                    errors.append(RowError(line, row.file_name, f"a look-alike of {first.file_name} (row {first.row}), "
                                           "whose group is decided with one class: give both the same class, or "
                                           "decide the group on the review page"))
                    continue
                item.covered = True
            item.group_id = conflict.duplicate_group_id
        planned.append(item)
    return planned, errors


def apply(db: Session, *, project: Project, reviewer: User, planned: Sequence[Planned],
          progress: Callable[[Planned], None] | None = None) -> list[Applied]:
    """Decide every planned row in the caller's transaction (the caller commits once at the end)."""
    results = []
    for item in planned:
        try:
            results.append(_apply_one(db, project, reviewer, item))
        except ConcordError as exc:
            raise BulkRejected(f"row {item.row} ({item.file_name}): {exc.message}; nothing was applied",
                               detail=[RowError(item.row, item.file_name, exc.message).__dict__]) from exc
        if progress is not None:
            progress(item)
    return results


def _apply_one(db: Session, project: Project, reviewer: User, item: Planned) -> Applied:
    if item.covered:  # its group's decision, made by an earlier row, gave it this class
        return Applied(item.row, item.file_name, [], [item.image_id])
    if item.conflict_id is None:
        decide_class(db, project=project, image_id=item.image_id, reviewer=reviewer, data=item.data)
        return Applied(item.row, item.file_name, [], [item.image_id])
    result = decide(db, project=project, conflict_id=item.conflict_id, reviewer=reviewer, data=item.data)
    return Applied(item.row, item.file_name, [r.id for r in result.resolutions], result.image_ids)


def decide_rows(db: Session, *, project: Project, reviewer: User,
                rows: Sequence[tuple[int, BulkRowIn]]) -> list[Applied]:
    planned, errors = plan(db, project=project, rows=rows)
    if errors:
        raise BulkRejected(f"{len(errors)} of {len(rows)} rows are invalid; nothing was applied",
                           detail=[e.__dict__ for e in errors])
    return apply(db, project=project, reviewer=reviewer, planned=planned)


def boxes_left_open(db: Session, results: Sequence[Applied]) -> int:
    """How many of the decided images still have an open conflict about their boxes."""
    ids = sorted({i for r in results for i in r.image_ids})
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        found.update(db.scalars(select(Conflict.image_id).where(
            Conflict.image_id.in_(ids[start:start + 500]), Conflict.kind.in_(BOX_KINDS), Conflict.state.in_(ACTIVE))))
    return len(found)
