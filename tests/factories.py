"""Plain functions that make test data through the real services and models."""
from __future__ import annotations

import io
import itertools
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.deps import SESSION_COOKIE
from app.auth.models import Role, User
from app.core.security import sign
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects import service as project_service
from app.projects.models import LabelClass, Project, TaskType

PASSWORD = "correct horse battery staple"
DEFAULT_CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
_counter = itertools.count(1)


def make_user(db: Session, *, email: str | None = None, name: str | None = None, site_admin: bool = False,
              password: str | None = PASSWORD) -> User:
    n = next(_counter)
    return auth_service.create_user(db, email=email or f"user{n}@example.com", display_name=name or f"User {n}",
                                    password=password, is_site_admin=site_admin)


def make_project(db: Session, *, name: str | None = None, classes: tuple[str, ...] = DEFAULT_CLASSES,
                 task_type: TaskType = TaskType.both, labels_per_image: int = 1) -> Project:
    spec = project_service.ProjectSpec(
        name=name or f"Project {next(_counter)}",
        classes=[project_service.ClassSpec(name=c) for c in classes],
        task_type=task_type,
        labels_per_image=labels_per_image,
    )
    project = project_service.create_project(db, spec=spec, creator=None)
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
