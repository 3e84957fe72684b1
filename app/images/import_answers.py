"""The answers and gold labels of an import (see app/images/imports.py): authors found or created
inactive, answers converted to pixels and checked like a labeler's, gold images marked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, select, update

from app.auth import service as auth_service
from app.auth.models import Membership, Role, User
from app.core.config import Settings
from app.core.errors import ConcordError, Invalid
from app.images.models import Image
from app.labeling.models import Annotation
from app.labeling.service import ok_class_id
from app.labeling.validation import clean_boxes
from app.projects.service import classes_of

if TYPE_CHECKING:
    from app.images.imports import Context, Entry


def authors(ctx: Context, entries: list[Entry]) -> dict[str, User]:
    """email -> user: existing accounts, else new inactive ones without a password; all become
    members (inspector) of the project if they are not already."""
    users: dict[str, User] = {}
    members = set(ctx.db.scalars(select(Membership.user_id).where(Membership.project_id == ctx.project.id)))
    for entry in entries:
        for answer in entry.answers:
            email = answer["email"] or f"labelstudio-user-{answer['user_id']}@import.invalid"
            answer["email"] = email
            if email in users:
                continue
            user = auth_service.get_user_by_email(ctx.db, email)
            if user is None:
                user = auth_service.create_user(
                    ctx.db, email=email, display_name=answer["name"][:120], password=None, is_active=False
                )
                ctx.report.users_created.append(email)
            if user.id not in members:
                auth_service.set_membership(
                    ctx.db, project_id=ctx.project.id, user=user, role=Role.inspector, actor=ctx.actor
                )
                members.add(user.id)
            users[email] = user
    return users


def add_annotations(
    ctx: Context,
    entries: list[Entry],
    images: list[Image],
    users: dict[str, User],
    class_ids: dict[str, int],
    *,
    percent: bool,
) -> None:
    db = ctx.db
    image_ids = list({image.id for image in images})
    live = (
        {
            (a.image_id, a.labeler_id): a
            for a in db.scalars(
                select(Annotation).where(Annotation.image_id.in_(image_ids), Annotation.superseded_by_id.is_(None))
            )
        }
        if image_ids
        else {}
    )
    keys = {
        (a, k)
        for a, k in db.execute(
            select(Annotation.labeler_id, Annotation.idempotency_key).where(
                Annotation.labeler_id.in_([u.id for u in users.values()]), Annotation.idempotency_key.is_not(None)
            )
        )
    }
    new_per_image: Counter[int] = Counter()
    for n, (entry, image) in enumerate(zip(entries, images, strict=True), start=1):
        for answer in entry.answers:
            user = users[answer["email"]]
            if (user.id, answer["key"]) in keys:
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
                idempotency_key=answer["key"],
                defect_book_version=ctx.project.defect_book_version,
            )
            created = _timestamp(answer["created_at"])
            if created is not None:
                annotation.created_at = created
            previous = live.get((image.id, user.id))
            if previous is not None:  # a second task with the same image: the later answer supersedes
                previous.superseded_by_id = previous.id
                db.flush()
            db.add(annotation)
            db.flush()
            if previous is not None:
                previous.superseded_by_id = annotation.id
            else:
                new_per_image[image.id] += 1
            live[(image.id, user.id)] = annotation
            keys.add((user.id, answer["key"]))
            ctx.report.annotations += 1
            ctx.report.boxes += len(boxes)
        if n % 200 == 0:
            ctx.progress(n, len(entries), "answers")
    if new_per_image:
        table = cast(Table, Image.__table__)
        db.execute(
            update(table)
            .where(table.c.id == bindparam("image"))
            .values(slots_taken=table.c.slots_taken + bindparam("n")),
            [{"image": k, "n": v} for k, v in new_per_image.items()],
        )
    db.flush()


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
    by_name = {}
    for entry, image in zip(entries, images, strict=True):
        by_name[entry.reference.replace("\\", "/").rsplit("/", 1)[-1]] = image
    for i, item in enumerate(gold):
        where = f"gold[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("file_name"), str):
            raise Invalid(f"{where}: a gold entry needs a file_name", field=f"{where}.file_name")
        found = by_name.get(item["file_name"])
        if found is None:
            raise Invalid(f"{where}: {item['file_name']!r} is not an image of this import", field=f"{where}.file_name")
        boxes = []
        for j, box in enumerate(item.get("boxes") or []):
            bbox = box.get("bbox") if isinstance(box, dict) else None
            if not (isinstance(bbox, list) and len(bbox) == 4 and box.get("class") in class_ids):
                raise Invalid(
                    f"{where}.boxes[{j}]: needs a bbox [x, y, w, h] and a known class", field=f"{where}.boxes[{j}]"
                )
            boxes.append({"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3], "class_id": class_ids[box["class"]]})
        found.is_gold = True
        found.gold_label_class_id = class_ids.get(item.get("class", ""))
        found.gold_boxes = clean_boxes(
            boxes, width=found.width, height=found.height, class_ids=set(class_ids.values()), max_boxes=10_000
        )
        found.labels_wanted = 0
        ctx.report.gold += 1
    ctx.db.flush()
