"""Decisions in bulk, for scripts: rows of (file_name, final_class[, note][, boxes]).

All or nothing: every row is checked first (image known and unique, class current, a conflict to
decide, boxes inside the image); any bad row stops the whole file with a per-row report, and
nothing is applied. A row decides the image's most severe active conflict (or, when none is
active, its latest one) and with it every active conflict of the image. Without boxes, the image
keeps the consensus boxes; the decision is `accept_consensus` when the class is the consensus
class, else `edit`.
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
from app.consistency.models import Conflict, ImageConsensus
from app.core.errors import ConcordError, Invalid
from app.images.models import Image
from app.projects.models import Project
from app.review.finals import ClassBook, clean_boxes, consensus_boxes
from app.review.schemas import BulkRowIn, DecisionIn
from app.review.service import ACTIVE, DecisionResult, decide

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
    conflict_id: int
    data: DecisionIn


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


def _conflict_for(db: Session, project_id: int, image_id: int) -> Conflict | None:
    query = select(Conflict).where(Conflict.project_id == project_id, Conflict.image_id == image_id)
    active = db.scalar(query.where(Conflict.state.in_(ACTIVE)).order_by(Conflict.severity.desc(), Conflict.id))
    return active or db.scalar(query.order_by(Conflict.updated_at.desc(), Conflict.id.desc()))


def _plan_row(db: Session, book: ClassBook, by_name: dict[str, int], image: Image,
              row: BulkRowIn) -> tuple[int, DecisionIn]:
    if row.final_class not in by_name:
        raise Invalid(f"unknown class {row.final_class!r}")
    class_id = book.current(by_name[row.final_class])
    consensus = db.get(ImageConsensus, image.id)
    boxes = clean_boxes(book, image, row.boxes) if row.boxes is not None else consensus_boxes(book, consensus, image)
    agrees = consensus is not None and book.current(consensus.consensus_class_id) == class_id
    conflict = _conflict_for(db, image.project_id, image.id)
    if conflict is None:
        raise Invalid("this image has no conflict to decide (its label is not disputed)")
    if agrees and row.boxes is None:
        return conflict.id, DecisionIn(decision="accept_consensus", version=conflict.version, reason=row.note)
    return conflict.id, DecisionIn(decision="edit", version=conflict.version, label_class_id=class_id,
                                   boxes=boxes, reason=row.note)  # type: ignore[arg-type]


def plan(db: Session, *, project: Project,
         rows: Sequence[tuple[int, BulkRowIn]]) -> tuple[list[Planned], list[RowError]]:
    book = ClassBook(db, project.id)
    by_name = {c.name: c.id for c in book.classes.values()}
    images = _images_by_name(db, project.id, [r.file_name for _, r in rows])
    planned, errors, seen = [], [], set()
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
            conflict_id, data = _plan_row(db, book, by_name, matches[0], row)
        except ConcordError as exc:
            errors.append(RowError(line, row.file_name, exc.message))
            continue
        planned.append(Planned(line, row.file_name, conflict_id, data))
    return planned, errors


def apply(db: Session, *, project: Project, reviewer: User, planned: Sequence[Planned],
          progress: Callable[[Planned], None] | None = None) -> list[DecisionResult]:
    """Decide every planned row in the caller's transaction (the caller commits once at the end)."""
    results = []
    for item in planned:
        try:
            results.append(decide(db, project=project, conflict_id=item.conflict_id, reviewer=reviewer, data=item.data))
        except ConcordError as exc:
            raise BulkRejected(f"row {item.row} ({item.file_name}): {exc.message}; nothing was applied",
                               detail=[RowError(item.row, item.file_name, exc.message).__dict__]) from exc
        if progress is not None:
            progress(item)
    return results


def decide_rows(db: Session, *, project: Project, reviewer: User,
                rows: Sequence[tuple[int, BulkRowIn]]) -> list[DecisionResult]:
    planned, errors = plan(db, project=project, rows=rows)
    if errors:
        raise BulkRejected(f"{len(errors)} of {len(rows)} rows are invalid; nothing was applied",
                           detail=[e.__dict__ for e in errors])
    return apply(db, project=project, reviewer=reviewer, planned=planned)
