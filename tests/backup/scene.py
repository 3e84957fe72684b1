"""A small instance made through the services, for the backup drill: uploads, labels from three
labelers, a conflict a reviewer decided, a defect-book example, a frozen version and its export."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.consistency.models import Conflict
from app.core.config import Settings
from app.core.storage import Storage
from app.datasets.freeze import freeze_version
from app.datasets.models import DatasetVersion
from app.datasets.runner import run_export
from app.datasets.schemas import ExportFormat, FreezeIn
from app.images.service import store_image_bytes
from app.labeling import service as labeling
from app.labeling.schemas import AnnotationIn
from app.projects.defect_book import add_example
from app.review import service as review
from app.review.schemas import BoxIn, DecisionIn
from tests.factories import class_named, image_bytes, make_member, make_project

CLASSES = ("ok", "scratch", "dent")
IMAGES = 6
DISPUTED = 2  # the image the third labeler answers differently


@dataclass
class Seeded:
    project_id: int
    version_id: int
    export_sha256: str
    media: dict[str, str]  # storage key -> SHA-256 of its bytes


def media_checksums(storage: Storage, *, skip: str = "exports/") -> dict[str, str]:
    checksums = {}
    for key in storage.keys(prefix=""):
        if not key.startswith(skip):
            with storage.open(key) as handle:
                checksums[key] = hashlib.sha256(handle.read()).hexdigest()
    return checksums


def export_sha256(db: Session, storage: Storage, version: DatasetVersion, tmp: Path) -> str:
    made = run_export(db, storage=storage, version=version, fmt=ExportFormat.coco, include_images=True,
                      user_id=None, tmp_dir=tmp)
    with storage.open(made.storage_key) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == made.sha256
    return made.sha256


def seed(db: Session, storage: Storage, settings: Settings) -> Seeded:
    """Build the instance and commit it; returns what the drill compares."""
    project = make_project(db, name="Bearing caps", classes=CLASSES, labels_per_image=3)
    admin = make_member(db, project, Role.admin, password=None)
    reviewer = make_member(db, project, Role.reviewer, password=None)
    labelers = [make_member(db, project, Role.inspector, password=None) for _ in range(3)]
    images = []
    for i in range(IMAGES):
        data = image_bytes(64 + i, 48, (40 * i, 90, 200 - 30 * i))
        result = store_image_bytes(db, storage=storage, settings=settings, project=project, data=data,
                                   file_name=f"cap-{i}.png", meta={"line": f"L{i % 2}", "shift": "night"})
        assert result.image is not None, result.reason
        images.append(result.image)
    classes = {name: class_named(db, project, name) for name in CLASSES}
    for n, labeler in enumerate(labelers):
        while (assignment := labeling.next_assignment(db, project=project, labeler=labeler,
                                                      settings=settings)) is not None:
            position = [image.id for image in images].index(assignment.image_id)
            name = CLASSES[position % 3]
            if position == DISPUTED and n == 2:
                name = "ok"
            boxes = [] if name == "ok" else [{"x": 4.0, "y": 5.0, "w": 20.5, "h": 10.25,
                                              "class_id": classes[name].id}]
            labeling.submit_annotation(db, project=project, labeler=labeler, assignment_id=assignment.id,
                                       data=AnnotationIn(label_class_id=classes[name].id, boxes=boxes,
                                                         comment=f"by labeler {n}"), settings=settings)
    db.flush()
    conflict = db.scalars(select(Conflict).where(Conflict.project_id == project.id, Conflict.state == "open")
                          .order_by(Conflict.id)).first()
    assert conflict is not None, "the disputed image should have raised a conflict"
    review.decide(db, project=project, conflict_id=conflict.id, reviewer=reviewer,
                  data=DecisionIn(decision="edit", version=conflict.version, label_class_id=classes["dent"].id,
                                  boxes=[BoxIn(x=6, y=7, w=12, h=9, class_id=classes["dent"].id)],
                                  reason="the dent is under the glare"))
    add_example(db, project=project, class_id=classes["scratch"].id, image_id=images[1].id,
                note="a typical scratch", actor=admin)
    version = freeze_version(db, project=project, spec=FreezeIn(name="v1"), user=admin)
    db.commit()
    sha = export_sha256(db, storage, version, Path(settings.data_dir))
    db.commit()
    return Seeded(project.id, version.id, sha, media_checksums(storage))
