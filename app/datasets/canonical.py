"""The canonical form of a frozen label and the content hash over a version's items. Pure.

A version's content hash is the SHA-256 of one line per item, in image id order:
`[image sha256, image class name, [[x, y, w, h, box class name], ...], split]` as compact JSON.
It names classes and images by content (names, file hashes), not by database ids, so the same
snapshot gives the same hash on SQLite and Postgres and after a backup is restored.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DECIMALS = 3  # box coordinates are pixels; a thousandth is far below what anyone can draw


@dataclass
class CleanBoxes:
    boxes: list[dict[str, Any]]
    dropped: int  # boxes that were unusable: unknown class, not finite, or empty inside the image


def clean_boxes(raw: Any, *, width: int, height: int, class_ids: set[int]) -> CleanBoxes:
    """Boxes clipped to the image, rounded, sorted; boxes of classes outside `class_ids` dropped."""
    kept: list[dict[str, Any]] = []
    dropped = 0
    for box in raw or []:
        try:
            x, y, w, h = (float(box[k]) for k in ("x", "y", "w", "h"))
            class_id = int(box["class_id"])
        except (KeyError, TypeError, ValueError):
            dropped += 1
            continue
        if class_id not in class_ids or not all(math.isfinite(v) for v in (x, y, w, h)):
            dropped += 1
            continue
        x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
        x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            dropped += 1
            continue
        kept.append({"x": round(x0, DECIMALS), "y": round(y0, DECIMALS), "w": round(x1 - x0, DECIMALS),
                     "h": round(y1 - y0, DECIMALS), "class_id": class_id})
    kept.sort(key=lambda b: (b["x"], b["y"], b["w"], b["h"], b["class_id"]))
    return CleanBoxes(kept, dropped)


def item_line(*, image_sha256: str, class_name: str | None, boxes: list[dict[str, Any]],
              names: Mapping[int, str], split: str) -> bytes:
    row = [image_sha256, class_name,
           [[b["x"], b["y"], b["w"], b["h"], names.get(b["class_id"], str(b["class_id"]))] for b in boxes], split]
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class ContentHash:
    """Feed item lines in image id order; `hexdigest()` is the version's content hash."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.items = 0

    def add(self, line: bytes) -> None:
        self._sha.update(line)
        self.items += 1

    def hexdigest(self) -> str:
        return self._sha.hexdigest()
