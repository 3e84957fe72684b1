"""Augmentation transforms: pixels and boxes move together."""
from __future__ import annotations

import numpy as np
import pytest

from app.analysis import augment


def with_white_box(width: int = 120, height: int = 90) -> tuple[np.ndarray, dict]:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[20:40, 70:100] = 255
    return image, {"x": 70.0, "y": 20.0, "w": 30.0, "h": 20.0, "class_id": 3}


def white_bbox(image: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(image[..., 0] > 127)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("recipe", [
    augment.Recipe(hflip=True), augment.Recipe(vflip=True), augment.Recipe(rotate=8.0),
    augment.Recipe(rotate=-10.0, hflip=True), augment.Recipe(rotate=5.0, vflip=True),
])
def test_boxes_follow_the_pixels(recipe: augment.Recipe) -> None:
    image, box = with_white_box()
    out = augment.transform_pixels(image, recipe)
    (moved,) = augment.transform_boxes([box], 120, 90, recipe)
    x0, y0, x1, y1 = white_bbox(out)
    assert moved["class_id"] == 3
    # the transformed box encloses the moved defect, and is not much larger than its rotated extent
    assert moved["x"] <= x0 + 1 and moved["y"] <= y0 + 1
    assert moved["x"] + moved["w"] >= x1 - 1 and moved["y"] + moved["h"] >= y1 - 1
    assert moved["w"] <= (x1 - x0) + 3 and moved["h"] <= (y1 - y0) + 3


def test_flip_is_exact() -> None:
    image, box = with_white_box()
    (moved,) = augment.transform_boxes([box], 120, 90, augment.Recipe(hflip=True))
    assert (moved["x"], moved["y"], moved["w"], moved["h"]) == (20.0, 20.0, 30.0, 20.0)
    assert white_bbox(augment.transform_pixels(image, augment.Recipe(hflip=True))) == (20, 20, 50, 40)


def test_boxes_are_clipped_or_dropped_at_the_border() -> None:
    edge = {"x": 100.0, "y": 0.0, "w": 20.0, "h": 20.0, "class_id": 1}  # its top leaves the image
    (clipped,) = augment.transform_boxes([edge], 120, 90, augment.Recipe(rotate=10.0))
    assert clipped["x"] >= 0 and clipped["y"] == 0.0 and isinstance(clipped["x"], float)
    assert clipped["x"] + clipped["w"] <= 120 and clipped["y"] + clipped["h"] <= 90
    outside = {"x": 119.5, "y": 0.0, "w": 0.5, "h": 1.0, "class_id": 1}
    assert augment.transform_boxes([outside], 120, 90, augment.Recipe(rotate=10.0)) == []


def test_colour_and_noise_are_reproducible() -> None:
    image, _ = with_white_box()
    recipe = augment.Recipe(contrast=1.2, brightness=-10, noise=4.0, seed=7)
    a, b = augment.transform_pixels(image, recipe), augment.transform_pixels(image, recipe)
    assert np.array_equal(a, b) and a.dtype == np.uint8 and a.shape == image.shape
    assert a[0, 0, 0] < 5  # black stays near black: (0 - 128) * 1.2 + 128 - 10 < 0
    recipes = augment.draw_recipes(np.random.default_rng(1), 3)
    assert recipes == augment.draw_recipes(np.random.default_rng(1), 3)
    assert all(abs(r.rotate) <= augment.MAX_ROTATION_DEG for r in recipes)
    assert "rotate" in recipes[0].describe()
