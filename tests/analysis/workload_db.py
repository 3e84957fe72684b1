"""The shared workload (make_inspection_set.py output) as a Concord project, for the analysis tests.

Real image files go through storage (originals and 320 px thumbnails, content-addressed, written
once per storage root); rows are made directly: images with their metadata (less the `drift`
answer key), one upload batch per line/shift (the L1/day batch is the reference) or one batch for
everything, each annotator's answers as annotations, a final label and a class-disagreement
conflict per image as the consistency service would write them (plurality vote; unanimous images
have no conflict).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.analysis import drift
from app.analysis.models import ImageStats
from app.auth.models import Role, User
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.core.storage import Storage
from app.images.models import Image, UploadBatch
from app.labeling.models import Annotation
from app.projects.models import Project
from app.review.models import FinalLabel
from tests.factories import add_member, class_named, make_project, make_user

THUMB_SIDE = 320


@dataclass
class WorkloadFiles:
    """The workload read once per test session: files, thumbnails, truth, answers."""

    root: Path
    classes: list[str]
    files: list[str]
    meta: dict[str, dict[str, str]]
    truth: dict[str, str]
    answers: dict[str, list[tuple[str, str, list[dict]]]]  # file -> [(email, class, boxes px)]
    thumbs: dict[str, bytes] = field(default_factory=dict)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def drifted(self, file_name: str) -> bool:
        return self.meta[file_name].get("drift") == "dark"


def read_workload(root: Path) -> WorkloadFiles:
    manifest = json.loads((root / "manifest.json").read_text())
    coco = json.loads((root / "truth.coco.json").read_text())
    tasks = json.loads((root / "tasks.labelstudio.json").read_text())
    with (root / "metadata.csv").open() as handle:
        meta = {row["file_name"]: row for row in csv.DictReader(handle)}
    answers: dict[str, list[tuple[str, str, list[dict]]]] = {}
    for task in tasks:
        name = Path(task["data"]["image"]).name
        for ann in task["annotations"]:
            choice, boxes = None, []
            for r in ann["result"]:
                if r["type"] == "choices":
                    choice = r["value"]["choices"][0]
                elif r["type"] == "rectanglelabels":
                    v, w, h = r["value"], r["original_width"], r["original_height"]
                    boxes.append({"x": v["x"] * w / 100, "y": v["y"] * h / 100, "w": v["width"] * w / 100,
                                  "h": v["height"] * h / 100, "label": v["rectanglelabels"][0]})
            answers.setdefault(name, []).append((ann["completed_by"]["email"], choice, boxes))
    files = [im["file_name"] for im in coco["images"]]
    loaded = WorkloadFiles(root, list(manifest["classes"]), files, meta, dict(coco["image_labels"]), answers)
    for name in files:
        with PILImage.open(root / "images" / name) as opened:
            small = opened.convert("RGB")
            small.thumbnail((THUMB_SIDE, THUMB_SIDE), PILImage.Resampling.BICUBIC)
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=82)
            loaded.thumbs[name] = out.getvalue()
            work = small.copy()
            work.thumbnail((drift.WORK_SIZE, drift.WORK_SIZE), PILImage.Resampling.BILINEAR)
            loaded.stats[name] = drift.image_features(np.asarray(work))
    return loaded


@dataclass
class LoadedProject:
    project: Project
    images: dict[str, Image]  # file name -> row
    users: dict[str, User]
    batches: dict[str, UploadBatch]
    class_ids: dict[str, int]


def _put(storage: Storage, data: bytes, ext: str) -> str:
    key = f"test-workload/{hashlib.sha256(data).hexdigest()}.{ext}"
    if not storage.exists(key):
        storage.put_bytes(key, data)
    return key


def load_project(db: Session, storage: Storage, wl: WorkloadFiles, *, batches_by_slice: bool = True,
                 with_stats: bool = False, limit: int | None = None) -> LoadedProject:
    project = make_project(db, classes=tuple(wl.classes), labels_per_image=3)
    class_ids = {name: class_named(db, project, name).id for name in wl.classes}
    emails = sorted({email for answers in wl.answers.values() for email, _, _ in answers})
    users = {}
    for email in emails:
        local, _, _ = email.partition("@")
        user = make_user(db, email=f"{local}.{project.id}@example.com", password=None)  # no argon2: fast
        users[email] = add_member(db, project, user, Role.inspector)
    batches: dict[str, UploadBatch] = {}
    files = wl.files[:limit] if limit else wl.files
    images: dict[str, Image] = {}
    for name in files:
        meta = {k: v for k, v in wl.meta[name].items() if k not in ("file_name", "drift")}
        batch_name = f"{meta['line']}-{meta['shift']}" if batches_by_slice else "import"
        if batch_name not in batches:
            batches[batch_name] = UploadBatch(project_id=project.id, name=batch_name, source="labelstudio",
                                              is_reference=batch_name in ("L1-day", "import"), stats={})
            db.add(batches[batch_name])
            db.flush()
        original = (wl.root / "images" / name).read_bytes()
        image = Image(project_id=project.id, batch_id=batches[batch_name].id,
                      sha256=hashlib.sha256(original).hexdigest(), file_name=name, format="JPEG", width=640,
                      height=480, size_bytes=len(original), storage_key=_put(storage, original, "jpg"),
                      thumbnail_key=_put(storage, wl.thumbs[name], "jpg"), meta=meta, labels_wanted=3)
        db.add(image)
        images[name] = image
    db.flush()
    _answers(db, wl, images, users, class_ids)
    if with_stats:
        db.execute(insert(ImageStats), [{"image_id": images[n].id, "project_id": project.id, **wl.stats[n]}
                                        for n in images])
    db.flush()
    return LoadedProject(project, images, users, batches, class_ids)


def _answers(db: Session, wl: WorkloadFiles, images: dict[str, Image], users: dict[str, User],
             class_ids: dict[str, int]) -> None:
    order = {c: i for i, c in enumerate(wl.classes)}
    annotations, finals, conflicts = [], [], []
    for name, image in images.items():
        votes: dict[str, int] = {}
        for email, choice, boxes in wl.answers.get(name, []):
            px = [{"x": b["x"], "y": b["y"], "w": b["w"], "h": b["h"], "class_id": class_ids[b["label"]]}
                  for b in boxes]
            annotations.append({"image_id": image.id, "labeler_id": users[email].id,
                                "label_class_id": class_ids[choice], "boxes": px, "source": "import"})
            votes[choice] = votes.get(choice, 0) + 1
        if not votes:
            continue
        top = max(votes.items(), key=lambda kv: (kv[1], -order[kv[0]]))
        share = top[1] / sum(votes.values())
        finals.append({"image_id": image.id, "label_class_id": class_ids[top[0]], "boxes": [],
                       "source": "consensus" if share < 1 else "unanimous", "confidence": share})
        if len(votes) > 1:
            conflicts.append({"project_id": image.project_id, "image_id": image.id, "subject_key": f"image:{image.id}",
                              "kind": ConflictKind.class_disagreement.value, "severity": 50.0 * (1 - share),
                              "details": {"votes": votes}, "state": ConflictState.open.value, "version": 1})
    for model, rows in ((Annotation, annotations), (FinalLabel, finals), (Conflict, conflicts)):
        if rows:
            db.execute(insert(model), rows)
