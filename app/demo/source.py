"""Write a demo inspection set to disk as a Label Studio export (the format factories bring)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from app.demo.labelers import PROFILES, Answer, answer
from app.demo.scenes import HEIGHT, WIDTH, Scene, plan_dataset, render

DEFINITIONS = {
    "ok": "No visible defect on the housing surface. Dust that wipes off is ok.",
    "scratch": "A thin line, bright or dark, longer than 3 mm. Box the whole line.",
    "dent": "A soft, shaded hollow of 5 mm or more: light on one side, dark on the other.",
    "pit": "A small, sharp dark dot under 1 mm. Easily mistaken for a dent: a dent is large and shaded.",
    "discoloration": "A tinted patch (yellow, brown, bluish) with soft edges. Box the visibly tinted area.",
}


@dataclass
class DemoSource:
    root: Path
    tasks_path: Path
    gold: list[dict[str, object]]  # gold.json entries: file_name, class, boxes [{bbox, class}]
    scenes: list[Scene]


def write_demo_source(root: Path, *, n_images: int = 200, unlabeled: int = 40, labels_per_image: int = 3,
                      seed: int = 7, gold_fraction: float = 0.05) -> DemoSource:
    """Render the images and the simulated labelers' answers under `root` (images/, tasks.json).

    The last `unlabeled` images (a newer batch) have no answers yet: work for the demo's inspector."""
    rng = np.random.default_rng(seed)
    scenes = plan_dataset(n_images + unlabeled, seed=seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    clock = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    gold = set(rng.choice(n_images, size=max(1, int(gold_fraction * n_images)), replace=False).tolist())
    tasks: list[dict[str, object]] = []
    gold_items: list[dict[str, object]] = []
    for scene in scenes:
        name = f"part_{scene.index:04d}.jpg"
        target = root / "images" / name
        if not target.exists():
            render(scene).save(target, quality=90)
        labelers = rng.choice(len(PROFILES), size=labels_per_image, replace=False)
        annotations = []
        for k in sorted(labelers.tolist()) if scene.index < n_images else []:
            given = answer(PROFILES[k], scene, rng)
            clock += timedelta(seconds=given.seconds / labels_per_image)
            annotations.append(_annotation(given, clock))
        tasks.append({"id": scene.index + 1, "data": {"image": f"images/{name}", **scene.meta},
                      "annotations": annotations})
        if scene.index in gold:
            gold_items.append({"file_name": name, "class": scene.true_class,
                               "boxes": [{"bbox": list(d.box), "class": d.kind} for d in scene.defects]})
    tasks_path = root / "tasks.json"
    tasks_path.write_text(json.dumps(tasks, indent=1))
    return DemoSource(root=root, tasks_path=tasks_path, gold=gold_items, scenes=scenes)


def _annotation(given: Answer, clock: datetime) -> dict[str, object]:
    result: list[dict[str, object]] = [
        {"type": "choices", "from_name": "defect", "to_name": "image", "value": {"choices": [given.label]}}
    ]
    for kind, x, y, w, h in given.boxes:
        result.append({
            "type": "rectanglelabels", "from_name": "box", "to_name": "image",
            "original_width": WIDTH, "original_height": HEIGHT,
            "value": {"x": 100 * x / WIDTH, "y": 100 * y / HEIGHT, "width": 100 * w / WIDTH,
                      "height": 100 * h / HEIGHT, "rotation": 0, "rectanglelabels": [kind]},
        })
    return {"completed_by": {"email": given.labeler.email, "first_name": given.labeler.name},
            "result": result, "lead_time": round(given.seconds, 2),
            "created_at": clock.isoformat().replace("+00:00", "Z")}
