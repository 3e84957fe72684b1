"""The issue's scenario end to end: a workload version decided with the true classes only, exported,
and its boxes compared with the truth.

300 images (../shared/workload/make_inspection_set.py, seed 0, five labelers with known error profiles,
three labels per image) go in through the Label Studio importer; the consistency service finds the
conflicts; a reviewer decides every image in conflict with a decisions CSV of `file_name,final_class`
(the true class, no boxes), near-duplicate groups included. Then:
- every final label agrees with itself: an image decided ok has no box;
- every box of a class-only decision is one a majority of the image's labelers drew;
- box conflicts those rows did not settle are still open, and the frozen version leaves those images
  out (counted in the datasheet) unless the admin keeps them;
- the exported COCO boxes, against the truth (IoU >= 0.5 and class), keep precision and recall above
  the figures the README states. Measured (seed 0): the default version (220 of 300 images; 80 with
  disputed boxes left out) 0.986 / 0.986; keeping them (300 images) 0.995 / 0.938. The same flow before
  this rule gave 0.81 / 0.95 (the issue's measurement).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.consistency.boxes import iou_matrix, is_supported
from app.consistency.models import BOX_KINDS, Conflict, ConflictState, ImageConsensus
from app.consistency.service import recompute_project
from app.images.models import Image
from app.projects.service import classes_of
from app.review import bulk
from app.review.models import FinalLabel
from tests.datasets.helpers import archive, export, freeze
from tests.factories import add_member, make_project, make_user
from tests.review.test_workload import CLASSES, import_set
from tests.support.shared import make_workload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inspection_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workload(tmp_path_factory.mktemp("inspection300"), 300)


def true_boxes(root: Path) -> tuple[dict[str, str], dict[str, list[tuple[list[float], str]]]]:
    coco = json.loads((root / "truth.coco.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    boxes: dict[str, list[tuple[list[float], str]]] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        boxes[files[a["image_id"]]].append((a["bbox"], names[a["category_id"]]))
    return coco["image_labels"], boxes


def precision_recall(exported: dict[str, list[tuple[list[float], str]]],
                     truth: dict[str, list[tuple[list[float], str]]]) -> tuple[float, float, int, int]:
    kept = right = wanted = 0
    for name, got in exported.items():
        want = truth[name]
        kept, wanted = kept + len(got), wanted + len(want)
        if got and want:
            iou = iou_matrix(np.array([g[0] for g in got]), np.array([w[0] for w in want]))
            iou *= np.array([[g[1] == w[1] for w in want] for g in got])
            rows, cols = linear_sum_assignment(-iou)
            right += int((iou[rows, cols] >= 0.5).sum())
    return right / max(kept, 1), right / max(wanted, 1), kept, wanted


def coco_boxes(db: Session, app: FastAPI, version, tmp_path: Path) -> dict[str, list[tuple[list[float], str]]]:
    zf = archive(app.state.storage, export(db, app.state.storage, version, "coco"))
    zf.extractall(tmp_path)
    out: dict[str, list[tuple[list[float], str]]] = {}
    originals = {r["image_id"]: r["file_name"] for r in csv.DictReader(io.StringIO(zf.read("images.csv").decode()))}
    for split in ("train", "val", "test"):
        path = tmp_path / "annotations" / f"instances_{split}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        cats = {c["id"]: c["name"] for c in data["categories"]}
        ids = {i["id"]: originals[str(i["id"])] for i in data["images"]}
        for image_id, name in ids.items():
            out.setdefault(name, [])
        for a in data["annotations"]:
            out[ids[a["image_id"]]].append((a["bbox"], cats[a["category_id"]]))
    return out


def test_a_version_decided_with_the_true_classes_exports_boxes_a_trainer_can_trust(
        db: Session, app: FastAPI, inspection_300: Path, tmp_path: Path) -> None:
    project = make_project(db, classes=CLASSES)
    reviewer = add_member(db, project, make_user(db, password=None), Role.reviewer)
    import_set(db, app, project, inspection_300)
    recompute_project(db, project_id=project.id)
    db.flush()
    classes, truth = true_boxes(inspection_300)
    by_id = {c.id: c.name for c in classes_of(db, project.id)}
    images = {i.id: i for i in db.scalars(select(Image).where(Image.project_id == project.id))}
    disputed = {i for i, *_ in db.execute(select(Conflict.image_id).where(
        Conflict.project_id == project.id, Conflict.state == ConflictState.open))}
    grouped = {i.id for i in images.values() if i.duplicate_group_id is not None and db.scalar(
        select(Conflict.id).where(Conflict.duplicate_group_id == i.duplicate_group_id, Conflict.image_id.is_(None),
                                  Conflict.state == ConflictState.open))}
    rows = "file_name,final_class\n" + "".join(
        f"{images[i].file_name},{classes[images[i].file_name]}\n" for i in sorted((disputed - {None}) | grouped))
    parsed, errors = bulk.parse_csv(rows)
    planned, errors = bulk.plan(db, project=project, rows=parsed)
    assert not errors  # group conflicts too are decided from the file
    results = bulk.apply(db, project=project, reviewer=reviewer, planned=planned)
    db.flush()
    assert not db.scalars(select(Conflict).where(Conflict.project_id == project.id, Conflict.image_id.is_(None),
                                                 Conflict.state == ConflictState.open)).all()

    finals = {f.image_id: f for f in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(list(images))))}
    decided = {i for r in results for i in r.image_ids}
    for image_id in decided:
        final = finals[image_id]
        assert by_id[final.label_class_id] == classes[images[image_id].file_name]
        if by_id[final.label_class_id] == "ok":
            assert final.boxes == []  # an ok image has no boxes
            continue
        clusters = db.get(ImageConsensus, image_id).clusters
        for box in final.boxes:  # each one a majority of the image's labelers drew
            match = [c for c in clusters if (c["x"], c["y"]) == pytest.approx((box["x"], box["y"]), abs=0.01)]
            drew, missed = len(match[0]["labelers"]), len(match[0]["missing"])
            assert match and is_supported(drew, drew + missed)
    still_open = {i for (i,) in db.execute(select(Conflict.image_id).where(
        Conflict.project_id == project.id, Conflict.kind.in_(BOX_KINDS), Conflict.state == ConflictState.open))}
    assert still_open and still_open <= decided | set(images)  # box conflicts the class rows did not settle
    assert bulk.boxes_left_open(db, results) == len(still_open & decided)

    version = freeze(db, project_like(project, reviewer), name="truth classes")
    assert version.counts["excluded"].get("box_disputes", 0) == len(still_open & set(finals))
    precision, recall, kept, wanted = precision_recall(coco_boxes(db, app, version, tmp_path / "a"), truth)
    assert version.counts["items"] == 300 - len(still_open & set(finals)) - sum(
        n for k, n in version.counts["excluded"].items() if k != "box_disputes")
    assert precision >= 0.97 and recall >= 0.97, (precision, recall, kept, wanted)  # measured 0.986 and 0.986

    keeping = freeze(db, project_like(project, reviewer), name="with box disputes", exclude_box_disputes=False)
    assert keeping.counts["box_disputes_kept"] == len(still_open & set(finals))
    assert "were kept with the boxes a majority" in keeping_sheet(keeping, project.name)
    precision, recall, kept, wanted = precision_recall(coco_boxes(db, app, keeping, tmp_path / "b"), truth)
    assert precision >= 0.98 and recall >= 0.92, (precision, recall, kept, wanted)  # measured 0.995 and 0.938


def project_like(project, admin):
    """What tests.datasets.helpers.freeze takes: a scene's project and admin."""
    class Scene:
        pass
    scene = Scene()
    scene.project, scene.admin = project, admin  # type: ignore[attr-defined]
    return scene


def keeping_sheet(version, project_name: str) -> str:
    from app.datasets.datasheet import to_markdown

    return to_markdown(version, project_name)
