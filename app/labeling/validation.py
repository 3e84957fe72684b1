"""Validation of what a labeler sends (reliability #10): pure, no database.

A box is `{"x", "y", "w", "h", "class_id"}` in image pixels, x/y the top-left corner. It must be
finite, start inside the image, have w > 0 and h > 0, end inside the image (an overshoot of up to
MAX_OVERSHOOT px from float rounding is clipped), and name one of the allowed classes. Anything else
is refused as a whole with Invalid naming the first bad field: nothing of a bad submission is stored.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from app.core.errors import Invalid

MAX_OVERSHOOT = 0.5  # px: a drag that ends on the last pixel's far edge, or float noise
DECIMALS = 2  # stored precision: 1/100 px
MIN_SIDE = 10**-DECIMALS
MAX_COMMENT = 2000


def clean_boxes(
    raw: Any, *, width: int, height: int, class_ids: Collection[int], max_boxes: int
) -> list[dict[str, Any]]:
    """The boxes, checked and rounded to DECIMALS; raises Invalid(field="boxes[i].x") on the first fault."""
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise Invalid("boxes must be a list", field="boxes")
    if len(raw) > max_boxes:
        raise Invalid(f"{len(raw)} boxes; at most {max_boxes} are allowed", field="boxes")
    return [_clean_box(box, i, width=width, height=height, class_ids=class_ids) for i, box in enumerate(raw)]


def _clean_box(box: Any, i: int, *, width: int, height: int, class_ids: Collection[int]) -> dict[str, Any]:
    where = f"boxes[{i}]"
    if not isinstance(box, dict):
        raise Invalid("a box must be an object with x, y, w, h and class_id", field=where)
    unknown = set(box) - {"x", "y", "w", "h", "class_id"}
    if unknown:
        raise Invalid(f"unknown box field {sorted(unknown)[0]!r}", field=f"{where}.{sorted(unknown)[0]}")
    x, y = _number(box, "x", where), _number(box, "y", where)
    w, h = _number(box, "w", where), _number(box, "h", where)
    if w <= 0 or h <= 0:
        raise Invalid("a box needs a positive width and height", field=f"{where}.{'w' if w <= 0 else 'h'}")
    if x < 0 or y < 0:
        raise Invalid("a box must start inside the image", field=f"{where}.{'x' if x < 0 else 'y'}")
    if x >= width or y >= height:
        raise Invalid("a box must start inside the image", field=f"{where}.{'x' if x >= width else 'y'}")
    if x + w > width + MAX_OVERSHOOT or y + h > height + MAX_OVERSHOOT:
        raise Invalid(
            f"the box ends outside the {width} x {height} image",
            field=f"{where}.{'w' if x + w > width + MAX_OVERSHOOT else 'h'}",
        )
    w, h = min(w, width - x), min(h, height - y)
    cleaned = {"x": round(x, DECIMALS), "y": round(y, DECIMALS), "w": round(w, DECIMALS), "h": round(h, DECIMALS)}
    if cleaned["w"] < MIN_SIDE or cleaned["h"] < MIN_SIDE:
        raise Invalid("the box is too small", field=f"{where}.w")
    class_id = box.get("class_id")
    if isinstance(class_id, bool) or not isinstance(class_id, int):
        raise Invalid("class_id must be an integer", field=f"{where}.class_id")
    if class_id not in class_ids:
        raise Invalid(f"class {class_id} is not a class of this project", field=f"{where}.class_id")
    cleaned["class_id"] = class_id
    return cleaned


def _number(box: dict[str, Any], key: str, where: str) -> float:
    value = box.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{key} must be a number", field=f"{where}.{key}")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise Invalid(f"{key} must be a finite number", field=f"{where}.{key}")
    return value


def clean_comment(comment: Any) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise Invalid("comment must be text", field="comment")
    if len(comment) > MAX_COMMENT:
        raise Invalid(f"the comment is longer than {MAX_COMMENT} characters", field="comment")
    return comment.replace("\x00", "").strip()
