"""Fast seeding of a large project with decided labels (bulk inserts), for the kill test and bench/export.py."""
from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.consistency.models import DuplicateGroup
from app.images.models import Image
from app.review.models import FinalLabel
from tests.factories import class_named, make_member, make_project

CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
CHUNK = 5000


@dataclass
class Seeded:
    project_id: int
    admin_id: int
    images: int


def seed(db: Session, *, images: int, name: str = "bulk", seed: int = 0, group_every: int = 100) -> Seeded:
    """A project of `images` 640x480 images, each with a final label (0-3 boxes) and line/camera/shift
    metadata; one image in `group_every` belongs to a near-duplicate group of five. Flushes, never commits."""
    rng = random.Random(seed)
    project = make_project(db, name=name, classes=CLASSES)
    admin = make_member(db, project, Role.admin, password=None)
    class_ids = [class_named(db, project, c).id for c in CLASSES]
    groups = [DuplicateGroup(project_id=project.id, size=5) for _ in range(max(1, images // (group_every * 5)))]
    db.add_all(groups)
    db.flush()
    group_ids = [g.id for g in groups]
    for start in range(0, images, CHUNK):
        count = min(CHUNK, images - start)
        rows = [{"project_id": project.id, "sha256": f"{project.id:08x}{start + i:056x}",
                 "file_name": f"img_{start + i}.jpg", "format": "JPEG", "width": 640, "height": 480,
                 "size_bytes": 48_000,
                 "storage_key": f"images/bulk/{start + i}.jpg", "labels_wanted": 1, "slots_taken": 0, "priority": 0,
                 "is_gold": False,
                 "meta": {"line": rng.choice(("L1", "L2", "L3")), "camera": rng.choice(("cam-a", "cam-b")),
                          "shift": rng.choice(("day", "night"))},
                 "duplicate_group_id": group_ids[(start + i) // 5 % len(group_ids)] if (start + i) % group_every < 5
                 else None}
                for i in range(count)]
        ids = db.scalars(insert(Image).returning(Image.id), rows).all()
        finals = []
        for image_id in ids:
            k = rng.choices(range(len(CLASSES)), weights=(55, 20, 12, 8, 5))[0]
            boxes = [] if k == 0 else [
                {"x": round(rng.uniform(0, 560), 2), "y": round(rng.uniform(0, 420), 2),
                 "w": round(rng.uniform(3, 80), 2), "h": round(rng.uniform(3, 60), 2),
                 "class_id": class_ids[k if n == 0 else rng.randint(1, len(CLASSES) - 1)]}
                for n in range(rng.randint(1, 3))]
            finals.append({"image_id": image_id, "label_class_id": class_ids[k], "boxes": boxes,
                           "source": "consensus", "confidence": round(rng.uniform(0.6, 1.0), 3), "is_ambiguous": False})
        db.execute(insert(FinalLabel), finals)
    return Seeded(project_id=project.id, admin_id=admin.id, images=images)
