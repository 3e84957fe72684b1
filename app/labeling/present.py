"""What a labeler is shown of an assignment: the image and, on a returned one, their own previous
answer with the reviewer's note. Never another labeler's answer, the consensus or the gold flag
(labeling is blind)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.images.media import image_url, thumbnail_url
from app.images.models import Image
from app.labeling import service
from app.labeling.models import Annotation, Assignment
from app.labeling.schemas import AnnotationOut, AssignmentOut, ImageOut, PreviousOut, ProgressOut


def assignment_out(db: Session, assignment: Assignment) -> AssignmentOut:
    image = db.get(Image, assignment.image_id)
    assert image is not None  # a foreign key
    live = service.live_annotation(db, image_id=image.id, labeler_id=assignment.labeler_id)
    previous = None
    if live is not None:
        previous = PreviousOut(
            id=live.id,
            label_class_id=live.label_class_id,
            boxes=list(live.boxes or []),
            unsure=live.unsure,
            comment=live.comment,
        )
    return AssignmentOut(
        id=assignment.id,
        state=assignment.state,
        note=assignment.note,
        image=ImageOut(
            id=image.id,
            width=image.width,
            height=image.height,
            url=image_url(image),
            thumbnail_url=thumbnail_url(image),
        ),
        supersedes_id=live.id if live else None,
        previous=previous,
        expires_at=assignment.expires_at.isoformat() if assignment.expires_at else None,
    )


def annotation_out(
    annotation: Annotation,
    *,
    replayed: bool = False,
    superseded_id: int | None = None,
    progress: ProgressOut | None = None,
) -> AnnotationOut:
    return AnnotationOut(
        id=annotation.id,
        image_id=annotation.image_id,
        assignment_id=annotation.assignment_id,
        label_class_id=annotation.label_class_id,
        boxes=list(annotation.boxes or []),
        unsure=annotation.unsure,
        comment=annotation.comment,
        superseded_id=superseded_id,
        replayed=replayed,
        progress=progress,
    )
