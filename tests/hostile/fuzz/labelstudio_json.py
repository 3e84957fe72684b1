"""Fuzz the Label Studio JSON importer (file bytes -> parsed tasks): only Invalid may escape."""
from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from app.images.importers import labelstudio

from tests.hostile.fuzz.harness import json_file_input, json_seeds, run

KEYS = ("id", "inner_id", "data", "image", "annotations", "completed_by", "email", "first_name", "last_name",
        "was_cancelled", "result", "type", "value", "choices", "rectanglelabels", "x", "y", "width", "height",
        "rotation", "lead_time", "created_at", "unique_id", "a.jpg")

BOX = {"x": 10, "y": 20.5, "width": 30, "height": 15, "rotation": 0, "rectanglelabels": ["dent"]}
SEEDS = json_seeds(
    [{"id": 1, "data": {"image": "/data/upload/1/a.jpg", "line": "L1"},
      "annotations": [{"id": 7, "completed_by": {"id": 3, "email": "a@example.com", "first_name": "A"},
                       "lead_time": 4.5, "created_at": "2024-01-01T00:00:00Z",
                       "result": [{"type": "choices", "value": {"choices": ["scratch"]}},
                                  {"type": "rectanglelabels", "value": BOX}]}]}],
    {"data": {"photo": "b.png"}, "annotations": [{"completed_by": 5, "was_cancelled": True, "result": []}]},
    [{"id": 2, "data": {"image": "c.jpg"}, "annotations": [{"completed_by": 2, "result": [
        {"type": "rectanglelabels", "value": {**BOX, "rotation": 30}}, {"type": "polygonlabels", "value": {}}]}]}],
)
if __name__ == "__main__":
    run(json_file_input(labelstudio.load, KEYS, SEEDS), SEEDS)
