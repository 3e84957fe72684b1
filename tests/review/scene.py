"""A small review scene: a project, a reviewer, three labelers, and disputed images with conflicts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.images.models import Image
from app.projects.models import LabelClass, Project
from tests.factories import (
    add_member,
    class_named,
    make_annotation,
    make_conflict,
    make_consensus,
    make_image,
    make_project,
    make_user,
)


@dataclass
class Scene:
    db: Session
    project: Project
    reviewer: User
    labelers: list[User]
    admin: User
    images: list[Image] = field(default_factory=list)

    def cls(self, name: str) -> LabelClass:
        return class_named(self.db, self.project, name)

    def box(self, name: str, x: float = 10, y: float = 10, w: float = 20, h: float = 20) -> dict[str, Any]:
        return {"x": x, "y": y, "w": w, "h": h, "class_id": self.cls(name).id}

    def disputed(self, answers: list[str | None], *, consensus: str | None = None, severity: float = 0.5,
                 kind: str = "class_disagreement", boxes: list[list[dict[str, Any]]] | None = None,
                 consensus_boxes: list[dict[str, Any]] | None = None, **image: Any) -> tuple[Image, Any]:
        """An image answered by labelers[0..] with `answers` (class names), its consensus and a conflict."""
        picture = make_image(self.db, self.project, **image)
        for n, name in enumerate(answers):
            if name is not None or (boxes and boxes[n]):
                make_annotation(self.db, picture, self.labelers[n], self.cls(name) if name else None,
                                boxes=(boxes[n] if boxes else []))
        if consensus is not None:
            make_consensus(self.db, picture, self.cls(consensus), boxes=consensus_boxes)
        conflict = make_conflict(self.db, picture, kind=kind, severity=severity)
        self.images.append(picture)
        return picture, conflict


def make_scene(db: Session, *, name: str | None = None, password: str | None = None) -> Scene:
    """Users get no password unless asked (argon2 is slow); tests log in through sessions."""
    project = make_project(db, name=name)
    reviewer = add_member(db, project, make_user(db, name="Rita Reviewer", password=password), Role.reviewer)
    admin = add_member(db, project, make_user(db, name="Adam Admin", password=password), Role.admin)
    labelers = [add_member(db, project, make_user(db, name=f"Labeler {n}", password=password), Role.inspector)
                for n in (1, 2, 3)]
    return Scene(db=db, project=project, reviewer=reviewer, labelers=labelers, admin=admin)
