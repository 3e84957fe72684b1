"""A small, committed world for the schema fuzzer: one project with every kind of object a path of the
API can name, people of each role with their API tokens, and spare objects that destructive calls
(revoke a token, remove a member) may use up without breaking the run."""
from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from app.auth import tokens
from app.auth.models import Role
from app.consistency.models import ConflictState
from app.datasets.exporting import export_version
from app.datasets.freeze import freeze_version
from app.datasets.schemas import ExportFormat, FreezeIn
from app.images import service as images
from app.images.models import UploadBatch
from app.jobs.models import Job, JobState
from app.labeling.models import Assignment, AssignmentState
from app.modeling.models import ModelRun
from app.projects.models import ClassExample
from app.review.models import Decision, Resolution
from tests.factories import (
    add_member,
    class_named,
    image_bytes,
    make_annotation,
    make_conflict,
    make_final_label,
    make_project,
    make_user,
)


@dataclass
class FuzzWorld:
    ids: dict[str, int]
    tokens: dict[str, str]  # role -> raw API token
    spare_tokens: dict[str, int] = field(default_factory=dict)  # role -> id of a token it may revoke
    assignments: dict[str, int] = field(default_factory=dict)  # role -> its open assignment

    def path_value(self, name: str, role: str) -> int | None:
        if name == "token_id":
            return self.spare_tokens[role]
        if name == "assignment_id":
            return self.assignments.get(role, self.assignments["inspector"])
        return self.ids.get(name)


def seed(app: FastAPI) -> FuzzWorld:
    settings, storage = app.state.settings, app.state.storage
    with app.state.sessionmaker() as db:
        project = make_project(db, name="Fuzzed line", labels_per_image=2)
        people = {role: add_member(db, project, make_user(db, password=None, name=f"fuzz {role}"), Role(role))
                  for role in ("inspector", "reviewer", "admin")}
        second = add_member(db, project, make_user(db, password=None, name="fuzz second labeler"), Role.inspector)
        spare = add_member(db, project, make_user(db, password=None, name="fuzz spare member"), Role.inspector)
        batch = UploadBatch(project_id=project.id, name="fuzz batch", source="upload", stats={})
        db.add(batch)
        db.flush()
        stored = [images.store_image_bytes(db, storage=storage, settings=settings, project=project, batch=batch,
                                           data=image_bytes(64, 48, (40 * n, 90, 200 - 30 * n)), file_name=f"p{n}.png",
                                           meta={"line": f"L{n % 2}", "camera": "c1"}).image for n in range(6)]
        ok, scratch, dent = (class_named(db, project, n) for n in ("ok", "scratch", "dent"))
        box = {"x": 4, "y": 4, "w": 20, "h": 16, "class_id": scratch.id}
        for image in stored[:3]:
            make_annotation(db, image, people["inspector"], scratch, boxes=[box], comment="fuzz")
            make_annotation(db, image, second, dent)
        open_conflict = make_conflict(db, stored[0])
        settled = make_conflict(db, stored[1], state=ConflictState.resolved)
        db.add(Resolution(conflict_id=settled.id, reviewer_id=people["reviewer"].id, decision=Decision.edit,
                          label_class_id=scratch.id, boxes=[box], reason="fuzz", conflict_version=settled.version))
        for image, label_class in zip(stored[1:5], (scratch, ok, dent, ok), strict=True):
            make_final_label(db, image, label_class, boxes=[box] if label_class is scratch else [], source="review")
        example = ClassExample(label_class_id=scratch.id, image_id=stored[1].id, note="fuzz")
        db.add(example)
        assignments = {}
        for role in ("inspector", "reviewer", "admin"):
            assignment = Assignment(project_id=project.id, image_id=stored[5].id, labeler_id=people[role].id,
                                    state=AssignmentState.open)
            db.add(assignment)
            db.flush()
            assignments[role] = assignment.id
        job = Job(kind="datasets.export", project_id=project.id, state=JobState.done, progress=1.0, message="fuzz",
                  created_by_id=people["admin"].id)
        db.add(job)
        db.flush()
        version = freeze_version(db, project=project, spec=FreezeIn(name="fuzz v1"), user=people["admin"])
        db.flush()
        export_version(db, storage=storage, version=version, fmt=ExportFormat.csv, include_images=False,
                       user_id=people["admin"].id)
        run = ModelRun(project_id=project.id, number=1, version_id=version.id, recipe="filterbank", state="done")
        db.add(run)
        db.flush()
        raw = {role: tokens.create_token(db, user=user, name="fuzz", actor=None, max_days=90)[1]
               for role, user in people.items()}
        spares = {role: tokens.create_token(db, user=user, name="spare", actor=None, max_days=90)[0].id
                  for role, user in people.items()}
        ids = {"project_id": project.id, "image_id": stored[0].id, "conflict_id": open_conflict.id,
               "version_id": version.id, "job_id": job.id, "class_id": scratch.id, "label_class_id": scratch.id,
               "example_id": example.id, "user_id": spare.id, "labeler_id": people["inspector"].id,
               "batch_id": batch.id, "version": 1, "run_id": run.id}
        db.commit()
    return FuzzWorld(ids=ids, tokens=raw, spare_tokens=spares, assignments=assignments)
