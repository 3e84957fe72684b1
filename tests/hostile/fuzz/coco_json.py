"""Fuzz the COCO importer (file bytes -> parsed set): only Invalid may escape."""
from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from app.images.importers import coco

from tests.hostile.fuzz.harness import json_file_input, json_seeds, run

KEYS = ("images", "annotations", "categories", "image_labels", "id", "file_name", "width", "height", "image_id",
        "category_id", "bbox", "name", "a.jpg")

SEEDS = json_seeds(
    {"images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
                {"id": 2, "file_name": "b.png"}],
     "categories": [{"id": 1, "name": "dent"}, {"id": 2, "name": "scratch"}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20.5, 30, 40]},
                     {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 1, 1]}],
     "image_labels": {"a.jpg": "dent", "b.png": "scratch"}},
    {"images": [], "categories": [{"id": 3, "name": "ok"}]},
)
if __name__ == "__main__":
    run(json_file_input(coco.load, KEYS, SEEDS), SEEDS)
