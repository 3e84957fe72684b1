"""The shared inspection workload end to end: import, conflicts, every conflict decided with the truth.

Generates 200 images with ../shared/workload/make_inspection_set.py (seed 0: every conflict kind
and a near-duplicate group labeled two ways), imports it through the Label Studio importer (images,
metadata, every annotator's answer), runs the consistency service's global recompute (consensus,
conflicts, near-duplicate groups), then a reviewer decides every conflict with the ground truth
through the API: one group decision per group conflict, then bulk rows with the true class and true
boxes for every image still in conflict. Every conflicted image's final label must equal the truth
(class and boxes), and a second recompute must reopen nothing and change no final label.
Images nobody disagreed on keep their automatic label (unanimous answers can be wrong; that is
the consistency service's and the labelers' business, not the review pipeline's).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.consistency.models import Conflict, ConflictState
from app.consistency.service import recompute_project
from app.images import imports
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import Project
from app.review.models import FinalLabel
from tests.factories import (
    add_member,
    make_project,
    make_user,
)
from tests.support.shared import make_workload

pytestmark = pytest.mark.slow
CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


@pytest.fixture(scope="module")
def inspection_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workload(tmp_path_factory.mktemp("inspection"), 200)


def import_set(db: Session, app: FastAPI, project: Project, root: Path) -> None:
    with (root / "metadata.csv").open() as handle:
        metadata = {row.pop("file_name"): row for row in csv.DictReader(handle)}
    parsed = labelstudio.load(root / "tasks.labelstudio.json")
    imports.import_labelstudio(db, storage=app.state.storage, settings=app.state.settings, project=project,
                               parsed=parsed, root=ImagesRoot(root / "images"), metadata=metadata)
    db.flush()


def project_classes(db: Session, project: Project) -> list[Any]:
    from app.projects.service import classes_of

    return list(classes_of(db, project.id))


def truth_of(root: Path, by_name: dict[str, int]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    coco = json.loads((root / "truth.coco.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    boxes: dict[str, list[dict[str, Any]]] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        boxes[files[a["image_id"]]].append({"x": float(x), "y": float(y), "w": float(w), "h": float(h),
                                            "class_id": by_name[names[a["category_id"]]]})
    return {f: (coco["image_labels"][f], boxes[f]) for f in files.values()}


def test_deciding_every_conflict_with_the_truth_makes_every_final_label_true(
        db: Session, app: FastAPI, client_for: Callable[[User], TestClient], inspection_set: Path) -> None:
    project = make_project(db, classes=CLASSES)
    reviewer = add_member(db, project, make_user(db, password=None), Role.reviewer)
    import_set(db, app, project, inspection_set)
    assert db.scalar(select(Image.id).where(Image.project_id == project.id).limit(1)) is not None
    manifest = json.loads((inspection_set / "manifest.json").read_text())
    answers = db.scalar(select(func.count()).select_from(Annotation).join(Image, Image.id == Annotation.image_id)
                        .where(Image.project_id == project.id))
    assert answers == manifest["counts"]["annotations"]
    recompute_project(db, project_id=project.id)
    db.flush()
    by_name = {c.name: c.id for c in project_classes(db, project)}
    truth = truth_of(inspection_set, by_name)
    conflicts = db.scalars(select(Conflict).where(Conflict.project_id == project.id)).all()
    image_conflicts = [c for c in conflicts if c.image_id is not None]
    group_conflicts = [c for c in conflicts if c.image_id is None]
    assert len(image_conflicts) >= 10 and group_conflicts, "the set should have class disagreements and groups"
    names = {i.id: i.file_name for i in db.scalars(select(Image).where(Image.project_id == project.id))}
    api = client_for(reviewer)

    for conflict in group_conflicts:  # one decision per near-duplicate group: they share their true class
        members = db.scalars(select(Image).where(Image.duplicate_group_id == conflict.duplicate_group_id)).all()
        (true_class,) = {truth[m.file_name][0] for m in members}
        response = api.post(f"/api/v1/projects/{project.id}/review/conflicts/{conflict.id}/decisions",
                            json={"decision": "group", "version": conflict.version,
                                  "label_class_id": by_name[true_class], "reason": "the truth"})
        assert response.status_code == 201, response.text
    open_ids = {c.image_id for c in db.scalars(select(Conflict).where(
        Conflict.project_id == project.id, Conflict.image_id.is_not(None), Conflict.state == ConflictState.open))}
    rows = [{"file_name": names[i], "final_class": truth[names[i]][0], "boxes": truth[names[i]][1],
             "note": "decided with the truth"} for i in sorted(open_ids)]
    response = api.post(f"/api/v1/projects/{project.id}/review/decisions/bulk", json={"rows": rows})
    assert response.status_code == 200, response.text
    assert response.json()["decided"] == len(rows)

    decided = {c.image_id for c in image_conflicts}
    for conflict in group_conflicts:
        decided |= set(db.scalars(select(Image.id).where(Image.duplicate_group_id == conflict.duplicate_group_id)))
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(list(names))))}
    assert len(finals) == len(names)  # every image has exactly one final label
    wrong = [(names[i], finals[i].label_class_id, truth[names[i]][0]) for i in decided
             if finals[i].label_class_id != by_name[truth[names[i]][0]]]
    assert not wrong
    boxes_lost = [names[i] for i in open_ids if finals[i].boxes != truth[names[i]][1]]
    assert not boxes_lost
    assert all(finals[i].source == "review" for i in decided)
    assert not db.scalars(select(Conflict).where(Conflict.project_id == project.id,
                                                 Conflict.state != ConflictState.resolved)).all()
    # The decisions stick: a fresh global recompute reopens nothing and changes no final label.
    recompute_project(db, project_id=project.id)
    db.flush()
    db.expire_all()
    assert not db.scalars(select(Conflict).where(Conflict.project_id == project.id,
                                                 Conflict.state != ConflictState.resolved)).all()
    again = dict(db.execute(select(FinalLabel.image_id, FinalLabel.label_class_id)
                            .where(FinalLabel.image_id.in_(list(decided)))).all())
    assert again == {i: by_name[truth[names[i]][0]] for i in decided}
