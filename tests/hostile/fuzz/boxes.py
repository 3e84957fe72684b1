"""Fuzz the box validator (app.labeling.validation.clean_boxes) with JSON bodies, as the API would pass
them once parsed: only Invalid may escape, and what it returns is always a valid box list."""
from __future__ import annotations

import json
import math

import atheris

with atheris.instrument_imports():
    from app.core.errors import Invalid
    from app.labeling.validation import clean_boxes

from tests.hostile.fuzz.harness import json_input, json_seeds, run

KEYS = ("x", "y", "w", "h", "class_id")

WIDTH, HEIGHT, CLASSES = 640, 480, {1, 2, 3}
SEEDS = json_seeds(
    [{"x": 10, "y": 20.5, "w": 30, "h": 40, "class_id": 1}],
    [{"x": 0, "y": 0, "w": 640, "h": 480, "class_id": 3}, {"x": 639.5, "y": 479, "w": 0.5, "h": 1.4, "class_id": 2}],
    [],
    None,
)


def test_one_input(data: bytes) -> None:
    try:
        raw = json.loads(json_input(data, KEYS, SEEDS))
    except (ValueError, RecursionError):
        return  # not JSON: the request body parser refuses it before any validation
    try:
        boxes = clean_boxes(raw, width=WIDTH, height=HEIGHT, class_ids=CLASSES, max_boxes=500)
    except Invalid:
        return
    for box in boxes:
        assert set(box) == {"x", "y", "w", "h", "class_id"}, box
        assert all(math.isfinite(box[k]) for k in ("x", "y", "w", "h")), box
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0, box
        assert box["x"] + box["w"] <= WIDTH + 0.01 and box["y"] + box["h"] <= HEIGHT + 0.01, box
        assert box["class_id"] in CLASSES, box


if __name__ == "__main__":
    run(test_one_input, SEEDS)
