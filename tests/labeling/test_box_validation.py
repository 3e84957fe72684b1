"""Box validation (reliability #10), a property test: whatever is sent, either every box comes back
inside the image with a known class, or the whole answer is refused with the field named."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import Invalid
from app.labeling.validation import clean_boxes

W, H, CLASSES = 640, 480, {3, 4}
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.integers(min_value=10**300, max_value=10**400),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
boxes = st.lists(
    st.fixed_dictionaries(
        {
            "x": numbers,
            "y": numbers,
            "w": numbers,
            "h": numbers,
            "class_id": st.one_of(st.integers(0, 6), st.booleans(), st.none()),
        }
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(boxes)
def test_valid_or_refused_never_half(raw: list[dict]) -> None:
    try:
        cleaned = clean_boxes(raw, width=W, height=H, class_ids=CLASSES, max_boxes=5)
    except Invalid as exc:
        assert exc.field is not None and exc.field.startswith("boxes")
        return
    assert len(cleaned) == len(raw) <= 5
    for box in cleaned:
        assert all(math.isfinite(box[k]) for k in "xywh")
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0
        assert box["x"] + box["w"] <= W + 1e-9 and box["y"] + box["h"] <= H + 1e-9
        assert box["class_id"] in CLASSES


@settings(max_examples=200, deadline=None)
@given(st.floats(0, W - 1), st.floats(0, H - 1), st.floats(0.01, W), st.floats(0.01, H))
def test_boxes_inside_the_image_are_kept(x: float, y: float, w: float, h: float) -> None:
    w, h = min(w, W - x), min(h, H - y)
    if round(w, 2) < 0.01 or round(h, 2) < 0.01:
        return
    [box] = clean_boxes(
        [{"x": x, "y": y, "w": w, "h": h, "class_id": 3}], width=W, height=H, class_ids=CLASSES, max_boxes=5
    )
    assert abs(box["x"] - x) <= 0.005 + 1e-9 and abs(box["w"] - w) <= 0.01 + 1e-9  # half a step of rounding


@pytest.mark.parametrize(
    ("box", "field"),
    [
        ({"x": float("nan"), "y": 1, "w": 2, "h": 2, "class_id": 3}, "boxes[0].x"),
        ({"x": 1, "y": float("inf"), "w": 2, "h": 2, "class_id": 3}, "boxes[0].y"),
        ({"x": 1, "y": 1, "w": float("-inf"), "h": 2, "class_id": 3}, "boxes[0].w"),
        ({"x": -1, "y": 1, "w": 2, "h": 2, "class_id": 3}, "boxes[0].x"),
        ({"x": 5, "y": 1, "w": -2, "h": 2, "class_id": 3}, "boxes[0].w"),  # x2 < x1
        ({"x": 5, "y": 1, "w": 0, "h": 2, "class_id": 3}, "boxes[0].w"),
        ({"x": 600, "y": 1, "w": 100, "h": 2, "class_id": 3}, "boxes[0].w"),  # ends outside
        ({"x": 700, "y": 1, "w": 1, "h": 2, "class_id": 3}, "boxes[0].x"),
        ({"x": 1, "y": 1, "w": 2, "h": 2, "class_id": 99}, "boxes[0].class_id"),
        ({"x": 1, "y": 1, "w": 2, "h": 2, "class_id": True}, "boxes[0].class_id"),
        ({"x": "1", "y": 1, "w": 2, "h": 2, "class_id": 3}, "boxes[0].x"),
        ({"x": 1, "y": 1, "w": 2, "h": 2, "class_id": 3, "label": "<script>"}, "boxes[0].label"),
    ],
)
def test_each_fault_is_named(box: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        clean_boxes(
            [{"x": 1, "y": 1, "w": 1, "h": 1, "class_id": 4}, box], width=W, height=H, class_ids=CLASSES, max_boxes=5
        )
    assert caught.value.field == field.replace("[0]", "[1]")


def test_too_many_boxes() -> None:
    raw = [{"x": 1, "y": 1, "w": 1, "h": 1, "class_id": 3}] * 6
    with pytest.raises(Invalid, match="at most 5"):
        clean_boxes(raw, width=W, height=H, class_ids=CLASSES, max_boxes=5)
