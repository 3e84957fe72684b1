"""The work queue: which image a labeler gets next, and the slots that keep overlap exact.

Invariant: `Image.slots_taken` counts the regular (non-gold, non-returned) assignments of an image
that are open or done. A slot is taken by one conditional statement,
`UPDATE images SET slots_taken = slots_taken + 1 WHERE id = :id AND slots_taken < labels_wanted`,
whose row count says whether this caller got it: two labelers can never both take an image's last
slot, on any database. On Postgres the candidate row is also read `FOR UPDATE SKIP LOCKED`, so
labelers asking at the same moment walk past each other's rows instead of queueing on them; on
SQLite every transaction is BEGIN IMMEDIATE (app.core.db), so claims are serialized anyway.

Order of service: returned assignments (a reviewer's note), the labeler's own open ones (a reload
does not lose them), now and then an unseen gold image, then new images by priority (highest first)
and age, then the images this labeler skipped, oldest skip first. A labeler never gets an image they
have answered, hold, or skipped while anything else is left.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.models import User
from app.core.db import utcnow
from app.images.models import Image
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.projects.models import Project

DEFAULT_GOLD_RATE = 0.1
MAX_TRIES = 20  # candidates tried per priority level before moving on (each lost race costs one)
S = AssignmentState
_MINE = aliased(Assignment, name="mine")  # not the outer query's Assignment (the skipped pass joins it)
_DRAW = random.SystemRandom()


def gold_rate(project: Project) -> float:
    try:
        return min(1.0, max(0.0, float((project.settings or {}).get("gold_rate", DEFAULT_GOLD_RATE))))
    except (TypeError, ValueError):
        return DEFAULT_GOLD_RATE


def expire_stale(db: Session, *, project_id: int, now: datetime | None = None) -> int:
    """Open assignments past their expiry become `expired` and give their slot back."""
    now = now or utcnow()
    rows = (
        db.execute(
            update(Assignment)
            .where(Assignment.project_id == project_id, Assignment.state == S.open, Assignment.expires_at < now)
            .values(state=S.expired, completed_at=now)
            .returning(Assignment.image_id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for image_id, n in Counter(rows).items():
        give_back_slot(db, image_id=image_id, n=n)
    return len(rows)


def give_back_slot(db: Session, *, image_id: int, n: int = 1) -> None:
    """Gold images hold no slots (their assignments are outside the count)."""
    db.execute(
        update(Image)
        .where(Image.id == image_id, Image.is_gold.is_(False), Image.slots_taken >= n)
        .values(slots_taken=Image.slots_taken - n)
        .execution_options(synchronize_session=False)
    )


def take_slot(db: Session, *, image_id: int) -> bool:
    result = db.execute(
        update(Image)
        .where(Image.id == image_id, Image.slots_taken < Image.labels_wanted)
        .values(slots_taken=Image.slots_taken + 1)
        .execution_options(synchronize_session=False)
    )
    rowcount: int = result.rowcount  # type: ignore[attr-defined]
    return rowcount == 1


def retake_slot(db: Session, *, image_id: int) -> None:
    """A late answer on an expired or skipped assignment counts again (it may exceed the wanted
    count by one: a person's answer is never thrown away to keep a number exact)."""
    db.execute(
        update(Image)
        .where(Image.id == image_id, Image.is_gold.is_(False))
        .values(slots_taken=Image.slots_taken + 1)
        .execution_options(synchronize_session=False)
    )


def claim_next(
    db: Session,
    *,
    project: Project,
    labeler: User,
    exclude: Sequence[int] = (),
    timeout: timedelta,
    now: datetime | None = None,
) -> Assignment | None:
    """The labeler's next assignment (see the module docstring for the order), or None when there
    is nothing left for them. Flushes; the caller commits."""
    now = now or utcnow()
    expire_stale(db, project_id=project.id, now=now)
    held = _held(db, project_id=project.id, labeler_id=labeler.id, exclude=exclude, now=now)
    if held is not None:
        return held
    if _gold_due(db, project=project, labeler_id=labeler.id):
        found = _claim_gold(db, project=project, labeler_id=labeler.id, expires_at=now + timeout)
        if found is not None:
            return found
    found = _claim_regular(db, project=project, labeler_id=labeler.id, expires_at=now + timeout)
    if found is None:
        found = _claim_skipped(db, project=project, labeler_id=labeler.id, expires_at=now + timeout)
    return found


def _held(db: Session, *, project_id: int, labeler_id: int, exclude: Sequence[int], now: datetime) -> Assignment | None:
    """The labeler's returned assignments first, then their open ones, oldest first."""
    query = select(Assignment).where(
        Assignment.project_id == project_id,
        Assignment.labeler_id == labeler_id,
        Assignment.state.in_([S.returned, S.open]),
    )
    if exclude:
        query = query.where(Assignment.id.not_in(list(exclude)))
    returned_first = case((Assignment.state == S.returned, 0), else_=1)
    return db.scalar(query.order_by(returned_first, Assignment.created_at, Assignment.id).limit(1))


def not_mine(labeler_id: int, states: Sequence[str]) -> list[ColumnElement[bool]]:
    """Conditions: the labeler holds no assignment of the image in `states` and has no answer on it."""
    return [
        ~exists().where(_MINE.image_id == Image.id, _MINE.labeler_id == labeler_id, _MINE.state.in_(list(states))),
        ~exists().where(Annotation.image_id == Image.id, Annotation.labeler_id == labeler_id),
    ]


def _open_images(project_id: int) -> list[ColumnElement[bool]]:
    # Written exactly as the partial index ix_images_open_queue's predicate, so both databases use it.
    return [Image.project_id == project_id, Image.slots_taken < Image.labels_wanted]


def _claim_regular(db: Session, *, project: Project, labeler_id: int, expires_at: datetime) -> Assignment | None:
    """First walk past rows other claimers hold (SKIP LOCKED); if that finds nothing, walk again
    waiting for them: a row locked by a claim in flight may still have a slot when that claim ends."""
    for skip_locked in (True, False):
        found = _walk_levels(db, project=project, labeler_id=labeler_id, expires_at=expires_at, skip_locked=skip_locked)
        if found is not None or db.get_bind().dialect.name != "postgresql":
            return found
    return None


def _walk_levels(
    db: Session, *, project: Project, labeler_id: int, expires_at: datetime, skip_locked: bool
) -> Assignment | None:
    level = db.scalar(select(func.max(Image.priority)).where(*_open_images(project.id)))
    never_twice = not_mine(labeler_id, [S.open, S.done, S.returned, S.skipped])
    while level is not None:
        for _ in range(MAX_TRIES):
            query = (
                select(Image.id)
                .where(*_open_images(project.id), Image.priority == level, *never_twice)
                .order_by(Image.id)
                .limit(1)
            )
            candidate = db.scalar(_locked(query) if skip_locked else query)
            if candidate is None:
                break
            found = _assign(
                db, project_id=project.id, image_id=candidate, labeler_id=labeler_id, expires_at=expires_at, slot=True
            )
            if found is not None:
                return found
        level = db.scalar(select(func.max(Image.priority)).where(*_open_images(project.id), Image.priority < level))
    return None


def _claim_skipped(db: Session, *, project: Project, labeler_id: int, expires_at: datetime) -> Assignment | None:
    last_skip = func.max(Assignment.created_at)
    candidates = db.scalars(
        select(Image.id)
        .join(Assignment, Assignment.image_id == Image.id)
        .where(
            *_open_images(project.id),
            Assignment.labeler_id == labeler_id,
            Assignment.state == S.skipped,
            *not_mine(labeler_id, [S.open, S.done, S.returned]),
        )
        .group_by(Image.id)
        .order_by(last_skip, Image.id)
        .limit(MAX_TRIES)
    ).all()
    for image_id in candidates:
        found = _assign(
            db, project_id=project.id, image_id=image_id, labeler_id=labeler_id, expires_at=expires_at, slot=True
        )
        if found is not None:
            return found
    return None


def _gold_due(db: Session, *, project: Project, labeler_id: int) -> bool:
    # A fresh random draw each time: no pattern a labeler could learn (gold is mixed in unseen).
    rate = gold_rate(project)
    return rate > 0 and _DRAW.random() < rate


def _claim_gold(db: Session, *, project: Project, labeler_id: int, expires_at: datetime) -> Assignment | None:
    candidate = db.scalar(
        select(Image.id)
        .where(
            Image.project_id == project.id,
            Image.is_gold.is_(True),
            *not_mine(labeler_id, [S.open, S.done, S.returned, S.skipped]),
        )
        .order_by(Image.id)
        .limit(1)
    )
    if candidate is None:
        return None
    return _assign(
        db, project_id=project.id, image_id=candidate, labeler_id=labeler_id, expires_at=expires_at, slot=False
    )


def _assign(
    db: Session, *, project_id: int, image_id: int, labeler_id: int, expires_at: datetime, slot: bool
) -> Assignment | None:
    """Take the slot (if counted) and write the assignment, both or neither (a savepoint)."""
    savepoint = db.begin_nested()
    try:
        if slot and not take_slot(db, image_id=image_id):
            savepoint.rollback()
            return None
        assignment = Assignment(
            project_id=project_id, image_id=image_id, labeler_id=labeler_id, state=S.open, expires_at=expires_at
        )
        db.add(assignment)
        db.flush()
        savepoint.commit()
        return assignment
    except IntegrityError:  # the same labeler claimed this image in a parallel request
        savepoint.rollback()
        return None


def _locked(query: Select[Any]) -> Select[Any]:
    """FOR UPDATE SKIP LOCKED of the image row on Postgres; SQLite renders no lock (not needed)."""
    return query.with_for_update(skip_locked=True, of=Image)


def release(db: Session, *, assignment: Assignment, state: AssignmentState, now: datetime | None = None) -> bool:
    """Move an open (or returned) assignment to `state` (skipped, expired) and give its slot back.
    False when it was no longer open: nothing changes then."""
    now = now or utcnow()
    result = db.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.state.in_([S.open, S.returned]))
        .values(state=state, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if assignment.state == S.open:  # a returned assignment never held a slot
        give_back_slot(db, image_id=assignment.image_id)
    set_committed_value(assignment, "state", state)
    set_committed_value(assignment, "completed_at", now)
    return True
