"""A reviewer flags an image whose label looks wrong: a conflict of kind `flagged`, with a note.

Labelers who all agree on the wrong class never produce a conflict, so no decision could correct
them; a flag is the way in. It joins the queue near the top (severity.flagged), is decided like any
conflict (the decision writes a `review` final label, overriding a unanimous one), and the
consistency service never closes it on its own (consistency.writer.MANUAL_KINDS).

One row per image (the (project, kind, subject) unique key): flagging again after a decision reopens
that row, so the earlier flags' resolutions stay attached. An image whose flag is still open or
waiting for relabels cannot be flagged twice (Conflict, 409).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import User
from app.consistency import severity
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid, NotFound
from app.images.models import Image
from app.projects.models import Project
from app.review.models import FinalLabel
from app.review.schemas import MAX_REASON

PENDING = (ConflictState.open, ConflictState.returned)


class AlreadyFlagged(ConflictError):
    """The image has a flag nobody has decided yet."""


def open_flag(db: Session, *, image_id: int) -> Conflict | None:
    """The image's flag that is still open or waiting for relabels, if any."""
    return db.scalar(select(Conflict).where(Conflict.image_id == image_id, Conflict.kind == ConflictKind.flagged,
                                            Conflict.state.in_(PENDING)))


def flag_image(db: Session, *, project: Project, image_id: int, reviewer: User, note: str) -> Conflict:
    """Open (or reopen) the image's `flagged` conflict; flushes, never commits.

    Raises NotFound for another project's image, Invalid for an empty or overlong note, AlreadyFlagged
    (409, `detail` names the conflict) when a flag on the image is still pending.
    """
    image = db.get(Image, image_id)
    if image is None or image.project_id != project.id:
        raise NotFound("image not found")
    note = note.strip()
    if not note:
        raise Invalid("write a note: what looks wrong with this label?", field="note")
    if len(note) > MAX_REASON:
        raise Invalid(f"the note is longer than {MAX_REASON} characters", field="note")
    details = _details(db, image, reviewer, note)
    row = db.scalar(select(Conflict).where(Conflict.project_id == project.id, Conflict.kind == ConflictKind.flagged,
                                           Conflict.subject_key == f"image:{image.id}"))
    if row is not None and row.state in PENDING:
        raise _already(row)
    try:
        with db.begin_nested():
            if row is None:
                row = Conflict(project_id=project.id, image_id=image.id, subject_key=f"image:{image.id}",
                               kind=ConflictKind.flagged, state=ConflictState.open, severity=severity.flagged(),
                               details=details)
                db.add(row)
            else:
                row.state, row.resolved_at = ConflictState.open, None
                row.severity, row.details = severity.flagged(), details
            db.flush()
    except (IntegrityError, StaleDataError):  # another reviewer flagged it at the same moment
        raced = open_flag(db, image_id=image.id)
        raise _already(raced) if raced is not None else AlreadyFlagged("this image was just flagged") from None
    audit.record(db, action="review.flagged", actor_id=reviewer.id, project_id=project.id, object_type="conflict",
                 object_id=row.id, data={"image_id": image.id, "note": note,
                                         "final_class_id": details["final_class_id"],
                                         "final_source": details["final_source"]})
    db.flush()
    return row


def _already(row: Conflict) -> AlreadyFlagged:
    by = (row.details or {}).get("flagged_by_name", "a reviewer")
    return AlreadyFlagged(f"this image is already flagged by {by} and waits for a decision",
                          detail={"conflict_id": row.id, "state": row.state, "version": row.version})


def _details(db: Session, image: Image, reviewer: User, note: str) -> dict[str, object]:
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    return {"reason": f"Flagged by {reviewer.display_name}: {note}", "note": note, "flagged_by": reviewer.id,
            "flagged_by_name": reviewer.display_name, "flagged_at": utcnow().isoformat(),
            "final_class_id": final.label_class_id if final else None,
            "final_source": final.source if final else None}
