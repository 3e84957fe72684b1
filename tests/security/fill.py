"""Real objects for the cross-cutting security tests: two projects with their people, and a filler for
every path parameter, so that each route is called with ids of objects that exist.

FILLERS maps a path parameter's NAME to a function of a `Fill` (the project whose objects to use, the
user about to call, the test's session) returning the value to put in the path. When you add a route
whose path has a parameter not listed here, add one line, e.g.

    FILLERS["defect_id"] = lambda f: f.once("defect", lambda: Defect(project_id=f.project.id, ...)).id

using `f.once(key, make)` (one object per fill, flushed) and the helpers below (f.image(), ...), so
that ids in one path belong together (an annotation of the path's image, of the path's project).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.auth import tokens
from app.auth.models import ApiToken, Role, User
from app.consistency.models import AgreementSnapshot, Conflict, ConflictKind, DuplicateGroup
from app.datasets.models import DatasetExport, DatasetVersion
from app.datasets.schemas import WRITER_VERSION
from app.images.models import Image, UploadBatch
from app.jobs.models import Job, JobState
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.modeling.models import CaptureRequest, ModelRun
from app.projects.models import ClassExample, LabelClass, Project
from app.review.models import Decision, FinalLabel, FinalLabelSource, Resolution
from tests.factories import PASSWORD, add_member, image_bytes, make_annotation, make_image, make_project, make_user

PERSONAS = ("anonymous", "non_member", "inspector", "reviewer", "admin", "site_admin")
_counter = itertools.count(1)


@dataclass
class Side:
    """One project and its members (loaded objects: valid until the next `isolated` block ends)."""

    project: Project
    inspector: User
    reviewer: User
    admin: User


@dataclass(frozen=True)
class World:
    """Ids only: the tests roll back between requests and forget loaded objects, so they load by id."""

    a: tuple[int, int, int, int]  # project, inspector, reviewer, admin
    b: tuple[int, int, int, int]
    non_member: int
    site_admin: int

    def side(self, db: Session, name: str = "a") -> Side:
        project_id, *people = self.a if name == "a" else self.b
        project = db.get(Project, project_id)
        assert project is not None
        inspector, reviewer, admin = (db.get(User, i) for i in people)
        return Side(project, inspector, reviewer, admin)  # type: ignore[arg-type]

    def user_id(self, persona: str) -> int | None:
        """Inspector, reviewer and admin are the members of project A."""
        return {"anonymous": None, "non_member": self.non_member, "site_admin": self.site_admin,
                "inspector": self.a[1], "reviewer": self.a[2], "admin": self.a[3]}[persona]

    def user(self, db: Session, persona: str) -> User | None:
        user_id = self.user_id(persona)
        return db.get(User, user_id) if user_id is not None else None


def seed_world(db: Session) -> World:
    """Projects A and B, each with an inspector, a reviewer and an admin; a non-member; a site admin.
    Only the site admin and A's inspector have passwords (so a leaked hash would show in responses)."""

    def side(tag: str) -> tuple[int, int, int, int]:
        project = make_project(db, name=f"Security {tag} {next(_counter)}")
        def person(role: Role) -> User:
            with_password = (tag, role) == ("A", Role.inspector)
            return make_user(db, name=f"{tag} {role}", password=PASSWORD if with_password else None)

        people = [add_member(db, project, person(role), role).id for role in Role]
        return (project.id, *people)  # type: ignore[return-value]

    world = World(a=side("A"), b=side("B"), non_member=make_user(db, password=None, name="Outsider").id,
                  site_admin=make_user(db, site_admin=True, name="Site admin").id)
    db.flush()
    return world


