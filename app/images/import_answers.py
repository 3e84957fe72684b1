"""The answers and gold labels of an import (see app/images/imports.py): answers converted to pixels
and checked like a labeler's, gold images marked. Authors are found in app/images/import_accounts.py.

An imported answer's idempotency key is a digest of what the answer is: the project, the image's
content (SHA-256), the author as the file names them, the class, the boxes, the time and duration
(plus an occurrence number for the same answer twice in one file). The same export imported into a
second project, or two files whose tasks have no ids, therefore import in full; the same answer
imported into the same project again is recognised (`annotations_existing`), also under the keys of
imports made before content keys (`ls:<task>:<annotation>`, `coco:<image id>`) for the same image
and labeler. An answer older than the labeler's live answer of the image is stored as history (the
newer one stays live), never put in its place.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import astuple
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, select, update

from app.auth.models import User
from app.core.config import Settings
from app.core.errors import ConcordError, Invalid
from app.images.models import Image
from app.labeling.models import Annotation
from app.labeling.service import ok_class_id
from app.labeling.validation import clean_boxes
from app.projects.service import classes_of

if TYPE_CHECKING:
    from app.images.imports import Context, Entry


def add_annotations(
    ctx: Context,
    entries: list[Entry],
    images: list[Image],
    users: dict[str, User],
    class_ids: dict[str, int],
    *,
    percent: bool,
) -> None:
    """Store every answer not already in the project (those are counted in `annotations_existing`)."""
    known, legacy = _known_keys(ctx)
    live = _live_answers(ctx, images)
    occurrences: Counter[str] = Counter()
    new_per_image: Counter[int] = Counter()
    for n, (entry, image) in enumerate(zip(entries, images, strict=True), start=1):
        for answer in entry.answers:
            user = users[answer["source"]]
            base = content_key(ctx.project.id, image.sha256, answer)
            key = base if occurrences[base] == 0 else f"{base}.{occurrences[base]}"
            occurrences[base] += 1
            if key in known or (answer["legacy_key"], user.id, image.id) in legacy:
                ctx.report.annotations_existing += 1
                continue
            boxes = _pixel_boxes(answer, image, class_ids, percent=percent, where=entry.field, settings=ctx.settings)
            annotation = Annotation(
                image_id=image.id,
                labeler_id=user.id,
                label_class_id=_image_class(ctx, answer, boxes, class_ids),
                boxes=boxes,
                unsure=False,
                comment="",
                source="import",
                duration_ms=answer["duration_ms"],
                idempotency_key=key,
                defect_book_version=ctx.project.defect_book_version,
            )
            created = _timestamp(answer["created_at"])
            if created is not None:  # else the database's now
                annotation.created_at = created
            _place(ctx, live, annotation, new_per_image)
            known.add(key)
            ctx.report.annotations += 1
            ctx.report.boxes += len(boxes)
        if n % 200 == 0:
            ctx.progress(n, len(entries), "answers")
    _take_slots(ctx, new_per_image)


def content_key(project_id: int, image_sha256: str, answer: dict[str, Any]) -> str:
    """`<kind>:<40 hex>`: the digest of what the answer is (see the module docstring)."""
    boxes = sorted(json.dumps([label, *astuple(box)]) for box, label, _where in answer["boxes"])
    what = [project_id, image_sha256, answer["source"], answer["class"], boxes, answer["created_at"],
            answer["duration_ms"]]
    digest = hashlib.sha256(json.dumps(what, separators=(",", ":")).encode()).hexdigest()
    return f"{answer['kind']}:{digest[:40]}"


def _known_keys(ctx: Context) -> tuple[set[str], set[tuple[str, int, int]]]:
    """Keys of the answers already imported into this project; with labeler and image, for old keys."""
    rows = ctx.db.execute(
        select(Annotation.idempotency_key, Annotation.labeler_id, Annotation.image_id)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == ctx.project.id, Annotation.source == "import",
               Annotation.idempotency_key.is_not(None))
    ).all()
    return {str(key) for key, _, _ in rows}, {(str(key), labeler, image) for key, labeler, image in rows}


def _live_answers(ctx: Context, images: list[Image]) -> dict[tuple[int, int], Annotation]:
    image_ids = list({image.id for image in images})
    if not image_ids:
        return {}
    query = select(Annotation).where(Annotation.image_id.in_(image_ids), Annotation.superseded_by_id.is_(None))
    return {(a.image_id, a.labeler_id): a for a in ctx.db.scalars(query)}


def _place(ctx: Context, live: dict[tuple[int, int], Annotation], annotation: Annotation,
           new_per_image: Counter[int]) -> None:
    """Add the answer as the labeler's live one for the image (superseding theirs), or as history
    beneath it when the live one is newer."""
    db, slot = ctx.db, (annotation.image_id, annotation.labeler_id)
    previous = live.get(slot)
    if previous is not None and annotation.created_at is not None and annotation.created_at < previous.created_at:
        annotation.superseded_by_id = previous.id
        db.add(annotation)
        db.flush()
        ctx.report.annotations_as_history += 1
        return
    if previous is not None:  # the live-answer index allows one: step the old one aside first
        previous.superseded_by_id = previous.id
        db.flush()
    db.add(annotation)
    db.flush()
    if previous is not None:
        previous.superseded_by_id = annotation.id
    else:
        new_per_image[annotation.image_id] += 1
    live[slot] = annotation


def _take_slots(ctx: Context, new_per_image: Counter[int]) -> None:
    """Each image's `slots_taken` counts its answers, so the queue only asks for the labels still missing."""
    if new_per_image:
        table = cast(Table, Image.__table__)
        ctx.db.execute(
            update(table)
            .where(table.c.id == bindparam("image"))
            .values(slots_taken=table.c.slots_taken + bindparam("n")),
            [{"image": k, "n": v} for k, v in new_per_image.items()],
        )
    ctx.db.flush()


