"""Small helpers for the labeling tests: a labeler's loop through the services."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.config import Settings
from app.labeling import service
from app.labeling.models import Annotation, Assignment
from app.labeling.schemas import AnnotationIn
from app.projects.models import Project

SETTINGS = Settings(database_url="sqlite://", data_dir=Path("/tmp/concord-labeling-tests"))


def claim(db: Session, project: Project, user: User, exclude: list[int] | None = None) -> Assignment | None:
    return service.next_assignment(db, project=project, labeler=user, settings=SETTINGS, exclude=exclude)


def answer(
    db: Session,
    project: Project,
    user: User,
    assignment: Assignment,
    class_id: int | None,
    boxes: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Annotation:
    data = AnnotationIn(
        label_class_id=class_id, boxes=boxes or [], idempotency_key=fields.pop("key", uuid.uuid4().hex), **fields
    )
    return service.submit_annotation(
        db, project=project, labeler=user, assignment_id=assignment.id, data=data, settings=SETTINGS
    ).annotation


def live_answers(db: Session, image_id: int) -> list[Annotation]:
    return list(
        db.scalars(select(Annotation).where(Annotation.image_id == image_id, Annotation.superseded_by_id.is_(None)))
    )