@dataclass
class Fill:
    """Objects of `project` for one request made by `actor` (None: anonymous)."""

    db: Session
    app: FastAPI
    side: Side
    actor: User | None
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def project(self) -> Project:
        return self.side.project

    @property
    def owner(self) -> User:
        """Who owns per-user objects (tokens, assignments, jobs): the caller, else the project's inspector."""
        return self.actor or self.side.inspector

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.made:
            made = make()
            if made is not None and not isinstance(made, (int, str)):
                self.db.add(made)
                self.db.flush()
            self.made[key] = made
        return self.made[key]

    def _file(self, key: str, fmt: str = "JPEG") -> str:
        self.app.state.storage.put_bytes(key, image_bytes(64, 48, fmt=fmt))
        return key

    # ---- people ----
    def outsider(self) -> User:
        return self.once("outsider", lambda: make_user(self.db, password=None, name="Newcomer"))

    def member(self) -> User:
        return self.once("member", lambda: add_member(self.db, self.project,
                                                      make_user(self.db, password=None, name="Member"), Role.inspector))

    # ---- project objects ----
    def label_class(self) -> LabelClass:
        return self.once("class", lambda: self.db.query(LabelClass).filter_by(project_id=self.project.id)
                         .order_by(LabelClass.position).first())

    def image(self) -> Image:
        def make() -> Image:
            image = make_image(self.db, self.project, width=64, height=48)
            self._file(image.storage_key)
            image.thumbnail_key = self._file(f"thumbs/test/{image.id}.jpg")
            return image
        return self.once("image", make)

    def annotation(self) -> Annotation:
        return self.once("annotation", lambda: make_annotation(self.db, self.image(), self.owner, self.label_class()))

    def assignment(self) -> Assignment:
        return self.once("assignment", lambda: Assignment(project_id=self.project.id, image_id=self.image().id,
                                                          labeler_id=self.owner.id, state=AssignmentState.open))

    def conflict(self) -> Conflict:
        image = self.image()
        return self.once("conflict", lambda: Conflict(
            project_id=self.project.id, image_id=image.id, subject_key=f"image:{image.id}",
            kind=ConflictKind.class_disagreement, severity=0.5, details={}))

    def resolution(self) -> Resolution:
        return self.once("resolution", lambda: Resolution(
            conflict_id=self.conflict().id, reviewer_id=self.side.reviewer.id, decision=Decision.accept_consensus,
            label_class_id=self.label_class().id, conflict_version=1))

    def final_label(self) -> FinalLabel:
        return self.once("final", lambda: FinalLabel(image_id=self.image().id, label_class_id=self.label_class().id,
                                                     source=FinalLabelSource.consensus, boxes=[]))

    def _next_number(self, column: Any) -> int:
        """The project's next version or run number (several fills may share one project)."""
        table = column.class_
        return int(self.db.scalar(select(func.max(column)).where(table.project_id == self.project.id)) or 0) + 1

    def version(self) -> DatasetVersion:
        def make() -> DatasetVersion:
            n = self._next_number(DatasetVersion.number)
            return DatasetVersion(project_id=self.project.id, number=n, name=f"v{n}", content_hash="0" * 64, counts={})
        return self.once("version", make)

    def run(self) -> ModelRun:
        def make() -> ModelRun:
            version_id = self.version().id
            return ModelRun(project_id=self.project.id, number=self._next_number(ModelRun.number),
                            version_id=version_id, recipe="filterbank", state="done")
        return self.once("run", make)

    def export(self) -> DatasetExport:
        def make() -> DatasetExport:
            key = f"exports/test/{next(_counter)}.zip"
            self.app.state.storage.put_bytes(key, b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
            return DatasetExport(version_id=self.version().id, format="coco", storage_key=key, sha256="0" * 64,
                                 size_bytes=22, created_by_id=self.owner.id, options={"writer": WRITER_VERSION})
        return self.once("export", make)

    def job(self) -> Job:
        return self.once("job", lambda: Job(kind="test.noop", project_id=self.project.id, state=JobState.done,
                                            progress=1.0, message="done", created_by_id=self.owner.id))

    def token(self) -> ApiToken:
        return self.once("token", lambda: tokens.create_token(self.db, user=self.owner, name="fill", actor=None,
                                                              max_days=90)[0])


FILLERS: dict[str, Callable[[Fill], Any]] = {
    "project_id": lambda f: f.project.id,
    "user_id": lambda f: f.member().id,
    "labeler_id": lambda f: f.side.inspector.id,
    "version": lambda f: 1,  # defect book version number: every project starts at 1
    "token_id": lambda f: f.token().id,
    "class_id": lambda f: f.label_class().id,
    "label_class_id": lambda f: f.label_class().id,
    "image_id": lambda f: f.image().id,
    "annotation_id": lambda f: f.annotation().id,
    "assignment_id": lambda f: f.assignment().id,
    "conflict_id": lambda f: f.conflict().id,
    "resolution_id": lambda f: f.resolution().id,
    "final_label_id": lambda f: f.final_label().id,
    "version_id": lambda f: f.version().id,
    "export_id": lambda f: f.export().id,
    "format": lambda f: f.export().format,  # an export of the path's version exists in this format
    "job_id": lambda f: f.job().id,
    "batch_id": lambda f: f.once("batch", lambda: UploadBatch(project_id=f.project.id, name="batch")).id,
    "group_id": lambda f: f.once("group", lambda: DuplicateGroup(project_id=f.project.id, size=2)).id,
    "duplicate_group_id": lambda f: f.once("group", lambda: DuplicateGroup(project_id=f.project.id, size=2)).id,
    "snapshot_id": lambda f: f.once("snapshot", lambda: AgreementSnapshot(project_id=f.project.id)).id,
    "prediction_id": lambda f: f.once("prediction", lambda: ModelPrediction(
        project_id=f.project.id, image_id=f.image().id, model_name="m", probabilities={})).id,
    "run_id": lambda f: f.run().id,
    "capture_id": lambda f: f.once("capture", lambda: CaptureRequest(project_id=f.project.id, slice={"line": "L1"})).id,
    "asset": lambda f: "swagger-ui.css",  # GET /docs/assets/{asset}
    "example_id": lambda f: f.once("example", lambda: ClassExample(
        label_class_id=f.label_class().id, image_id=f.image().id)).id,
}

PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


def path_params(path: str) -> list[str]:
    return PARAM.findall(path)


class MissingFiller(LookupError):
    pass


def fill_path(path: str, fill: Fill, route_key: str) -> str:
    """The path with each parameter replaced by the id of a real object."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in FILLERS:
            raise MissingFiller(
                f"tests/security/fill.py has no filler for the path parameter {name!r} of {route_key}; add "
                f"FILLERS[{name!r}] = lambda f: <the id of a real object of f.project> (see the module docstring)")
        return str(FILLERS[name](fill))

    return PARAM.sub(value, path)
