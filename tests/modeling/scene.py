"""A small project whose images are really stored and really decoded: plain parts and scratched parts,
decided, and frozen into a version with train, val and test images."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.storage import Storage
from app.datasets import service as datasets_service
from app.datasets.models import DatasetVersion
from app.datasets.schemas import FreezeIn
from app.images import service as images_service
from app.images.models import Image
from app.projects.models import LabelClass, Project
from app.review.models import FinalLabel
from tests.factories import class_named, make_final_label, make_member, make_project

CLASSES = ("ok", "scratch")
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 1}


@dataclass
class Scene:
    project: Project
    admin: User
    classes: dict[str, LabelClass]
    storage: Storage
    settings: Settings
    images: list[Image] = field(default_factory=list)
    truth: dict[int, str] = field(default_factory=dict)  # image id -> class name


def part_png(seed: int, defect: str) -> bytes:
    """A grey part on a dark background; a scratch is a few dark lines across it."""
    rng = np.random.default_rng(seed)
    pixels = np.full((72, 96, 3), 30, dtype=np.float64)
    pixels[10:62, 12:84] = 150 + rng.normal(0, 4, size=(52, 72, 3))
    if defect == "scratch":
        for _ in range(3):
            row = int(rng.integers(14, 58))
            pixels[row:row + 2, 16:80] = 60
    buffer = io.BytesIO()
    PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def build(db: Session, *, storage: Storage, settings: Settings, images: int = 30,
          classes: tuple[str, ...] = CLASSES, seed: int = 0) -> Scene:
    project = make_project(db, classes=classes)
    admin = make_member(db, project, Role.admin)
    scene = Scene(project=project, admin=admin, classes={c: class_named(db, project, c) for c in classes},
                  storage=storage, settings=settings)
    for i in range(images):
        name = classes[i % len(classes)]
        stored = images_service.store_image_bytes(
            db, storage=storage, settings=settings, project=project, data=part_png(seed * 10_000 + i, name),
            file_name=f"part_{i:03d}.png", meta={"line": f"L{i % 2 + 1}", "camera": "top"})
        assert stored.image is not None, stored.reason
        scene.images.append(stored.image)
        scene.truth[stored.image.id] = name
        make_final_label(db, stored.image, scene.classes[name], source="review")
    return scene


def freeze(db: Session, scene: Scene, name: str = "v1", **spec: Any) -> DatasetVersion:
    body = {"name": name, "split": SPLIT, **spec}
    return datasets_service.freeze_version(db, project=scene.project, spec=FreezeIn.model_validate(body),
                                           user=scene.admin)


def relabel(db: Session, scene: Scene, image: Image, class_name: str) -> None:
    final = db.scalars(select(FinalLabel).where(FinalLabel.image_id == image.id)).one()
    final.label_class_id = scene.classes[class_name].id
    db.flush()