def _pixel_boxes(
    answer: dict[str, Any], image: Image, class_ids: dict[str, int], *, percent: bool, where: str, settings: Settings
) -> list[dict[str, Any]]:
    raw = []
    for box, label, _where in answer["boxes"]:
        px = (
            box.to_pixels(image.width, image.height)
            if percent
            else {"x": box.x, "y": box.y, "w": min(box.w, image.width - box.x), "h": min(box.h, image.height - box.y)}
        )
        raw.append({**px, "class_id": class_ids[label]})
    try:
        return clean_boxes(
            raw,
            width=image.width,
            height=image.height,
            class_ids=set(class_ids.values()),
            max_boxes=max(settings.max_boxes_per_annotation, len(raw)),
        )
    except ConcordError as exc:
        raise Invalid(f"{where}: {exc.message} (image {image.file_name})", field=where) from None


def _image_class(
    ctx: Context, answer: dict[str, Any], boxes: list[dict[str, Any]], class_ids: dict[str, int]
) -> int | None:
    if answer["class"] is not None:
        return class_ids[answer["class"]]
    if not answer.get("derive_class"):
        return None
    if boxes:
        largest = max(boxes, key=lambda b: b["w"] * b["h"])
        return int(largest["class_id"])
    return ok_class_id(classes_of(ctx.db, ctx.project.id))


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def mark_gold(
    ctx: Context, gold: Sequence[dict[str, Any]], entries: list[Entry], images: list[Image], class_ids: dict[str, int]
) -> None:
    """Mark the gold file's images with their known answers. Raises Invalid for an entry naming no image
    of the import or several (a bare name two folders share), two entries for one image, and an image
    that is gold already with another answer (a known answer is changed in Concord, not overwritten)."""
    find = _gold_lookup(entries, images)
    done: dict[int, int] = {}
    for i, item in enumerate(gold):
        where = f"gold[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("file_name"), str):
            raise Invalid(f"{where}: a gold entry needs a file_name", field=f"{where}.file_name")
        found = find(item["file_name"], where)
        if found.id in done:
            raise Invalid(f"{where}: the same image as gold[{done[found.id]}]", field=f"{where}.file_name")
        done[found.id] = i
        label = class_ids.get(item.get("class", ""))
        boxes = clean_boxes(_gold_boxes(item, class_ids, where), width=found.width, height=found.height,
                            class_ids=set(class_ids.values()), max_boxes=10_000)
        if found.is_gold and (found.gold_label_class_id, found.gold_boxes) != (label, boxes):
            raise Invalid(f"{where}: {found.file_name} is gold already, with another answer; change it in Concord",
                          field=f"{where}.file_name")
        found.is_gold, found.gold_label_class_id, found.gold_boxes = True, label, boxes
        found.labels_wanted = 0
        ctx.report.gold += 1
    ctx.db.flush()


def _gold_lookup(entries: list[Entry], images: list[Image]) -> Any:
    """file name -> the import's image: the reference as the tasks give it, else the bare name when only
    one image of the import has it."""
    by_name: dict[str, dict[int, Image]] = {}
    for entry, image in zip(entries, images, strict=True):
        reference = entry.reference.replace("\\", "/")
        for name in {reference, reference.rsplit("/", 1)[-1]}:
            by_name.setdefault(name, {})[image.id] = image

    def find(name: str, where: str) -> Image:
        found = by_name.get(name, {})
        if len(found) != 1:
            problem = "is not an image of this import" if not found else \
                f"names {len(found)} different images of this import; give its path as the tasks do"
            raise Invalid(f"{where}: {name!r} {problem}", field=f"{where}.file_name")
        return next(iter(found.values()))

    return find


def _gold_boxes(item: dict[str, Any], class_ids: dict[str, int], where: str) -> list[dict[str, Any]]:
    boxes = []
    for j, box in enumerate(item.get("boxes") or []):
        bbox = box.get("bbox") if isinstance(box, dict) else None
        if not (isinstance(bbox, list) and len(bbox) == 4 and box.get("class") in class_ids):
            at = f"{where}.boxes[{j}]"
            raise Invalid(f"{at}: needs a bbox [x, y, w, h] and a known class", field=at)
        boxes.append({"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3], "class_id": class_ids[box["class"]]})
    return boxes
