"""Sending images back to labelers: assignments in state `returned`, with a note, served first."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Membership, User
from app.consistency.models import Conflict, ConflictState
from app.core.errors import Invalid
from app.images.models import Image
from app.labeling.models import Annotation, Assignment, AssignmentState

ACTIVE_STATES = (AssignmentState.open, AssignmentState.returned)
MAX_NOTE = 2000


def check_labelers(db: Session, *, project_id: int, labeler_ids: Iterable[int]) -> list[int]:
    """The ids, deduplicated and in order; Invalid unless each is a member of the project or has
    labeled in it (imported labelers may have no membership)."""
    wanted = list(dict.fromkeys(labeler_ids))
    if not wanted:
        raise Invalid("choose at least one labeler to send the image back to", field="labeler_ids")
    known = set(db.scalars(select(Membership.user_id).where(Membership.project_id == project_id,
                                                             Membership.user_id.in_(wanted))))
    known |= set(db.scalars(
        select(Annotation.labeler_id).distinct().join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.labeler_id.in_(wanted))
    ))
    strangers = [i for i in wanted if i not in known]
    if strangers:
        raise Invalid(f"not members of this project: {', '.join(map(str, strangers))}", field="labeler_ids")
    return wanted


def return_to_labelers(db: Session, *, project_id: int, image_id: int, labeler_ids: Sequence[int], note: str,
                       actor: User | None) -> list[Assignment]:
    """One `returned` assignment per labeler for the image, carrying `note`.

    An open or returned assignment of the same image and labeler is turned into this one (the
    partial unique index allows one active assignment per pair). Nothing the labeler entered is
    touched: their next answer supersedes their current one.
    """
    note = note.strip()[:MAX_NOTE]
    existing = {
        a.labeler_id: a
        for a in db.scalars(
            select(Assignment).where(Assignment.image_id == image_id, Assignment.labeler_id.in_(labeler_ids),
                                     Assignment.state.in_(ACTIVE_STATES))
        )
    }
    returned = []
    for labeler_id in labeler_ids:
        assignment = existing.get(labeler_id)
        if assignment is None:
            assignment = Assignment(project_id=project_id, image_id=image_id, labeler_id=labeler_id)
            db.add(assignment)
        assignment.state = AssignmentState.returned
        assignment.note = note
        assignment.returned_by_id = actor.id if actor else None
        assignment.expires_at = None
        assignment.completed_at = None
        returned.append(assignment)
    db.flush()
    return returned


def live_labelers(db: Session, image_ids: Sequence[int]) -> dict[int, list[int]]:
    """image id -> the labelers with a live answer on it (in labeler id order)."""
    rows = db.execute(
        select(Annotation.image_id, Annotation.labeler_id)
        .where(Annotation.image_id.in_(image_ids), Annotation.superseded_by_id.is_(None))
        .order_by(Annotation.image_id, Annotation.labeler_id)
    ).all()
    found: dict[int, list[int]] = {}
    for image_id, labeler_id in rows:
        found.setdefault(image_id, []).append(labeler_id)
    return found


def cancel_returns(db: Session, assignment_ids: Sequence[int]) -> int:
    """Withdraw relabel requests that are still waiting (a reverted split); answered ones stay."""
    if not assignment_ids:
        return 0
    pending = db.scalars(select(Assignment).where(Assignment.id.in_(assignment_ids),
                                                  Assignment.state == AssignmentState.returned)).all()
    for assignment in pending:
        assignment.state = AssignmentState.expired
    return len(pending)


def return_conflicts(db: Session, *, project_id: int, image_ids: Sequence[int], chunk: int = 500) -> int:
    """Open conflicts of these images wait for the relabels (state `returned`; the consistency
    service reopens them when the new labels arrive). Updated through the ORM: version-checked."""
    changed = 0
    for start in range(0, len(image_ids), chunk):
        part = image_ids[start:start + chunk]
        rows = db.scalars(
            select(Conflict).where(Conflict.project_id == project_id, Conflict.image_id.in_(part),
                                   Conflict.state == ConflictState.open).order_by(Conflict.id)
        ).all()
        for conflict in rows:
            conflict.state = ConflictState.returned
            changed += 1
        db.flush()
    return changed
