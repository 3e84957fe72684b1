"""A small, deterministic project with decided labels, for the dataset tests."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.consistency.models import Conflict, DuplicateGroup
from app.images.models import Image, UploadBatch
from app.projects.models import LabelClass, Project
from tests.factories import (
    class_named,
    image_bytes,
    make_annotation,
    make_final_label,
    make_image,
    make_member,
    make_project,
)

DEFECTS = ("scratch", "dent", "pit", "discoloration")


@dataclass
class Scene:
    project: Project
    admin: User
    classes: dict[str, LabelClass]
    images: list[Image] = field(default_factory=list)
    decided: list[Image] = field(default_factory=list)  # images whose final label should be frozen
    groups: list[DuplicateGroup] = field(default_factory=list)


def random_boxes(rng: random.Random, classes: dict[str, LabelClass], name: str, width: int, height: int,
                 ) -> list[dict[str, Any]]:
    first = next(iter(classes))  # the first class is the no-defect one ("ok")
    if name == first:
        return []
    defects = [n for n in classes if n != first]
    boxes = []
    for k in range(rng.randint(1, 3)):
        w, h = rng.uniform(3, 80), rng.uniform(3, 60)
        box_class = name if k == 0 else rng.choice(defects)
        boxes.append({"x": round(rng.uniform(0, width - w), 2), "y": round(rng.uniform(0, height - h), 2),
                      "w": round(w, 2), "h": round(h, 2), "class_id": classes[box_class].id})
    return boxes


def build_scene(db: Session, *, images: int = 40, seed: int = 0, groups: int = 3, name: str | None = None,
                class_names: tuple[str, ...] = ("ok", *DEFECTS), storage: Any = None,
                admin_password: str | None = None) -> Scene:
    """`images` images with metadata; most decided, a few ambiguous, unresolved or undecided.

    With `storage`, each image's bytes are stored under its key (for exports that include images).
    """
    rng = random.Random(seed)
    project = make_project(db, name=name, classes=class_names)
    admin = make_member(db, project, Role.admin, password=admin_password)  # no hashing unless it must log in
    labelers = [make_member(db, project, Role.inspector, password=None) for _ in range(3)]
    classes = {c: class_named(db, project, c) for c in class_names}
    batch = UploadBatch(project_id=project.id, name="line shift A", source="upload")
    db.add(batch)
    db.flush()
    scene = Scene(project=project, admin=admin, classes=classes)
    for _ in range(groups):
        group = DuplicateGroup(project_id=project.id, size=3)
        db.add(group)
        db.flush()
        scene.groups.append(group)
    for i in range(images):
        scene.images.append(add_image(db, scene, rng, i, batch_id=batch.id, labelers=labelers, storage=storage))
    return scene


def scene_file_name(i: int) -> str | None:
    """Names as cameras and people give them: most unique, some colliding (in letter case or only in
    their extension), some Chinese, some not safe as a path."""
    if i % 9 == 3:
        return "part.jpg"
    if i % 9 == 6:
        return "PART.png"
    if i % 11 == 4:
        return f"划痕 {i:03d}.jpg"
    if i % 17 == 8:
        return f"../line 3/cam:a {i}.JPEG"
    return None


def add_image(db: Session, scene: Scene, rng: random.Random, i: int, *, batch_id: int | None = None,
              labelers: list[User] | None = None, storage: Any = None, decided: bool = True) -> Image:
    names = list(scene.classes)
    group = scene.groups[i % len(scene.groups)] if scene.groups and i % 7 == 0 else None
    meta = {"line": rng.choice(["L1", "L2", "L3"]), "camera": rng.choice(["cam-a", "cam-b"]),
            "shift": rng.choice(["day", "night"])}
    image = make_image(db, scene.project, meta=meta, duplicate_group_id=group.id if group else None,
                       batch_id=batch_id, file_name=scene_file_name(i))
    if storage is not None:
        data = image_bytes(image.width, image.height, (i % 256, (i // 256) % 256, 99), fmt="PNG")
        image.sha256, image.format, image.size_bytes = hashlib.sha256(data).hexdigest(), "PNG", len(data)
        image.storage_key = f"images/test/{image.sha256}.png"
        storage.put_bytes(image.storage_key, data)
    name = scene.classes[names[0]].name if group is None and i % 5 == 0 else rng.choice(names)
    if group is not None:  # look-alikes share a class
        name = names[1 + group.id % (len(names) - 1)] if len(names) > 1 else names[0]
    boxes = random_boxes(rng, scene.classes, name, image.width, image.height)
    kind = i % 13
    if not decided or kind == 12:
        return image  # no final label: undecided
    final = make_final_label(db, image, scene.classes[name], boxes, confidence=round(rng.uniform(0.5, 1.0), 3),
                             is_ambiguous=kind == 11)
    if kind == 10:
        db.add(Conflict(project_id=scene.project.id, image_id=image.id, subject_key=f"image:{image.id}",
                        kind="class_disagreement", state="open"))
    elif kind != 11:
        scene.decided.append(image)
    for n, labeler in enumerate(labelers or []):
        given = name if n < 2 or rng.random() < 0.5 else rng.choice(names)
        make_annotation(db, image, labeler, scene.classes[given], boxes)
    db.flush()
    del final
    return image
