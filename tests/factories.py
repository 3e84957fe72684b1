"""Plain functions that make test data through the real services and models."""
from __future__ import annotations

import io
import itertools
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.deps import SESSION_COOKIE
from app.auth.models import Role, User
from app.core.security import hash_password, sign
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects import service as project_service
from app.projects.models import LabelClass, Project, TaskType
from app.review.models import FinalLabel

PASSWORD = "correct horse battery staple"
DEFAULT_CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
_counter = itertools.count(1)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash the shared test password once


def make_user(db: Session, *, email: str | None = None, name: str | None = None, site_admin: bool = False,
              password: str | None = PASSWORD) -> User:
    n = next(_counter)
    user = auth_service.create_user(db, email=email or f"user{n}@example.com", display_name=name or f"User {n}",
                                    password=None if password == PASSWORD else password, is_site_admin=site_admin)
    if password == PASSWORD:
        user.password_hash = _password_hash()
    return user


def make_project(db: Session, *, name: str | None = None, classes: tuple[str, ...] = DEFAULT_CLASSES,
                 task_type: TaskType = TaskType.both, labels_per_image: int = 1, min_view_ms: int = 0) -> Project:
    """A project; tests answer at machine speed, so no minimum viewing time unless asked for."""
    spec = project_service.ProjectSpec(
        name=name or f"Project {next(_counter)}",
        classes=[project_service.ClassSpec(name=c) for c in classes],
        task_type=task_type,
        labels_per_image=labels_per_image,
    )
    project = project_service.create_project(db, spec=spec, creator=None)
    project.settings = {**(project.settings or {}), "min_view_ms": min_view_ms}
    db.flush()
    return project


def class_named(db: Session, project: Project, name: str) -> LabelClass:
    for label_class in project_service.classes_of(db, project.id, include_inactive=True):
        if label_class.name == name:
            return label_class
    raise KeyError(name)


def add_member(db: Session, project: Project, user: User, role: Role = Role.inspector) -> User:
    auth_service.set_membership(db, project_id=project.id, user=user, role=role, actor=None)
    return user


def make_member(db: Session, project: Project, role: Role = Role.inspector, **kwargs: Any) -> User:
    return add_member(db, project, make_user(db, **kwargs), role)


def image_bytes(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (120, 130, 140),
                fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def make_image(db: Session, project: Project, *, width: int = 640, height: int = 480,
               meta: dict[str, Any] | None = None, file_name: str | None = None, **columns: Any) -> Image:
    """An image row (no file behind it: for tests of logic that never reads pixels)."""
    n = next(_counter)
    image = Image(project_id=project.id, sha256=f"{n:064x}", file_name=file_name or f"img_{n:06d}.jpg",
                  format="JPEG", width=width, height=height, size_bytes=1000, storage_key=f"test/{n}.jpg",
                  meta=meta or {}, **columns)
    db.add(image)
    db.flush()
    return image


def make_annotation(db: Session, image: Image, labeler: User, label_class: LabelClass | None,
                    boxes: list[dict[str, Any]] | None = None, **columns: Any) -> Annotation:
    """A live annotation row written directly (the labeling service is tested on its own)."""
    annotation = Annotation(image_id=image.id, labeler_id=labeler.id,
                            label_class_id=label_class.id if label_class else None, boxes=boxes or [], **columns)
    db.add(annotation)
    db.flush()
    return annotation


def login_client(db: Session, app: FastAPI, client: TestClient, user: User) -> TestClient:
    """Log `client` in as `user` without the login form (that form has its own tests)."""
    session, token = auth_service.start_session(db, user=user, settings=app.state.settings, ip="testclient",
                                                user_agent="pytest")
    db.flush()
    client.cookies.set(SESSION_COOKIE, sign(token, app.state.secret_key))
    client.headers["X-CSRF-Token"] = session.csrf_token
    return client


def make_final_label(db: Session, image: Image, label_class: LabelClass | None,
                     boxes: list[dict[str, Any]] | None = None, *, source: str = "consensus",
                     confidence: float | None = None, is_ambiguous: bool = False) -> FinalLabel:
    """A decided label written directly (the review service is tested on its own)."""
    final = FinalLabel(image_id=image.id, label_class_id=label_class.id if label_class else None,
                       boxes=boxes or [], source=source, confidence=confidence, is_ambiguous=is_ambiguous)
    db.add(final)
    db.flush()
    return final


def make_conflict(db: Session, image: Image | None, *, kind: str = "class_disagreement", severity: float = 0.5,
                  state: str = "open", group_id: int | None = None, details: dict[str, Any] | None = None) -> Any:
    """A Conflict row about an image (or, with image None, a near-duplicate group), as the
    consistency service would write it."""
    from app.consistency.models import Conflict

    project_id = image.project_id if image is not None else _group_project(db, group_id)
    conflict = Conflict(project_id=project_id, image_id=image.id if image else None,
                        duplicate_group_id=group_id if image is None else image.duplicate_group_id,
                        subject_key=f"image:{image.id}" if image else f"group:{group_id}", kind=kind,
                        severity=severity, state=state, details=details or {})
    db.add(conflict)
    db.flush()
    return conflict


def _group_project(db: Session, group_id: int | None) -> int:
    from app.consistency.models import DuplicateGroup

    assert group_id is not None, "a group conflict needs group_id"
    return db.get_one(DuplicateGroup, group_id).project_id


def make_consensus(db: Session, image: Image, label_class: LabelClass | None, *, confidence: float = 0.8,
                   boxes: list[dict[str, Any]] | None = None, n_labels: int = 3) -> Any:
    """An ImageConsensus row (consensus class, confidence, consensus boxes as plain boxes)."""
    from app.consistency.models import ImageConsensus

    row = ImageConsensus(image_id=image.id, n_labels=n_labels, confidence=confidence,
                         consensus_class_id=label_class.id if label_class else None,
                         majority_class_id=label_class.id if label_class else None,
                         posterior={str(label_class.id): confidence} if label_class else {}, clusters=boxes or [])
    db.add(row)
    db.flush()
    return row


def make_duplicate_group(db: Session, images: list[Image]) -> Any:
    """Mark the images as one near-duplicate group."""
    from app.consistency.models import DuplicateGroup

    group = DuplicateGroup(project_id=images[0].project_id, size=len(images))
    db.add(group)
    db.flush()
    for image in images:
        image.duplicate_group_id = group.id
    db.flush()
    return group
